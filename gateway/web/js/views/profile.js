// views/profile.js — an account: its tweets, followers and following;
// follow/unfollow; editing one's own profile.
import { h, displayName, put } from '../dom.js';
import { get, post, del, patch } from '../api.js';
import { session } from '../session.js';
import { endless } from '../endless.js';
import { tweetCard } from '../tweet_card.js';
import { accountCard, avatar } from '../account_card.js';
import { followingIds, resetFollowing, remember, forget } from '../accounts.js';
import { describe, field, formError, submitting, toastError } from '../errors.js';
import { listControl } from './lists.js';
import { relationshipButtons } from '../relationship.js';

function followButton(acct, onChange) {
  const btn = h('button', { type: 'button', class: 'follow', disabled: true }, 'Follow');
  let following = false;
  const paint = () => {
    btn.textContent = following ? 'Unfollow' : 'Follow';
    btn.setAttribute('aria-pressed', String(following));
    btn.classList.toggle('primary', !following);
  };
  followingIds().then((ids) => { following = ids.has(acct.id); btn.disabled = false; paint(); },
    () => { btn.disabled = false; paint(); });
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    const want = !following;
    try {
      const r = want ? await post(`/accounts/${acct.id}/follow`) : await del(`/accounts/${acct.id}/follow`);
      following = r && typeof r.following === 'boolean' ? r.following : want;
      resetFollowing();
      forget(acct.id);
      onChange(following ? 1 : -1);
    } catch (err) {
      toastError(err);
    } finally {
      btn.disabled = false;
      paint();
    }
  });
  paint();
  return btn;
}

function editForm(acct, done) {
  const form = h('form', { class: 'edit-profile', novalidate: true },
    h('h2', {}, 'Edit profile'),
    field('Display name', h('input', { name: 'display_name', value: acct.display_name || '', maxlength: 50 })),
    field('Bio', h('textarea', { name: 'bio', rows: 3, maxlength: 500 }, acct.bio || '')),
    field('Avatar URL', h('input', { name: 'avatar_url', type: 'url', value: acct.avatar_url || '' }), 'An https:// address of an image, or empty.'),
    formError(),
    h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, 'Save'),
      h('button', { type: 'button', onclick: () => done(null) }, 'Cancel')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submitting(form, async () => {
      const body = {}; // only what changed: an untouched field is never refused
      for (const k of ['display_name', 'bio', 'avatar_url']) if (form[k].value !== (acct[k] || '')) body[k] = form[k].value;
      const r = Object.keys(body).length ? await patch('/accounts/me', body) : acct;
      const updated = r && r.account ? r.account : { ...acct, ...(r || {}) };
      session.setAccount({ ...session.account(), ...updated });
      remember(updated);
      done(updated);
    });
  });
  return form;
}

export async function profile(main, { username }, tab) {
  document.title = '@' + username + ' · Chirp';
  put(main, h('p', { class: 'list-status' }, 'Loading…'));
  let acct;
  try {
    acct = await get('/accounts/@' + encodeURIComponent(username));
  } catch (err) {
    put(main, h('section', { class: 'card' }, h('h1', {}, '@' + username), h('p', {}, describe(err))));
    return null;
  }
  remember(acct);
  const me = session.account();
  const mine = me && me.id === acct.id;
  const followers = h('span', {}, String(acct.followers_count));
  const followersWord = h('span', {}, acct.followers_count === 1 ? ' follower' : ' followers');
  const setFollowers = (n) => { followers.textContent = String(n); followersWord.textContent = n === 1 ? ' follower' : ' followers'; };
  const head = h('section', { class: 'card profile' });
  function paintHead(a) {
    put(head, 
      h('div', { class: 'profile-top' }, avatar(a, true),
        h('div', {}, h('h1', {}, displayName(a)), h('p', { class: 'handle' }, '@' + a.username)),
        mine ? h('button', { type: 'button', class: 'edit', onclick: () => put(head, editForm(a, (u) => paintHead(u || a))) }, 'Edit profile')
          : (me ? h('span', { class: 'profile-actions' },
            followButton(a, (d) => setFollowers(Number(followers.textContent) + d)), ' ',
            // A block ends the follows both ways: the page is read again.
            relationshipButtons(a, () => profile(main, { username }, tab))) : null)),
      a.bio ? h('p', { class: 'bio' }, a.bio) : null,
      me && !mine ? listControl(a) : null,
      h('p', { class: 'stats' },
        h('a', { href: `/@${a.username}/followers` }, followers, followersWord), ' · ',
        h('a', { href: `/@${a.username}/following` }, String(a.following_count), ' following')));
  }
  paintHead(acct);
  const tabs = h('nav', { class: 'tabs', 'aria-label': 'Profile sections' },
    [['tweets', 'Tweets', ''], ['followers', 'Followers', '/followers'], ['following', 'Following', '/following']].map(([k, t, suffix]) =>
      h('a', { href: `/@${acct.username}${suffix}`, 'aria-current': k === tab ? 'page' : null }, t)));
  const list = tab === 'tweets'
    ? endless({ label: 'Tweets', empty: 'No tweets yet.', load: (cursor) => get(`/accounts/${acct.id}/tweets`, { limit: 20, cursor }),
      render: (t) => tweetCard({ ...t, author: t.author || acct }) })
    : endless({ label: tab === 'followers' ? 'Followers' : 'Following', empty: 'Nobody yet.',
      load: (cursor) => get(`/accounts/${acct.id}/${tab}`, { limit: 40, cursor }), render: accountCard });
  put(main, head, tabs, list.el);
  return { cleanup: () => list.destroy() };
}
