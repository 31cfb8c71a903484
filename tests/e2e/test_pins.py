#!/usr/bin/env python3
"""End-to-end: the pinned tweet and the user timeline's items.

- GET /accounts/{id}/tweets items are hydrated like the feed's (author
  card, like/comment/reply counts, liked_by_me, bookmarked_by_me): the
  regression test_timeline_items_hydrated (they were bare tweets).
- POST/DELETE /tweets/{id}/pin: own tweets only (403), unknown/deleted 404,
  202 then 200 on a repeat; one at a time (pinning another replaces it);
  the pinned tweet first on the first page with "pinned": true, never
  again further down; a deleted pinned tweet is not shown; the pin lives
  through a Redis FLUSHALL (PostgreSQL has it).

FLUSHALL wipes the test stack's Redis: run serially.
"""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402
from test_feed import persisted, redis_flushall  # noqa: E402

API = h.API
WAIT = 60
NO_RATE_LIMITS = {"CHIRP_RATE_LOGIN": "100000000", "CHIRP_RATE_WRITE": "100000000",
                  "CHIRP_RATE_READ": "100000000"}


class Pins(h.StackTestCase):
    ENV = NO_RATE_LIMITS

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.token, cls.me = h.sign_up(cls.http, "pa")
        cls.other_token, cls.other = h.sign_up(cls.http, "pb")

    def timeline(self, acct, token=None, limit=100):
        got, cursor, pages = [], None, []
        for _ in range(50):
            q = {"limit": limit}
            if cursor:
                q["cursor"] = cursor
            r = self.http.get(API + "/accounts/%s/tweets" % acct["id"], query=q, token=token)
            self.assertStatus(r, 200)
            pages.append(r.json["items"])
            got += r.json["items"]
            cursor = r.json["next_cursor"]
            if cursor is None:
                return got, pages
        self.fail("paging does not end")

    def posted(self, token, n, prefix="t"):
        """n tweets, in PostgreSQL (the timeline is read from there)."""
        ts = [h.post_tweet(self.http, token, "%s%d" % (prefix, i)) for i in range(n)]
        ids = [t["id"] for t in ts]
        h.wait_until(lambda: persisted(ids) == len(ids), WAIT, 0.05, "the tweets persisted")
        return ts

    def wait_pg(self, sql, want):
        h.wait_until(lambda: h.psql(sql) == want, WAIT, 0.05, "%s = %s" % (sql, want))

    def test_timeline_items_hydrated(self):
        tok, acct = h.sign_up(self.http, "ph")
        t = self.posted(tok, 1, "hydrate me ")[0]
        r = self.http.post(API + "/tweets/%s/like" % t["id"], token=self.other_token)
        self.assertIn(r.status, (200, 202), r)
        items, _ = self.timeline(acct, token=self.other_token)
        self.assertEqual([i["id"] for i in items], [t["id"]])
        it = items[0]
        self.assertEqual(it.get("author", {}).get("username"), acct["username"], it)
        self.assertEqual(it.get("like_count"), 1, it)
        self.assertIs(it.get("liked_by_me"), True, it)
        self.assertEqual(it.get("comment_count"), 0, it)
        self.assertEqual(it.get("reply_count"), 0, it)
        self.assertIs(it.get("bookmarked_by_me"), False, it)
        self.assertNotIn("pinned", it)
        # The author, who did not like it, reads liked_by_me false.
        items, _ = self.timeline(acct, token=tok)
        self.assertIs(items[0]["liked_by_me"], False)

    def test_pin_rules(self):
        tok, acct = h.sign_up(self.http, "pr")
        ts = self.posted(tok, 5)
        foreign = h.post_tweet(self.http, self.other_token, "not yours")
        r = self.http.post(API + "/tweets/%s/pin" % foreign["id"], token=tok)
        self.assertError(r, 403, "forbidden", "id")
        r = self.http.post(API + "/tweets/%s/pin" % "123456789", token=tok)
        self.assertStatus(r, 404)
        r = self.http.post(API + "/tweets/%s/pin" % ts[1]["id"])
        self.assertStatus(r, 401)

        r = self.http.post(API + "/tweets/%s/pin" % ts[1]["id"], token=tok)
        self.assertStatus(r, 202)
        self.assertEqual(r.json, {"tweet_id": ts[1]["id"], "pinned": True})
        r = self.http.post(API + "/tweets/%s/pin" % ts[1]["id"], token=tok)
        self.assertStatus(r, 200)
        # At once for its owner and everyone: first, marked, not repeated.
        items, pages = self.timeline(acct, limit=2)
        self.assertEqual(pages[0][0]["id"], ts[1]["id"])
        self.assertIs(pages[0][0]["pinned"], True)
        ids = [i["id"] for i in items]
        self.assertEqual(ids.count(ts[1]["id"]), 1, ids)
        self.assertEqual(sorted(ids, key=int), sorted([t["id"] for t in ts], key=int))
        self.assertEqual(sum(1 for i in items if i.get("pinned")), 1)
        self.assertEqual(ids[1:], [t["id"] for t in reversed(ts) if t is not ts[1]])

        # Pinning another replaces it.
        r = self.http.post(API + "/tweets/%s/pin" % ts[3]["id"], token=tok)
        self.assertStatus(r, 202)
        items, _ = self.timeline(acct)
        self.assertEqual(items[0]["id"], ts[3]["id"])
        self.assertEqual([i["id"] for i in items if i.get("pinned")], [ts[3]["id"]])
        self.wait_pg("SELECT tweet_id FROM pins WHERE account_id = %s" % h.id_literal(acct["id"]),
                     ts[3]["id"])
        # Unpinning something not pinned changes nothing.
        r = self.http.delete(API + "/tweets/%s/pin" % ts[1]["id"], token=tok)
        self.assertStatus(r, 200)
        self.assertIs(r.json["pinned"], False)

        # The pin lives through losing Redis.
        redis_flushall()
        items, _ = self.timeline(acct)
        self.assertEqual(items[0]["id"], ts[3]["id"])
        self.assertIs(items[0].get("pinned"), True)

        r = self.http.delete(API + "/tweets/%s/pin" % ts[3]["id"], token=tok)
        self.assertStatus(r, 202)
        r = self.http.delete(API + "/tweets/%s/pin" % ts[3]["id"], token=tok)
        self.assertStatus(r, 200)
        items, _ = self.timeline(acct)
        self.assertEqual([i["id"] for i in items], [t["id"] for t in reversed(ts)])
        self.assertFalse(any(i.get("pinned") for i in items))
        self.wait_pg("SELECT coalesce(tweet_id::text, 'none') FROM pins WHERE account_id = %s"
                     % h.id_literal(acct["id"]), "none")

    def test_deleted_pinned_tweet_unpins(self):
        tok, acct = h.sign_up(self.http, "pd")
        a, b = self.posted(tok, 2, "stays or goes ")
        self.assertStatus(self.http.post(API + "/tweets/%s/pin" % b["id"], token=tok), 202)
        self.assertStatus(self.http.delete(API + "/tweets/%s" % b["id"], token=tok), 202)
        items, _ = self.timeline(acct)
        self.assertEqual([i["id"] for i in items], [a["id"]])
        self.assertNotIn("pinned", items[0])
        self.assertStatus(self.http.post(API + "/tweets/%s/pin" % b["id"], token=tok), 404)
        self.assertStatus(self.http.post(API + "/tweets/%s/pin" % a["id"], token=tok), 202)
        items, _ = self.timeline(acct)
        self.assertIs(items[0].get("pinned"), True)


if __name__ == "__main__":
    h.main()
