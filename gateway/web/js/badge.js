// badge.js — the unread-notifications count in the navigation: read from
// the API, moved live by the stream, re-read after "mark read".
import { get } from './api.js';
import { session } from './session.js';
import { on } from './live.js';

let el = null;
let count = 0;

function paint() {
  if (!el) return;
  el.textContent = count > 99 ? '99+' : String(count);
  el.hidden = count === 0;
  el.parentElement?.setAttribute('aria-label', count ? `Notifications (${count} unread)` : 'Notifications');
}

export async function refreshBadge() {
  if (!session.loggedIn()) { count = 0; paint(); return; }
  try {
    const r = await get('/notifications/unread_count');
    count = r.count || 0;
  } catch { /* keep the last figure */ }
  paint();
}

export function mountBadge(node) {
  el = node;
  paint();
}

on('notification', (n) => { if (!n.read) { count++; paint(); } });
// Without a stream the badge still moves: a light poll while the page is open.
setInterval(() => { if (document.visibilityState === 'visible') refreshBadge(); }, 30000);
