// marks.js — the bookmark button of a tweet card and the pin button of
// one's own tweets: each a toggle that shows the new state at once and
// settles on the server's answer.
import { h } from './dom.js';
import { post, del } from './api.js';
import { session } from './session.js';
import { toastError, toast } from './errors.js';

function toggle({ on, cls, path, field, labels }) {
  let state = !!on;
  const btn = h('button', { type: 'button', class: cls, onclick: flip });
  function paint() {
    btn.setAttribute('aria-pressed', String(state));
    btn.textContent = state ? labels[1] : labels[0];
    btn.classList.toggle('on', state);
  }
  async function flip() {
    if (!session.loggedIn()) { location.href = '/login'; return; }
    const was = state;
    state = !state;
    paint();
    try {
      const r = state ? await post(path) : await del(path);
      if (r && typeof r[field] === 'boolean') state = r[field];
      paint();
      return state;
    } catch (err) {
      state = was;
      paint();
      toastError(err);
      return null;
    }
  }
  paint();
  return btn;
}

export function bookmarkButton(tweet) {
  return toggle({ on: tweet.bookmarked_by_me, cls: 'bookmark', path: `/tweets/${tweet.id}/bookmark`,
    field: 'bookmarked', labels: ['Bookmark', 'Bookmarked'] });
}

export function pinButton(tweet) {
  const btn = toggle({ on: tweet.pinned, cls: 'pin link', path: `/tweets/${tweet.id}/pin`,
    field: 'pinned', labels: ['Pin', 'Unpin'] });
  btn.addEventListener('click', () => setTimeout(() => {
    if (btn.getAttribute('aria-pressed') === 'true') toast('Pinned to your profile.');
  }, 300));
  return btn;
}
