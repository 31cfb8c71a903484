// live.js — the reader's stream (server-sent events): new, edited and
// deleted tweets of the home feed and new notifications.  Without the
// endpoint (or while it is down) the client simply has no live updates:
// the connection is retried quietly with a growing pause, nothing is shown.
import { session } from './session.js';

const EVENTS = ['tweet', 'tweet.edited', 'tweet.deleted', 'notification'];
const handlers = new Map(EVENTS.map((e) => [e, new Set()]));
let source = null;
let retryTimer = null;
let pause = 5000;
let status = 'off';

export function on(type, f) {
  handlers.get(type).add(f);
  return () => handlers.get(type).delete(f);
}

export const liveStatus = () => status;

function dispatch(type, ev) {
  let data;
  try { data = JSON.parse(ev.data); } catch { return; }
  for (const f of handlers.get(type)) {
    try { f(data); } catch (e) { console.error(e); }
  }
}

export function connect() {
  disconnect();
  const token = session.token();
  if (!token || typeof EventSource === 'undefined') return;
  const es = new EventSource('/api/v1/streaming/user?access_token=' + encodeURIComponent(token));
  source = es;
  status = 'connecting';
  es.onopen = () => { status = 'open'; pause = 5000; document.documentElement.dataset.live = 'open'; };
  es.onerror = () => {
    // CONNECTING: the browser retries by itself (and sends Last-Event-ID).
    // CLOSED: refused (no such endpoint, a bad token): try later ourselves.
    if (es.readyState !== EventSource.CLOSED || source !== es) return;
    status = 'off';
    document.documentElement.dataset.live = 'off';
    source = null;
    retryTimer = setTimeout(connect, pause);
    pause = Math.min(pause * 2, 300000);
  };
  for (const type of EVENTS) es.addEventListener(type, (ev) => dispatch(type, ev));
}

export function disconnect() {
  clearTimeout(retryTimer);
  retryTimer = null;
  if (source) source.close();
  source = null;
  status = 'off';
}

// Leaving the page ends its stream at once (a stream left to the browser
// can hold one of its few connections to the host for a while); coming back
// from the back-forward cache opens it again.
window.addEventListener('pagehide', () => disconnect());
window.addEventListener('pageshow', (e) => { if (e.persisted && session.loggedIn()) connect(); });
