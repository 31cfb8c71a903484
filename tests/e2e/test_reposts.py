#!/usr/bin/env python3
"""End-to-end: reposts.

- POST/DELETE /tweets/{id}/repost: 202 with the repost (its own id) when
  the state changes, 200 (the same repost) when it already holds; 404 on an
  unknown or deleted tweet.  Two accounts reposting one tweet at once count
  two; one account reposting twice at once has one effect (one row, one
  notification).
- GET /tweets/{id}/reposts: the reposting accounts, newest first, paged.
- Feeds: a repost reaches the reposter's followers and the reposter's own
  feed as the original tweet with reposted_by and repost_id; reposts of one
  tweet by several followed accounts collapse to one item (the newest
  repost) and an original already near the top absorbs a repost; an undone
  repost leaves the feeds; a deleted original's reposts vanish; a feed
  rebuilt after FLUSHALL shows the same items, and repost_count comes back.
- repost_count / reposted_by_me on hydrated tweets; a notification of type
  repost to the original's author.

FLUSHALL wipes the test stack's Redis: run this file serially."""

import os
import sys
import threading

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402
from test_feed import follows_active, redis_flushall  # noqa: E402

API = h.API
APPLY = 20.0
NO_RATE_LIMITS = {"CHIRP_RATE_LOGIN": "100000000", "CHIRP_RATE_WRITE": "100000000",
                  "CHIRP_RATE_READ": "100000000"}


def pg_reposts(tweet_id):
    """Active repost rows of a tweet."""
    return h.sql_int("SELECT count(*) FROM reposts WHERE tweet_id = %s AND active"
                     % h.id_literal(tweet_id))


class Reposts(h.StackTestCase):
    ENV = dict(NO_RATE_LIMITS)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        h.wait_fanout_idle(cls.http)

    def user(self, prefix="r"):
        return h.sign_up(self.http, prefix)

    def follow(self, token, follower, followee):
        r = self.http.post(API + "/accounts/%s/follow" % followee["id"], token=token)
        self.assertStatus(r, 202)
        h.wait_until(lambda: follows_active(follower["id"], followee["id"]), APPLY, 0.05,
                     "the follow applied")

    def repost(self, token, tweet_id):
        return self.http.post(API + "/tweets/%s/repost" % tweet_id, token=token)

    def unrepost(self, token, tweet_id):
        return self.http.delete(API + "/tweets/%s/repost" % tweet_id, token=token)

    def feed(self, token, **q):
        r = self.http.get(API + "/feed", token=token, query=q or None)
        self.assertStatus(r, 200)
        return r.json

    def feed_ids(self, token):
        """[(tweet id, reposter id or None)] of the first page."""
        return [(i["id"], (i.get("reposted_by") or {}).get("id")) for i in
                self.feed(token, limit=50)["items"]]

    def wait_feed(self, token, pred, what):
        h.wait_until(lambda: pred(self.feed_ids(token)), APPLY, 0.05, what)
        return self.feed_ids(token)

    def get_tweet(self, tweet_id, token=None):
        r = self.http.get(API + "/tweets/%s" % tweet_id, token=token)
        self.assertStatus(r, 200)
        return r.json

    # ---- the endpoints ----

    def test_repost_repeat_undo(self):
        ta, a = self.user("ra")
        tb, b = self.user("rb")
        t = h.post_tweet(self.http, ta, "repost me")
        r = self.repost(tb, t["id"])
        self.assertStatus(r, 202)
        rid = r.json["repost_id"]
        self.assertEqual((r.json["tweet_id"], r.json["user_id"], r.json["reposted"],
                          r.json["repost_count"]), (t["id"], b["id"], True, 1))
        self.assertGreater(int(rid), int(t["id"]), "a repost has its own, later, id")
        r = self.repost(tb, t["id"])
        self.assertStatus(r, 200)
        self.assertEqual((r.json["repost_id"], r.json["repost_count"]), (rid, 1))
        got = self.get_tweet(t["id"], tb)
        self.assertEqual((got["repost_count"], got["reposted_by_me"]), (1, True))
        got = self.get_tweet(t["id"], ta)
        self.assertEqual((got["repost_count"], got["reposted_by_me"]), (1, False))
        h.wait_until(lambda: pg_reposts(t["id"]) == 1, APPLY, 0.05, "the repost in PostgreSQL")
        self.assertEqual(h.psql("SELECT repost_id FROM reposts WHERE tweet_id = %s"
                                % h.id_literal(t["id"])), rid)
        r = self.unrepost(tb, t["id"])
        self.assertStatus(r, 202)
        self.assertEqual((r.json["reposted"], r.json["repost_count"]), (False, 0))
        r = self.unrepost(tb, t["id"])
        self.assertStatus(r, 200)
        h.wait_until(lambda: pg_reposts(t["id"]) == 0, APPLY, 0.05, "the undo in PostgreSQL")
        # Reposting again is a new repost with a new id.
        r = self.repost(tb, t["id"])
        self.assertStatus(r, 202)
        self.assertNotEqual(r.json["repost_id"], rid)

    def test_repost_of_unknown_or_deleted_tweet_is_404(self):
        ta, _ = self.user("ra")
        self.assertError(self.repost(ta, "123"), 404, "not_found", "id")
        t = h.post_tweet(self.http, ta, "soon gone")
        self.assertStatus(self.http.delete(API + "/tweets/%s" % t["id"], token=ta), 202)
        self.assertError(self.repost(ta, t["id"]), 404, "not_found", "id")
        self.assertStatus(self.http.post(API + "/tweets/%s/repost" % t["id"]), 401)

    def test_concurrent_reposts(self):
        ta, a = self.user("ra")
        t = h.post_tweet(self.http, ta, "popular")
        users = [self.user("rc") for _ in range(2)]
        out = [None, None]
        barrier = threading.Barrier(2)

        def go(k, token):
            c = self.stack.client()
            barrier.wait()
            out[k] = c.post(API + "/tweets/%s/repost" % t["id"], token=token)

        th = [threading.Thread(target=go, args=(k, users[k][0])) for k in range(2)]
        [x.start() for x in th]
        [x.join() for x in th]
        self.assertEqual(sorted(r.status for r in out), [202, 202], out)
        self.assertEqual(self.get_tweet(t["id"])["repost_count"], 2)
        # The same account twice at once: one effect.
        tc, c = self.user("rd")
        th = [threading.Thread(target=go, args=(k, tc)) for k in range(2)]
        barrier.reset()
        [x.start() for x in th]
        [x.join() for x in th]
        self.assertEqual(sorted(r.status for r in out), [200, 202], out)
        self.assertEqual(out[0].json["repost_id"], out[1].json["repost_id"])
        self.assertEqual(self.get_tweet(t["id"])["repost_count"], 3)
        h.wait_until(lambda: pg_reposts(t["id"]) == 3, APPLY, 0.05, "3 reposts in PostgreSQL")
        h.wait_notify_idle(self.http)
        self.assertEqual(h.sql_int(
            "SELECT count(*) FROM notifications WHERE type = 'repost' AND tweet_id = %s AND "
            "actor_id = %s" % (h.id_literal(t["id"]), h.id_literal(c["id"]))), 1)

    def test_reposts_list_paged_newest_first(self):
        ta, _ = self.user("ra")
        t = h.post_tweet(self.http, ta, "list my reposters")
        users = [self.user("rl") for _ in range(3)]
        for tok, _ in users:
            self.assertStatus(self.repost(tok, t["id"]), 202)
        r = self.http.get(API + "/tweets/%s/reposts" % t["id"], query={"limit": 2})
        self.assertStatus(r, 200)
        self.assertEqual([x["id"] for x in r.json["items"]], [users[2][1]["id"], users[1][1]["id"]])
        r = self.http.get(API + "/tweets/%s/reposts" % t["id"],
                          query={"limit": 2, "cursor": r.json["next_cursor"]})
        self.assertEqual([x["id"] for x in r.json["items"]], [users[0][1]["id"]])
        self.assertIsNone(r.json["next_cursor"])

    def test_notification_to_the_author(self):
        ta, a = self.user("ra")
        tb, b = self.user("rb")
        t = h.post_tweet(self.http, ta, "notify me")
        self.assertStatus(self.repost(tb, t["id"]), 202)
        self.assertStatus(self.repost(ta, t["id"]), 202)  # oneself: no notification

        def reposts():
            r = self.http.get(API + "/notifications", token=ta)
            return [n for n in r.json["items"] if n["type"] == "repost"]
        h.wait_until(lambda: len(reposts()) == 1, APPLY, 0.1, "the repost notification")
        n = reposts()[0]
        self.assertEqual((n["actor_id"], n["tweet_id"]), (b["id"], t["id"]))

    # ---- feeds ----

    def test_feed_collapse_undo_and_delete(self):
        tv, v = self.user("rv")      # the reader
        tb, b = self.user("rb")
        tc, c = self.user("rc")
        td, d = self.user("rd")      # not followed
        self.follow(tv, v, b)
        self.follow(tv, v, c)
        t = h.post_tweet(self.http, td, "worth sharing")
        self.assertStatus(self.repost(tb, t["id"]), 202)
        got = self.wait_feed(tv, lambda f: (t["id"], b["id"]) in f, "b's repost in v's feed")
        self.assertEqual(got[0], (t["id"], b["id"]))
        item = self.feed(tv)["items"][0]
        self.assertEqual(item["author"]["id"], d["id"])
        self.assertEqual(item["reposted_by"]["username"], b["username"])
        self.assertGreater(int(item["repost_id"]), int(t["id"]))
        self.assertEqual(item["repost_count"], 1)
        # The reposter's own feed has it too.
        self.wait_feed(tb, lambda f: (t["id"], b["id"]) in f, "b's repost in b's own feed")
        # A second followed account reposts it: one item, the newest repost.
        h.post_tweet(self.http, tb, "something in between")
        self.assertStatus(self.repost(tc, t["id"]), 202)
        got = self.wait_feed(tv, lambda f: (t["id"], c["id"]) in f, "c's repost in v's feed")
        self.assertEqual([x for x in got if x[0] == t["id"]], [(t["id"], c["id"])], got)
        self.assertEqual(got[0], (t["id"], c["id"]))
        # Undone: out of the feed.
        self.assertStatus(self.unrepost(tc, t["id"]), 202)
        self.wait_feed(tv, lambda f: (t["id"], c["id"]) not in f, "the undone repost gone")
        # A deleted original takes its reposts out of every feed it is in.
        t2 = h.post_tweet(self.http, td, "will be deleted")
        self.assertStatus(self.repost(tb, t2["id"]), 202)
        self.wait_feed(tv, lambda f: (t2["id"], b["id"]) in f, "the repost of t2")
        self.assertStatus(self.http.delete(API + "/tweets/%s" % t2["id"], token=td), 202)
        self.wait_feed(tv, lambda f: all(x[0] != t2["id"] for x in f), "t2's repost gone")

    def test_a_deleted_accounts_reposts_end(self):
        tv, v = self.user("rv")
        tb, b = self.user("rb")
        ta, a = self.user("ra")
        self.follow(tv, v, b)
        t = h.post_tweet(self.http, ta, "reposted by someone who leaves")
        self.assertStatus(self.repost(tb, t["id"]), 202)
        self.wait_feed(tv, lambda f: (t["id"], b["id"]) in f, "the repost in v's feed")
        h.wait_until(lambda: pg_reposts(t["id"]) == 1, APPLY, 0.05, "the repost applied")
        r = self.http.delete(API + "/accounts/me", token=tb, body={"password": "correct horse 1"})
        self.assertStatus(r, 202)
        h.wait_until(lambda: pg_reposts(t["id"]) == 0, APPLY, 0.05, "the repost ended")
        h.wait_until(lambda: self.get_tweet(t["id"])["repost_count"] == 0, APPLY, 0.05,
                     "repost_count 0")
        self.wait_feed(tv, lambda f: (t["id"], b["id"]) not in f, "the repost out of v's feed")

    def test_original_in_the_window_absorbs_a_repost(self):
        tv, v = self.user("rv")
        ta, a = self.user("ra")
        tb, b = self.user("rb")
        self.follow(tv, v, a)
        self.follow(tv, v, b)
        t = h.post_tweet(self.http, ta, "original")
        self.wait_feed(tv, lambda f: (t["id"], None) in f, "the original in v's feed")
        self.assertStatus(self.repost(tb, t["id"]), 202)
        h.wait_until(lambda: pg_reposts(t["id"]) == 1, APPLY, 0.05, "the repost applied")
        marker = h.post_tweet(self.http, tb, "after the repost")
        got = self.wait_feed(tv, lambda f: (marker["id"], None) in f, "b's next tweet")
        self.assertEqual([x for x in got if x[0] == t["id"]], [(t["id"], None)], got)

    def test_feed_after_flushall_is_the_same(self):
        tv, v = self.user("rv")
        tb, b = self.user("rb")
        tc, c = self.user("rc")
        self.follow(tv, v, b)
        t1 = h.post_tweet(self.http, tc, "reposted before the flush")
        t2 = h.post_tweet(self.http, tc, "reposted by the reader")
        self.assertStatus(self.repost(tb, t1["id"]), 202)
        self.assertStatus(self.repost(tv, t2["id"]), 202)  # own repost in own feed
        before = self.wait_feed(tv, lambda f: (t1["id"], b["id"]) in f and (t2["id"], v["id"]) in f,
                                "both reposts in v's feed")
        h.wait_until(lambda: pg_reposts(t1["id"]) == 1 and pg_reposts(t2["id"]) == 1, APPLY, 0.05,
                     "the reposts in PostgreSQL")
        redis_flushall()
        after = self.feed_ids(tv)
        self.assertEqual(after, before)
        got = self.get_tweet(t1["id"], tb)
        self.assertEqual((got["repost_count"], got["reposted_by_me"]), (1, True))
        # And the state survives for the next write: a repeat is still 200.
        self.assertStatus(self.repost(tb, t1["id"]), 200)


class HugeReposter(Reposts):
    """A reposter past the huge threshold is not pushed: its reposts go to its
    timeline list, merged into its followers' pages at read time."""

    ENV = dict(NO_RATE_LIMITS, CHIRP_HUGE_THRESHOLD="1")

    def test_a_huge_accounts_repost_is_merged_at_read_time(self):
        tv, v = self.user("hv")
        tw, w = self.user("hw")
        tb, b = self.user("hb")
        tc, c = self.user("hc")
        self.follow(tv, v, b)
        self.follow(tw, w, b)
        h.wait_until(lambda: h.psql("SELECT huge FROM accounts WHERE id = %s"
                                    % h.id_literal(b["id"])) == "t", APPLY, 0.05, "b huge")
        t = h.post_tweet(self.http, tc, "shared by a star")
        self.assertStatus(self.repost(tb, t["id"]), 202)
        self.wait_feed(tv, lambda f: (t["id"], b["id"]) in f, "the huge repost merged into v's page")
        key = "chirp:ut:{%s}" % h.id_literal(b["id"])
        self.assertTrue(any(x.decode().endswith(":%s:%s" % (t["id"], b["id"]))
                            for x in h.redis_cmd("LRANGE", key, 0, -1)), "in b's timeline list")
        self.assertStatus(self.unrepost(tb, t["id"]), 202)
        self.wait_feed(tv, lambda f: (t["id"], b["id"]) not in f, "the undone huge repost gone")

    # The plain class's tests are not repeated here.
    for name in [n for n in dir(Reposts) if n.startswith("test_")]:
        locals()[name] = None
    del name


if __name__ == "__main__":
    h.main()
