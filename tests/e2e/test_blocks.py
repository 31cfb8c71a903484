#!/usr/bin/env python3
"""End-to-end: blocks.  POST/DELETE /accounts/{id}/block (202 when published,
200 when the state already held and nothing was published, 422 self, 404
unknown, 401 no token), GET /blocks; a block ends the follows both ways with
the counts moved on both sides; while it holds neither side can follow,
reply to, comment on or like the other (403 blocked, nothing changed); the
other side's tweets, comments and notifications disappear from the feed,
search, hashtag pages and comment lists of both sides, also items already
in Redis feeds, also after Redis lost everything (FLUSHALL: this file runs
serially); a block racing a fan-out of the blocked account's tweets, and a
follow racing a block, end with nothing of the other in the feed and no
follow."""

import os
import sys
import threading
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402
import blocks_lib as bl  # noqa: E402
from blocks_lib import API  # noqa: E402


def tag():
    return "bk" + uuid.uuid4().hex[:12]


class BlockTestCase(bl.Mixin, h.StackTestCase):
    WORKERS = 1

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        h.wait_fanout_idle(cls.http)

    def user(self, prefix="bk"):
        return h.sign_up(self.http, prefix)

    def test_errors_repeat_and_list(self):
        ta, a = self.user()
        tb, b = self.user()
        tc, c = self.user()
        self.assertError(self.act(ta, a["id"], "block"), 422, "cannot_block_self", "id")
        self.assertError(self.act(ta, a["id"], "block", "DELETE"), 422, "cannot_block_self", "id")
        self.assertError(self.act(ta, "999999999999", "block"), 404, "not_found", "id")
        self.assertStatus(self.http.post(API + "/accounts/%s/block" % b["id"]), 401)
        r = self.act(ta, b["id"], "block")
        self.assertStatus(r, 202)
        self.assertEqual(r.json, {"account_id": a["id"], "target_id": b["id"], "blocking": True})
        # A repeat right away (the change still in flight) and after it applied: 200, nothing published.
        self.assertStatus(self.act(ta, b["id"], "block"), 200)
        _, ev = self.wait_row(1, a["id"], b["id"], True)
        self.assertStatus(self.act(ta, b["id"], "block"), 200)
        self.block(ta, a, c)
        h.wait_fanout_idle(self.http)
        self.assertEqual(bl.row(1, a["id"], b["id"]), (True, ev), "a repeat published nothing")
        # GET /blocks: newest first, paged.
        r = self.http.get(API + "/blocks?limit=1", token=ta)
        self.assertStatus(r, 200)
        self.assertEqual([x["id"] for x in r.json["items"]], [c["id"]])
        self.assertKeys(r.json["items"][0], {"id", "username", "followers_count"})
        r2 = self.http.get(API + "/blocks?limit=1&cursor=%s" % r.json["next_cursor"], token=ta)
        self.assertEqual([x["id"] for x in r2.json["items"]], [b["id"]])
        self.assertIsNone(r2.json["next_cursor"])
        self.assertError(self.http.get(API + "/blocks?cursor=zzz", token=ta), 400, "invalid_cursor",
                         "cursor")
        self.assertEqual(self.http.get(API + "/blocks", token=tb).json["items"], [])
        # Unblock: 202, repeat 200, gone from the list.
        self.unblock(ta, a, b)
        self.assertStatus(self.act(ta, b["id"], "block", "DELETE"), 200)
        r = self.http.get(API + "/blocks", token=ta)
        self.assertEqual([x["id"] for x in r.json["items"]], [c["id"]])

    def test_block_ends_follows_both_ways_with_counts(self):
        ta, a = self.user()
        tb, b = self.user()
        tc, c = self.user()
        self.follow(ta, a, b)
        self.follow(tb, b, a)
        self.follow(tc, c, a)  # untouched by the block
        self.assertEqual(bl.pg_counts(a["id"]), (2, 1))
        self.assertEqual(bl.pg_counts(b["id"]), (1, 1))
        self.block(ta, a, b)
        self.assertFalse(bl.follows_active(a["id"], b["id"]))
        self.assertFalse(bl.follows_active(b["id"], a["id"]))
        self.assertEqual(bl.pg_counts(a["id"]), (1, 0))
        self.assertEqual(bl.pg_counts(b["id"]), (0, 0))
        acct = self.http.get(API + "/accounts/%s" % b["id"]).json
        self.assertEqual((acct["followers_count"], acct["following_count"]), (0, 0))
        rel = self.relationship(ta, b["id"])
        self.assertEqual(rel, {"id": b["id"], "following": False, "followed_by": False,
                               "blocking": True, "blocked_by": False, "muting": False})
        rel = self.relationship(tb, a["id"])
        self.assertEqual((rel["blocking"], rel["blocked_by"], rel["following"]), (False, True, False))
        # A redelivered block changes nothing twice; unblocking brings no follow back.
        self.unblock(ta, a, b)
        self.assertFalse(bl.follows_active(a["id"], b["id"]))
        self.assertEqual(bl.pg_counts(a["id"]), (1, 0))
        self.assertEqual(bl.pg_counts(b["id"]), (0, 0))
        # And following again works after the unblock.
        self.follow(tb, b, a)
        self.assertEqual(bl.pg_counts(a["id"]), (2, 0))

    def test_every_interaction_across_a_block_is_refused_and_changes_nothing(self):
        ta, a = self.user()
        tb, b = self.user()
        ta_tweet = h.post_tweet(self.http, ta, "a's tweet")
        tb_tweet = h.post_tweet(self.http, tb, "b's tweet")
        self.block(ta, a, b)
        for token, other, tweet in ((tb, a, ta_tweet), (ta, b, tb_tweet)):  # both directions
            self.assertError(self.act(token, other["id"], "follow"), 403, "blocked", "id")
            self.assertError(self.http.post(API + "/tweets/%s/like" % tweet["id"], token=token),
                             403, "blocked", "id")
            self.assertError(self.http.post(API + "/tweets/%s/comments" % tweet["id"],
                                            {"text": "hi"}, token=token), 403, "blocked", "id")
            self.assertError(self.http.post(API + "/tweets", {"text": "re", "reply_to": tweet["id"]},
                                            token=token), 403, "blocked", "reply_to")
        h.wait_fanout_idle(self.http)
        for t in (ta_tweet, tb_tweet):
            self.assertEqual(h.sql_int("SELECT count(*) FROM likes WHERE tweet_id = %s"
                                       % h.id_literal(t["id"])), 0)
            self.assertEqual(h.sql_int("SELECT count(*) FROM comments WHERE tweet_id = %s"
                                       % h.id_literal(t["id"])), 0)
            self.assertEqual(h.sql_int("SELECT count(*) FROM tweets WHERE reply_to = %s"
                                       % h.id_literal(t["id"])), 0)
        self.assertFalse(bl.follows_active(a["id"], b["id"]))
        self.assertFalse(bl.follows_active(b["id"], a["id"]))
        # An unfollow or unlike is never refused.
        self.assertStatus(self.act(tb, a["id"], "follow", "DELETE"), 200)
        # A mention across the block stays text and notifies nobody.
        h.post_tweet(self.http, tb, "hello @%s" % a["username"])
        tc, c = self.user()
        h.post_tweet(self.http, tc, "hello @%s" % a["username"])  # a barrier: notified
        h.wait_until(lambda: c["id"] in self.notification_actors(ta), bl.APPLY_TIMEOUT, 0.05,
                     "the barrier mention notified")
        self.assertNotIn(b["id"], self.notification_actors(ta))
        self.assertEqual(h.sql_int("SELECT count(*) FROM notifications WHERE recipient = %s AND "
                                   "actor_id = %s" % (h.id_literal(a["id"]), h.id_literal(b["id"]))), 0)

    def test_filtered_everywhere_both_ways_also_what_redis_feeds_hold(self):
        tv, v = self.user("bv")  # the viewer who blocks
        tb, b = self.user("bb")  # the blocked
        to, o = self.user("bo")  # someone else
        self.follow(tv, v, b)
        self.follow(tv, v, o)
        t = tag()
        # The blocked account's tweets are the feed's newest: pushed back on
        # top below, the list stays in order.
        ot = [h.post_tweet(self.http, to, "other %d #%s" % (i, t))["id"] for i in range(6)]
        vt = h.post_tweet(self.http, tv, "viewer #%s" % t)["id"]
        bt = [h.post_tweet(self.http, tb, "blocked %d #%s" % (i, t))["id"] for i in range(6)]
        h.wait_until(lambda: set(bt + ot) <= set(self.feed_ids(tv)), bl.APPLY_TIMEOUT, 0.05,
                     "both accounts' tweets in the viewer's feed")
        # Comments and a mention by the blocked account before the block.
        self.assertStatus(self.http.post(API + "/tweets/%s/comments" % ot[0], {"text": "b says"},
                                         token=tb), 202)
        self.assertStatus(self.http.post(API + "/tweets/%s/comments" % ot[0], {"text": "o says"},
                                         token=to), 202)
        h.post_tweet(self.http, tb, "hey @%s" % v["username"])
        h.wait_until(lambda: b["id"] in self.notification_actors(tv), bl.APPLY_TIMEOUT, 0.05,
                     "the mention notification")
        h.wait_until(lambda: len(self.http.get(API + "/tweets/%s/comments" % ot[0]).json["items"]) == 2,
                     bl.APPLY_TIMEOUT, 0.05, "both comments stored")
        # Put the blocked account's tweets back into the viewer's Redis feed
        # after the block took them out: only read-time filtering hides them.
        self.block(tv, v, b)
        h.wait_fanout_idle(self.http)
        key = "chirp:f:{%s}" % h.id_literal(v["id"])
        for i in bt:
            h.redis_cmd("LPUSH", key, i)
        self.check_filtered(tv, tb, v, b, bt, ot, vt, t)
        # Redis lost everything: still filtered (the hidden set comes from PostgreSQL).
        h.redis_cmd("FLUSHALL")
        self.check_filtered(tv, tb, v, b, bt, ot, vt, t)
        # Unblocked: visible again in search and hashtags (the follow stays ended).
        self.unblock(tv, v, b)
        r = self.http.get(API + "/hashtags/%s/tweets?limit=100" % t, token=tv)
        self.assertTrue(set(bt) <= {x["id"] for x in r.json["items"]})

    def check_filtered(self, tv, tb, v, b, bt, ot, vt, t):
        feed = self.all_feed_ids(tv, limit=4)
        self.assertFalse(set(bt) & set(feed), "no blocked tweet in the feed")
        self.assertTrue(set(ot) <= set(feed), "the others' tweets stay")
        for token, hidden, shown in ((tv, bt, ot), (tb, [vt], bt)):  # both sides
            r = self.http.get(API + "/hashtags/%s/tweets?limit=100" % t, token=token)
            self.assertStatus(r, 200)
            ids = {x["id"] for x in r.json["items"]}
            self.assertFalse(set(hidden) & ids, "hidden from the hashtag page")
            self.assertTrue(set(shown) <= ids)
            r = self.http.get(API + "/search?type=tweets&q=%s" % t, token=token)
            self.assertStatus(r, 200)
            self.assertFalse(set(hidden) & {x["id"] for x in r.json["items"]}, "hidden from search")
        anon = {x["id"] for x in self.http.get(API + "/hashtags/%s/tweets?limit=100" % t).json["items"]}
        self.assertTrue(set(bt) <= anon, "others still see them")
        comments = self.http.get(API + "/tweets/%s/comments" % ot[0], token=tv).json["items"]
        self.assertEqual(len(comments), 1, "only the other account's comment: %r" % comments)
        self.assertNotIn(b["id"], [c["author_id"] for c in comments])
        self.assertNotIn(b["id"], self.notification_actors(tv))

    def test_block_while_a_fanout_of_the_blocked_tweets_is_in_flight(self):
        tv, v = self.user("fv")
        tb, b = self.user("fb")
        self.follow(tv, v, b)
        posted, stop = [], threading.Event()

        def post():
            c = self.stack.client()
            try:
                while not stop.is_set() and len(posted) < 60:
                    posted.append(h.post_tweet(c, tb, "burst %d" % len(posted))["id"])
            finally:
                c.close()

        th = threading.Thread(target=post)
        th.start()
        h.wait_until(lambda: len(posted) >= 10, 30, 0.01, "tweets in flight")
        self.block(tv, v, b, wait=False)
        h.wait_until(lambda: len(posted) >= 30, 30, 0.01, "more tweets after the block")
        stop.set()
        th.join()
        self.wait_row(1, v["id"], b["id"], True)
        h.wait_fanout_idle(self.http)
        feed = self.all_feed_ids(tv, limit=10)
        self.assertFalse(set(posted) & set(feed), "none of the blocked account's tweets in the feed")
        self.assertFalse(bl.follows_active(v["id"], b["id"]))
        self.assertEqual(bl.pg_counts(b["id"])[0], 0)

    def test_block_queued_between_fanouts_of_the_blocked_tweets(self):
        tv, v = self.user("qv")
        tb, b = self.user("qb")
        self.follow(tv, v, b)
        key = "chirp:f:{%s}" % h.id_literal(v["id"])
        early = h.post_tweet(self.http, tb, "in the feed list before the block")["id"]
        h.wait_until(lambda: h.redis_cmd("LPOS", key, early) is not None, bl.APPLY_TIMEOUT, 0.05,
                     "the early tweet pushed")
        fanout = [w for w in self.stack.workers_of("fanout") if w.alive()][0]
        os.kill(fanout.pid, 19)  # SIGSTOP: the fan-outs and the block wait in the queue
        self.addCleanup(lambda: fanout.alive() and os.kill(fanout.pid, 18))
        try:
            before = h.post_tweet(self.http, tb, "fanned out before the block")["id"]
            self.block(tv, v, b, wait=False)
            after = h.post_tweet(self.http, tb, "fanned out after the block")["id"]
        finally:
            os.kill(fanout.pid, 18)  # SIGCONT
        self.wait_row(1, v["id"], b["id"], True)
        h.wait_fanout_idle(self.http)
        self.assertFalse({early, before, after} & set(self.all_feed_ids(tv, limit=5)))
        held = [x.decode() for x in h.redis_cmd("LRANGE", key, 0, -1) or []]
        self.assertFalse({early, before, after} & set(held),
                         "taken out of (or never pushed to) the list")
        self.assertFalse(bl.follows_active(v["id"], b["id"]))

    def test_refused_at_once_after_the_202(self):
        ta, a = self.user("ia")
        tb, b = self.user("ib")
        tweet = h.post_tweet(self.http, ta, "at once")
        self.assertStatus(self.act(ta, b["id"], "block"), 202)  # not waited for
        self.assertError(self.act(tb, a["id"], "follow"), 403, "blocked", "id")
        self.assertError(self.http.post(API + "/tweets/%s/like" % tweet["id"], token=tb), 403,
                         "blocked", "id")
        self.wait_row(1, a["id"], b["id"], True)
        self.assertStatus(self.act(ta, b["id"], "block", "DELETE"), 202)  # not waited for
        self.assertStatus(self.act(tb, a["id"], "follow"), 202)
        h.wait_until(lambda: bl.follows_active(b["id"], a["id"]), bl.APPLY_TIMEOUT, 0.05,
                     "the follow after the unblock applied")

    def test_a_follow_racing_a_block_ends_without_a_follow(self):
        ta, a = self.user("ra")
        tb, b = self.user("rb")
        tc, c = self.user("rc")
        self.follow(tc, c, b)
        # The fan-out role held up: the block is published but not applied,
        # and (its pending key gone) the gateway lets B's follow of A through.
        fanout = [w for w in self.stack.workers_of("fanout") if w.alive()][0]
        os.kill(fanout.pid, 19)  # SIGSTOP
        self.addCleanup(lambda: fanout.alive() and os.kill(fanout.pid, 18))
        try:
            self.assertStatus(self.act(ta, b["id"], "block"), 202)
            h.redis_cmd("DEL", "chirp:bp:{%s}:1:%s" % (h.id_literal(a["id"]), h.id_literal(b["id"])))
            self.assertStatus(self.act(tb, a["id"], "follow"), 202)  # after the block, in the queue
            self.assertStatus(self.act(tc, b["id"], "follow", "DELETE"), 202)  # unrelated, after it
        finally:
            os.kill(fanout.pid, 18)  # SIGCONT
        h.wait_until(lambda: not bl.follows_active(c["id"], b["id"]), bl.APPLY_TIMEOUT, 0.05,
                     "the events after the follow applied")
        self.assertTrue(bl.row(1, a["id"], b["id"])[0])
        self.assertFalse(bl.follows_active(b["id"], a["id"]), "the follow applied after the block is ignored")
        self.assertEqual(bl.pg_counts(a["id"]), (0, 0))
        self.assertEqual(bl.pg_counts(b["id"]), (0, 0))

class ConcurrentBlockTestCase(bl.Mixin, h.StackTestCase):
    """Two workers per role: blocks of one pair both ways at once, with
    follows and unfollows of the same pairs in flight, settle with no follow
    and exact counts."""
    WORKERS = 2

    def test_blocks_both_ways_at_once(self):
        pairs = []
        for _ in range(8):
            (ta, a), (tb, b) = h.sign_up(self.http, "ca"), h.sign_up(self.http, "cb")
            self.follow(ta, a, b)
            self.follow(tb, b, a)
            pairs.append((ta, a, tb, b))
        jobs = []
        for ta, a, tb, b in pairs:
            jobs += [("POST", "/accounts/%s/block" % b["id"], ta),
                     ("POST", "/accounts/%s/block" % a["id"], tb),
                     ("DELETE", "/accounts/%s/follow" % b["id"], ta),
                     ("POST", "/accounts/%s/follow" % a["id"], tb)]
        got = h.parallel(self.stack.port, lambda c, j: c.request(j[0], API + j[1], token=j[2]).status,
                         jobs, threads=16)
        for (m, path, _), st in zip(jobs, got):
            self.assertIn(st, (200, 202, 403), "%s %s" % (m, path))
        for ta, a, tb, b in pairs:
            self.wait_row(1, a["id"], b["id"], True)
            self.wait_row(1, b["id"], a["id"], True)
        h.wait_fanout_idle(self.http)
        for ta, a, tb, b in pairs:
            self.assertFalse(bl.follows_active(a["id"], b["id"]))
            self.assertFalse(bl.follows_active(b["id"], a["id"]))
            self.assertEqual(bl.pg_counts(a["id"]), (0, 0))
            self.assertEqual(bl.pg_counts(b["id"]), (0, 0))
            rel = self.relationship(ta, b["id"])
            self.assertEqual((rel["blocking"], rel["blocked_by"], rel["following"]), (True, True, False))


if __name__ == "__main__":
    h.main()
