// tweet_card.js — one tweet: author, text, poll, the quoted tweet inside it,
// "reposted by" on a feed item that is a repost, the like and repost buttons
// whose counts move at once and settle on the server's answer, the quote
// action (a compose form with quote_of), the thread link, the bookmark
// button and (on one's own) pin/unpin.
import { h, ago, displayName, richText } from './dom.js';
import { post, del } from './api.js';
import { account } from './accounts.js';
import { session } from './session.js';
import { toastError } from './errors.js';
import { pollView } from './poll.js';
import { compose } from './compose.js';
import { bookmarkButton, pinButton } from './marks.js';

function authorLine(tweet) {
  const name = h('a', { class: 'author', href: '#' }, '…');
  const handle = h('span', { class: 'handle' });
  const fill = (a) => {
    name.textContent = displayName(a);
    name.href = '/@' + a.username;
    handle.textContent = '@' + a.username;
  };
  if (tweet.author) fill(tweet.author);
  else account(tweet.author_id).then(fill, () => { name.textContent = 'unknown'; });
  return [name, ' ', handle];
}

export function likeButton(tweet) {
  let liked = !!tweet.liked_by_me;
  let count = Number(tweet.like_count || 0);
  let inflight = 0;
  const num = h('span', { class: 'count' });
  const btn = h('button', { type: 'button', class: 'like', onclick: toggle }, h('span', { 'aria-hidden': 'true', class: 'heart' }), num);
  function paint() {
    btn.setAttribute('aria-pressed', String(liked));
    btn.setAttribute('aria-label', `${liked ? 'Unlike' : 'Like'} (${count} like${count === 1 ? '' : 's'})`);
    num.textContent = String(count);
    btn.classList.toggle('on', liked);
  }
  async function toggle() {
    if (!session.loggedIn()) { location.href = '/login'; return; }
    const was = { liked, count };
    liked = !liked;
    count = Math.max(0, count + (liked ? 1 : -1));
    paint();
    const seq = ++inflight;
    try {
      const r = liked ? await post(`/tweets/${tweet.id}/like`) : await del(`/tweets/${tweet.id}/like`);
      if (seq === inflight && r) {
        if (typeof r.liked === 'boolean') liked = r.liked;
        if (typeof r.like_count === 'number') count = r.like_count;
        paint();
      }
    } catch (err) {
      if (seq === inflight) { ({ liked, count } = was); paint(); }
      toastError(err);
    }
  }
  paint();
  return btn;
}

export function repostButton(tweet) {
  let reposted = !!tweet.reposted_by_me;
  let count = Number(tweet.repost_count || 0);
  let inflight = 0;
  const num = h('span', { class: 'count' });
  const btn = h('button', { type: 'button', class: 'repost', onclick: toggle }, h('span', { 'aria-hidden': 'true', class: 'arrows' }), num);
  function paint() {
    btn.setAttribute('aria-pressed', String(reposted));
    btn.setAttribute('aria-label', `${reposted ? 'Undo repost' : 'Repost'} (${count} repost${count === 1 ? '' : 's'})`);
    num.textContent = String(count);
    btn.classList.toggle('on', reposted);
  }
  async function toggle() {
    if (!session.loggedIn()) { location.href = '/login'; return; }
    const was = { reposted, count };
    reposted = !reposted;
    count = Math.max(0, count + (reposted ? 1 : -1));
    paint();
    const seq = ++inflight;
    try {
      const r = reposted ? await post(`/tweets/${tweet.id}/repost`) : await del(`/tweets/${tweet.id}/repost`);
      if (seq === inflight && r) {
        if (typeof r.reposted === 'boolean') reposted = r.reposted;
        if (typeof r.repost_count === 'number') count = r.repost_count;
        paint();
      }
    } catch (err) {
      if (seq === inflight) { ({ reposted, count } = was); paint(); }
      toastError(err);
    }
  }
  paint();
  return btn;
}

// The quoted tweet inside a card: one level deep, or unavailable.
function quotedView(q) {
  if (!q || q.unavailable) return h('div', { class: 'quote unavailable' }, 'This tweet is unavailable.');
  return h('a', { class: 'quote', href: '/tweets/' + q.id, 'aria-label': 'Quoted tweet' },
    h('header', {}, authorLine(q)), h('p', { class: 'text' }, richText(q.text || '')));
}

function quoteButton(tweet, slot) {
  return h('button', { type: 'button', class: 'quote-action', 'aria-label': `Quote (${tweet.quote_count || 0} quotes)`,
    onclick: () => {
      if (!session.loggedIn()) { location.href = '/login'; return; }
      if (slot.firstChild) { slot.replaceChildren(); return; }
      slot.append(compose({ quoteOf: tweet.id, label: 'Quote',
        onPosted: () => { slot.replaceChildren(); } }));
    } }, 'Quote', tweet.quote_count ? ' ' + String(tweet.quote_count) : '');
}

export function tweetCard(tweet) {
  const time = h('a', { class: 'time', href: '/tweets/' + tweet.id },
    h('time', { datetime: tweet.created_at, title: new Date(tweet.created_at).toLocaleString() }, ago(tweet.created_at)));
  const body = h('p', { class: 'text' }, richText(tweet.text || ''));
  const replyTo = tweet.reply_to
    ? h('p', { class: 'reply-to' }, h('a', { href: '/tweets/' + tweet.reply_to }, 'Replying to a tweet'))
    : null;
  const edited = tweet.edited_at ? h('a', { class: 'edited', href: '/tweets/' + tweet.id + '#history' }, 'edited') : null;
  const comments = h('a', { class: 'comments', href: '/tweets/' + tweet.id,
    'aria-label': `Reply or comment (${tweet.comment_count || 0} comments)` },
  h('span', { 'aria-hidden': 'true', class: 'bubble' }), String(tweet.comment_count || 0));
  const by = tweet.reposted_by
    ? h('p', { class: 'reposted-by' }, 'Reposted by ',
      h('a', { href: '/@' + tweet.reposted_by.username }, displayName(tweet.reposted_by)))
    : null;
  const quoteSlot = h('div', { class: 'quote-compose' });
  const replies = h('a', { class: 'replies', href: '/tweets/' + tweet.id + '#thread',
    'aria-label': `Thread (${tweet.reply_count || 0} replies)` }, `${tweet.reply_count || 0} replies`);
  const me = session.account();
  const pinned = tweet.pinned ? h('p', { class: 'pinned-label' }, 'Pinned') : null;
  return h('article', { class: 'tweet', dataset: { id: tweet.id }, 'aria-label': 'Tweet' },
    pinned, by,
    h('header', {}, authorLine(tweet), ' · ', time, edited ? [' · ', edited] : null),
    replyTo, body,
    tweet.poll ? pollView(tweet.poll) : null,
    tweet.quote_of ? quotedView(tweet.quote) : null,
    h('footer', { class: 'actions' }, comments, replies, repostButton(tweet), likeButton(tweet),
      quoteButton(tweet, quoteSlot), bookmarkButton(tweet),
      me && me.id === tweet.author_id ? pinButton(tweet) : null),
    quoteSlot);
}
