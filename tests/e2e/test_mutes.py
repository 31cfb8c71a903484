#!/usr/bin/env python3
"""End-to-end: mutes.  POST/DELETE /accounts/{id}/mute (202 published, 200
already so, 422 self, 404 unknown, 401 no token), GET /mutes newest first
and paged; a mute keeps the follow (and the counts) but hides the muted
account's tweets from the muter's feed (filled pages, stable cursors) and
its notifications, also those made before the mute; it stays visible in
search and hashtag pages; the muted account sees nothing change; unmuting
shows everything again."""

import json
import os
import sys
import time
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402
import blocks_lib as bl  # noqa: E402
import sse_client  # noqa: E402
from blocks_lib import API  # noqa: E402


class MuteTestCase(bl.Mixin, h.StackTestCase):
    WORKERS = 1

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        h.wait_fanout_idle(cls.http)

    def user(self, prefix="mu"):
        return h.sign_up(self.http, prefix)

    def test_errors_repeat_and_list(self):
        ta, a = self.user()
        tb, b = self.user()
        tc, c = self.user()
        self.assertError(self.act(ta, a["id"], "mute"), 422, "cannot_mute_self", "id")
        self.assertError(self.act(ta, "999999999999", "mute"), 404, "not_found", "id")
        self.assertStatus(self.http.post(API + "/accounts/%s/mute" % b["id"]), 401)
        self.assertStatus(self.act(ta, b["id"], "mute", "DELETE"), 200)  # not muting: nothing to do
        r = self.act(ta, b["id"], "mute")
        self.assertStatus(r, 202)
        self.assertEqual(r.json, {"account_id": a["id"], "target_id": b["id"], "muting": True})
        self.assertStatus(self.act(ta, b["id"], "mute"), 200)
        _, ev = self.wait_row(2, a["id"], b["id"], True)
        self.mute(ta, a, c)
        h.wait_fanout_idle(self.http)
        self.assertEqual(bl.row(2, a["id"], b["id"]), (True, ev), "a repeat published nothing")
        r = self.http.get(API + "/mutes?limit=1", token=ta)
        self.assertEqual([x["id"] for x in r.json["items"]], [c["id"]])
        r = self.http.get(API + "/mutes?limit=1&cursor=%s" % r.json["next_cursor"], token=ta)
        self.assertEqual([x["id"] for x in r.json["items"]], [b["id"]])
        self.assertIsNone(r.json["next_cursor"])
        self.assertEqual(self.http.get(API + "/blocks", token=ta).json["items"], [])
        r = self.act(ta, b["id"], "mute", "DELETE")
        self.assertStatus(r, 202)
        self.wait_row(2, a["id"], b["id"], False)
        self.assertEqual([x["id"] for x in self.http.get(API + "/mutes", token=ta).json["items"]],
                         [c["id"]])

    def test_mute_keeps_the_follow_and_hides_from_feed_and_notifications(self):
        tv, v = self.user("mv")
        tm, m = self.user("mm")
        to, o = self.user("mo")
        self.follow(tv, v, m)
        self.follow(tv, v, o)
        self.follow(tm, m, v)  # a follow notification from m
        t = "mt" + uuid.uuid4().hex[:12]
        mt, ot = [], []
        for i in range(5):
            ot.append(h.post_tweet(self.http, to, "other %d #%s" % (i, t))["id"])
            mt.append(h.post_tweet(self.http, tm, "muted %d #%s @%s" % (i, t, v["username"]))["id"])
        h.wait_until(lambda: set(mt + ot) <= set(self.feed_ids(tv)), bl.APPLY_TIMEOUT, 0.05,
                     "both accounts' tweets in the feed")
        h.wait_until(lambda: self.notification_actors(tv).count(m["id"]) >= 6, bl.APPLY_TIMEOUT,
                     0.05, "the muted account's follow and mention notifications")
        counts = bl.pg_counts(v["id"]), bl.pg_counts(m["id"])
        self.mute(tv, v, m)
        h.wait_fanout_idle(self.http)
        self.assertTrue(bl.follows_active(v["id"], m["id"]), "a mute keeps the follow")
        self.assertTrue(bl.follows_active(m["id"], v["id"]))
        self.assertEqual((bl.pg_counts(v["id"]), bl.pg_counts(m["id"])), counts)
        rel = self.relationship(tv, m["id"])
        self.assertEqual((rel["following"], rel["followed_by"], rel["muting"], rel["blocking"]),
                         (True, True, True, False))
        feed = self.all_feed_ids(tv, limit=3)
        self.assertFalse(set(mt) & set(feed), "muted tweets hidden from the feed")
        self.assertTrue(set(ot) <= set(feed))
        self.assertNotIn(m["id"], self.notification_actors(tv), "and from notifications")
        # New tweets of the muted account are still pushed but never shown.
        late = h.post_tweet(self.http, tm, "late #%s" % t)["id"]
        h.wait_fanout_idle(self.http)
        self.assertNotIn(late, self.feed_ids(tv))
        # Still visible in hashtag pages and search; the muted one's feed is unchanged.
        ids = {x["id"] for x in self.http.get(API + "/hashtags/%s/tweets?limit=100" % t,
                                               token=tv).json["items"]}
        self.assertTrue(set(mt) <= ids)
        # Redis lost the hidden set: rebuilt from PostgreSQL, still hidden.
        h.redis_cmd("DEL", "chirp:hid:{%s}" % h.id_literal(v["id"]))
        self.assertFalse(set(mt) & set(self.feed_ids(tv)))
        # Unmuted: everything is back.
        self.assertStatus(self.act(tv, m["id"], "mute", "DELETE"), 202)
        self.wait_row(2, v["id"], m["id"], False)
        self.wait_hidden(tv, m["id"], False, "muting")
        self.assertTrue(set(mt + [late]) <= set(self.feed_ids(tv)))
        self.assertIn(m["id"], self.notification_actors(tv))

    def test_stream_skips_muted_and_blocked_accounts(self):
        tv, v = self.user("sv")
        tm, m = self.user("sm")
        tb, b = self.user("sb")
        to, o = self.user("so")
        for x in (m, b, o):
            self.follow(tv, v, x)
        self.mute(tv, v, m)
        self.block(tv, v, b)  # ends the follow; b's tweets must not reach v's stream anyway
        s = sse_client.Stream(self.stack.port, tv)
        try:
            s.wait_ready()
            hidden = [h.post_tweet(self.http, tm, "muted live")["id"],
                      h.post_tweet(self.http, tb, "blocked live")["id"]]
            shown = h.post_tweet(self.http, to, "other live")["id"]
            s.wait_event("tweet", lambda d: json.loads(d)["id"] == shown, 15)
            h.wait_fanout_idle(self.http)
            time.sleep(0.5)
            self.assertFalse([e for e in s.events if any(i in e["data"] for i in hidden)], s.events)
        finally:
            s.close()


if __name__ == "__main__":
    h.main()
