// views/blocked.js — the settings page of the accounts one blocks and mutes
// (GET /blocks, GET /mutes), each with its unblock / unmute button.
import { h, put } from '../dom.js';
import { get } from '../api.js';
import { endless } from '../endless.js';
import { accountCard } from '../account_card.js';
import { undoButton } from '../relationship.js';

export async function blockedPage(main, params, query) {
  const tab = query && query.get('tab') === 'muted' ? 'muted' : 'blocked';
  document.title = (tab === 'muted' ? 'Muted' : 'Blocked') + ' accounts · Chirp';
  const tabs = h('nav', { class: 'tabs', 'aria-label': 'Blocked and muted accounts' },
    [['blocked', 'Blocked', '/settings/blocked'], ['muted', 'Muted', '/settings/blocked?tab=muted']].map(([k, t, href]) =>
      h('a', { href, 'aria-current': k === tab ? 'page' : null }, t)));
  const what = tab === 'muted' ? 'mute' : 'block';
  const list = endless({
    label: tab === 'muted' ? 'Muted accounts' : 'Blocked accounts',
    empty: tab === 'muted' ? 'You mute nobody.' : 'You block nobody.',
    load: (cursor) => get(tab === 'muted' ? '/mutes' : '/blocks', { limit: 40, cursor }),
    render: (a) => h('div', { class: 'blocked-row' }, accountCard(a), undoButton(a, what)),
  });
  put(main, h('section', { class: 'card' }, h('h1', {}, 'Blocked and muted accounts'),
    h('p', {}, 'Blocked accounts and you see nothing of each other and cannot interact; muted accounts stay followed but leave your feed and notifications.')),
    tabs, list.el);
  return { cleanup: () => list.destroy() };
}
