// views/search.js — search for tweets, accounts or hashtags; a hashtag's page.
import { h, put } from '../dom.js';
import { get } from '../api.js';
import { endless } from '../endless.js';
import { tweetCard } from '../tweet_card.js';
import { accountCard } from '../account_card.js';
import { field } from '../errors.js';
import { navigate } from '../router.js';
import { hydrated } from '../hydrate.js';

const tagItem = (t) => h('article', { class: 'hashtag' }, h('a', { href: '/tags/' + encodeURIComponent(t.tag) }, '#' + t.tag),
  h('span', { class: 'meta' }, ` ${t.count} tweet${t.count === 1 ? '' : 's'}`));

export function search(main, _params, query) {
  document.title = 'Search · Chirp';
  const q = query.get('q') || '';
  const type = ['tweets', 'accounts', 'hashtags'].includes(query.get('type')) ? query.get('type') : 'tweets';
  const input = h('input', { name: 'q', type: 'search', value: q, required: true });
  const kind = h('select', { name: 'type' }, [['tweets', 'Tweets'], ['accounts', 'Accounts'], ['hashtags', 'Hashtags']]
    .map(([v, t]) => h('option', { value: v, selected: v === type }, t)));
  const form = h('form', { class: 'search', role: 'search' }, field('Search', input), field('In', kind),
    h('button', { type: 'submit', class: 'primary' }, 'Search'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (input.value.trim()) navigate(`/search?q=${encodeURIComponent(input.value)}&type=${kind.value}`);
  });
  let list = null;
  if (q) {
    const render = type === 'accounts' ? accountCard : type === 'hashtags' ? tagItem : (t) => tweetCard(t);
    list = endless({ label: 'Results', empty: 'No results.', render,
      load: (cursor) => get('/search', { q, type, limit: 20, cursor }).then((p) => (type === 'tweets' ? hydrated(p) : p)) });
  }
  put(main, h('section', { class: 'card' }, h('h1', {}, 'Search'), form), list ? list.el : null);
  if (!q) input.focus();
  return list ? { cleanup: () => list.destroy() } : null;
}

export function hashtag(main, { tag }) {
  document.title = '#' + tag + ' · Chirp';
  const list = endless({ label: '#' + tag, empty: 'No tweets with this hashtag yet.', render: (t) => tweetCard(t),
    load: (cursor) => get(`/hashtags/${encodeURIComponent(tag)}/tweets`, { limit: 20, cursor }).then(hydrated) });
  put(main, h('h1', { class: 'page-title' }, '#' + tag), list.el);
  return { cleanup: () => list.destroy() };
}
