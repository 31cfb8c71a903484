// api.js — the one client of /api/v1.  Every failure, whatever its cause
// (an error body, a body that is not JSON, no network), becomes an ApiError
// with the same shape: status, code, message, field, retryAfter.
import { session } from './session.js';

export class ApiError extends Error {
  constructor(status, code, message, field = null, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
    this.retryAfter = retryAfter;
  }
}

const BASE = '/api/v1';

export async function api(method, path, { body, query, signal } = {}) {
  let url = BASE + path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
    const s = q.toString();
    if (s) url += '?' + s;
  }
  const headers = { Accept: 'application/json' };
  const token = session.token();
  if (token) headers.Authorization = 'Bearer ' + token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(url, { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'Cannot reach Chirp. Check your connection and try again.');
  }
  const text = await resp.text();
  let json = null;
  if (text) {
    try { json = JSON.parse(text); } catch { json = null; }
  }
  if (resp.ok) return json;
  const retry = parseInt(resp.headers.get('Retry-After') || '', 10);
  const err = json && json.error ? json.error : {};
  if (resp.status === 401 && token && err.code === 'invalid_token') session.expired();
  throw new ApiError(resp.status, err.code || 'http_' + resp.status,
    err.message || resp.statusText || 'Request failed', err.field || null,
    Number.isFinite(retry) ? retry : null);
}

export const get = (path, query, opts = {}) => api('GET', path, { ...opts, query });
export const post = (path, body) => api('POST', path, { body });
export const patch = (path, body) => api('PATCH', path, { body });
export const del = (path, body) => api('DELETE', path, { body });
