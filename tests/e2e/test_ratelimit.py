#!/usr/bin/env python3
"""End-to-end: rate limits (gateway/guard.c).

Two gateways of their own (no workers: nothing here publishes) on the test
stack's Redis, with small budgets and a 5 s window:

- every /api/v1 answer carries X-RateLimit-Limit / -Remaining / -Reset;
- over budget: 429 rate_limited with an integer Retry-After (1..window);
- reads, writes and log-ins have separate budgets;
- the client is the account when a valid token was sent, else the address;
- the counters live in Redis, so both gateways share one budget;
- /healthz, /readyz and /metrics are never limited;
- the budget comes back when the window ends.

tests/run.sh exports huge CHIRP_RATE_* budgets for the rest of the suite; the
gateways here override them.  Everything that other gateways on the shared
stack do from 127.0.0.1 counts against the address 127.0.0.1 in the same
Redis, so the gateways here trust X-Forwarded-For (CHIRP_TRUST_FORWARDED=1)
and every request names an address unique to this run: anonymous budgets are
then ours alone.  Windows are fixed (the epoch second divided by the window),
so a test that must stay inside one window first waits for enough of it to
remain.
"""

import os
import random
import secrets
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

API = h.API
WINDOW = 5
READ, WRITE, LOGIN = 4, 3, 3
ENV = {"CHIRP_RATE_READ": str(READ), "CHIRP_RATE_WRITE": str(WRITE),
       "CHIRP_RATE_LOGIN": str(LOGIN), "CHIRP_RATE_WINDOW": str(WINDOW),
       "CHIRP_TRUST_FORWARDED": "1"}
PASSWORD = "correct horse 1"

_net = (random.randrange(1, 255), random.randrange(0, 255))
_host = iter(range(1, 100000))


# The /metrics parser is the harness's.
scrape = h.metrics


def new_ip():
    """A client address unique to this run (10.x.y.z)."""
    n = next(_host)
    return "10.%d.%d.%d" % (_net[0], (_net[1] + n // 250) % 256, n % 250 + 1)


def in_window(need=2.0):
    """Returns once at least `need` seconds of the current window remain
    (the gateway and we read the same clock)."""
    left = WINDOW - (time.time() % WINDOW)
    if left < need:
        time.sleep(left + 0.05)


class TwoGateways(h.StackTestCase):
    """A second gateway on the same Redis, with the same budgets (ENV)."""
    ROLES = ()  # nothing here publishes an event
    ENV = ENV

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack2 = h.Stack(cls.__name__ + "-2", env=dict(cls.ENV), roles=())
        try:
            cls.stack2.start()
        except BaseException:
            cls.stack.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.stack2.stop()
        finally:
            super().tearDownClass()


class RateLimits(TwoGateways):

    # ---- helpers ----

    def req(self, method, path, ip, stack=None, headers=None, **kw):
        hd = {"X-Forwarded-For": ip}
        hd.update(headers or {})
        return (stack or self.stack).client().request(method, path, headers=hd, **kw)

    def sign_up(self):
        """A fresh account, signed up from an address of its own (so the
        sign-up spends no budget a test looks at)."""
        name = h.unique("rl")
        r = self.req("POST", API + "/accounts", new_ip(),
                     body={"username": name, "email": "%s@example.com" % name.lower(),
                           "password": PASSWORD})
        self.assertStatus(r, 201)
        return r.json["token"], r.json["account"]

    def assertRateHeaders(self, r, limit, remaining=None):
        lim = r.header("X-RateLimit-Limit")
        rem = r.header("X-RateLimit-Remaining")
        rst = r.header("X-RateLimit-Reset")
        self.assertIsNotNone(lim, "no X-RateLimit-Limit on %r" % (r,))
        self.assertIsNotNone(rem, "no X-RateLimit-Remaining on %r" % (r,))
        self.assertIsNotNone(rst, "no X-RateLimit-Reset on %r" % (r,))
        self.assertEqual(int(lim), limit, r)
        if remaining is not None:
            self.assertEqual(int(rem), remaining, r)
        self.assertTrue(0 <= int(rem) <= limit, r)
        self.assertTrue(1 <= int(rst) <= WINDOW, "X-RateLimit-Reset %s not in 1..%d" % (rst, WINDOW))
        return int(rem)

    def assert429(self, r):
        self.assertError(r, 429, "rate_limited")
        ra = r.header("Retry-After")
        self.assertIsNotNone(ra, "429 without Retry-After: %r" % (r,))
        self.assertRegex(ra, r"^[0-9]+$", "Retry-After must be integer seconds")
        self.assertTrue(1 <= int(ra) <= WINDOW, "Retry-After %s not in 1..%d" % (ra, WINDOW))
        self.assertEqual(r.header("X-RateLimit-Remaining"), "0", r)
        return int(ra)

    # ---- tests ----

    def test_headers_on_every_answer(self):
        tok, acct = self.sign_up()
        ip = new_ip()
        in_window(3)
        cases = [
            # (method, path, token, body, limit, expected status)
            ("GET", API + "/sessions/current", tok, None, READ, 200),
            ("GET", API + "/accounts/%s" % acct["id"], None, None, READ, 200),
            ("GET", API + "/tweets/1", tok, None, READ, 404),          # the handler's 404
            ("GET", API + "/feed", tok, None, READ, 200),
            ("POST", API + "/tweets", tok, {"text": ""}, WRITE, 422),  # invalid: no event
            ("POST", API + "/notifications/read_all", tok, None, WRITE, 200),
            ("POST", API + "/sessions", None, {"login": acct["username"], "password": PASSWORD},
             LOGIN, 201),
        ]
        for method, path, token, body, limit, status in cases:
            with self.subTest(method=method, path=path):
                r = self.req(method, path, ip, token=token, body=body)
                self.assertStatus(r, status)
                self.assertRateHeaders(r, limit)

    def test_refused_requests_carry_headers_and_count(self):
        # "Every /api/v1 answer": also the ones refused before the handler
        # (no token, unknown token, bad body, unknown endpoint).  They are
        # work for the gateway too: an unknown token costs a PostgreSQL
        # lookup each time.
        tok, _ = self.sign_up()
        ip = new_ip()
        in_window(3)
        cases = [
            ("GET", API + "/feed", None, {}, 401),
            ("GET", API + "/feed", "no-such-token-" + h.RUN, {}, 401),
            ("POST", API + "/tweets", tok, {"raw": b"{not json", "content_type": "application/json"}, 400),
            ("POST", API + "/tweets", tok, {"raw": b"text", "content_type": "text/plain"}, 415),
            ("GET", API + "/no/such/endpoint", None, {}, 404),
        ]
        for method, path, token, kw, status in cases:
            with self.subTest(method=method, path=path, status=status):
                r = self.req(method, path, ip, token=token, **kw)
                self.assertStatus(r, status)
                self.assertIsNotNone(r.header("X-RateLimit-Limit"),
                                     "a %d answer of /api/v1 without X-RateLimit-*: %r" % (status, r))

    def test_unknown_tokens_are_limited(self):
        # Token guessing is not free: requests with a token that matches no
        # session count against the address like any other request.
        real, _ = self.sign_up()
        ip = new_ip()
        in_window(3)
        before = scrape(self.http).get("chirp_db_queries_total", 0)
        statuses = []
        for i in range(READ + 4):
            # Well-formed (length and alphabet of a real token): looked up.
            guess = secrets.token_urlsafe(len(real))[:len(real)]
            r = self.req("GET", API + "/feed", ip, token=guess)
            statuses.append(r.status)
        spent = scrape(self.http).get("chirp_db_queries_total", 0) - before
        self.assertIn(429, statuses,
                      "%d requests with unknown tokens from one address within one window, budget "
                      "%d: statuses %s, never 429 (they cost %d PostgreSQL statements)"
                      % (READ + 4, READ, statuses, spent))

    def test_over_budget_is_429_with_retry_after(self):
        tok, _ = self.sign_up()
        ip = new_ip()
        in_window(3)
        for i in range(READ):
            r = self.req("GET", API + "/sessions/current", ip, token=tok)
            self.assertStatus(r, 200)
            self.assertRateHeaders(r, READ, READ - 1 - i)
        r = self.req("GET", API + "/sessions/current", ip, token=tok)
        self.assert429(r)
        self.assertRateHeaders(r, READ, 0)
        # Still refused while the window lasts (and not counted below zero).
        r = self.req("GET", API + "/sessions/current", ip, token=tok)
        self.assert429(r)

    def test_reads_writes_and_logins_have_separate_budgets(self):
        tok, acct = self.sign_up()
        ip = new_ip()
        in_window(3.5)
        # Writes used up...
        for i in range(WRITE):
            r = self.req("POST", API + "/notifications/read_all", ip, token=tok)
            self.assertStatus(r, 200)
            self.assertRateHeaders(r, WRITE, WRITE - 1 - i)
        self.assert429(self.req("POST", API + "/notifications/read_all", ip, token=tok))
        # ...reads still pass, with their own full budget.
        r = self.req("GET", API + "/sessions/current", ip, token=tok)
        self.assertStatus(r, 200)
        self.assertRateHeaders(r, READ, READ - 1)
        # Log-ins (per address) used up, including failed ones...
        lip = new_ip()
        for i in range(LOGIN):
            pw = PASSWORD if i == 0 else "wrong password!"
            r = self.req("POST", API + "/sessions", lip,
                         body={"login": acct["username"], "password": pw})
            self.assertStatus(r, 201 if i == 0 else 401)
            self.assertRateHeaders(r, LOGIN, LOGIN - 1 - i)
        r = self.req("POST", API + "/sessions", lip,
                     body={"login": acct["username"], "password": PASSWORD})
        self.assert429(r)
        # ...and sign-up shares the log-in budget.
        name = h.unique("rl")
        r = self.req("POST", API + "/accounts", lip,
                     body={"username": name, "email": "%s@example.com" % name.lower(),
                           "password": PASSWORD})
        self.assert429(r)
        # Anonymous reads from that address are not log-ins.
        r = self.req("GET", API + "/accounts/%s" % acct["id"], lip)
        self.assertStatus(r, 200)
        self.assertRateHeaders(r, READ, READ - 1)

    def test_budget_is_per_account(self):
        t1, _ = self.sign_up()
        t2, _ = self.sign_up()
        ip = new_ip()  # the same address for both accounts and for anonymous calls
        in_window(3)
        for _ in range(READ):
            self.assertStatus(self.req("GET", API + "/sessions/current", ip, token=t1), 200)
        self.assert429(self.req("GET", API + "/sessions/current", ip, token=t1))
        # Another account from the same address has its own budget...
        r = self.req("GET", API + "/sessions/current", ip, token=t2)
        self.assertStatus(r, 200)
        self.assertRateHeaders(r, READ, READ - 1)
        # ...and so has the address itself (anonymous).
        r = self.req("GET", API + "/accounts/@nobody_%s" % h.RUN, ip)
        self.assertStatus(r, 404)
        self.assertRateHeaders(r, READ, READ - 1)
        # Writes of the first account are not affected by its reads.
        r = self.req("POST", API + "/notifications/read_all", ip, token=t1)
        self.assertStatus(r, 200)
        self.assertRateHeaders(r, WRITE, WRITE - 1)

    def test_gateways_share_one_budget(self):
        tok, _ = self.sign_up()
        ip = new_ip()
        in_window(3)
        seen = []
        for i in range(READ):  # alternate between the two gateways
            st = self.stack if i % 2 == 0 else self.stack2
            r = self.req("GET", API + "/sessions/current", ip, stack=st, token=tok)
            self.assertStatus(r, 200)
            seen.append(self.assertRateHeaders(r, READ))
        self.assertEqual(seen, list(range(READ - 1, -1, -1)),
                         "X-RateLimit-Remaining across both gateways")
        self.assert429(self.req("GET", API + "/sessions/current", ip, stack=self.stack, token=tok))
        self.assert429(self.req("GET", API + "/sessions/current", ip, stack=self.stack2, token=tok))
        # Anonymous (per address) budgets are shared too.
        ip2 = new_ip()
        for i in range(READ):
            st = self.stack2 if i < READ - 1 else self.stack
            self.assertStatus(self.req("GET", API + "/accounts/@nobody_%s" % h.RUN, ip2, stack=st),
                              404)
        self.assert429(self.req("GET", API + "/accounts/@nobody_%s" % h.RUN, ip2, stack=self.stack2))

    def test_health_and_metrics_are_not_limited(self):
        ip = new_ip()
        in_window(3)
        for path in ("/healthz", "/readyz", "/metrics"):
            for _ in range(READ * 3):
                r = self.req("GET", path, ip)
                self.assertStatus(r, 200, "%s: %r" % (path, r))
        # ...and they did not spend the address's read budget.
        r = self.req("GET", API + "/accounts/@nobody_%s" % h.RUN, ip)
        self.assertStatus(r, 404)
        self.assertRateHeaders(r, READ, READ - 1)

    def test_budget_comes_back_after_the_window(self):
        tok, _ = self.sign_up()
        ip = new_ip()
        in_window(3)
        for _ in range(READ):
            self.assertStatus(self.req("GET", API + "/sessions/current", ip, token=tok), 200)
        r = self.req("GET", API + "/sessions/current", ip, token=tok)
        wait = self.assert429(r)
        reset = int(r.header("X-RateLimit-Reset"))
        self.assertEqual(wait, reset, "Retry-After and X-RateLimit-Reset disagree")
        time.sleep(wait + 0.2)
        r = self.req("GET", API + "/sessions/current", ip, token=tok)
        self.assertStatus(r, 200)
        self.assertRateHeaders(r, READ, READ - 1)

    def test_forwarded_for_cannot_be_chosen_by_the_client(self):
        # Behind HAProxy (`option forwardfor`, deploy/haproxy.cfg) the proxy
        # appends the address it saw to whatever X-Forwarded-For the client
        # sent: only the LAST entry is trustworthy.  A client that sends its
        # own X-Forwarded-For must not get a fresh log-in budget each time.
        real = new_ip()
        name = h.unique("rl")
        statuses = []
        in_window(3)
        for i in range(LOGIN + 3):
            forged = "192.0.2.%d" % (i + 1)
            r = self.req("POST", API + "/sessions", "%s, %s" % (forged, real),
                         body={"login": name, "password": "guess %d" % i})
            statuses.append(r.status)
        self.assertIn(429, statuses,
                      "%d log-in attempts from one real address (X-Forwarded-For "
                      "\"<forged>, %s\") within one window, budget %d: statuses %s"
                      % (LOGIN + 3, real, LOGIN, statuses))


BIG_READ = 200  # >= 100: leased to gateways in slices of BIG_READ // 50 = 4


class LeasedBudgets(TwoGateways):
    """Budgets of 100 and more are leased to each gateway a slice at a time
    (gateway/guard.c); across two gateways the shared count must still never
    let more than the budget through, and waste at most a slice a gateway."""
    ENV = dict(ENV, CHIRP_RATE_READ=str(BIG_READ), CHIRP_RATE_WINDOW="60")

    def test_two_gateways_never_exceed_a_leased_budget(self):
        ip = new_ip()
        ok = refused = 0
        # Stay inside one 60 s window: a few hundred requests take ~1 s.
        if 60 - (time.time() % 60) < 15:
            time.sleep(60 - (time.time() % 60) + 0.1)
        for i in range(BIG_READ + 60):
            st = self.stack if i % 3 else self.stack2  # uneven, to leave leases half used
            r = st.client().request("GET", "/api/v1/accounts/@nobody_%s" % h.RUN,
                                    headers={"X-Forwarded-For": ip})
            if r.status == 429:
                refused += 1
                self.assertIsNotNone(r.header("Retry-After"), r)
            else:
                self.assertStatus(r, 404)
                ok += 1
        slice_ = BIG_READ // 50
        self.assertLessEqual(ok, BIG_READ, "more than the budget went through")
        self.assertGreaterEqual(ok, BIG_READ - 2 * (slice_ - 1),
                                "leases wasted more than a slice per gateway")
        self.assertEqual(ok + refused, BIG_READ + 60)


if __name__ == "__main__":
    h.main()
