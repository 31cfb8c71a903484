"""End-to-end: the objects a gateway holds in memory (tweets, authors, the
live numbers, sessions) are never stale after a change lands in Redis.

Two gateways on one Redis: changes go through one (or straight into Redis,
as another writer would), reads through the other, at once, many times.
Then the invalidation link of the gateways is killed (CLIENT KILL): a change
made while it was down must still be seen, so the local cache must have been
flushed and kept off until the link was back.
"""

import json
import time
import unittest

import chirp_harness as h
from chirp_harness import API

ROUNDS = 20


def subscribers():
    """Client ids of the gateways' invalidation connections."""
    out = h.redis_cmd("CLIENT", "LIST").decode()
    ids = []
    for line in out.splitlines():
        f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if f.get("name") == "chirp-gw-invalidate":
            ids.append(f["id"])
    return ids


class LocalCache(h.StackTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The reading gateway: no workers of its own.
        cls.reader_stack = h.Stack(cls.__name__ + "-reader", roles=()).start()
        cls.reader = cls.reader_stack.client()
        h.wait_until(lambda: h.metrics(cls.reader).get("chirp_local_cache_up") == 1, 10, 0.05,
                     "the reader's local cache is up")
        h.wait_until(lambda: h.metrics(cls.http).get("chirp_local_cache_up") == 1, 10, 0.05,
                     "the writer's local cache is up")

    @classmethod
    def tearDownClass(cls):
        try:
            cls.reader_stack.stop()
        finally:
            super().tearDownClass()

    def hits(self):
        return h.metrics(self.reader).get('chirp_local_cache_lookups_total{result="hit"}', 0)

    def warm(self, tid):
        """Reads tid through the reader until it answers from memory."""
        before = self.hits()
        for _ in range(3):
            r = self.reader.get(API + "/tweets/%s" % tid)
            self.assertStatus(r, 200)
        self.assertGreater(self.hits(), before, "the reader does not hold the tweet")
        return r.json

    def test_edit_seen_at_once_by_another_gateway(self):
        token, _ = h.sign_up(self.http, "lce")
        t = h.post_tweet(self.http, token, "version 0")
        self.warm(t["id"])
        for i in range(1, ROUNDS + 1):
            r = self.http.patch(API + "/tweets/%s" % t["id"], {"text": "version %d" % i}, token=token)
            self.assertStatus(r, 202)
            got = self.reader.get(API + "/tweets/%s" % t["id"])
            self.assertStatus(got, 200)
            self.assertEqual(got.json["text"], "version %d" % i, "stale after edit %d" % i)
            self.reader.get(API + "/tweets/%s" % t["id"])  # held again for the next round

    def test_write_straight_into_redis_seen_at_once(self):
        token, _ = h.sign_up(self.http, "lcr")
        t = h.post_tweet(self.http, token, "from the gateway")
        self.warm(t["id"])
        key = "chirp:t:{%s}" % h.id_literal(t["id"])
        for i in range(ROUNDS):
            j = json.loads(h.redis_cmd("HGET", key, "j"))
            j["text"] = "written in Redis %d" % i
            h.redis_cmd("HSET", key, "j", json.dumps(j, separators=(",", ":")))
            got = self.reader.get(API + "/tweets/%s" % t["id"])
            self.assertStatus(got, 200)
            self.assertEqual(got.json["text"], "written in Redis %d" % i)

    def test_delete_seen_at_once_by_another_gateway(self):
        token, _ = h.sign_up(self.http, "lcd")
        for _ in range(5):
            t = h.post_tweet(self.http, token, "soon gone")
            self.warm(t["id"])
            self.assertStatus(self.http.delete(API + "/tweets/%s" % t["id"], token=token), 202)
            self.assertError(self.reader.get(API + "/tweets/%s" % t["id"]), 404, "not_found", "id")

    def test_live_numbers_fresh(self):
        author, _ = h.sign_up(self.http, "lcn")
        fan, _ = h.sign_up(self.http, "lcf")
        t = h.post_tweet(self.http, author, "like me")
        self.warm(t["id"])
        path = API + "/tweets/%s" % t["id"]
        for _ in range(3):
            self.reader.get(path, token=fan)
        for want in (1, 0, 1, 0):
            if want:
                r = self.http.post(path + "/like", token=fan)
            else:
                r = self.http.delete(path + "/like", token=fan)
            self.assertIn(r.status, (200, 201, 202, 204), r)
            anon = self.reader.get(path)
            mine = self.reader.get(path, token=fan)
            self.assertEqual(anon.json["like_count"], want, anon)
            self.assertEqual(mine.json["like_count"], want, mine)
            self.assertEqual(mine.json["liked_by_me"], bool(want), mine)

    def test_feed_fresh_after_a_push(self):
        """A follower's feed page held by the reader shows a new tweet as soon
        as the fan-out put its id into the follower's Redis list, and an
        edited author name at once."""
        reader_token, reader = h.sign_up(self.http, "lcq")
        author_token, author = h.sign_up(self.http, "lca")
        r = self.http.post(API + "/accounts/%s/follow" % author["id"], token=reader_token)
        self.assertIn(r.status, (200, 202, 204), r)
        first = h.post_tweet(self.http, author_token, "first")
        feed_key = "chirp:f:{%s}" % h.id_literal(reader["id"])

        def in_redis(tid):
            return str(tid).encode() in (h.redis_cmd("LRANGE", feed_key, 0, -1) or [])

        h.wait_until(lambda: in_redis(first["id"]), 30, 0.02, "the first tweet fanned out")
        before = self.hits()
        for _ in range(3):
            page = self.reader.get(API + "/feed", token=reader_token)
            self.assertStatus(page, 200)
        self.assertGreater(self.hits(), before, "the reader does not hold the feed")
        for i in range(5):
            t = h.post_tweet(self.http, author_token, "push %d" % i)
            h.wait_until(lambda: in_redis(t["id"]), 30, 0.005, "tweet %d fanned out" % i)
            page = self.reader.get(API + "/feed", token=reader_token)
            self.assertStatus(page, 200)
            self.assertEqual(page.json["items"][0]["id"], t["id"], "stale feed after push %d" % i)
        name = "Renamed %d" % i
        r = self.http.patch(API + "/accounts/me", {"display_name": name}, token=author_token)
        self.assertIn(r.status, (200, 202), r)
        akey = "chirp:a:{%s}" % h.id_literal(author["id"])
        h.wait_until(lambda: name.encode() in (h.redis_cmd("GET", akey) or name.encode()), 30,
                     0.005, "the account change reached Redis")
        page = self.reader.get(API + "/feed", token=reader_token)
        self.assertEqual(page.json["items"][0]["author"]["display_name"], name, page)

    def test_logout_refused_at_once_by_another_gateway(self):
        token, _ = h.sign_up(self.http, "lcs")
        for _ in range(3):
            self.assertStatus(self.reader.get(API + "/feed", token=token), 200)
        before = self.hits()
        self.assertStatus(self.reader.get(API + "/feed", token=token), 200)
        self.assertGreater(self.hits(), before, "the reader does not hold the session")
        self.assertStatus(self.http.delete(API + "/sessions/current", token=token), 204)
        self.assertError(self.reader.get(API + "/feed", token=token), 401, "invalid_token")

    def test_flushed_while_the_invalidation_link_is_down(self):
        token, _ = h.sign_up(self.http, "lck")
        t = h.post_tweet(self.http, token, "before the cut")
        self.warm(t["id"])
        key = "chirp:t:{%s}" % h.id_literal(t["id"])
        flushes = h.metrics(self.reader).get("chirp_local_cache_flushes_total", 0)
        ids = subscribers()
        self.assertGreaterEqual(len(ids), 2, "no invalidation subscribers in CLIENT LIST")
        for cid in ids:
            h.redis_cmd("CLIENT", "KILL", "ID", cid)
        # Written while no invalidation can reach the gateways.
        j = json.loads(h.redis_cmd("HGET", key, "j"))
        j["text"] = "after the cut"
        h.redis_cmd("HSET", key, "j", json.dumps(j, separators=(",", ":")))
        h.wait_until(lambda: h.metrics(self.reader).get("chirp_local_cache_flushes_total", 0)
                     > flushes, 10, 0.02, "the reader flushed its local cache")
        got = self.reader.get(API + "/tweets/%s" % t["id"])
        self.assertStatus(got, 200)
        self.assertEqual(got.json["text"], "after the cut")
        # The link comes back, and with it the cache.
        h.wait_until(lambda: h.metrics(self.reader).get("chirp_local_cache_up") == 1, 10, 0.05,
                     "the reader's local cache is back")
        self.warm(t["id"])
        h.redis_cmd("HSET", key, "j", json.dumps(dict(j, text="after the return"),
                                                 separators=(",", ":")))
        got = self.reader.get(API + "/tweets/%s" % t["id"])
        self.assertEqual(got.json["text"], "after the return")


if __name__ == "__main__":
    h.main()
