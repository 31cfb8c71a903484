#!/usr/bin/env python3
"""End-to-end: bookmarks (private).

- POST/DELETE /tweets/{id}/bookmark: 202 then 200 on a repeat (nothing
  published), 404 for an unknown or deleted tweet, 401 without a token;
  GET /bookmarks shows a bookmark at once after the 202, newest first,
  hydrated, deleted tweets left out; PostgreSQL follows.
- Paging by bookmark order stays stable while new bookmarks arrive.
- Privacy: GET /bookmarks is the caller's only; bookmarked_by_me differs
  per viewer (false for anonymous readers).
- Two clients at once: with one Idempotency-Key, or without one on the
  same tweet, one effect (one event, one row).
- Redis lost (FLUSHALL): the bookmarks and bookmarked_by_me come back from
  PostgreSQL.

FLUSHALL wipes the test stack's Redis: run serially.
"""

import os
import sys
import threading

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402
from test_feed import persisted, redis_flushall  # noqa: E402

API = h.API
WAIT = 60
NO_RATE_LIMITS = {"CHIRP_RATE_LOGIN": "100000000", "CHIRP_RATE_WRITE": "100000000",
                  "CHIRP_RATE_READ": "100000000"}


def bm(tid):
    return API + "/tweets/%s/bookmark" % tid


class Bookmarks(h.StackTestCase):
    ENV = NO_RATE_LIMITS

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.author_token, cls.author = h.sign_up(cls.http, "ba")

    def listing(self, token, limit=100, between=None):
        got, cursor = [], None
        for _ in range(100):
            q = {"limit": limit}
            if cursor:
                q["cursor"] = cursor
            r = self.http.get(API + "/bookmarks", query=q, token=token)
            self.assertStatus(r, 200)
            got += r.json["items"]
            cursor = r.json["next_cursor"]
            if between:
                between()
            if cursor is None:
                return got
        self.fail("paging does not end")

    def rows(self, user, active=True):
        return h.sql_int("SELECT count(*) FROM bookmarks WHERE user_id = %s AND active = %s"
                         % (h.id_literal(user["id"]), "true" if active else "false"))

    def test_add_remove_list(self):
        tok, me = h.sign_up(self.http, "bu")
        t1 = h.post_tweet(self.http, self.author_token, "one")
        t2 = h.post_tweet(self.http, self.author_token, "two")
        self.assertStatus(self.http.post(bm(t1["id"])), 401)
        self.assertStatus(self.http.get(API + "/bookmarks"), 401)
        self.assertStatus(self.http.post(bm("123456789"), token=tok), 404)
        r = self.http.post(bm(t1["id"]), token=tok)
        self.assertStatus(r, 202)
        self.assertEqual(r.json, {"tweet_id": t1["id"], "bookmarked": True})
        # At once, no waiting for the worker.
        items = self.listing(tok)
        self.assertEqual([i["id"] for i in items], [t1["id"]])
        self.assertIs(items[0]["bookmarked_by_me"], True)
        self.assertEqual(items[0]["author"]["username"], self.author["username"])
        self.assertStatus(self.http.post(bm(t1["id"]), token=tok), 200)
        self.assertStatus(self.http.post(bm(t2["id"]), token=tok), 202)
        # Newest bookmark first (t1 was bookmarked first).
        self.assertEqual([i["id"] for i in self.listing(tok)], [t2["id"], t1["id"]])
        self.assertStatus(self.http.post(bm(t1["id"]), token=tok), 200)
        h.wait_until(lambda: self.rows(me) == 2, WAIT, 0.05, "two bookmarks rows")

        r = self.http.delete(bm(t2["id"]), token=tok)
        self.assertStatus(r, 202)
        self.assertIs(r.json["bookmarked"], False)
        self.assertStatus(self.http.delete(bm(t2["id"]), token=tok), 200)
        self.assertEqual([i["id"] for i in self.listing(tok)], [t1["id"]])
        r = self.http.get(API + "/tweets/%s" % t2["id"], token=tok)
        self.assertIs(r.json["bookmarked_by_me"], False)
        h.wait_until(lambda: self.rows(me) == 1 and self.rows(me, False) == 1, WAIT, 0.05,
                     "one active bookmarks row")
        # Bookmarked again: first again.
        self.assertStatus(self.http.post(bm(t2["id"]), token=tok), 202)
        self.assertEqual([i["id"] for i in self.listing(tok)], [t2["id"], t1["id"]])

        # A deleted tweet is left out and cannot be bookmarked.
        self.assertStatus(self.http.delete(API + "/tweets/%s" % t2["id"],
                                           token=self.author_token), 202)
        self.assertEqual([i["id"] for i in self.listing(tok)], [t1["id"]])
        self.assertStatus(self.http.post(bm(t2["id"]), token=tok), 404)
        self.assertStatus(self.http.delete(bm(t2["id"]), token=tok), 404)

    def test_privacy_and_per_viewer(self):
        tok_a, _ = h.sign_up(self.http, "bp")
        tok_b, _ = h.sign_up(self.http, "bq")
        t = h.post_tweet(self.http, self.author_token, "private marks")
        h.wait_until(lambda: persisted([t["id"]]) == 1, WAIT, 0.05, "the tweet persisted")
        self.assertStatus(self.http.post(bm(t["id"]), token=tok_a), 202)
        self.assertEqual(self.listing(tok_b), [])
        for token, want in ((tok_a, True), (tok_b, False), (None, False)):
            r = self.http.get(API + "/tweets/%s" % t["id"], token=token)
            self.assertStatus(r, 200)
            self.assertIs(r.json["bookmarked_by_me"], want)
            r = self.http.get(API + "/accounts/%s/tweets" % self.author["id"], token=token)
            item = [i for i in r.json["items"] if i["id"] == t["id"]][0]
            self.assertIs(item["bookmarked_by_me"], want)
        # Nothing in the API reads another account's bookmarks.
        r = self.http.get(API + "/bookmarks", query={"account_id": self.author["id"]}, token=tok_b)
        self.assertEqual(r.json["items"], [])

    def test_paging_stable_while_bookmarking(self):
        tok, _ = h.sign_up(self.http, "bs")
        tweets = [h.post_tweet(self.http, self.author_token, "p%d" % i)["id"] for i in range(40)]
        for tid in tweets[:25]:
            self.assertStatus(self.http.post(bm(tid), token=tok), 202)
        later = iter(tweets[25:])

        def more():
            nxt = next(later, None)
            if nxt:
                self.assertStatus(self.http.post(bm(nxt), token=tok), 202)

        got = [i["id"] for i in self.listing(tok, limit=4, between=more)]
        self.assertEqual(got, list(reversed(tweets[:25])))
        for tid in later:  # the rest; newest bookmark first overall
            self.assertStatus(self.http.post(bm(tid), token=tok), 202)
        self.assertEqual([i["id"] for i in self.listing(tok, limit=7)], list(reversed(tweets)))

    def test_concurrent_one_effect(self):
        tok, me = h.sign_up(self.http, "bc")
        t = h.post_tweet(self.http, self.author_token, "race")["id"]
        u = h.post_tweet(self.http, self.author_token, "race 2")["id"]
        for target, headers in ((t, {"Idempotency-Key": h.unique("k")}), (u, None)):
            statuses, barrier = [], threading.Barrier(2)

            def hit():
                c = self.stack.client()
                barrier.wait()
                r = c.post(bm(target), token=tok, headers=headers)
                statuses.append(r.status)

            ths = [threading.Thread(target=hit) for _ in range(2)]
            for th in ths:
                th.start()
            for th in ths:
                th.join()
            self.assertEqual(statuses.count(202) + statuses.count(200) + statuses.count(409), 2,
                             statuses)
            self.assertGreaterEqual(statuses.count(202), 1, statuses)
            if headers is None:
                self.assertEqual(sorted(statuses), [200, 202])
        uid = h.id_literal(me["id"])
        h.wait_until(lambda: self.rows(me) == 2, WAIT, 0.05, "two rows")
        # One event each: PostgreSQL holds one row per tweet, and the persist
        # role applied exactly two bookmark events.
        events = h.sql_int("SELECT count(*) FROM processed_events p JOIN bookmarks b "
                           "ON b.event_id = p.event_id WHERE p.role = 'persist' "
                           "AND b.user_id = %s" % uid)
        self.assertEqual(events, 2)
        self.assertEqual(h.redis_cmd("ZCARD", "chirp:bmo:{%s}" % uid), 2)

    def hmget_calls(self):
        info = h.redis_cmd("INFO", "commandstats")
        info = info.decode() if isinstance(info, bytes) else info
        for line in info.splitlines():
            if line.startswith("cmdstat_hmget:"):
                return int(line.split("calls=")[1].split(",")[0])
        return 0

    def test_flags_held_locally_and_dropped_on_change(self):
        tok, _ = h.sign_up(self.http, "bl")
        ts = [h.post_tweet(self.http, self.author_token, "held %d" % i)["id"] for i in range(3)]
        self.assertStatus(self.http.post(bm(ts[0]), token=tok), 202)

        def flags():
            return [self.http.get(API + "/tweets/%s" % t, token=tok).json["bookmarked_by_me"]
                    for t in ts]

        self.assertEqual(flags(), [True, False, False])
        before = self.hmget_calls()
        self.assertEqual(flags(), [True, False, False])
        self.assertEqual(self.hmget_calls(), before, "the viewer's flags were not held locally")
        # A change is seen at once, held or not.
        self.assertStatus(self.http.post(bm(ts[1]), token=tok), 202)
        self.assertEqual(flags(), [True, True, False])
        self.assertStatus(self.http.delete(bm(ts[0]), token=tok), 202)
        self.assertEqual(flags(), [False, True, False])

    def test_flushall_rebuilds(self):
        tok, me = h.sign_up(self.http, "bf")
        ts = [h.post_tweet(self.http, self.author_token, "f%d" % i)["id"] for i in range(5)]
        for tid in ts:
            self.assertStatus(self.http.post(bm(tid), token=tok), 202)
        self.assertStatus(self.http.delete(bm(ts[2]), token=tok), 202)
        h.wait_until(lambda: self.rows(me) == 4, WAIT, 0.05, "four rows")
        before = [i["id"] for i in self.listing(tok)]
        flags = {tid: self.http.get(API + "/tweets/%s" % tid, token=tok).json["bookmarked_by_me"]
                 for tid in ts}
        redis_flushall()
        self.assertEqual({tid: self.http.get(API + "/tweets/%s" % tid, token=tok)
                          .json["bookmarked_by_me"] for tid in ts}, flags)
        self.assertEqual([i["id"] for i in self.listing(tok)], before)
        self.assertStatus(self.http.post(bm(ts[0]), token=tok), 200)
        self.assertStatus(self.http.post(bm(ts[2]), token=tok), 202)


if __name__ == "__main__":
    h.main()
