// account_card.js — an account in a list (followers, search results).
import { h, displayName } from './dom.js';

export function accountCard(a) {
  return h('article', { class: 'account' },
    avatar(a),
    h('div', {}, h('a', { class: 'author', href: '/@' + a.username }, displayName(a)), ' ',
      h('span', { class: 'handle' }, '@' + a.username),
      a.bio ? h('p', { class: 'bio' }, a.bio) : null));
}

export function avatar(a, big = false) {
  const cls = big ? 'avatar big' : 'avatar';
  if (a.avatar_url && /^https?:\/\//.test(a.avatar_url)) return h('img', { class: cls, src: a.avatar_url, alt: '' });
  return h('span', { class: cls, 'aria-hidden': 'true' }, (a.display_name || a.username || '?').slice(0, 1).toUpperCase());
}
