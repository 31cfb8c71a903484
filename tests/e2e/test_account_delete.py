#!/usr/bin/env python3
"""End-to-end: DELETE /api/v1/accounts/me and the purge that follows.

At once (synchronously): every token of the account fails (401), log-in
fails (401), the account answers 404.  Then, through account.deleted and
the workers: its tweets leave every feed (also a feed rebuilt from
PostgreSQL), search answer and hashtag page; its follows end both ways with
the other sides' counts right; its likes (stored or still pending in the
like batcher), poll votes and comments stop counting, in Redis and in
PostgreSQL.  The username stays reserved, the e-mail becomes free.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

API = h.API
NO_RATE_LIMITS = {"CHIRP_RATE_LOGIN": "100000000", "CHIRP_RATE_WRITE": "100000000",
                  "CHIRP_RATE_READ": "100000000"}
SETTLE = 30.0  # seconds the workers get to apply what a test waits for
PASSWORD = "correct horse 1"


class Case(h.StackTestCase):
    def assert404(self, r):
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.json["error"]["code"], "not_found", r)


class DeleteCascade(Case):
    """X has followers (A, C) and follows B; X's tweets (one with a
    hashtag and a rare word, one with a poll) are in A's and C's feeds; X
    likes, votes and comments on others' tweets.  Then X deletes itself."""

    # Likes wait in the batcher long enough that X's like of B's tweet is
    # still pending when X is deleted; X's like of A's tweet is flushed
    # first (the test waits for its row).
    ENV = dict(NO_RATE_LIMITS, CHIRP_LIKES_FLUSH_AGE_MS="4000")
    FLUSH_S = 4.0

    # ---- helpers ----

    def get(self, path, token=None, **query):
        return self.http.get(API + path, token=token, query=query or None)

    def feed_ids(self, token):
        r = self.get("/feed", token=token, limit=100)
        self.assertStatus(r, 200)
        return [t["id"] for t in r.json["items"]]

    def account(self, a):
        r = self.get("/accounts/%s" % a["id"])
        self.assertStatus(r, 200)
        return r.json

    def tweet(self, t, token=None):
        r = self.get("/tweets/%s" % t["id"], token=token)
        return r

    def follow(self, token, target):
        r = self.http.post(API + "/accounts/%s/follow" % target["id"], token=token)
        self.assertIn(r.status, (200, 202), r)

    def wait(self, predicate, what, timeout=SETTLE):
        h.wait_until(predicate, timeout, 0.1, what)

    def sql(self, q):
        return h.sql_int(q)

    # ---- the scenario ----

    def test_delete_takes_everything_away(self):
        word = h.unique("rareword").lower()
        tag = h.unique("deltag").lower()
        x_tok, x = h.sign_up(self.http, "dx", PASSWORD)
        a_tok, a = h.sign_up(self.http, "da")
        b_tok, b = h.sign_up(self.http, "db")
        c_tok, c = h.sign_up(self.http, "dc")
        # A second session of X, used once so that its token is cached.
        r = self.http.post(API + "/sessions", {"login": x["username"], "password": PASSWORD})
        self.assertStatus(r, 201)
        x_tok2 = r.json["token"]
        for tok in (x_tok, x_tok2):
            self.assertStatus(self.get("/sessions/current", token=tok), 200)

        self.follow(a_tok, x)
        self.follow(c_tok, x)
        self.follow(x_tok, b)
        self.wait(lambda: self.account(x)["followers_count"] == 2 and
                  self.account(x)["following_count"] == 1 and
                  self.account(b)["followers_count"] == 1, "the follows applied")

        x1 = h.post_tweet(self.http, x_tok, "plain words from x")
        x2 = h.post_tweet(self.http, x_tok, "%s and #%s" % (word, tag))
        x3 = h.post_tweet(self.http, x_tok, "x asks",
                          poll={"options": ["yes", "no"], "expires_in": 3600})
        ta = h.post_tweet(self.http, a_tok, "a tweet of a")
        tb = h.post_tweet(self.http, b_tok, "b asks",
                          poll={"options": ["red", "blue"], "expires_in": 3600})
        xs = [x1["id"], x2["id"], x3["id"]]
        self.wait(lambda: set(xs) <= set(self.feed_ids(a_tok)) and
                  set(xs) <= set(self.feed_ids(c_tok)), "X's tweets in A's and C's feeds")

        # X likes A's tweet and waits for the batcher to store it; then X
        # likes B's tweet (pending at the delete), votes, comments twice.
        self.assertStatus(self.http.post(API + "/tweets/%s/like" % ta["id"], token=x_tok), 202)
        self.wait(lambda: self.sql("SELECT count(*) FROM likes WHERE active AND user_id = %s"
                                   % h.id_literal(x["id"])) == 1, "X's like of A stored",
                  timeout=SETTLE + self.FLUSH_S)
        self.assertEqual(self.sql("SELECT likes FROM tweet_counts WHERE tweet_id = %s"
                                  % h.id_literal(ta["id"])), 1)
        self.assertStatus(self.http.post(API + "/tweets/%s/like" % tb["id"], token=x_tok), 202)
        self.assertStatus(self.http.post(API + "/tweets/%s/like" % tb["id"], token=a_tok), 202)
        vote = self.http.post(API + "/polls/%s/votes" % tb["poll"]["id"], {"choices": [0]},
                              token=x_tok)
        self.assertStatus(vote, 202)
        self.assertStatus(self.http.post(API + "/polls/%s/votes" % tb["poll"]["id"],
                                         {"choices": [1]}, token=c_tok), 202)
        for text in ("first from x", "second from x"):
            r = self.http.post(API + "/tweets/%s/comments" % ta["id"], {"text": text}, token=x_tok)
            self.assertStatus(r, 202)
        r = self.http.post(API + "/tweets/%s/comments" % ta["id"], {"text": "from b"}, token=b_tok)
        self.assertStatus(r, 202)
        self.wait(lambda: self.tweet(ta).json["comment_count"] == 3, "3 comments counted")
        self.assertEqual(self.tweet(tb).json["like_count"], 2)
        self.assertEqual(self.tweet(ta).json["like_count"], 1)
        poll = self.get("/polls/%s" % tb["poll"]["id"]).json
        self.assertEqual([o["votes"] for o in poll["options"]], [1, 1])
        self.wait(lambda: [t["id"] for t in self.get("/search", q=word).json["items"]] == [x2["id"]]
                  and [t["id"] for t in self.get("/hashtags/%s/tweets" % tag).json["items"]]
                  == [x2["id"]], "X's tweet found by word and hashtag")
        self.assertEqual(self.sql("SELECT count(*) FROM likes WHERE active AND user_id = %s"
                                  % h.id_literal(x["id"])), 1, "the like of B still pending")

        # Cached search answers that show X (they must not outlive the delete).
        self.assertEqual([u["id"] for u in self.get("/accounts/search", q=x["username"])
                          .json["items"]], [x["id"]])
        self.assertEqual([u["id"] for u in self.get("/search", q=x["username"], type="accounts")
                          .json["items"]], [x["id"]])

        # ---- the delete ----
        r = self.http.delete(API + "/accounts/me", token=x_tok)
        self.assertStatus(r, 202)
        self.assertKeys(r.json, {"id", "username", "deleted", "deleted_at"})
        self.assertEqual((r.json["id"], r.json["username"], r.json["deleted"]),
                         (x["id"], x["username"], True))
        t_deleted = time.monotonic()

        # At once: both tokens, log-in, the account.
        for tok in (x_tok, x_tok2):
            self.assertError(self.get("/sessions/current", token=tok), 401, "invalid_token")
            self.assertError(self.http.post(API + "/tweets", {"text": "still here?"}, token=tok),
                             401, "invalid_token")
        for login in (x["username"], x["email"]):
            self.assertError(self.http.post(API + "/sessions", {"login": login,
                                                                "password": PASSWORD}),
                             401, "invalid_credentials")
        self.assert404(self.get("/accounts/%s" % x["id"]))
        self.assert404(self.get("/accounts/@%s" % x["username"]))
        self.assert404(self.get("/accounts/%s/tweets" % x["id"]))
        self.assert404(self.http.post(API + "/accounts/%s/follow" % x["id"], token=a_tok))
        self.assertNotIn(x["id"], [i["id"] for i in self.get("/accounts", limit=100).json["items"]])
        self.assertEqual(self.get("/accounts/search", q=x["username"]).json["items"], [])
        self.assertEqual(self.get("/search", q=x["username"], type="accounts").json["items"], [])

        # Through the workers: tweets, follows, likes, votes, comments.
        self.wait(lambda: not set(xs) & set(self.feed_ids(a_tok)) and
                  not set(xs) & set(self.feed_ids(c_tok)), "X's tweets gone from the feeds")
        for t in (x1, x2, x3):
            self.assert404(self.tweet(t, token=a_tok))
        self.wait(lambda: self.get("/search", q=word).json["items"] == [] and
                  self.get("/hashtags/%s/tweets" % tag).json["items"] == [],
                  "X's tweet gone from search and its hashtag page")
        self.assertEqual(self.sql("SELECT count(*) FROM tweets WHERE author_id = %s AND "
                                  "deleted_at IS NULL" % h.id_literal(x["id"])), 0)

        self.wait(lambda: self.account(a)["following_count"] == 0 and
                  self.account(c)["following_count"] == 0 and
                  self.account(b)["followers_count"] == 0, "the other sides' counts")
        self.assertEqual(self.get("/accounts/%s/following" % a["id"]).json["items"], [])
        self.assertEqual(self.get("/accounts/%s/followers" % b["id"]).json["items"], [])
        self.assertEqual(self.sql("SELECT count(*) FROM follows WHERE active AND %s IN "
                                  "(follower_id, followee_id)" % h.id_literal(x["id"])), 0)
        for acct in (a, b, c):
            self.assertEqual(self.sql(
                "SELECT count(*) FROM follows WHERE active AND followee_id = %s" %
                h.id_literal(acct["id"])), self.account(acct)["followers_count"])
            self.assertEqual(self.sql(
                "SELECT count(*) FROM follows WHERE active AND follower_id = %s" %
                h.id_literal(acct["id"])), self.account(acct)["following_count"])

        self.wait(lambda: self.tweet(ta).json["like_count"] == 0 and
                  self.tweet(tb).json["like_count"] == 1, "X's likes uncounted in Redis")
        self.wait(lambda: self.tweet(ta).json["comment_count"] == 1, "X's comments uncounted")
        self.assertEqual([cm["text"] for cm in
                          self.get("/tweets/%s/comments" % ta["id"]).json["items"]], ["from b"])
        self.wait(lambda: [o["votes"] for o in self.get("/polls/%s" % tb["poll"]["id"])
                           .json["options"]] == [0, 1], "X's vote taken back")
        # PostgreSQL agrees, also once the batcher flushed what it held.
        left = self.FLUSH_S + 2 - (time.monotonic() - t_deleted)
        if left > 0:
            time.sleep(left)
        self.wait(lambda: self.sql("SELECT likes FROM tweet_counts WHERE tweet_id = %s"
                                   % h.id_literal(tb["id"])) == 1, "B's tweet: 1 like in PG")
        self.assertEqual(self.sql("SELECT likes FROM tweet_counts WHERE tweet_id = %s"
                                  % h.id_literal(ta["id"])), 0)
        self.assertEqual(self.sql("SELECT count(*) FROM likes WHERE active AND user_id = %s"
                                  % h.id_literal(x["id"])), 0)
        self.assertEqual(self.sql("SELECT comments FROM tweet_counts WHERE tweet_id = %s"
                                  % h.id_literal(ta["id"])), 1)
        self.assertEqual(self.sql("SELECT coalesce(sum(votes), 0) FROM poll_counts WHERE "
                                  "poll_id = %s" % h.id_literal(tb["poll"]["id"])), 1)
        self.assertEqual(self.tweet(tb).json["like_count"], 1, "Redis still agrees")
        self.assertEqual([u["id"] for u in self.get("/tweets/%s/likes" % tb["id"]).json["items"]],
                         [a["id"]])
        self.assertEqual(self.get("/accounts/%s/likes" % a["id"]).json["items"][0]["id"], tb["id"])

        # A feed rebuilt from PostgreSQL has none of X's tweets.
        h.redis_cmd("DEL", "chirp:f:{%s}" % h.id_literal(a["id"]),
                    "chirp:fok:{%s}" % h.id_literal(a["id"]))
        self.assertFalse(set(xs) & set(self.feed_ids(a_tok)))
        self.assertIn(ta["id"], self.feed_ids(a_tok))

        # The username stays reserved; the e-mail is free again.
        r = self.http.post(API + "/accounts", {"username": x["username"].upper(),
                                               "email": h.unique("new") + "@example.com",
                                               "password": PASSWORD})
        self.assertError(r, 409, "username_taken", "username")
        name = h.unique("reuse")
        r = self.http.post(API + "/accounts", {"username": name, "email": x["email"],
                                               "password": PASSWORD})
        self.assertStatus(r, 201)
        # Applied once by the persist role.
        self.assertEqual(self.sql("SELECT count(*) FROM accounts WHERE id = %s AND deleted_at IS "
                                  "NOT NULL AND email = '' AND password_hash = ''"
                                  % h.id_literal(x["id"])), 1)


class DeleteRequest(Case):
    """The request itself: optional password, errors change nothing."""
    WORKERS = 1
    ENV = NO_RATE_LIMITS

    def alive(self, tok, acct):
        self.assertStatus(self.http.get(API + "/sessions/current", token=tok), 200)
        self.assertStatus(self.http.get(API + "/accounts/%s" % acct["id"]), 200)

    def test_wrong_password_is_403_and_deletes_nothing(self):
        tok, a = h.sign_up(self.http, "wp", PASSWORD)
        r = self.http.delete(API + "/accounts/me", body={"password": "not the password"}, token=tok)
        self.assertError(r, 403, "wrong_password", "password")
        self.alive(tok, a)
        self.assertEqual(h.sql_int("SELECT count(*) FROM accounts WHERE id = %s AND deleted_at "
                                   "IS NULL" % h.id_literal(a["id"])), 1)

    def test_bad_bodies_change_nothing(self):
        tok, a = h.sign_up(self.http, "bb", PASSWORD)
        self.assertError(self.http.delete(API + "/accounts/me", body={"password": 5}, token=tok),
                         422, "wrong_type", "password")
        self.assertError(self.http.delete(API + "/accounts/me", raw=b"{", token=tok), 400,
                         "malformed_json")
        self.assertError(self.http.delete(API + "/accounts/me", raw=b'{"password": "x"}',
                                          token=tok, content_type="text/plain"),
                         415, "unsupported_media_type")
        self.assertError(self.http.delete(API + "/accounts/me"), 401, "unauthorized")
        self.alive(tok, a)

    def test_right_password_or_none_deletes(self):
        tok, a = h.sign_up(self.http, "rp", PASSWORD)
        r = self.http.delete(API + "/accounts/me", body={"password": PASSWORD}, token=tok)
        self.assertStatus(r, 202)
        self.assertError(self.http.get(API + "/sessions/current", token=tok), 401, "invalid_token")
        self.assertError(self.http.delete(API + "/accounts/me", token=tok), 401, "invalid_token")
        tok, a = h.sign_up(self.http, "np", PASSWORD)
        t = h.post_tweet(self.http, tok, "soon gone")
        self.assertStatus(self.http.delete(API + "/accounts/me", token=tok), 202)
        self.assert404(self.http.get(API + "/accounts/%s" % a["id"]))
        h.wait_until(lambda: h.sql_int(
            "SELECT count(*) FROM tweets WHERE id = %s AND deleted_at IS NOT NULL"
            % h.id_literal(t["id"])) == 1, SETTLE, 0.1, "the purge applied")
        h.wait_until(lambda: self.http.get(API + "/tweets/%s" % t["id"]).status == 404, SETTLE,
                     0.1, "the tweet answers 404")

class FollowInFlight(Case):
    """A follow published before the delete but applied after the purge
    (the fan-out role, which applies follows, was behind) changes nothing:
    no active pair, no count (regression: it made a follow of a deleted
    account, counted on the other side)."""
    ROLES = ("persist", "notify", "likes")  # the fan-out role comes later
    ENV = NO_RATE_LIMITS

    def test_follow_applied_after_the_purge_is_void(self):
        x_tok, x = h.sign_up(self.http, "fx")
        a_tok, a = h.sign_up(self.http, "fa")
        b_tok, b = h.sign_up(self.http, "fb")
        for tok, target in ((x_tok, b), (a_tok, x)):
            r = self.http.post(API + "/accounts/%s/follow" % target["id"], token=tok)
            self.assertStatus(r, 202)
        t = h.post_tweet(self.http, x_tok, "the purge marker")
        self.assertStatus(self.http.delete(API + "/accounts/me", token=x_tok), 202)
        h.wait_until(lambda: h.sql_int("SELECT count(*) FROM tweets WHERE id = %s AND deleted_at "
                                       "IS NOT NULL" % h.id_literal(t["id"])) == 1, SETTLE, 0.1,
                     "the persist role purged the account")
        self.stack.start_worker(role="fanout")
        h.wait_fanout_idle(self.http)
        self.assertEqual(h.sql_int("SELECT count(*) FROM follows WHERE active AND %s IN "
                                   "(follower_id, followee_id)" % h.id_literal(x["id"])), 0)
        h.evict_account(a["id"])
        h.evict_account(b["id"])
        self.assertEqual(self.http.get(API + "/accounts/%s" % b["id"]).json["followers_count"], 0)
        self.assertEqual(self.http.get(API + "/accounts/%s" % a["id"]).json["following_count"], 0)
        self.assertEqual(self.http.get(API + "/accounts/%s/followers" % b["id"]).json["items"], [])


if __name__ == "__main__":
    h.main()
