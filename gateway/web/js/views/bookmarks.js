// views/bookmarks.js — one's bookmarks, newest bookmark first (private).
import { h, put } from '../dom.js';
import { get } from '../api.js';
import { endless } from '../endless.js';
import { tweetCard } from '../tweet_card.js';

export function bookmarks(main) {
  document.title = 'Bookmarks · Chirp';
  const list = endless({ label: 'Bookmarks', empty: 'No bookmarks yet.',
    load: (cursor) => get('/bookmarks', { limit: 20, cursor }), render: tweetCard });
  put(main, h('section', { class: 'card' }, h('h1', {}, 'Bookmarks'),
    h('p', { class: 'meta' }, 'Only you see your bookmarks.')), list.el);
  return { cleanup: () => list.destroy() };
}
