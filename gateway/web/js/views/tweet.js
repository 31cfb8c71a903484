// views/tweet.js — one tweet: its thread, comments, likes and edit history;
// editing and deleting one's own tweet and comments; replying.
import { h, ago, displayName, richText, codePoints, put } from '../dom.js';
import { get, post, patch, del } from '../api.js';
import { session } from '../session.js';
import { account } from '../accounts.js';
import { endless } from '../endless.js';
import { tweetCard } from '../tweet_card.js';
import { accountCard } from '../account_card.js';
import { compose, MAX_CHARS } from '../compose.js';
import { describe, field, formError, submitting, toast, toastError } from '../errors.js';
import { navigate } from '../router.js';
import { on } from '../live.js';

// A form that edits a text (a tweet's or a comment's) in place.
function textEditor(label, value, save, done) {
  const text = h('textarea', { name: 'text', rows: 3 }, value);
  const counter = h('span', { class: 'counter', 'aria-live': 'polite' });
  const count = () => { counter.textContent = `${MAX_CHARS - codePoints(text.value)} left`; };
  text.addEventListener('input', count);
  count();
  const form = h('form', { class: 'editor', novalidate: true }, field(label, text), formError(),
    h('div', { class: 'compose-bar' }, counter, h('button', { type: 'submit', class: 'primary' }, 'Save'),
      h('button', { type: 'button', onclick: () => done(null) }, 'Cancel')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submitting(form, async () => done(await save(text.value)));
  });
  setTimeout(() => text.focus(), 0);
  return form;
}

function commentView(c, me) {
  const who = h('a', { class: 'author', href: '#' }, '…');
  account(c.author_id).then((a) => { who.textContent = displayName(a); who.href = '/@' + a.username; }, () => {});
  const box = h('article', { class: 'comment', 'aria-label': 'Comment' });
  function paint(cur) {
    const mine = me && me.id === cur.author_id;
    put(box, 
      h('header', {}, who, ' · ', h('time', { datetime: cur.created_at }, ago(cur.created_at)), cur.edited_at ? ' · edited' : ''),
      h('p', { class: 'text' }, richText(cur.text)),
      mine ? h('div', { class: 'row small' },
        h('button', { type: 'button', class: 'link', onclick: () => put(box, textEditor('Edit comment', cur.text,
          async (text) => ({ ...cur, ...(await patch('/comments/' + cur.id, { text })), text }), (u) => paint(u || cur))) }, 'Edit'),
        h('button', { type: 'button', class: 'link danger', onclick: async () => {
          if (!confirm('Delete this comment?')) return;
          try { await del('/comments/' + cur.id); put(box, h('p', { class: 'meta' }, 'Comment deleted.')); } catch (err) { toastError(err); }
        } }, 'Delete')) : null);
  }
  paint(c);
  return box;
}

export async function tweetPage(main, { id }) {
  document.title = 'Tweet · Chirp';
  put(main, h('p', { class: 'list-status' }, 'Loading…'));
  let tweet;
  try {
    tweet = await get('/tweets/' + encodeURIComponent(id));
  } catch (err) {
    put(main, h('section', { class: 'card' }, h('h1', {}, 'Tweet'), h('p', {}, describe(err))));
    return null;
  }
  const me = session.account();
  const mine = me && me.id === tweet.author_id;
  const holder = h('section', { class: 'card main-tweet' });
  const history = h('section', { class: 'card', id: 'history', hidden: true });

  async function loadHistory() {
    try {
      const r = await get(`/tweets/${tweet.id}/history`);
      history.hidden = (r.items || []).length < 2;
      put(history, h('h2', {}, 'Edit history'), h('ol', { class: 'history' }, r.items.map((v) =>
        h('li', {}, h('p', { class: 'text' }, v.text), h('p', { class: 'meta' }, `from ${new Date(v.since).toLocaleString()}`,
          v.until ? ` to ${new Date(v.until).toLocaleString()}` : ' (current)')))));
    } catch { history.hidden = true; }
  }

  function paint(t) {
    tweet = t;
    put(holder, tweetCard(t),
      mine ? h('div', { class: 'row small' },
        h('button', { type: 'button', onclick: () => put(holder, textEditor('Edit tweet', tweet.text,
          async (text) => ({ ...tweet, ...(await patch('/tweets/' + tweet.id, { text })), text, like_count: tweet.like_count, liked_by_me: tweet.liked_by_me, comment_count: tweet.comment_count }),
          (u) => { paint(u || tweet); if (u) setTimeout(loadHistory, 1500); })) }, 'Edit'),
        h('button', { type: 'button', class: 'danger', onclick: async () => {
          if (!confirm('Delete this tweet?')) return;
          try { await del('/tweets/' + tweet.id); navigate('/'); } catch (err) { toastError(err); }
        } }, 'Delete')) : null);
  }
  paint(tweet);
  loadHistory();

  // The thread: ancestors above the tweet (first page), replies below in
  // reading order, more as one scrolls.
  const ancestors = h('section', { class: 'thread-up', 'aria-label': 'Earlier in the thread', hidden: true });
  const thread = endless({ label: 'Replies', noun: ['reply', 'replies'], empty: 'No replies yet.',
    load: (cursor) => get(`/tweets/${tweet.id}/context`, { limit: 20, cursor }).then((r) => {
      if (!cursor && r.ancestors && r.ancestors.length) {
        ancestors.hidden = false;
        put(ancestors, r.ancestors.map((a) => (a.unavailable
          ? h('p', { class: 'meta unavailable' }, 'This tweet is unavailable.') : tweetCard(a))));
      }
      return { items: r.descendants || [], next_cursor: r.next_cursor };
    }),
    render: (t) => { const c = tweetCard(t); c.classList.add('in-thread'); return c; } });
  const comments = endless({ label: 'Comments', noun: ['comment', 'comments'], empty: 'No comments yet.',
    load: (cursor) => get(`/tweets/${tweet.id}/comments`, { limit: 20, cursor }), render: (c) => commentView(c, me) });
  const commentForm = h('form', { class: 'comment-form', novalidate: true },
    field('Your comment', h('textarea', { name: 'text', rows: 2 })), formError(),
    h('div', { class: 'compose-bar' }, h('button', { type: 'submit', class: 'primary' }, 'Comment')));
  commentForm.addEventListener('submit', (e) => {
    e.preventDefault();
    submitting(commentForm, async () => {
      const c = await post(`/tweets/${tweet.id}/comments`, { text: commentForm.text.value });
      commentForm.reset();
      comments.prepend(c);
    });
  });
  const likes = endless({ label: 'Liked by', empty: 'No likes yet.',
    load: (cursor) => get(`/tweets/${tweet.id}/likes`, { limit: 40, cursor }),
    render: (a) => accountCard(a.account || a) });
  const replies = me ? compose({ replyTo: tweet.id, label: 'Reply', onPosted: () => toast('Reply posted.') }) : null;

  put(main, h('h1', { class: 'sr-only' }, 'Tweet'), ancestors, holder, history,
    h('section', { class: 'card', id: 'thread' }, h('h2', {}, 'Replies'), thread.el),
    replies ? h('section', { class: 'card' }, h('h2', {}, 'Reply'), replies) : null,
    h('section', { class: 'card' }, h('h2', {}, 'Comments'), me ? commentForm : null, comments.el),
    h('section', { class: 'card' }, h('h2', {}, 'Likes'), likes.el));
  const off = on('tweet.edited', (t) => { if (t.id === tweet.id) { paint({ ...tweet, ...t }); loadHistory(); } });
  return { cleanup() { off(); thread.destroy(); comments.destroy(); likes.destroy(); } };
}
