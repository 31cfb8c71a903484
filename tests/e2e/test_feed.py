#!/usr/bin/env python3
"""End-to-end: the home feed GET /api/v1/feed against a real gateway, a
persist worker and a fan-out worker on the test stack.

  - followed accounts' and own tweets, newest first, hydrated with their
    author, within a short deadline;
  - unfollow stops new tweets and takes the old ones out; deleted tweets
    disappear (at once, even while the fan-out worker lags);
  - cursor paging stays exact (no duplicate, no skip) while tweets arrive;
  - Redis lost (FLUSHALL): the feed is rebuilt from PostgreSQL;
  - huge accounts (CHIRP_HUGE_THRESHOLD=3 here) merged at read time;
  - errors (401, 400 cursor, 422 limit).

The FLUSHALL tests wipe the test stack's Redis: run this file serially."""

import base64
import os
import subprocess
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

API = h.API
FEED_DEADLINE = 5.0    # a tweet reaches its followers' feeds within this
APPLY_TIMEOUT = 15.0   # a follow event is applied within this
PERSIST_TIMEOUT = 20.0
AUTHOR_KEYS = {"id", "username", "display_name", "avatar_url"}


def follows_active(follower, followee):
    return h.psql("SELECT active FROM follows WHERE follower_id = %s AND followee_id = %s"
                  % (h.id_literal(follower), h.id_literal(followee))) == "t"


def persisted(ids):
    """How many of the tweet ids are in PostgreSQL."""
    return h.sql_int("SELECT count(*) FROM tweets WHERE id = ANY('{%s}'::bigint[])"
                     % ",".join(h.id_literal(i) for i in ids))


def redis_flushall():
    """FLUSHALL on the test stack's Redis with redis-cli (port from
    CHIRP_REDIS_URL)."""
    u = urllib.parse.urlsplit(h.stack_env()["CHIRP_REDIS_URL"])
    r = subprocess.run(["redis-cli", "-h", u.hostname or "127.0.0.1", "-p", str(u.port or 6379),
                        "FLUSHALL"], capture_output=True, text=True, timeout=30)
    if r.returncode != 0 or r.stdout.strip() != "OK":
        raise AssertionError("redis-cli FLUSHALL failed (%d): %s %s" % (r.returncode, r.stdout,
                                                                       r.stderr))


def redis_list(key):
    return [x.decode() for x in h.redis_cmd("LRANGE", key, 0, -1)]


class FeedTestCase(h.StackTestCase):
    WORKERS = 1  # per role: one fan-out worker applies events in publish order

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Earlier tests may have left fan-out work queued: start from an idle queue.
        h.wait_fanout_idle(cls.http)

    # ---- helpers ----

    @classmethod
    def require_sole_consumers(cls, role):
        """Waits until only this test's workers consume the role's queue (the
        test stack may be shared): for tests that stop workers or run them
        with their own configuration."""
        h.wait_sole_consumers("chirp." + role,
                              len([w for w in cls.stack.workers_of(role) if w.alive()]), 60)

    def user(self, prefix="u"):
        token, acct = h.sign_up(self.http, prefix)
        return token, acct

    def follow(self, token, follower, followee, wait=True):
        r = self.http.post(API + "/accounts/%s/follow" % followee["id"], token=token)
        self.assertStatus(r, 202)
        if wait:
            h.wait_until(lambda: follows_active(follower["id"], followee["id"]), APPLY_TIMEOUT,
                         0.05, "%s follows %s (applied)" % (follower["username"],
                                                             followee["username"]))

    def unfollow(self, token, followee):
        r = self.http.delete(API + "/accounts/%s/follow" % followee["id"], token=token)
        self.assertStatus(r, 202)

    def post(self, token, text):
        return h.post_tweet(self.http, token, text)

    def feed(self, token, **query):
        r = self.http.get(API + "/feed", token=token, query=query or None)
        self.assertStatus(r, 200)
        self.assertTrue((r.header("Content-Type") or "").startswith("application/json"), r)
        self.assertEqual(set(r.json), {"items", "next_cursor"}, r)
        return r

    def feed_ids(self, token):
        """The ids of the first 100 items."""
        return [t["id"] for t in self.feed(token, limit=100).json["items"]]

    def wait_feed(self, token, expected, timeout=FEED_DEADLINE, what="the feed"):
        """Polls the first page (limit 100) until its ids are exactly
        expected (newest first); returns the items."""
        expected = list(expected)
        last = [None]

        def check():
            r = self.feed(token, limit=100)
            last[0] = [t["id"] for t in r.json["items"]]
            return r.json["items"] if last[0] == expected else None

        try:
            return h.wait_until(check, timeout, 0.05, what)
        except AssertionError as e:
            raise AssertionError("%s\n  want %s\n  have %s" % (e, expected, last[0])) from None

    def walk(self, token, limit, between_pages=None):
        """Pages through the feed following the Link header; checks the
        cursor/Link contract of every page; returns the pages (lists of
        items)."""
        pages = []
        r = self.feed(token, limit=limit)
        for _ in range(1000):
            pages.append(r.json["items"])
            nxt, link = r.json["next_cursor"], r.header("Link")
            if nxt is None:
                self.assertIsNone(link, "the last page has no Link header: %r" % r)
                return pages
            self.assertEqual(len(r.json["items"]), limit, "a page with a next cursor is full")
            self.assertIsNotNone(link, "a page with a next cursor has a Link header")
            self.assertRegex(link, r'^<[^>]+>; rel="next"$')
            url = urllib.parse.urlsplit(link[1:link.index(">")])
            self.assertEqual(url.path, API + "/feed")
            self.assertEqual(urllib.parse.parse_qs(url.query),
                             {"limit": [str(limit)], "cursor": [nxt]})
            if between_pages:
                between_pages(len(pages))
            r = self.http.get(url.path + "?" + url.query, token=token)
            self.assertStatus(r, 200)
        self.fail("more than 1000 pages")

    def walk_ids(self, token, limit):
        return [t["id"] for p in self.walk(token, limit) for t in p]

    def check_item(self, item, tweet, author):
        """item is tweet, hydrated with author's public fields."""
        self.assertEqual(item["id"], tweet["id"])
        self.assertEqual(item["text"], tweet["text"])
        self.assertEqual(item["author_id"], author["id"])
        self.assertIsInstance(item.get("author"), dict, item)
        self.assertEqual(set(item["author"]), AUTHOR_KEYS, item)
        self.assertEqual(item["author"], {k: author[k] for k in AUTHOR_KEYS})
        # The item is the tweet as GET /tweets/{id} shows it, plus its author.
        g = self.http.get(API + "/tweets/" + tweet["id"])
        self.assertStatus(g, 200)
        for k, v in g.json.items():
            self.assertEqual(item.get(k), v, "feed item and GET /tweets differ in %r" % k)

    def wait_persisted(self, ids):
        h.wait_until(lambda: persisted(ids) == len(ids), PERSIST_TIMEOUT, 0.05,
                     "%d tweets persisted" % len(ids))


class Feed(FeedTestCase):

    def test_followed_and_own_tweets_newest_first_hydrated(self):
        ta, a = self.user("fa")
        tb, b = self.user("fb")
        tc, c = self.user("fc")
        r = self.http.patch(API + "/accounts/me", {"display_name": "Bee \u00e9",
                                                   "avatar_url": "https://example.com/b.png"},
                            token=tb)
        self.assertStatus(r, 200)
        b = r.json
        # A tweet from before the follow shows up once A follows B.
        b0 = self.post(tb, "b0 before the follow")
        self.wait_persisted([b0["id"]])
        self.follow(ta, a, b)
        self.follow(ta, a, c)
        self.wait_feed(ta, [b0["id"]], what="B's earlier tweet merged into A's feed on follow")

        b1 = self.post(tb, "b1")
        c1 = self.post(tc, "c1")
        a1 = self.post(ta, "a1 (own)")
        b2 = self.post(tb, "b2")
        t_last = time.monotonic()
        c2 = self.post(tc, "c2 \U0001F426")
        want = [c2, b2, a1, c1, b1, b0]
        items = self.wait_feed(ta, [t["id"] for t in want], what="A's feed")
        print("feed: the last tweet arrived %.3f s after its 202"
              % (time.monotonic() - t_last), file=sys.stderr)
        authors = {b["id"]: b, c["id"]: c, a["id"]: a}
        for item, t in zip(items, want):
            self.check_item(item, t, authors[t["author_id"]])
        self.assertEqual(items[0]["author"]["display_name"], "")
        self.assertEqual(items[1]["author"]["display_name"], "Bee \u00e9")
        self.assertEqual(items[1]["author"]["avatar_url"], "https://example.com/b.png")
        # The others follow nobody: their feeds hold their own tweets only.
        self.wait_feed(tb, [b2["id"], b1["id"], b0["id"]], what="B's feed")
        self.wait_feed(tc, [c2["id"], c1["id"]], what="C's feed")
        # Authors are hydrated at read time: a new display name shows at once.
        r = self.http.patch(API + "/accounts/me", {"display_name": "C renamed"}, token=tc)
        self.assertStatus(r, 200)
        items = self.feed(ta, limit=100).json["items"]
        self.assertEqual(items[0]["author"]["display_name"], "C renamed")
        self.assertEqual(items[3]["author"]["display_name"], "C renamed")
        self.assertEqual(items[2]["author"]["username"], a["username"])

    def test_empty_feed(self):
        t, _ = self.user("fe")
        r = self.feed(t)
        self.assertEqual(r.json, {"items": [], "next_cursor": None})
        self.assertIsNone(r.header("Link"))

    def test_own_tweets_without_follows(self):
        t, a = self.user("fo")
        ids = [self.post(t, "own %d" % i)["id"] for i in range(3)]
        self.wait_feed(t, ids[::-1])

    def test_unfollow_stops_new_tweets_and_removes_old_ones(self):
        ta, a = self.user("ua")
        tb, b = self.user("ub")
        tc, c = self.user("uc")
        self.follow(ta, a, b)
        self.follow(ta, a, c)
        b1 = self.post(tb, "b1")
        c1 = self.post(tc, "c1")
        c2 = self.post(tc, "c2")
        self.wait_feed(ta, [c2["id"], c1["id"], b1["id"]])
        self.wait_persisted([b1["id"], c1["id"], c2["id"]])
        self.unfollow(ta, c)
        self.wait_feed(ta, [b1["id"]], what="C's tweets to leave A's feed after the unfollow")
        c3 = self.post(tc, "c3 after the unfollow")
        b2 = self.post(tb, "b2 after the unfollow")
        # b2 was published after c3 and one fan-out worker applies events in
        # order: once b2 is in, c3 was fanned out (to C only).
        self.wait_feed(ta, [b2["id"], b1["id"]], what="A's feed after C's and B's new tweets")
        self.wait_feed(tc, [c3["id"], c2["id"], c1["id"]], what="C's own feed")
        self.assertNotIn(c3["id"], self.walk_ids(ta, 1))
        # B is unaffected; C's followers list no longer has A.
        self.assertEqual(self.http.get(API + "/accounts/%s/followers" % c["id"]).json["items"], [])

    def test_deleted_tweet_disappears(self):
        ta, a = self.user("da")
        tb, b = self.user("db")
        self.follow(ta, a, b)
        ids = [self.post(tb, "d%d" % i)["id"] for i in range(3)]
        self.wait_feed(ta, ids[::-1])
        r = self.http.delete(API + "/tweets/" + ids[1], token=tb)
        self.assertStatus(r, 202)
        self.wait_feed(ta, [ids[2], ids[0]], what="the deleted tweet to leave A's feed")
        self.assertEqual(self.walk_ids(ta, 1), [ids[2], ids[0]])
        self.wait_feed(tb, [ids[2], ids[0]], what="the deleted tweet to leave B's own feed")
        # ... and the fan-out took it out of the Redis list too (not only hidden).
        h.wait_until(lambda: ids[1] not in redis_list("chirp:f:{%s}" % a["id"]), FEED_DEADLINE,
                     0.05, "the deleted id out of A's feed list")

    def test_deleted_tweets_hidden_at_once_and_pages_stay_full(self):
        """While the fan-out worker lags (stopped), deleted tweets are still
        in the feed lists: reads skip them and pages stay full and exact."""
        self.require_sole_consumers("fanout")
        ta, a = self.user("ha")
        tb, b = self.user("hb")
        self.follow(ta, a, b)
        ids = [self.post(tb, "t%d" % i)["id"] for i in range(1, 9)]  # t1..t8
        self.wait_feed(ta, ids[::-1])
        fanout = self.stack.workers_of("fanout")[0]
        os.kill(fanout.pid, 19)  # SIGSTOP
        self.addCleanup(lambda: fanout.alive() and os.kill(fanout.pid, 18))  # SIGCONT
        try:
            for i in (7, 5, 4, 2):
                self.assertStatus(self.http.delete(API + "/tweets/" + ids[i - 1], token=tb), 202)
            live = [ids[i - 1] for i in (8, 6, 3, 1)]
            # Still in the list (nobody took them out yet) ...
            self.assertIn(ids[6], redis_list("chirp:f:{%s}" % a["id"]))
            # ... but never shown.
            self.assertEqual(self.feed_ids(ta), live)
            pages = self.walk(ta, 2)
            self.assertEqual([[t["id"] for t in p] for p in pages], [live[:2], live[2:]])
            pages = self.walk(ta, 3)
            self.assertEqual([[t["id"] for t in p] for p in pages], [live[:3], live[3:]])
            self.assertEqual(self.walk_ids(ta, 1), live)
        finally:
            os.kill(fanout.pid, 18)  # SIGCONT
        self.wait_feed(ta, live)
        h.wait_until(lambda: not set(ids) - set(live) & set(redis_list("chirp:f:{%s}" % a["id"])),
                     FEED_DEADLINE, 0.05, "the deleted ids out of A's feed list")

    def test_paging_exact_while_tweets_arrive(self):
        ta, a = self.user("pa")
        authors = [self.user("pb%d" % i) for i in range(3)]
        for tok, acct in authors:
            self.follow(ta, a, acct)
        # 45 tweets, posted by the three authors at the same time.
        lock = threading.Lock()
        orig, failures = [], []

        def post_n(tok, n, label, sink, pause=0.0):
            c = h.Client(self.stack.port, keepalive=True)
            try:
                for i in range(n):
                    try:
                        r = c.post(API + "/tweets", {"text": "%s %d" % (label, i)}, token=tok)
                        with lock:
                            (sink.append(r.json["id"]) if r.status == 202
                             else failures.append(r))
                    except Exception as e:  # noqa: BLE001 - asserted below
                        with lock:
                            failures.append(e)
                    if pause:
                        time.sleep(pause)
            finally:
                c.close()

        threads = [threading.Thread(target=post_n, args=(tok, 15, "old %d" % k, orig))
                   for k, (tok, _) in enumerate(authors)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(failures, [])
        self.assertEqual(len(orig), 45)
        orig_desc = sorted(orig, key=int, reverse=True)
        self.wait_feed(ta, orig_desc, what="A's feed with the 45 tweets")

        # Now 20 more arrive while A pages 10 at a time.
        new = []

        def post_new():
            for i in range(20):
                post_n(authors[i % 3][0], 1, "new %d" % i, new, pause=0.03)

        poster = threading.Thread(target=post_new)
        poster.start()
        try:
            h.wait_until(lambda: len(new) >= 2, 10, 0.01, "the first new tweets")

            def between_pages(n_done):
                # Let a few more tweets land between the pages.
                target = min(20, len(new) + 3)
                h.wait_until(lambda: len(new) >= target or not poster.is_alive(), 10, 0.01,
                             "more new tweets")

            pages = self.walk(ta, 10, between_pages)
        finally:
            poster.join(60)
        self.assertEqual(failures, [])
        self.assertEqual(len(new), 20)
        seen = [t["id"] for p in pages for t in p]
        self.assertEqual(len(seen), len(set(seen)), "an item was shown twice")
        self.assertEqual([int(i) for i in seen], sorted((int(i) for i in seen), reverse=True),
                         "the pages are not in strictly decreasing id order")
        self.assertEqual([i for i in seen if i in set(orig)], orig_desc,
                         "every one of the 45 earlier tweets is shown exactly once, in order")
        extra = [i for i in seen if i not in set(orig)]
        self.assertTrue(set(extra) <= set(new), extra)
        self.assertTrue(all(int(i) > int(orig_desc[0]) for i in extra))
        print("paging: %d pages, %d of the new tweets on the first page"
              % (len(pages), len(extra)), file=sys.stderr)
        # In the end the new ones are on top.
        self.wait_feed(ta, sorted(orig + new, key=int, reverse=True))
        self.assertEqual(self.walk_ids(ta, 7), sorted(orig + new, key=int, reverse=True))

    def test_errors(self):
        ta, a = self.user("ea")
        tb, b = self.user("eb")
        tx, x = self.user("ex")
        self.follow(ta, a, b)
        self.follow(tx, x, b)  # b has two followers: its followers list has a cursor
        ids = [self.post(tb, "e%d" % i)["id"] for i in range(3)]
        self.wait_feed(ta, ids[::-1])
        self.assertError(self.http.get(API + "/feed"), 401, "unauthorized")
        self.assertError(self.http.get(API + "/feed", token="B" * 43), 401, "invalid_token")
        self.assertError(self.http.get(API + "/feed", query={"limit": "0"}), 401, "unauthorized")
        for limit in ("0", "-1", "abc", "2x", ""):
            with self.subTest(limit=limit):
                self.assertError(self.http.get(API + "/feed", token=ta, query={"limit": limit}),
                                 422, "invalid_field", "limit")
        # Cursors of other lists are foreign here, and malformed ones are 400.
        fr = self.http.get(API + "/accounts/%s/followers" % b["id"], query={"limit": 1})
        self.assertStatus(fr, 200)
        self.assertIsNotNone(fr.json["next_cursor"])
        tl = self.http.get(API + "/accounts/%s/tweets" % b["id"], query={"limit": 1})
        self.assertStatus(tl, 200)
        self.assertIsNotNone(tl.json["next_cursor"])

        def raw(s):
            return base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")

        bad = ["garbage!!", "%%%", "AAAA", fr.json["next_cursor"], tl.json["next_cursor"],
               raw("feed:abc"), raw("feed:"), raw("feed:-5"), raw("feedx:" + ids[1]),
               raw("fr:" + ids[1]), raw("feed:" + ids[1]) + "A" * 100]
        for cursor in bad:
            with self.subTest(cursor=cursor):
                self.assertError(self.http.get(API + "/feed", token=ta, query={"cursor": cursor}),
                                 400, "invalid_cursor", "cursor")
        # A feed cursor pages on (also one made the same way: "feed:<id>");
        # a limit above 100 is capped.
        r = self.feed(ta, limit=1)
        self.assertIsNotNone(r.json["next_cursor"])
        r2 = self.feed(ta, limit=1000, cursor=r.json["next_cursor"])
        self.assertEqual([t["id"] for t in r2.json["items"]], ids[::-1][1:])
        self.assertIsNone(r2.json["next_cursor"])
        r3 = self.feed(ta, cursor=raw("feed:" + ids[2]))
        self.assertEqual([t["id"] for t in r3.json["items"]], ids[::-1][1:])
        # ... and a feed cursor is foreign to the followers list.
        self.assertError(self.http.get(API + "/accounts/%s/followers" % b["id"], query={
            "cursor": r.json["next_cursor"]}), 400, "invalid_cursor", "cursor")


class FeedAfterRedisLoss(FeedTestCase):
    """Redis is a cache that can be lost: after FLUSHALL the feed is rebuilt
    from PostgreSQL ("a FLUSHALL costs latency, never data")."""

    def test_flushall_feed_rebuilt_from_postgresql(self):
        ta, a = self.user("ra")
        tb, b = self.user("rb")
        tc, c = self.user("rc")
        self.follow(ta, a, b)
        self.follow(ta, a, c)
        tweets = []
        for i in range(4):
            for tok in (tb, tc, ta):
                tweets.append(self.post(tok, "before the flush %d" % i))
        gone = tweets[4]  # one of C's, deleted before the flush
        self.assertStatus(self.http.delete(API + "/tweets/" + gone["id"], token=tc), 202)
        live = [t["id"] for t in tweets if t is not gone][::-1]
        self.wait_feed(ta, live)
        self.wait_persisted([t["id"] for t in tweets])
        h.wait_until(lambda: h.psql("SELECT deleted_at IS NOT NULL FROM tweets WHERE id = %s"
                                    % gone["id"]) == "t", PERSIST_TIMEOUT, 0.05,
                     "the delete persisted")
        before = self.walk(ta, 5)
        self.assertEqual([t["id"] for p in before for t in p], live)
        b_before = self.walk_ids(tb, 100)

        redis_flushall()
        self.assertEqual(h.redis_cmd("EXISTS", "chirp:f:{%s}" % a["id"]), 0)

        # The token still works (sessions live in PostgreSQL).
        r = self.http.get(API + "/sessions/current", token=ta)
        self.assertStatus(r, 200)
        # The same feed, page for page, item for item.
        after = self.walk(ta, 5)
        self.assertEqual(after, before)
        self.assertEqual(self.walk_ids(tb, 100), b_before)
        # The tweets are readable; the follow is still known (200, not 202).
        for t in tweets:
            if t is not gone:
                g = self.http.get(API + "/tweets/" + t["id"])
                self.assertStatus(g, 200)
                self.assertEqual(g.json["text"], t["text"])
        r = self.http.post(API + "/accounts/%s/follow" % b["id"], token=ta)
        self.assertStatus(r, 200)
        self.assertTrue(r.json["following"])
        self.assertEqual(self.http.get(API + "/accounts/%s" % b["id"]).json["followers_count"], 1)
        # New tweets after the flush arrive as before.
        n1 = self.post(tc, "after the flush")
        n2 = self.post(tb, "after the flush too")
        self.wait_feed(ta, [n2["id"], n1["id"]] + live, what="new tweets after the flush")
        self.wait_feed(tb, [n2["id"]] + b_before)

    def test_flushall_while_persist_lags_loses_no_tweet(self):
        """A tweet accepted (202) and already fanned out, but not yet in
        PostgreSQL when Redis is lost, must still reach the feeds once it is
        persisted, even if a reader rebuilt the feed meanwhile."""
        self.require_sole_consumers("persist")
        ta, a = self.user("la")
        tb, b = self.user("lb")
        self.follow(ta, a, b)
        t0 = self.post(tb, "persisted before")
        self.wait_feed(ta, [t0["id"]])
        self.wait_persisted([t0["id"]])
        persists = [w for w in self.stack.workers_of("persist") if w.alive()]
        self.assertTrue(persists)
        for w in persists:
            os.kill(w.pid, 19)  # SIGSTOP: the persist worker lags
        self.addCleanup(lambda: [os.kill(w.pid, 18) for w in persists if w.alive()])
        try:
            t1 = self.post(tb, "accepted while the persist worker lags")
            self.wait_feed(ta, [t1["id"], t0["id"]], what="t1 fanned out")
            # The fan-out worker commits the tweet to PostgreSQL before it
            # pushes it (docs/decisions.md), so a feed is never ahead of
            # PostgreSQL even while the persist worker lags.
            self.assertEqual(persisted([t1["id"]]), 1)
            redis_flushall()
            # A reader comes by while the tweet is still only in the queue.
            self.assertStatus(self.feed(ta, limit=100), 200)
            self.assertStatus(self.feed(tb, limit=100), 200)
        finally:
            for w in persists:
                os.kill(w.pid, 18)  # SIGCONT
        self.wait_persisted([t1["id"]])
        self.wait_feed(ta, [t1["id"], t0["id"]],
                       what="t1 in A's feed after it was persisted (Redis lost before)")
        self.wait_feed(tb, [t1["id"], t0["id"]],
                       what="t1 in B's own feed after it was persisted (Redis lost before)")


def pg_huge(account_id):
    return h.psql("SELECT huge FROM accounts WHERE id = %s" % h.id_literal(account_id)) == "t"


class HugeAccounts(FeedTestCase):
    """Accounts with more than CHIRP_HUGE_THRESHOLD (3 here) followers are not
    pushed to: their tweets are merged into feeds at read time."""

    ENV = {"CHIRP_HUGE_THRESHOLD": "3"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.require_sole_consumers("fanout")  # no worker with another threshold

    def users(self, n, prefix):
        return [self.user(prefix) for _ in range(n)]

    def expect(self, tweets):
        return [t["id"] for t in sorted(tweets, key=lambda t: int(t["id"]), reverse=True)]

    def check_feed(self, token, tweets, what):
        """The feed is exactly these tweets, newest first: on one page, and
        page by page (limits 1, 2 and 3)."""
        want = self.expect(tweets)
        items = self.wait_feed(token, want, what=what)
        for limit in (1, 2, 3):
            self.assertEqual(self.walk_ids(token, limit), want, "%s, limit %d" % (what, limit))
        return items

    def test_huge_account_tweets_merged_in_order_with_paging(self):
        th, hh = self.user("hh")
        tf1, f1 = self.user("hf")
        tf2, f2 = self.user("hg")
        xs = self.users(5, "hx")
        # Ordinary followees (at most 3 followers each, so never huge).
        for tok, x in xs[:3]:
            self.follow(tok, x, f1)
        for tok, x in xs[3:]:
            self.follow(tok, x, f2)
        # Three followers: H is still pushed to.
        for tok, x in xs[:3]:
            self.follow(tok, x, hh)
        self.assertFalse(pg_huge(hh["id"]))
        fa = self.post(tf1, "f1 a")
        ha = self.post(th, "h a (pushed)")
        ga = self.post(tf2, "f2 a")
        # The followers read their feeds (so the feeds are built in Redis).
        for tok, x in xs[:3]:
            self.check_feed(tok, [fa, ha], "feed of %s before H is huge" % x["username"])
        for tok, x in xs[3:]:
            self.check_feed(tok, [ga], "feed of %s before following H" % x["username"])
        # Two more followers: 5 > 3, H becomes huge.
        for tok, x in xs[3:]:
            self.follow(tok, x, hh)
        self.assertTrue(pg_huge(hh["id"]), "H has 5 followers > threshold 3: marked huge")
        hb = self.post(th, "h b")
        fb = self.post(tf1, "f1 b")
        hc = self.post(th, "h c")
        gb = self.post(tf2, "f2 b")
        hd = self.post(th, "h d")
        h_all = [ha, hb, hc, hd]
        for tok, x in xs[:3]:
            try:
                self.check_feed(tok, [fa, fb] + h_all, "feed of early follower %s (feed built "
                                "before H became huge)" % x["username"])
            except AssertionError as e:
                members = sorted(m.decode() for m in h.redis_cmd("SMEMBERS",
                                                                 "chirp:fh:{%s}" % x["id"]))
                raise AssertionError("%s\n  H = %s; the huge accounts this feed merges "
                                     "(chirp:fh:{%s}) = %s" % (e, hh["id"], x["id"], members))
        for tok, x in xs[3:]:
            self.check_feed(tok, [ga, gb] + h_all, "feed of late follower %s" % x["username"])
        self.check_feed(th, h_all, "H's own feed")
        # Merged at read time, not pushed: H's later tweets are in no
        # follower's Redis feed list.
        for _, x in xs:
            lst = redis_list("chirp:f:{%s}" % x["id"])
            self.assertFalse({hb["id"], hc["id"], hd["id"]} & set(lst),
                             "a huge account's tweet was pushed to %s" % x["username"])
        # Items are hydrated like any other.
        tok, x = xs[4]
        items = self.feed(tok, limit=100).json["items"]
        self.assertEqual(items[0]["id"], hd["id"])
        self.check_item(items[0], hd, hh)

    def test_new_follower_of_huge_account_sees_its_tweets(self):
        th, hh = self.user("nh")
        for tok, x in self.users(4, "nx"):
            self.follow(tok, x, hh)
        self.assertTrue(pg_huge(hh["id"]))
        old = [self.post(th, "old %d" % i) for i in range(3)]
        ty, y = self.user("ny")
        ty_own = self.post(ty, "y's own")
        self.check_feed(ty, [ty_own], "Y's feed before following H")
        self.follow(ty, y, hh)
        self.check_feed(ty, [ty_own] + old, "Y's feed after following huge H")
        new = self.post(th, "new")
        self.check_feed(ty, [ty_own, new] + old, "Y's feed after H posted again")

    def test_unfollowing_a_huge_account_removes_its_tweets(self):
        th, hh = self.user("uh")
        tx, x = self.user("ux")
        self.follow(tx, x, hh)
        pushed = self.post(th, "posted while H was small (pushed)")
        own = self.post(tx, "x's own")
        # (X's feed is not read yet, so that it is built only after H is huge.)
        h.wait_until(lambda: pushed["id"] in redis_list("chirp:f:{%s}" % x["id"]),
                     FEED_DEADLINE, 0.05, "H's tweet pushed into X's feed list")
        for tok, y in self.users(3, "uy"):
            self.follow(tok, y, hh)
        self.assertTrue(pg_huge(hh["id"]))
        merged = self.post(th, "posted once H is huge (merged)")
        self.check_feed(tx, [pushed, own, merged], "X's feed once H is huge")
        r = self.http.delete(API + "/accounts/%s/follow" % hh["id"], token=tx)
        self.assertStatus(r, 202)
        h.wait_until(lambda: not follows_active(x["id"], hh["id"]), APPLY_TIMEOUT, 0.05,
                     "the unfollow applied")
        self.check_feed(tx, [own], "X's feed after unfollowing huge H: none of H's tweets")

    def test_deleted_tweet_of_huge_account_disappears(self):
        th, hh = self.user("dh")
        xs = self.users(4, "dx")
        for tok, x in xs:
            self.follow(tok, x, hh)
        self.assertTrue(pg_huge(hh["id"]))
        ts = [self.post(th, "d %d" % i) for i in range(3)]
        for tok, x in xs:
            self.check_feed(tok, ts, "feed of %s" % x["username"])
        self.assertStatus(self.http.delete(API + "/tweets/" + ts[1]["id"], token=th), 202)
        for tok, x in xs:
            self.check_feed(tok, [ts[0], ts[2]], "feed of %s after the delete" % x["username"])
        h.wait_until(lambda: ts[1]["id"] not in redis_list("chirp:ut:{%s}" % hh["id"]),
                     FEED_DEADLINE, 0.05, "the deleted id out of H's timeline list")

    def test_flushall_with_huge_account(self):
        th, hh = self.user("fh")
        tf, f = self.user("ff")
        xs = self.users(4, "fx")
        for tok, x in xs:
            self.follow(tok, x, hh)
            self.follow(tok, x, f)
        self.assertTrue(pg_huge(hh["id"]))
        self.assertTrue(pg_huge(f["id"]))
        tn, n = self.user("fn")  # an ordinary followee
        tok0, x0 = xs[0]
        self.follow(tok0, x0, n)
        ts = []
        for i in range(3):
            ts += [self.post(th, "h %d" % i), self.post(tf, "f %d" % i), self.post(tn, "n %d" % i)]
        self.wait_persisted([t["id"] for t in ts])
        before = self.check_feed(tok0, ts, "X0's feed before the flush")
        redis_flushall()
        after = self.check_feed(tok0, ts, "X0's feed after the flush")
        self.assertEqual(after, before)
        nt = self.post(th, "h after the flush")
        self.check_feed(tok0, ts + [nt], "X0's feed with H's new tweet after the flush")
        tok1, x1 = xs[1]
        self.check_feed(tok1, [t for t in ts if t["author_id"] != n["id"]] + [nt],
                        "X1's feed after the flush")


class FeedCap(FeedTestCase):
    """The feed pages "endlessly".  The Redis list holds only the
    newest CHIRP_FEED_CAP ids (10 here); paging on must still reach older
    tweets of the followed accounts."""

    ENV = {"CHIRP_FEED_CAP": "10"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.require_sole_consumers("fanout")  # no worker with another cap

    def test_paging_goes_past_the_feed_cap(self):
        ta, a = self.user("ca")
        tb, b = self.user("cb")
        self.follow(ta, a, b)
        ids = [self.post(tb, "capped %d" % i)["id"] for i in range(25)]
        self.wait_persisted(ids)
        h.wait_until(lambda: [t["id"] for t in self.feed(ta, limit=10).json["items"]] ==
                     ids[::-1][:10], FEED_DEADLINE, 0.05, "the newest 10 on the first page")
        self.assertEqual(self.walk_ids(ta, 10), ids[::-1],
                         "paging on past the cap reaches every older tweet")


if __name__ == "__main__":
    h.main()
