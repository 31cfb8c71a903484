// accounts.js — account cards by id (comments and some lists carry only
// author_id), fetched once per page view, and whom the reader follows.
import { get } from './api.js';
import { session } from './session.js';

const cards = new Map(); // id -> Promise<account>

export function account(id) {
  if (!cards.has(id)) {
    const p = get('/accounts/' + encodeURIComponent(id)).catch((e) => { cards.delete(id); throw e; });
    cards.set(id, p);
  }
  return cards.get(id);
}

export function remember(acct) {
  if (acct && acct.id) cards.set(acct.id, Promise.resolve(acct));
}

export function forget(id) { cards.delete(id); }

// The ids the reader follows (their following list, walked once).
let following = null;
export function followingIds() {
  const me = session.account();
  if (!me) return Promise.resolve(new Set());
  if (!following) {
    following = (async () => {
      const ids = new Set();
      let cursor;
      for (let i = 0; i < 20; i++) {
        const page = await get(`/accounts/${me.id}/following`, { limit: 100, cursor });
        page.items.forEach((a) => ids.add(a.id));
        if (!page.next_cursor) break;
        cursor = page.next_cursor;
      }
      return ids;
    })().catch((e) => { following = null; throw e; });
  }
  return following;
}

export function resetFollowing() { following = null; }
session.onChange(() => { following = null; cards.clear(); });
