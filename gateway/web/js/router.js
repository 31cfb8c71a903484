// router.js — client-side routes over the History API.  Same-origin links
// are followed without a page load; each route renders into <main>.
const routes = [];
let notFound = null;
let current = null; // { cleanup }

export function route(pattern, render) {
  const keys = [];
  const re = new RegExp('^' + pattern.replace(/:(\w+)/g, (_, k) => { keys.push(k); return '([^/]+)'; }) + '/?$');
  routes.push({ re, keys, render });
}

export function fallback(render) { notFound = render; }

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render();
}

export async function render() {
  const main = document.getElementById('main');
  if (current && current.cleanup) current.cleanup();
  current = null;
  const path = location.pathname;
  const query = new URLSearchParams(location.search);
  for (const r of routes) {
    const m = path.match(r.re);
    if (!m) continue;
    const params = {};
    r.keys.forEach((k, i) => { params[k] = decodeURIComponent(m[i + 1]); });
    current = (await r.render(main, params, query)) || null;
    window.dispatchEvent(new CustomEvent('chirp:routed', { detail: path }));
    return;
  }
  if (notFound) current = (await notFound(main)) || null;
}

export function start() {
  document.addEventListener('click', (e) => {
    const a = e.target.closest('a[href]');
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    if (a.target === '_blank' || a.origin !== location.origin || a.hasAttribute('download')) return;
    if (a.pathname.startsWith('/api/') || a.pathname.startsWith('/docs')) return;
    e.preventDefault();
    if (a.pathname + a.search !== location.pathname + location.search) navigate(a.pathname + a.search);
  });
  window.addEventListener('popstate', render);
  render();
}
