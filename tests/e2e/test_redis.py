#!/usr/bin/env python3
"""End-to-end: the gateway's Redis connections.

- A fresh gateway (new process, Redis's script cache flushed) answers its
  first feed page with every item's own author and numbers: no synchronous
  Redis call (SCRIPT LOAD) runs on a connection with pipelined reads queued.
- CHIRP_REDIS_URL credentials: a private redis-server with requirepass and
  an ACL user; the gateway works with redis://user:pass@host:port/db and
  with a password only, writes into the database the URL names, and says
  Redis is down at /readyz with a wrong password.  A malformed URL stops
  the gateway with a precise message that does not repeat the password.
- The rate limiter fails open when Redis is unreachable, but counts it at
  /metrics (chirp_rate_limit_fail_open_total) and warns in the log at most
  every 10 s, not once per request.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

API = h.API
NO_RATE_LIMITS = {"CHIRP_RATE_LOGIN": "100000000", "CHIRP_RATE_WRITE": "100000000",
                  "CHIRP_RATE_READ": "100000000"}


class FreshGatewayAuthors(h.StackTestCase):
    """The first hydrated page of a gateway that just started."""

    ENV = NO_RATE_LIMITS
    ROLES = ("persist", "fanout")

    def test_first_feed_page_after_start_has_right_authors(self):
        tv, viewer = h.sign_up(self.http, "fv")
        authors = [h.sign_up(self.http, "fa%d" % i) for i in range(3)]
        for _, a in authors:
            r = self.http.post(API + "/accounts/%s/follow" % a["id"], token=tv)
            self.assertIn(r.status, (200, 202), r)
        for _, a in authors:
            h.wait_until(lambda a=a: h.psql(
                "SELECT active FROM follows WHERE follower_id = %s AND followee_id = %s" % (
                    h.id_literal(viewer["id"]), h.id_literal(a["id"]))) == "t", 15, 0.05,
                "the follow of %s applied" % a["username"])
        posted = {}
        for k in range(2):
            for tok, a in authors:
                t = h.post_tweet(self.http, tok, "tweet %d of %s" % (k, a["username"]))
                posted[t["id"]] = a

        def feed_ids():
            r = self.http.get(API + "/feed?limit=20", token=tv)
            return [i["id"] for i in r.json["items"]] if r.status == 200 else []
        h.wait_until(lambda: set(feed_ids()) >= set(posted), 20, 0.1, "the tweets in the feed")
        # The authors' cards are in Redis now (the read above filled them):
        # their replies are the ones a shifted pipeline would hand around.
        for _, a in authors:
            self.assertIsNotNone(h.redis_cmd("GET", "chirp:a:{%s}" % h.id_literal(a["id"])))

        for attempt in range(2):
            # A new gateway process, and Redis forgetting every script.
            msg = self.stack.gateway.stop()
            self.assertIsNone(msg, msg)
            self.assertIn(h.redis_cmd("SCRIPT", "FLUSH"), ("OK", b"OK"))
            self.stack.start_gateway()
            http = self.stack.client()
            r = http.get(API + "/feed?limit=20", token=tv)
            self.assertStatus(r, 200)
            items = [i for i in r.json["items"] if i["id"] in posted]
            self.assertEqual(len(items), len(posted), r.json)
            for item in items:
                want = posted[item["id"]]
                self.assertEqual(item["author_id"], want["id"], item)
                self.assertEqual(item["author"]["id"], want["id"], item)
                self.assertEqual(item["author"]["username"], want["username"], item)
                self.assertEqual((item["like_count"], item["comment_count"], item["liked_by_me"]),
                                 (0, 0, False), item)
            # The next page of the same gateway is right too.
            r2 = http.get(API + "/feed?limit=2", token=tv)
            self.assertStatus(r2, 200)
            for item in r2.json["items"]:
                self.assertEqual(item["author"]["id"], item["author_id"], item)


def redis_server_bin():
    return shutil.which("redis-server") or "/usr/bin/redis-server"


class PrivateRedis:
    """A throw-away redis-server with a password for the default user and an
    ACL user, on a free port."""

    MASTER = "m4ster pw"
    USER, USER_PW = "chirpacl", "acl-pw:with@odd/chars"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="chirp-redis-auth-")
        self.port = h.free_port()
        conf = os.path.join(self.dir, "redis.conf")
        with open(conf, "w") as f:
            f.write('port %d\nbind 127.0.0.1\ndir %s\nsave ""\nappendonly no\n'
                    'requirepass "%s"\nuser %s on >%s ~* &* +@all\n'
                    % (self.port, self.dir, self.MASTER, self.USER, self.USER_PW))
        self.p = subprocess.Popen([redis_server_bin(), conf], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        h.wait_until(lambda: self.cli("PING") == "PONG", 10, 0.05, "the private redis-server")

    def cli(self, *args, db=0):
        out = subprocess.run(["redis-cli", "-p", str(self.port), "--user", self.USER, "--pass",
                              self.USER_PW, "--no-auth-warning", "-n", str(db)] + list(args),
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip()

    def stop(self):
        self.p.terminate()
        self.p.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def quote(s):
    from urllib.parse import quote as q
    return q(s, safe="")


def start_gateway(name, env_extra):
    port = h.free_port()
    env = h.stack_env()
    env.update(NO_RATE_LIMITS)
    env.update(env_extra)
    env.update({"CHIRP_HTTP_PORT": str(port), "CHIRP_HTTP_BIND": "127.0.0.1"})
    g = h.Proc("%s-gateway-%d" % (name, port), [h.gateway_bin()], env).start()
    return g, h.Client(port, timeout=10)


def wait_readyz(g, c, timeout=15):
    """/readyz of the gateway once its broker and PostgreSQL checks are up
    (the publisher connects in the background after start-up), so that what
    it says of Redis is what the test looks at."""
    out = []

    def settled():
        r = wait_answer(g, c, "/readyz", timeout)
        out.append(r)
        checks = (r.json or {}).get("checks", {})
        return checks.get("rabbitmq") == "up" and checks.get("postgres") == "up"
    h.wait_until(settled, timeout, 0.05, "/readyz of %s with its broker and PostgreSQL up" % g.name)
    return out[-1]


def wait_answer(g, c, path, timeout=15):
    """The first answer of the gateway to GET path (it may still be starting)."""
    out = []

    def answered():
        if not g.alive():
            raise AssertionError("%s exited: %s" % (g.name, h.tail(g.log)))
        try:
            out.append(c.get(path))
            return True
        except OSError:
            return False
    h.wait_until(answered, timeout, 0.05, "an answer from %s" % g.name)
    return out[-1]


class RedisCredentials(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = PrivateRedis()

    @classmethod
    def tearDownClass(cls):
        cls.redis.stop()

    def run_gateway(self, url):
        g, c = start_gateway("redis-auth", {"CHIRP_REDIS_URL": url})
        self.addCleanup(lambda: self.assertIsNone(g.stop()))
        return g, c

    def test_acl_user_and_database_from_the_url(self):
        r = self.redis
        g, c = self.run_gateway("redis://%s:%s@127.0.0.1:%d/2" % (
            quote(r.USER), quote(r.USER_PW), r.port))
        ready = wait_readyz(g, c)
        self.assertEqual(ready.status, 200, ready)
        self.assertEqual(ready.json["checks"]["redis"], "up", ready)
        token, acct = h.sign_up(c, "ra")
        got = c.get(API + "/accounts/%s" % acct["id"], token=token)
        self.assertEqual(got.status, 200, got)
        # Its writes went to database 2 of this server (rate-limit counters
        # and the account's cache entry), none to database 0.
        self.assertNotEqual(r.cli("KEYS", "chirp:rl:*", db=2), "")
        self.assertEqual(r.cli("KEYS", "chirp:*", db=0), "")

    def test_password_only(self):
        r = self.redis
        g, c = self.run_gateway("redis://:%s@127.0.0.1:%d/1" % (quote(r.MASTER), r.port))
        ready = wait_readyz(g, c)
        self.assertEqual(ready.status, 200, ready)
        h.sign_up(c, "rp")
        self.assertNotEqual(r.cli("KEYS", "chirp:rl:*", db=1), "")

    def test_wrong_password_is_redis_down(self):
        r = self.redis
        for url in ("redis://%s:wrong@127.0.0.1:%d/0" % (r.USER, r.port),
                    "redis://:wrong@127.0.0.1:%d/0" % r.port,
                    "redis://127.0.0.1:%d/0" % r.port):  # no password at all
            g, c = self.run_gateway(url)
            ready = wait_readyz(g, c)
            self.assertEqual(ready.status, 503, (url, ready))
            self.assertEqual(ready.json["checks"]["redis"], "down", (url, ready))

    def test_bad_url_is_a_precise_start_up_error(self):
        for url, reason in (("redis://u:s3cretpw@h:99999/0", "port"),
                            ("redis://u:s3cretpw@h:1/zz", "database"),
                            ("rediss://h:1", "TLS")):
            g, _ = start_gateway("redis-badurl", {"CHIRP_REDIS_URL": url})
            g.p.wait(15)
            self.assertNotEqual(g.p.returncode, 0)
            with open(g.log, errors="replace") as f:
                log = f.read()
            self.assertIn("CHIRP_REDIS_URL", log)
            self.assertIn(reason, log)
            self.assertNotIn("s3cretpw", log)


class LimiterFailOpen(unittest.TestCase):
    def test_fail_open_is_counted_and_warned_once(self):
        dead = h.free_port()  # nothing listens there
        g, c = start_gateway("redis-failopen", {"CHIRP_REDIS_URL": "redis://127.0.0.1:%d/0" % dead,
                                                "CHIRP_RATE_READ": "5"})
        self.addCleanup(lambda: self.assertIsNone(g.stop()))
        ready = wait_readyz(g, c)
        self.assertEqual(ready.status, 503, ready)
        before = h.metrics(c).get("chirp_rate_limit_fail_open_total")
        self.assertEqual(before, 0.0)
        n = 12  # over the read budget of 5: a working limiter would refuse some
        for _ in range(n):
            r = c.get(API + "/tweets/1")
            self.assertNotEqual(r.status, 429, r)
        after = h.metrics(c)["chirp_rate_limit_fail_open_total"]
        self.assertEqual(after, n)
        time.sleep(0.2)
        with open(g.log, errors="replace") as f:
            warnings = [l for l in f if "rate limiter" in l and "unchecked" in l]
        self.assertEqual(len(warnings), 1, warnings)


if __name__ == "__main__":
    unittest.main(verbosity=2)
