// app.js — the shell: navigation, the session, the stream, and the routes.
import { h, put } from './dom.js';
import { get, del } from './api.js';
import { session } from './session.js';
import { route, fallback, start, navigate, render } from './router.js';
import { connect, disconnect } from './live.js';
import { mountBadge, refreshBadge } from './badge.js';
import { login, signup } from './views/auth.js';
import { home } from './views/home.js';
import { profile } from './views/profile.js';
import { tweetPage } from './views/tweet.js';
import { notifications } from './views/notifications.js';
import { bookmarks } from './views/bookmarks.js';
import { search, hashtag } from './views/search.js';
import { listsPage, listPage } from './views/lists.js';
import { blockedPage } from './views/blocked.js';

function nav() {
  const box = document.getElementById('nav');
  const me = session.account();
  if (!session.loggedIn()) {
    put(box, h('a', { href: '/search' }, 'Search'), h('a', { href: '/login' }, 'Log in'),
      h('a', { href: '/signup', class: 'button primary' }, 'Sign up'));
    return;
  }
  const badge = h('span', { class: 'badge', id: 'badge', hidden: true });
  put(box, 
    h('a', { href: '/' }, 'Home'),
    h('a', { href: '/search' }, 'Search'),
    h('a', { href: '/lists' }, 'Lists'),
    h('a', { href: '/notifications', id: 'nav-notifications' }, 'Notifications ', badge),
    h('a', { href: '/bookmarks', id: 'nav-bookmarks' }, 'Bookmarks'),
    me ? h('a', { href: '/@' + me.username, id: 'nav-profile' }, 'Profile') : null,
    h('a', { href: '/settings/blocked', id: 'nav-blocked' }, 'Blocked'),
    h('button', { type: 'button', class: 'link', id: 'logout', onclick: logout }, 'Log out'));
  mountBadge(badge);
  for (const a of box.querySelectorAll('a')) a.toggleAttribute('aria-current', a.pathname === location.pathname);
}

async function logout() {
  try { await del('/sessions/current'); } catch { /* the token goes anyway */ }
  session.clear();
  navigate('/login');
}

const needLogin = (view) => (main, ...rest) => {
  if (!session.loggedIn()) { navigate('/login', { replace: true }); return null; }
  return view(main, ...rest);
};

route('/', needLogin(home));
route('/login', login);
route('/signup', signup);
route('/notifications', needLogin(notifications));
route('/bookmarks', needLogin(bookmarks));
route('/search', search);
route('/lists', needLogin(listsPage));
route('/lists/:id', needLogin(listPage));
route('/settings/blocked', needLogin(blockedPage));
route('/tags/:tag', hashtag);
route('/tweets/:id', tweetPage);
route('/@:username', (m, p) => profile(m, p, 'tweets'));
route('/@:username/followers', (m, p) => profile(m, p, 'followers'));
route('/@:username/following', (m, p) => profile(m, p, 'following'));
fallback((main) => { put(main, h('section', { class: 'card' }, h('h1', {}, 'Page not found'), h('p', {}, h('a', { href: '/' }, 'Go home')))); });

let wasIn = null;
session.onChange(() => {
  nav();
  const inNow = session.loggedIn();
  if (inNow !== wasIn) {
    wasIn = inNow;
    if (inNow) { connect(); refreshBadge(); } else disconnect();
  }
});
window.addEventListener('chirp:expired', () => navigate('/login'));
window.addEventListener('chirp:routed', () => { nav(); document.getElementById('main').focus({ preventScroll: true }); window.scrollTo(0, 0); });

async function boot() {
  if (session.loggedIn()) {
    try {
      const r = await get('/sessions/current');
      if (r && r.account) session.setAccount(r.account);
      else session.clear();
    } catch (err) {
      if (err.status === 401) session.clear();
      else session.setAccount(null);
    }
  } else {
    session.setAccount(null);
  }
  start();
}
boot();
export { render };
