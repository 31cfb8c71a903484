#!/usr/bin/env python3
"""End-to-end: notifications.

Types follow, like, comment, mention (@username in a tweet or a comment) and
poll_ended (tests/e2e/test_polls.py ends a poll); never for one's own action;
a like undone within the batch window notifies nobody.  GET /notifications
newest first with paging, each with "actor" and "tweet" hydrated;
GET /notifications/unread_count; POST /notifications/read_all;
POST /notifications/{id}/read (someone else's id: 404).
"""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

API = h.API
NOTE_KEYS = ("id", "type", "actor", "tweet", "created_at", "read")
ACTOR_KEYS = ("id", "username", "display_name", "avatar_url")
NO_RATE_LIMITS = {"CHIRP_RATE_LOGIN": "100000000", "CHIRP_RATE_WRITE": "100000000",
                  "CHIRP_RATE_READ": "100000000"}
WAIT = 30  # bound for the workers (on a quiet stack: well under a second)


class Notifications(h.StackTestCase):
    # A like is notified when the batcher flushes it: 1.5 s after it came,
    # so that a like and its unlike a few milliseconds later share a batch.
    ENV = dict(NO_RATE_LIMITS, CHIRP_LIKES_FLUSH_AGE_MS="1500")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The notify queue of a shared stack may hold a backlog of events
        # from tests that ran no notify worker.
        took = h.wait_notify_idle(cls.http, 120)
        print("notify backlog drained in %.1f s" % took, file=sys.stderr)

    # ---- helpers ----

    def account(self, prefix="n"):
        return h.sign_up(self.http, prefix)

    def inbox(self, token, limit=100):
        """Every notification of the account, newest first (all pages)."""
        got, cursor = [], None
        for _ in range(50):
            q = {"limit": limit}
            if cursor:
                q["cursor"] = cursor
            r = self.http.get(API + "/notifications", token=token, query=q)
            self.assertStatus(r, 200)
            got += r.json["items"]
            cursor = r.json["next_cursor"]
            if cursor is None:
                return got
        self.fail("paging does not end")

    def unread(self, token):
        r = self.http.get(API + "/notifications/unread_count", token=token)
        self.assertStatus(r, 200)
        self.assertEqual(set(r.json), {"count"})
        return r.json["count"]

    def wait_inbox(self, token, pred, what):
        """Waits until pred(inbox) holds; returns the inbox."""
        box = []

        def check():
            box[:] = self.inbox(token)
            return pred(box)

        h.wait_until(check, WAIT, 0.05, what)
        return list(box)

    def wait_types(self, token, types, what=None):
        want = sorted(types)
        return self.wait_inbox(token, lambda b: sorted(n["type"] for n in b) == want,
                               what or "notifications %s" % want)

    def follow(self, token, who):
        r = self.http.post(API + "/accounts/%s/follow" % who["id"], token=token)
        self.assertIn(r.status, (200, 202), r)

    def like(self, token, tweet_id):
        self.assertStatus(self.http.post(API + "/tweets/%s/like" % tweet_id, token=token), 202)

    def comment(self, token, tweet_id, text):
        r = self.http.post(API + "/tweets/%s/comments" % tweet_id, {"text": text}, token=token)
        self.assertStatus(r, 202)
        return r.json

    def barrier_follow(self, token, acct):
        """Someone follows acct and waits for that notification: the notify
        worker has then handled every event published before."""
        tf, f = self.account("nf")
        before = len(self.inbox(token))
        self.follow(tf, acct)
        self.wait_inbox(token, lambda b: any(n["type"] == "follow" and n["actor"]["id"] == f["id"]
                                             for n in b) and len(b) >= before + 1,
                        "the barrier follow notification")
        return f

    def assertActor(self, n, acct):
        self.assertKeys(n["actor"], ACTOR_KEYS, ("email", "password_hash"))
        self.assertEqual((n["actor"]["id"], n["actor"]["username"]),
                         (acct["id"], acct["username"]))

    # ---- each type ----

    def test_follow(self):
        ta, a = self.account()
        tb, b = self.account()
        self.follow(tb, a)
        box = self.wait_types(ta, ["follow"])
        n = box[0]
        self.assertKeys(n, NOTE_KEYS)
        self.assertEqual((n["type"], n["tweet"], n["read"]), ("follow", None, False))
        self.assertActor(n, b)
        self.assertEqual(self.unread(ta), 1)
        # The follower is not notified of their own follow.
        self.assertEqual(self.inbox(tb), [])
        # Following again (no change) notifies nobody again.
        self.follow(tb, a)
        self.barrier_follow(ta, a)
        self.assertEqual(sorted(n["type"] for n in self.inbox(ta)), ["follow", "follow"])

    def test_like(self):
        ta, a = self.account()
        tb, b = self.account()
        t = h.post_tweet(self.http, ta, "like this")
        self.like(tb, t["id"])
        box = self.wait_types(ta, ["like"])
        n = box[0]
        self.assertActor(n, b)
        self.assertEqual(n["tweet"]["id"], t["id"])
        self.assertEqual(n["tweet"]["text"], "like this")
        self.assertEqual(n["tweet"]["author"]["id"], a["id"])
        self.assertEqual((n["tweet"]["like_count"], n["tweet"]["liked_by_me"]), (1, False))
        self.assertEqual(self.unread(ta), 1)
        self.assertEqual(self.inbox(tb), [])

    def test_comment(self):
        ta, a = self.account()
        tb, b = self.account()
        t = h.post_tweet(self.http, ta, "comment on this")
        c = self.comment(tb, t["id"], "a comment")
        box = self.wait_types(ta, ["comment"])
        n = box[0]
        self.assertActor(n, b)
        self.assertEqual(n["tweet"]["id"], t["id"])
        self.assertEqual(n.get("comment_id"), c["id"])
        self.assertEqual(self.unread(ta), 1)
        self.assertEqual(self.inbox(tb), [])

    def test_mentions_in_tweets(self):
        ta, a = self.account("nm")
        tc, c = self.account("nm")
        tb, b = self.account("nm")
        # Case does not matter; a name twice is one mention; unknown names
        # and e-mail-like text are not mentions.
        text = "hi @%s and @%s, @%s again; mail x@%s; @nobody_%s_zz" % (
            a["username"].upper(), c["username"], a["username"], b["username"], h.RUN)
        t = h.post_tweet(self.http, tb, text)
        for tok in (ta, tc):
            box = self.wait_types(tok, ["mention"])
            n = box[0]
            self.assertActor(n, b)
            self.assertEqual(n["tweet"]["id"], t["id"])
            self.assertEqual(n["tweet"]["text"], text)
            self.assertIsNone(n.get("comment_id"))
        # b wrote "x@b": no mention of b (and b is the author anyway).
        self.barrier_follow(ta, a)
        self.assertEqual(sorted(n["type"] for n in self.inbox(ta)), ["follow", "mention"])
        self.assertEqual(self.inbox(tb), [])

    def test_mention_in_a_comment(self):
        ta, a = self.account("nc")
        tb, b = self.account("nc")
        tc, c = self.account("nc")
        t = h.post_tweet(self.http, ta, "a tweet")
        cm = self.comment(tb, t["id"], "look @%s" % c["username"])
        box = self.wait_types(tc, ["mention"])
        n = box[0]
        self.assertActor(n, b)
        self.assertEqual((n["tweet"]["id"], n.get("comment_id")), (t["id"], cm["id"]))
        # The tweet's author is told of the comment.
        box = self.wait_types(ta, ["comment"])
        self.assertEqual(box[0].get("comment_id"), cm["id"])

    # ---- never for one's own action ----

    def test_no_notification_for_own_actions(self):
        ta, a = self.account("no")
        t = h.post_tweet(self.http, ta, "talking to myself, @%s" % a["username"])
        self.like(ta, t["id"])
        self.comment(ta, t["id"], "and again @%s" % a["username"])
        # Wait until the like reached PostgreSQL (the batcher flushed it) and
        # the notify worker handled the events before a barrier follow.
        h.wait_until(lambda: h.psql("SELECT active FROM likes WHERE tweet_id = %s AND user_id = %s"
                                    % (h.id_literal(t["id"]), h.id_literal(a["id"]))) == "t",
                     WAIT, 0.05, "the own like to be flushed")
        self.barrier_follow(ta, a)
        box = self.inbox(ta)
        self.assertEqual([n["type"] for n in box], ["follow"], box)
        self.assertEqual(self.unread(ta), 1)

    def test_like_undone_within_the_batch_window_notifies_nobody(self):
        ta, a = self.account("nu")
        tb, b = self.account("nu")
        tc, c = self.account("nu")
        t = h.post_tweet(self.http, ta, "maybe like")
        self.like(tb, t["id"])
        self.assertStatus(self.http.delete(API + "/tweets/%s/like" % t["id"], token=tb), 202)
        # c's like goes in the same batch and is notified: when it is there,
        # the batch (with b's like and unlike) has been flushed.
        self.like(tc, t["id"])
        box = self.wait_types(ta, ["like"], "c's like notification")
        self.assertActor(box[0], c)
        self.assertEqual(h.psql("SELECT active FROM likes WHERE tweet_id = %s AND user_id = %s" % (
            h.id_literal(t["id"]), h.id_literal(b["id"]))), "f", "b's like and unlike were "
                         "not flushed in the batch that notified c's like")
        self.assertEqual(self.unread(ta), 1)

    # ---- the inbox ----

    def test_inbox_pages_newest_first_and_read_state(self):
        ta, a = self.account("ni")
        followers = h.sign_up_many(self.stack.port, 7, "nif", threads=1)
        for tok, _ in followers:  # one after another: a known order
            self.follow(tok, a)
        box = self.wait_types(ta, ["follow"] * 7)
        self.assertEqual([n["actor"]["id"] for n in box],
                         [f["id"] for _, f in reversed(followers)], "not newest first")
        ids = [n["id"] for n in box]
        self.assertEqual(ids, sorted(ids, key=int, reverse=True))
        # Pages of 3, 3, 1 with cursors; Link on all but the last.
        pages, cursor = [], None
        while True:
            q = {"limit": 3}
            if cursor:
                q["cursor"] = cursor
            r = self.http.get(API + "/notifications", token=ta, query=q)
            self.assertStatus(r, 200)
            pages.append([n["id"] for n in r.json["items"]])
            cursor = r.json["next_cursor"]
            if cursor is None:
                self.assertIsNone(r.header("Link"))
                break
            self.assertIn('rel="next"', r.header("Link") or "")
            self.assertLess(len(pages), 10)
        self.assertEqual(pages, [ids[0:3], ids[3:6], ids[6:7]])

        self.assertEqual(self.unread(ta), 7)
        # Read one: it is read, the count drops by one; reading it again
        # changes nothing.
        r = self.http.post(API + "/notifications/%s/read" % ids[2], token=ta)
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"id": ids[2], "read": True})
        self.assertEqual(self.unread(ta), 6)
        self.assertStatus(self.http.post(API + "/notifications/%s/read" % ids[2], token=ta), 200)
        self.assertEqual(self.unread(ta), 6)
        box = self.inbox(ta)
        self.assertEqual([n["read"] for n in box], [i == 2 for i in range(7)])
        # The counter survives losing Redis (rebuilt from PostgreSQL).
        h.redis_cmd("DEL", "chirp:nu:{%s}" % a["id"])
        self.assertEqual(self.unread(ta), 6)
        # Read all.
        r = self.http.post(API + "/notifications/read_all", token=ta)
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"count": 0})
        self.assertEqual(self.unread(ta), 0)
        self.assertTrue(all(n["read"] for n in self.inbox(ta)))
        # A new one counts again.
        tz, z = self.account("niz")
        self.follow(tz, a)
        box = self.wait_inbox(ta, lambda b: len(b) == 8, "the 8th notification")
        self.assertEqual((box[0]["actor"]["id"], box[0]["read"]), (z["id"], False))
        self.assertEqual(self.unread(ta), 1)

    def test_someone_elses_notification_is_404(self):
        ta, a = self.account("nx")
        tb, b = self.account("nx")
        self.follow(tb, a)
        box = self.wait_types(ta, ["follow"])
        nid = box[0]["id"]
        self.assertError(self.http.post(API + "/notifications/%s/read" % nid, token=tb), 404,
                         "not_found", "id")
        self.assertFalse(self.inbox(ta)[0]["read"])
        self.assertEqual(self.unread(ta), 1)
        self.assertError(self.http.post(API + "/notifications/1234567/read", token=ta), 404,
                         "not_found", "id")
        self.assertEqual(self.http.post(API + "/notifications/abc/read", token=ta).status, 404)
        self.assertEqual(self.unread(ta), 1)

    def test_endpoints_need_a_token(self):
        for method, path in (("GET", "/notifications"), ("GET", "/notifications/unread_count"),
                             ("POST", "/notifications/read_all"),
                             ("POST", "/notifications/1234567/read")):
            with self.subTest(path=path):
                self.assertError(self.http.request(method, API + path), 401, "unauthorized")

    def test_list_parameters(self):
        ta, _ = self.account("np")
        for bad in ("0", "-1", "x"):
            self.assertError(self.http.get(API + "/notifications", token=ta,
                                           query={"limit": bad}), 422, "invalid_field", "limit")
        self.assertError(self.http.get(API + "/notifications", token=ta,
                                       query={"cursor": "zzz"}), 400, "invalid_cursor", "cursor")
        r = self.http.get(API + "/notifications", token=ta, query={"limit": 500})
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"items": [], "next_cursor": None})

    def test_deleted_tweet_is_null_in_the_inbox(self):
        ta, a = self.account("nd")
        tb, b = self.account("nd")
        t = h.post_tweet(self.http, tb, "hey @%s" % a["username"])
        self.wait_types(ta, ["mention"])
        self.assertStatus(self.http.delete(API + "/tweets/%s" % t["id"], token=tb), 202)
        box = self.inbox(ta)
        self.assertEqual(len(box), 1)
        self.assertIsNone(box[0]["tweet"])
        self.assertActor(box[0], b)


if __name__ == "__main__":
    h.main()
