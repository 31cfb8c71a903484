#!/usr/bin/env python3
"""End-to-end: the operator endpoints (gateway/h_admin.c).

- /api/v1/admin/logs and /api/v1/admin/services need CHIRP_ADMIN_TOKEN
  (401 without a token, with a wrong one, with a user's token);
- admin/logs lists this gateway's calls in order (seq, method, path, status,
  duration_ms, db_queries), pages with ?after=SEQ&limit=N, and shows a read
  served from the cache as db_queries 0 while the read after the cache entry
  was deleted went to PostgreSQL (db_queries > 0);
- admin/services lists the gateway and each worker the harness started with
  role, address, started_at, beat_at and health, and a worker killed with
  SIGKILL drops out once its heartbeat expires (the registry's TTL, 15 s).
"""

import os
import re
import secrets
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

API = h.API
ADMIN = "adm-%s-%s" % (h.RUN, secrets.token_hex(12))  # >= 16 characters
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
LOG_KEYS = {"seq", "at", "method", "path", "status", "duration_ms", "db_queries", "account_id"}
SERVICE_KEYS = {"role", "address", "started_at", "beat_at", "health"}


class Admin(h.StackTestCase):
    ROLES = ("persist", "fanout", "notify", "likes")  # every role
    ENV = {"CHIRP_ADMIN_TOKEN": ADMIN}

    # ---- helpers ----

    def admin_get(self, path, **query):
        r = self.http.get(API + "/admin/" + path, token=ADMIN, query=query or None)
        self.assertStatus(r, 200)
        return r.json

    def last_seq(self):
        """The sequence number of this call to admin/logs itself: the calls
        made afterwards are numbered from it + 1 (only this test talks to
        this gateway)."""
        after = 0
        while True:
            page = self.admin_get("logs", after=after, limit=1000)
            if page["items"]:
                after = page["items"][-1]["seq"]
            if len(page["items"]) < 1000:
                return after + 1  # this listing is logged once answered

    def calls_after(self, seq):
        """Every call logged after seq (this listing's own call excluded)."""
        page = self.admin_get("logs", after=seq, limit=1000)
        return page["items"]

    def services(self):
        return self.admin_get("services")["items"]

    def ours(self):
        """{pid: service} for the processes of this test's stack."""
        pids = {str(p.pid) for p in [self.stack.gateway] + self.stack.workers if p.alive()}
        return {s.get("pid"): s for s in self.services() if s.get("pid") in pids}

    # ---- auth ----

    def test_admin_endpoints_need_the_admin_token(self):
        tok, _ = h.sign_up(self.http, "adm")
        for path in ("logs", "services"):
            for name, token in (("none", None), ("wrong", "x" * len(ADMIN)),
                                ("prefix", ADMIN[:-1]), ("longer", ADMIN + "x"),
                                ("user token", tok)):
                with self.subTest(path=path, token=name):
                    r = self.http.get(API + "/admin/" + path, token=token)
                    self.assertError(r, 401, "unauthorized")
            r = self.http.get(API + "/admin/" + path, token=ADMIN)
            self.assertStatus(r, 200)
            self.assertIsInstance(r.json.get("items"), list, r)

    # ---- logs ----

    def test_logs_list_calls_in_order(self):
        tok, acct = h.sign_up(self.http, "adm")
        base = self.last_seq()
        self.http.get("/healthz")
        self.http.get(API + "/accounts/%s" % acct["id"])
        self.http.get(API + "/tweets/1")
        t = h.post_tweet(self.http, tok, "logged %s" % h.RUN)
        self.http.delete(API + "/tweets/%s" % t["id"])  # no token: 401
        items = self.calls_after(base)
        for it in items:
            self.assertTrue(LOG_KEYS <= set(it), "missing keys in %r" % (it,))
        got = [(it["method"], it["path"], it["status"]) for it in items]
        self.assertEqual(got[:5], [
            ("GET", "/healthz", 200),
            ("GET", API + "/accounts/%s" % acct["id"], 200),
            ("GET", API + "/tweets/1", 404),
            ("POST", API + "/tweets", 202),
            ("DELETE", API + "/tweets/%s" % t["id"], 401),
        ])
        self.assertEqual([it["seq"] for it in items], list(range(base + 1, base + 1 + len(items))))
        for it in items:
            self.assertIsInstance(it["duration_ms"], (int, float), it)
            self.assertGreaterEqual(it["duration_ms"], 0, it)
            self.assertIsInstance(it["db_queries"], int, it)
            self.assertGreaterEqual(it["db_queries"], 0, it)
            self.assertRegex(it["at"], TIME_RE)
        self.assertEqual(items[3]["account_id"], acct["id"])
        self.assertIsNone(items[0]["account_id"])
        self.assertEqual(items[0]["db_queries"], 0, "GET /healthz touches no database")
        # Timestamps never go backwards.
        ats = [it["at"] for it in items]
        self.assertEqual(ats, sorted(ats))

    def test_cache_hit_shows_no_database_statements(self):
        tok, acct = h.sign_up(self.http, "adm")
        t = h.post_tweet(self.http, tok, "cached %s" % h.RUN)
        tid = t["id"]
        h.wait_until(lambda: h.sql_int("SELECT count(*) FROM tweets WHERE id = %s"
                                       % h.id_literal(tid)) == 1, 20, 0.05, "the tweet in PostgreSQL")
        path = API + "/tweets/%s" % tid
        self.assertStatus(self.http.get(path), 200)  # fills the cache if it was empty
        base = self.last_seq()
        self.assertStatus(self.http.get(path), 200)  # a cache hit
        self.assertEqual(h.evict_tweet(tid), 1, "the tweet was cached")
        self.assertStatus(self.http.get(path), 200)  # a miss: PostgreSQL, then re-filled
        self.assertStatus(self.http.get(path), 200)  # a hit again
        reads = [it for it in self.calls_after(base) if it["path"] == path]
        self.assertEqual([it["method"] for it in reads], ["GET"] * 3, reads)
        self.assertEqual(reads[0]["db_queries"], 0, "a cache hit: %r" % (reads[0],))
        self.assertGreater(reads[1]["db_queries"], 0, "the read after DEL: %r" % (reads[1],))
        self.assertEqual(reads[2]["db_queries"], 0, "re-filled cache: %r" % (reads[2],))

    def test_after_paging(self):
        base = self.last_seq()
        for i in range(5):
            self.http.get("/healthz?i=%d" % i)
        full = self.calls_after(base)
        self.assertGreaterEqual(len(full), 5)  # the 5 health checks
        paged, after = [], base
        for _ in range(10):
            page = self.admin_get("logs", after=after, limit=2)
            self.assertLessEqual(len(page["items"]), 2)
            if not page["items"]:
                break
            self.assertEqual(page["last_seq"], page["items"][-1]["seq"], page)
            paged.extend(page["items"])
            after = page["last_seq"]
            if after >= full[-1]["seq"]:
                break
        self.assertEqual([it["seq"] for it in paged[:len(full)]], [it["seq"] for it in full])
        self.assertEqual([it["path"] for it in paged[:len(full)]], [it["path"] for it in full])
        # Bad parameters are 422 with the field.
        for q, field in (({"after": "abc"}, "after"), ({"after": ""}, "after"),
                         ({"limit": "0"}, "limit"), ({"limit": "-3"}, "limit"),
                         ({"limit": "x"}, "limit")):
            with self.subTest(query=q):
                r = self.http.get(API + "/admin/logs", token=ADMIN, query=q)
                self.assertError(r, 422, chirp_invalid_code(r), field)

    def test_after_negative_is_422(self):
        # strtoull accepts "-1" (wrapping to 2^64-1), and after + 1 then
        # wraps to 0: the whole log comes back instead of an error.
        r = self.http.get(API + "/admin/logs", token=ADMIN, query={"after": "-1", "limit": "3"})
        self.assertEqual(r.status, 422, "after=-1: %r" % (r,))

    def test_tailing_keeps_its_place(self):
        # A client that tails the log with after=<last_seq of the previous
        # answer> must not be sent back to the start when nothing is new.
        last = self.last_seq()  # the newest call: nothing comes after it
        page = self.admin_get("logs", after=last, limit=5)
        self.assertEqual(page["items"], [])
        self.assertGreaterEqual(page["last_seq"], last,
                                "an empty page answers last_seq %r: a client continuing with "
                                "after=last_seq re-reads the log from the start" % page["last_seq"])

    # ---- services ----

    def test_services_lists_gateway_and_every_worker(self):
        want = {str(p.pid): p for p in [self.stack.gateway] + self.stack.workers if p.alive()}

        def all_listed():
            got = self.ours()
            return got if set(got) == set(want) else None

        got = h.wait_until(all_listed, 12, 0.2, "every process of the stack in admin/services")
        for pid, svc in got.items():
            p = want[pid]
            with self.subTest(process=p.name):
                self.assertTrue(SERVICE_KEYS <= set(svc), "missing keys in %r" % (svc,))
                self.assertEqual(svc["role"], p.role or "gateway", svc)
                for k in ("started_at", "beat_at"):
                    self.assertRegex(svc[k], TIME_RE, svc)
                self.assertLessEqual(svc["started_at"], svc["beat_at"], svc)
                self.assertIn(svc["health"], ("ok", "broker_down", "database_down"), svc)
                if p.role is None:
                    self.assertEqual(svc["address"], "http://127.0.0.1:%d" % self.stack.port, svc)
                else:
                    self.assertIn(pid, svc["address"], svc)
        self.assertEqual(sorted(s["role"] for s in got.values()),
                         sorted(["gateway"] + [p.role for p in want.values() if p.role]))
        for role in self.stack.roles:
            self.assertIn(role, [s["role"] for s in got.values()])
        # beat_at moves (a beat every 5 s).
        gw = str(self.stack.gateway.pid)
        first = got[gw]["beat_at"]
        h.wait_until(lambda: self.ours()[gw]["beat_at"] > first, 8, 0.25,
                     "the gateway's beat_at to move")

    def test_idle_services_report_ok_when_dependencies_are_up(self):
        # A stack of its own on a private RabbitMQ virtual host: its workers
        # get no message at all.  PostgreSQL, Redis and RabbitMQ are up
        # (/readyz), so after two beats (every 5 s) each process should
        # say "ok".
        st = h.Stack("AdminIdle", env={"CHIRP_ADMIN_TOKEN": ADMIN,
                                       "CHIRP_AMQP_URL": h.private_vhost("admin")},
                      roles=self.ROLES)
        try:
            st.start()
            self.assertStatus(st.client().get("/readyz"), 200)
            pids = {str(p.pid): "%s(%s)" % (p.role or "gateway", p.pid)
                    for p in [st.gateway] + st.workers}
            deadline = time.monotonic() + 12
            while True:
                health = {pids[s["pid"]]: s.get("health") for s in self.services()
                          if s.get("pid") in pids}
                if len(health) == len(pids) and all(v == "ok" for v in health.values()):
                    break
                if time.monotonic() > deadline:
                    self.fail("idle processes in admin/services, 12 s after start, with every "
                              "dependency up: %s" % health)
                time.sleep(0.5)
        finally:
            st.stop()

    def test_killed_worker_drops_out(self):
        w = self.stack.start_worker(role="persist")
        pid = str(w.pid)
        h.wait_until(lambda: any(s.get("pid") == pid for s in self.services()), 12, 0.2,
                     "the new worker in admin/services")
        w.kill9()
        t0 = time.monotonic()
        h.wait_until(lambda: not any(s.get("pid") == pid for s in self.services()), 30, 0.5,
                     "the SIGKILLed worker to leave admin/services")
        print("SIGKILLed worker left admin/services after %.1f s" % (time.monotonic() - t0),
              file=sys.stderr)
        # The others are still listed.
        self.assertIn(str(self.stack.gateway.pid), self.ours())


def chirp_invalid_code(r):
    """The code of a 422 (any: the tests check status and field)."""
    try:
        return r.json["error"]["code"]
    except (TypeError, KeyError):
        return None


if __name__ == "__main__":
    h.main()
