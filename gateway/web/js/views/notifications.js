// views/notifications.js — the reader's notifications: read one, read all.
import { h, ago, displayName, put } from '../dom.js';
import { get, post } from '../api.js';
import { endless } from '../endless.js';
import { refreshBadge } from '../badge.js';
import { toastError } from '../errors.js';
import { on } from '../live.js';

const WHAT = {
  follow: 'followed you',
  like: 'liked your tweet',
  comment: 'commented on your tweet',
  mention: 'mentioned you',
  poll_ended: 'a poll you took part in has ended',
};

function item(n) {
  const actor = n.actor ? h('a', { class: 'author', href: '/@' + n.actor.username }, displayName(n.actor)) : null;
  const target = n.tweet_id ? h('a', { href: '/tweets/' + n.tweet_id }, n.tweet && n.tweet.text ? `“${n.tweet.text.slice(0, 80)}”` : 'the tweet') : null;
  const box = h('article', { class: 'notification' + (n.read ? '' : ' unread'), dataset: { type: n.type } });
  const readBtn = n.read ? null : h('button', { type: 'button', class: 'link', onclick: async () => {
    try {
      await post(`/notifications/${n.id}/read`);
      box.classList.remove('unread');
      readBtn.remove();
      refreshBadge();
    } catch (err) { toastError(err); }
  } }, 'Mark read');
  box.append(h('p', {}, n.type === 'poll_ended' ? 'A poll ' : [actor, ' '], n.type === 'poll_ended' ? 'has ended' : (WHAT[n.type] || n.type),
    target ? [' ', target] : null),
  h('p', { class: 'meta' }, h('time', { datetime: n.created_at }, ago(n.created_at)), readBtn ? [' · ', readBtn] : null));
  return box;
}

export function notifications(main) {
  document.title = 'Notifications · Chirp';
  const list = endless({ label: 'Notifications', noun: ['notification', 'notifications'], empty: 'No notifications yet.',
    load: (cursor) => get('/notifications', { limit: 20, cursor }), render: item });
  const all = h('button', { type: 'button', onclick: async () => {
    try {
      await post('/notifications/read_all');
      for (const el of list.el.querySelectorAll('.unread')) el.classList.remove('unread');
      for (const b of list.el.querySelectorAll('.notification .link')) b.remove();
      refreshBadge();
    } catch (err) { toastError(err); }
  } }, 'Mark all read');
  put(main, h('div', { class: 'page-head' }, h('h1', {}, 'Notifications'), all), list.el);
  const off = on('notification', (n) => list.queue(n));
  return { cleanup() { off(); list.destroy(); } };
}
