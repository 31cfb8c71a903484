#!/usr/bin/env python3
"""End-to-end: blocks and mutes meet reposts and quotes.  A repost or a
quote across a block is 403 blocked and publishes nothing; a repost by an
account the viewer blocks (or mutes) leaves the viewer's feed, including
the entry already in the Redis feed; a quote of a tweet by an account
hidden from the viewer shows its quote as unavailable, not the tweet."""

import os
import sys
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402
import blocks_lib as bl  # noqa: E402
from blocks_lib import API  # noqa: E402

APPLY = 20.0


def active_reposts(tweet_id):
    return h.sql_int("SELECT count(*) FROM reposts WHERE tweet_id = %s AND active"
                     % h.id_literal(tweet_id))


class BlocksMeetReposts(bl.Mixin, h.StackTestCase):
    WORKERS = 1

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        h.wait_fanout_idle(cls.http)

    def user(self):
        return h.sign_up(self.http, "br")

    def feed_items(self, token):
        r = self.http.get(API + "/feed?limit=100", token=token)
        self.assertStatus(r, 200)
        return r.json["items"]

    def test_no_repost_or_quote_across_a_block(self):
        ta, a = self.user()
        tb, b = self.user()
        t = h.post_tweet(self.http, tb, "by b " + uuid.uuid4().hex)
        self.block(ta, a, b)
        # Both ways: the blocker cannot repost or quote, nor can the blocked.
        self.assertError(self.http.post(API + "/tweets/%s/repost" % t["id"], token=ta), 403,
                         "blocked", "id")
        self.assertError(self.http.post(API + "/tweets", {"text": "q", "quote_of": t["id"]},
                                        token=ta), 403, "blocked", "quote_of")
        mine = h.post_tweet(self.http, ta, "by a " + uuid.uuid4().hex)
        self.assertError(self.http.post(API + "/tweets/%s/repost" % mine["id"], token=tb), 403,
                         "blocked", "id")
        self.assertError(self.http.post(API + "/tweets", {"text": "q", "quote_of": mine["id"]},
                                        token=tb), 403, "blocked", "quote_of")
        h.wait_fanout_idle(self.http)
        self.assertEqual(active_reposts(t["id"]), 0, "a refused repost changed nothing")
        self.assertEqual(active_reposts(mine["id"]), 0, "a refused repost changed nothing")
        self.assertEqual(h.sql_int("SELECT count(*) FROM tweets WHERE quote_of IN (%s, %s)" % (
            h.id_literal(t["id"]), h.id_literal(mine["id"]))), 0, "a refused quote made no tweet")

    def test_a_blocked_or_muted_reposter_leaves_the_feed(self):
        tv, v = self.user()   # the viewer
        tr, r = self.user()   # reposts, then gets blocked
        tm, m = self.user()   # reposts, then gets muted
        to, o = self.user()   # the original's author
        self.follow(tv, v, r)
        self.follow(tv, v, m)
        t1 = h.post_tweet(self.http, to, "original one " + uuid.uuid4().hex)
        t2 = h.post_tweet(self.http, to, "original two " + uuid.uuid4().hex)
        self.assertStatus(self.http.post(API + "/tweets/%s/repost" % t1["id"], token=tr), 202)
        self.assertStatus(self.http.post(API + "/tweets/%s/repost" % t2["id"], token=tm), 202)
        h.wait_until(lambda: {t1["id"], t2["id"]} <= {x["id"] for x in self.feed_items(tv)},
                     APPLY, 0.05, "both reposts in the viewer's feed")
        by = {x["id"]: x.get("reposted_by", {}).get("id") for x in self.feed_items(tv)}
        self.assertEqual((by[t1["id"]], by[t2["id"]]), (r["id"], m["id"]))
        # The mute keeps the follow, the block ends it; both hide the reposts
        # that the Redis feed still holds.
        self.mute(tv, v, m)
        self.block(tv, v, r)
        h.wait_fanout_idle(self.http)
        shown = {x["id"] for x in self.feed_items(tv)}
        self.assertNotIn(t2["id"], shown, "a muted account's repost is hidden")
        self.assertNotIn(t1["id"], shown, "a blocked account's repost is hidden")
        self.assertTrue(bl.follows_active(v["id"], m["id"]), "a mute keeps the follow")

    def test_a_quote_of_a_hidden_account_is_unavailable(self):
        tv, v = self.user()
        tq, q = self.user()   # quotes
        tx, x = self.user()   # quoted, then blocked by the viewer
        self.follow(tv, v, q)
        quoted = h.post_tweet(self.http, tx, "quoted " + uuid.uuid4().hex)
        quoting = h.post_tweet(self.http, tq, "look", quote_of=quoted["id"])

        def item():
            return {i["id"]: i for i in self.feed_items(tv)}.get(quoting["id"])
        got = h.wait_until(item, APPLY, 0.05, "the quoting tweet in the viewer's feed")
        self.assertEqual(got["quote"]["id"], quoted["id"])
        self.assertNotIn("unavailable", got["quote"])
        self.block(tv, v, x)
        got = item()
        self.assertIsNotNone(got, "the quoting tweet of a third account stays")
        self.assertEqual(got["quote"], {"id": quoted["id"], "unavailable": True})
        # Someone else still sees the quoted tweet.
        r = self.http.get(API + "/tweets/%s" % quoting["id"], token=tq)
        self.assertStatus(r, 200)


if __name__ == "__main__":
    h.main()
