// relationship.js — block/unblock and mute/unmute buttons for a profile,
// their state read from GET /accounts/relationships and then from each
// answer (202 or 200 both carry the state).
import { h } from './dom.js';
import { get, post, del } from './api.js';
import { resetFollowing, forget } from './accounts.js';
import { toastError } from './errors.js';

function toggle(acct, what, state, labels, onChange) {
  const btn = h('button', { type: 'button', class: what, disabled: true }, labels[0]);
  let on = false;
  const paint = () => {
    btn.textContent = on ? labels[1] : labels[0];
    btn.setAttribute('aria-pressed', String(on));
  };
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    const want = !on;
    try {
      const r = want ? await post(`/accounts/${acct.id}/${what}`) : await del(`/accounts/${acct.id}/${what}`);
      on = r && typeof r[state] === 'boolean' ? r[state] : want;
      if (what === 'block') { resetFollowing(); forget(acct.id); }
      if (onChange) onChange(on);
    } catch (err) {
      toastError(err);
    } finally {
      btn.disabled = false;
      paint();
    }
  });
  return { btn, set: (v) => { on = v; btn.disabled = false; paint(); } };
}

// The two buttons for acct; onBlock(on) is told when a block changes.
export function relationshipButtons(acct, onBlock) {
  const block = toggle(acct, 'block', 'blocking', ['Block', 'Unblock'], onBlock);
  const mute = toggle(acct, 'mute', 'muting', ['Mute', 'Unmute'], null);
  get('/accounts/relationships', { id: acct.id }).then((r) => {
    const rel = r && r.items && r.items[0];
    block.set(!!(rel && rel.blocking));
    mute.set(!!(rel && rel.muting));
  }, () => { block.set(false); mute.set(false); });
  return h('span', { class: 'relationship' }, mute.btn, ' ', block.btn);
}

// Unblock / unmute for one row of the settings lists.
export function undoButton(acct, what) {
  const state = what === 'block' ? 'blocking' : 'muting';
  const t = toggle(acct, what, state, what === 'block' ? ['Block', 'Unblock'] : ['Mute', 'Unmute'], null);
  t.set(true);
  return t.btn;
}
