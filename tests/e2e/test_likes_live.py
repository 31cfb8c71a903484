#!/usr/bin/env python3
"""End-to-end: like lists are live, likes converge, lists cost one query.

- GET /tweets/{id}/likes and GET /accounts/{id}/likes show a like as soon
  as its 202 is answered and drop it as soon as the unlike's 202 is, while
  the like batcher has not flushed anything (its count and age are set so
  high here that it never does during the test); paging by cursor is
  stable (a like arriving meanwhile does not shift later pages).
- A list that Redis lost is rebuilt from PostgreSQL.
- A like or unlike whose publish had an unknown outcome (the broker paused
  with SIGSTOP: the gateway times out waiting for the confirm, answers 503
  and takes its Redis change back, then the broker resumes and delivers the
  event after all) ends with Redis and PostgreSQL agreeing.
- The likers list and the notifications list cost a constant number of
  statements per page, not one per item (chirp_db_queries_total).
"""

import os
import signal
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

API = h.API
NO_RATE_LIMITS = {"CHIRP_RATE_LOGIN": "100000000", "CHIRP_RATE_WRITE": "100000000",
                  "CHIRP_RATE_READ": "100000000"}
PG_WAIT = 75


def pg_likes(tweet_id):
    """(tweet_counts.likes or 0, active likes rows) of a tweet."""
    t = h.id_literal(tweet_id)
    a, b = h.psql("SELECT coalesce((SELECT likes FROM tweet_counts WHERE tweet_id = %s), 0), "
                  "(SELECT count(*) FROM likes WHERE tweet_id = %s AND active)" % (t, t)).split("|")
    return int(a), int(b)


def pg_liked(tweet_id, user_id):
    return h.psql("SELECT active FROM likes WHERE tweet_id = %s AND user_id = %s" % (
        h.id_literal(tweet_id), h.id_literal(user_id))) == "t"


class Base(h.StackTestCase):
    ROLES = ("persist", "likes")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.author_token, cls.author = h.sign_up(cls.http, "lv")

    def tweet(self):
        return h.post_tweet(self.http, self.author_token, "like me")

    def like(self, token, tweet_id, status=202):
        r = self.http.post(API + "/tweets/%s/like" % tweet_id, token=token)
        self.assertStatus(r, status)
        return r

    def unlike(self, token, tweet_id, status=202):
        r = self.http.delete(API + "/tweets/%s/like" % tweet_id, token=token)
        self.assertStatus(r, status)
        return r

    def likers(self, tweet_id, **query):
        r = self.http.get(API + "/tweets/%s/likes" % tweet_id, query=query or None)
        self.assertStatus(r, 200)
        return r

    def liker_ids(self, tweet_id):
        return [a["id"] for a in self.likers(tweet_id, limit=100).json["items"]]

    def liked_ids(self, account_id):
        r = self.http.get(API + "/accounts/%s/likes" % account_id, query={"limit": 100})
        self.assertStatus(r, 200)
        return [t["id"] for t in r.json["items"]]

    def walk(self, path, limit):
        got, cursor = [], None
        for _ in range(50):
            q = {"limit": limit}
            if cursor:
                q["cursor"] = cursor
            r = self.http.get(path, query=q)
            self.assertStatus(r, 200)
            got.append([x["id"] for x in r.json["items"]])
            cursor = r.json["next_cursor"]
            if cursor is None:
                return got
        self.fail("paging does not end")


class LiveLists(Base):
    """No flush happens during these tests: what the lists show comes from
    the likes just accepted."""

    ENV = dict(NO_RATE_LIMITS, CHIRP_LIKES_FLUSH_AGE_MS="3600000",
               CHIRP_LIKES_FLUSH_COUNT="100000")

    def test_like_and_unlike_show_at_once(self):
        t = self.tweet()
        users = [h.sign_up(self.http, "lu%d" % i) for i in range(3)]
        for tok, _ in users:
            self.like(tok, t["id"])
        ids = [a["id"] for _, a in users]
        self.assertEqual(self.liker_ids(t["id"]), list(reversed(ids)))
        for _, a in users:
            self.assertEqual(self.liked_ids(a["id"]), [t["id"]])
        self.assertEqual(pg_likes(t["id"]), (0, 0), "the batcher flushed: the test proves nothing")
        # An unlike goes at once, from both lists.
        self.unlike(users[1][0], t["id"])
        self.assertEqual(self.liker_ids(t["id"]), [ids[2], ids[0]])
        self.assertEqual(self.liked_ids(ids[1]), [])
        # A like again comes back as the newest.
        self.like(users[1][0], t["id"])
        self.assertEqual(self.liker_ids(t["id"]), [ids[1], ids[2], ids[0]])
        self.assertEqual(pg_likes(t["id"]), (0, 0))

    def test_paging_is_stable(self):
        t = self.tweet()
        users = h.sign_up_many(self.stack.port, 9, "lp", threads=4)
        for tok, _ in users:  # one after the other: a known order
            self.like(tok, t["id"])
        want = [a["id"] for _, a in reversed(users)]
        pages = self.walk(API + "/tweets/%s/likes" % t["id"], 4)
        self.assertEqual([len(p) for p in pages], [4, 4, 1])
        self.assertEqual(sum(pages, []), want)
        # A like arriving between pages does not move the pages after it.
        r = self.likers(t["id"], limit=4)
        late_tok, late = h.sign_up(self.http, "lpl")
        self.like(late_tok, t["id"])
        r2 = self.likers(t["id"], limit=4, cursor=r.json["next_cursor"])
        self.assertEqual([a["id"] for a in r2.json["items"]], want[4:8])
        self.assertEqual(self.liker_ids(t["id"])[0], late["id"])
        # An account's likes page the same way, newest first.
        tok, fan = h.sign_up(self.http, "lf")
        tweets = [self.tweet() for _ in range(5)]
        for x in tweets:
            self.like(tok, x["id"])
        pages = self.walk(API + "/accounts/%s/likes" % fan["id"], 2)
        self.assertEqual(sum(pages, []), [x["id"] for x in reversed(tweets)])
        self.assertEqual(pg_likes(t["id"]), (0, 0))

    def test_rebuild_keeps_pending_likes_and_drops_old_orphans(self):
        """The built flag expires (or Redis loses it): the rebuild from
        PostgreSQL keeps the likes a batcher may still hold, and drops a
        like Redis has for hours that PostgreSQL never got (a gateway died
        between its Redis change and its publish)."""
        t = self.tweet()
        tok, u = h.sign_up(self.http, "lk")
        _, ghost = h.sign_up(self.http, "lg")
        self.like(tok, t["id"])
        tid, gid = h.id_literal(t["id"]), h.id_literal(ghost["id"])
        # The orphan: liked in Redis three hours ago, never published.
        old = ((int(time.time() * 1000) - 3 * 3600 * 1000 - 1704067200000) << 22) + 1
        h.redis_cmd("SADD", "chirp:lk:{%s}" % tid, gid)
        h.redis_cmd("ZADD", "chirp:lko:{%s}" % tid, "0", "%019d:%s" % (old, gid))
        h.redis_cmd("HSET", "chirp:lkv:{%s}" % tid, gid, str(old))
        self.assertEqual(self.liker_ids(t["id"]), [u["id"], ghost["id"]])
        self.assertGreater(h.redis_cmd("TTL", "chirp:lkok:{%s}" % tid), 3600,
                           "the built flag expires, and not soon")
        h.redis_cmd("DEL", "chirp:lkok:{%s}" % tid)  # as if it expired
        self.assertEqual(self.liker_ids(t["id"]), [u["id"]])
        r = self.http.get(API + "/tweets/%s" % t["id"], token=tok)
        self.assertEqual((r.json["like_count"], r.json["liked_by_me"]), (1, True), r.json)
        # The same for an account's own likes.
        uid = h.id_literal(u["id"])
        h.redis_cmd("DEL", "chirp:alok:{%s}" % uid)
        self.assertEqual(self.liked_ids(u["id"]), [t["id"]])
        self.assertEqual(pg_likes(t["id"]), (0, 0), "the batcher flushed: the test proves nothing")

    def test_bad_cursor_is_400(self):
        t = self.tweet()
        r = self.http.get(API + "/tweets/%s/likes" % t["id"], query={"cursor": "nonsense"})
        self.assertStatus(r, 400)


class Converge(Base):
    """The batcher flushes within half a second here."""

    ENV = dict(NO_RATE_LIMITS, CHIRP_LIKES_FLUSH_AGE_MS="500", CHIRP_PUBLISH_TIMEOUT_MS="500")

    def test_list_rebuilt_after_redis_lost_it(self):
        t = self.tweet()
        users = [h.sign_up(self.http, "lr%d" % i) for i in range(3)]
        for tok, _ in users:
            self.like(tok, t["id"])
        h.wait_until(lambda: pg_likes(t["id"]) == (3, 3), PG_WAIT, 0.05, "the likes flushed")
        tid = h.id_literal(t["id"])
        h.redis_cmd("DEL", "chirp:lk:{%s}" % tid, "chirp:lkok:{%s}" % tid, "chirp:lko:{%s}" % tid,
                    "chirp:lkv:{%s}" % tid)
        for _, a in users:
            aid = h.id_literal(a["id"])
            h.redis_cmd("DEL", "chirp:al:{%s}" % aid, "chirp:alok:{%s}" % aid, "chirp:alv:{%s}" % aid)
        self.assertEqual(self.liker_ids(t["id"]), [a["id"] for _, a in reversed(users)])
        self.assertEqual(self.liked_ids(users[0][1]["id"]), [t["id"]])

    def broker_paused(self):
        """A context in which the test stack's broker is SIGSTOPped."""
        top = os.path.dirname(os.path.dirname(os.path.abspath(h.stack_sh())))
        with open(os.path.join(top, "var", "test", "rabbit", "rabbit.pid")) as f:
            pid = int(f.read().split()[0])
        test = self

        class Paused:
            def __enter__(self):
                os.kill(pid, signal.SIGSTOP)
                test.addCleanup(lambda: os.kill(pid, signal.SIGCONT))

            def __exit__(self, *exc):
                os.kill(pid, signal.SIGCONT)
        return Paused()

    def state(self, tweet_id, token, user_id):
        """What Redis shows (liked_by_me, like_count, in the likers list,
        in the user's likes) and what PostgreSQL holds (liked, count)."""
        r = self.http.get(API + "/tweets/%s" % tweet_id, token=token)
        self.assertStatus(r, 200)
        return ((r.json["liked_by_me"], r.json["like_count"], user_id in self.liker_ids(tweet_id),
                 tweet_id in self.liked_ids(user_id)),
                (pg_liked(tweet_id, user_id), pg_likes(tweet_id)[0]))

    def test_ambiguous_like_then_delivered_converges(self):
        t = self.tweet()
        tok, u = h.sign_up(self.http, "la")
        with self.broker_paused():
            # The publish reaches the socket, the confirm cannot come back.
            r = self.http.post(API + "/tweets/%s/like" % t["id"], token=tok)
            self.assertStatus(r, 503)
            # Taken back in Redis meanwhile.
            self.assertEqual(self.state(t["id"], tok, u["id"])[0], (False, 0, False, False))
        # The broker resumes and delivers the like after all: both sides
        # end liked.
        h.wait_until(lambda: pg_liked(t["id"], u["id"]), PG_WAIT, 0.05, "the delivered like flushed")
        h.wait_until(lambda: self.state(t["id"], tok, u["id"]) ==
                     ((True, 1, True, True), (True, 1)), 10, 0.05,
                     "Redis to agree with PostgreSQL (%r)" % (self.state(t["id"], tok, u["id"]),))
        # And the user can unlike it normally.
        self.unlike(tok, t["id"])
        h.wait_until(lambda: self.state(t["id"], tok, u["id"]) ==
                     ((False, 0, False, False), (False, 0)), PG_WAIT, 0.05, "the unlike applied")

    def test_ambiguous_unlike_then_delivered_converges(self):
        t = self.tweet()
        tok, u = h.sign_up(self.http, "lb")
        self.like(tok, t["id"])
        h.wait_until(lambda: pg_liked(t["id"], u["id"]), PG_WAIT, 0.05, "the like flushed")
        with self.broker_paused():
            r = self.http.delete(API + "/tweets/%s/like" % t["id"], token=tok)
            self.assertStatus(r, 503)
            uid = h.id_literal(u["id"])
            self.assertEqual(self.state(t["id"], tok, u["id"])[0], (True, 1, True, True), (
                h.redis_cmd("ZRANGE", "chirp:al:{%s}" % uid, 0, -1),
                h.redis_cmd("HGETALL", "chirp:alv:{%s}" % uid),
                h.redis_cmd("GET", "chirp:alok:{%s}" % uid)))
        h.wait_until(lambda: not pg_liked(t["id"], u["id"]), PG_WAIT, 0.05,
                     "the delivered unlike flushed")
        h.wait_until(lambda: self.state(t["id"], tok, u["id"]) ==
                     ((False, 0, False, False), (False, 0)), 10, 0.05,
                     "Redis to agree with PostgreSQL (%r)" % (self.state(t["id"], tok, u["id"]),))
        self.like(tok, t["id"])
        h.wait_until(lambda: self.state(t["id"], tok, u["id"]) ==
                     ((True, 1, True, True), (True, 1)), PG_WAIT, 0.05, "the like applied")

    # ---- one query per page ----

    def queries(self):
        return h.metrics(self.http)["chirp_db_queries_total"]

    def test_likers_and_notifications_cost_constant_statements(self):
        t = self.tweet()
        users = h.sign_up_many(self.stack.port, 20, "lq", threads=4)
        for tok, _ in users:
            self.like(tok, t["id"])
        h.wait_until(lambda: pg_likes(t["id"]) == (20, 20), PG_WAIT, 0.05, "the likes flushed")
        h.wait_until(lambda: h.sql_int(
            "SELECT count(*) FROM notifications WHERE recipient = %s AND type = 'like' AND "
            "tweet_id = %s" % (h.id_literal(self.author["id"]), h.id_literal(t["id"]))) == 20,
            PG_WAIT, 0.05, "20 like notifications")
        for _, a in users:
            h.evict_account(a["id"])
        before = self.queries()
        r = self.likers(t["id"], limit=20)
        used = self.queries() - before
        self.assertEqual(len(r.json["items"]), 20)
        self.assertEqual({a["id"] for a in r.json["items"]}, {a["id"] for _, a in users})
        self.assertLessEqual(used, 3, "statements for one likers page of 20 (cold cache)")

        for _, a in users:
            h.evict_account(a["id"])
        h.evict_tweet(t["id"])
        before = self.queries()
        r = self.http.get(API + "/notifications", token=self.author_token, query={"limit": 20})
        used = self.queries() - before
        self.assertStatus(r, 200)
        items = r.json["items"]
        self.assertEqual(len(items), 20)
        by_id = {a["id"]: a for _, a in users}
        for n in items:
            self.assertEqual(n["type"], "like")
            self.assertEqual(n["actor"]["username"], by_id[n["actor"]["id"]]["username"], n)
            self.assertEqual(n["tweet"]["id"], t["id"], n)
            self.assertEqual(n["tweet"]["like_count"], 20, n)
        self.assertLessEqual(used, 8, "statements for one notifications page of 20 (cold cache)")

        # A page of tweets by many authors whose cards are not cached: one
        # query for the authors, not one each.
        writers = h.sign_up_many(self.stack.port, 8, "lw", threads=4)
        fan_tok, fan = h.sign_up(self.http, "lfan")
        for tok, _ in writers:
            x = h.post_tweet(self.http, tok, "by many")
            h.wait_until(lambda x=x: self.http.get(API + "/tweets/%s" % x["id"]).status == 200, 15,
                         0.05, "the tweet stored")
            self.like(fan_tok, x["id"])
        for _, a in writers:
            h.evict_account(a["id"])
        before = self.queries()
        r = self.http.get(API + "/accounts/%s/likes" % fan["id"], query={"limit": 20})
        used = self.queries() - before
        self.assertStatus(r, 200)
        self.assertEqual({x["author"]["id"] for x in r.json["items"]}, {a["id"] for _, a in writers})
        self.assertLessEqual(used, 2, "statements for a page of 8 tweets by 8 uncached authors")
        # The same with the tweets themselves not cached either.
        ids = [x["id"] for x in r.json["items"]]
        for _, a in writers:
            h.evict_account(a["id"])
        for i in ids:
            h.evict_tweet(i)
        before = self.queries()
        r = self.http.get(API + "/accounts/%s/likes" % fan["id"], query={"limit": 20})
        used = self.queries() - before
        self.assertEqual([x["id"] for x in r.json["items"]], ids)
        self.assertLessEqual(used, 2, "statements for a page of 8 uncached tweets by 8 uncached authors")


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2)
