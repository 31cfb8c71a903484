// hydrate.js — lists that answer bare tweets (a user's timeline, a
// hashtag's) get the like count and liked_by_me of GET /tweets/{id}.
import { get } from './api.js';

export async function hydrated(page) {
  const items = await Promise.all((page.items || []).map((t) =>
    (t.like_count === undefined ? get('/tweets/' + t.id).then((full) => ({ ...full, author: t.author }), () => t) : t)));
  return { ...page, items };
}
