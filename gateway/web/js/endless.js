// endless.js — a list that loads its next page as its end comes into view
// (an IntersectionObserver on a sentinel, which is also a "Load more"
// button for the keyboard), never shows an item twice (by id), and keeps
// items that arrive live behind a "N new" bar so that nothing moves while
// one reads.
import { h, put } from './dom.js';
import { describe } from './errors.js';

export function endless({ load, render, empty = 'Nothing here yet.', label, noun = ['item', 'items'] }) {
  const byId = new Map();
  const pending = [];
  let cursor; // undefined: first page; null: no more
  let loading = false;
  let destroyed = false;

  const list = h('ul', { class: 'items', 'aria-label': label, 'aria-busy': 'false' });
  const more = h('button', { type: 'button', class: 'more', onclick: () => next() }, 'Load more');
  const status = h('p', { class: 'list-status', role: 'status' });
  const bar = h('button', { type: 'button', class: 'new-bar', hidden: true, onclick: () => showPending() });
  const el = h('section', { class: 'endless' }, bar, list, status, more);

  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) next();
  }, { rootMargin: '600px 0px' });
  observer.observe(more);

  function add(item, atTop) {
    if (!item || !item.id || byId.has(item.id)) return false;
    const node = render(item);
    if (!node) return false;
    const li = h('li', { dataset: { id: item.id } }, node);
    byId.set(item.id, li);
    if (atTop) list.prepend(li);
    else list.append(li);
    return true;
  }

  async function next() {
    if (loading || cursor === null || destroyed) return;
    loading = true;
    list.setAttribute('aria-busy', 'true');
    status.textContent = 'Loading…';
    try {
      const page = await load(cursor);
      if (destroyed) return;
      for (const item of page.items || []) add(item, false);
      cursor = page.next_cursor || null;
      status.textContent = cursor === null && byId.size === 0 ? empty : '';
    } catch (err) {
      status.textContent = describe(err);
      if (err.status === 429 && err.retryAfter) setTimeout(() => { if (!destroyed) next(); }, err.retryAfter * 1000);
    } finally {
      loading = false;
      list.setAttribute('aria-busy', 'false');
      more.hidden = cursor === null;
      // Still in view (a short page): re-observing reports it again.
      if (cursor !== null && !destroyed) { observer.unobserve(more); observer.observe(more); }
    }
  }

  function updateBar() {
    bar.hidden = pending.length === 0;
    const n = pending.length;
    bar.textContent = `Show ${n} new ${n === 1 ? noun[0] : noun[1]}`;
  }

  function showPending() {
    // pending holds arrivals oldest first: the newest ends at the top.
    while (pending.length) add(pending.shift(), true);
    updateBar();
    if (status.textContent === empty) status.textContent = '';
    el.scrollIntoView({ block: 'start' });
    const first = list.querySelector('li');
    if (first) first.querySelector('a, button')?.focus({ preventScroll: true });
  }

  next();
  return {
    el,
    size: () => byId.size,
    // An item that arrived live: behind the bar, unless it is already shown.
    queue(item) {
      if (!item || byId.has(item.id) || pending.some((p) => p.id === item.id)) return;
      pending.push(item);
      updateBar();
    },
    // Put at the top at once (the reader's own new tweet).
    prepend(item) { add(item, true); if (status.textContent === empty) status.textContent = ''; },
    replace(item) {
      const li = byId.get(item.id);
      if (li) put(li, render(item));
      const i = pending.findIndex((p) => p.id === item.id);
      if (i >= 0) pending[i] = item;
    },
    remove(id) {
      const li = byId.get(id);
      if (li) li.remove();
      byId.delete(id);
      const i = pending.findIndex((p) => p.id === id);
      if (i >= 0) { pending.splice(i, 1); updateBar(); }
    },
    destroy() { destroyed = true; observer.disconnect(); },
  };
}
