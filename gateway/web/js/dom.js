// dom.js — building elements without HTML strings (so no text is ever
// parsed as markup), and small formatting helpers.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) { while (el.firstChild) el.firstChild.remove(); return el; }

// el's children become kids, skipping null/false (replaceChildren would
// write them as the text "null").
export function put(el, ...kids) {
  clear(el);
  append(el, kids);
  return el;
}

let seq = 0;
export const uid = (p = 'f') => `${p}-${++seq}`;

// The number of Unicode code points (what the 280 limit counts), not of
// UTF-16 units: an emoji outside the BMP is one.
export const codePoints = (s) => { let n = 0; for (const _ of s) n++; return n; };

export function ago(iso) {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '';
  const s = Math.max(0, (Date.now() - t) / 1000);
  if (s < 60) return `${Math.floor(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return new Date(t).toLocaleDateString();
}

export const displayName = (a) => (a && (a.display_name || a.username)) || 'unknown';

// Text with #hashtags, @mentions and links made into links.
export function richText(text) {
  const out = [];
  const re = /(#[\p{L}\p{N}_]+)|(@[A-Za-z0-9_]{1,30})|(https?:\/\/[^\s]+)/gu;
  let last = 0, m;
  while ((m = re.exec(text))) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1]) out.push(h('a', { href: '/tags/' + encodeURIComponent(m[1].slice(1).toLowerCase()) }, m[1]));
    else if (m[2]) out.push(h('a', { href: '/' + m[2] }, m[2]));
    else out.push(h('a', { href: m[3], rel: 'noopener noreferrer nofollow', target: '_blank' }, m[3]));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}
