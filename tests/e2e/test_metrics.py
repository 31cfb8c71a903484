#!/usr/bin/env python3
"""End-to-end: GET /metrics (gateway/h_ops.c, gateway/http.c).

Prometheus text format (version 0.0.4): the gateway's own counters
(chirp_http_requests_total by method, route and status class, time spent,
chirp_amqp_published_total / confirmed_total / failed_total,
chirp_db_queries_total) and the workers' ones kept in Redis
(chirp_worker_events_total per role, chirp_dead_letters_total,
chirp_likes_received_total, chirp_likes_statements_total) and the depth of
every queue (chirp_queue_depth).  The gateway's counters are its own: only
this test talks to it, so their deltas are exact; the workers' counters are
shared by every worker on the test stack, so only "moved" is asserted.
"""

import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

API = h.API
ROLES = ("persist", "fanout", "notify", "likes")
QUEUES = ("chirp.persist", "chirp.fanout", "chirp.notify", "chirp.likes", "chirp.dead")
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABELS = r'\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\}'
SAMPLE = re.compile(r"^(%s)(%s)? (-?[0-9.eE+-]+|NaN|[+-]Inf)$" % (NAME, LABELS))


# The /metrics parser is the harness's.
scrape = h.metrics


def req_key(method, route, cls):
    return 'chirp_http_requests_total{method="%s",route="%s",status="%s"}' % (method, route, cls)


class Metrics(h.StackTestCase):
    ROLES = ROLES  # every role
    # The like batcher flushes a tweet's likes 300 ms after the first one.
    ENV = {"CHIRP_LIKES_FLUSH_AGE_MS": "300"}

    def m(self):
        return scrape(self.http)

    def test_prometheus_text(self):
        r = self.http.get("/metrics")
        self.assertStatus(r, 200)
        ct = r.header("Content-Type") or ""
        self.assertTrue(ct.startswith("text/plain"), ct)
        self.assertIn("version=0.0.4", ct)
        text = r.body.decode("utf-8")
        self.assertTrue(text.endswith("\n"))
        types, seen = {}, set()
        for line in text.splitlines():
            with self.subTest(line=line):
                if line.startswith("# TYPE "):
                    _, _, name, kind = line.split(" ", 3)
                    self.assertNotIn(name, types, "a second TYPE line for %s" % name)
                    self.assertNotIn(name, seen, "TYPE for %s after its samples" % name)
                    self.assertIn(kind, ("counter", "gauge", "histogram", "summary", "untyped"))
                    types[name] = kind
                elif line.startswith("# HELP ") or line == "":
                    pass
                else:
                    self.assertFalse(line.startswith("#"), line)
                    mm = SAMPLE.match(line)
                    self.assertIsNotNone(mm, "not a sample line: %r" % line)
                    seen.add(mm.group(1))
                    float(mm.group(3))
        for name in ("chirp_http_requests_total", "chirp_amqp_published_total",
                     "chirp_amqp_confirmed_total", "chirp_db_queries_total",
                     "chirp_worker_events_total", "chirp_dead_letters_total", "chirp_queue_depth",
                     "chirp_likes_received_total", "chirp_likes_statements_total"):
            self.assertIn(name, seen, "no %s samples" % name)
            self.assertIn(name, types, "no TYPE line for %s" % name)
        self.assertEqual(types["chirp_queue_depth"], "gauge")
        self.assertEqual(types["chirp_http_requests_total"], "counter")

    def test_each_metric_is_one_group(self):
        # The text format: "All lines for a given metric must be provided as
        # one single group, with the optional HELP and TYPE lines first."
        text = self.http.get("/metrics").body.decode("utf-8")
        order = []
        for line in text.splitlines():
            mm = SAMPLE.match(line)
            if mm and (not order or order[-1] != mm.group(1)):
                order.append(mm.group(1))
        split = sorted({n for n in order if order.count(n) > 1})
        self.assertEqual(split, [], "samples of these metrics are interleaved with others' (%s)"
                         % " -> ".join(order))

    def test_http_requests_total_by_route(self):
        tok, acct = h.sign_up(self.http, "mt")
        route = API + "/accounts/:id"
        before = self.m()
        for _ in range(3):
            self.assertStatus(self.http.get(API + "/accounts/%s" % acct["id"]), 200)
        self.assertStatus(self.http.get(API + "/accounts/@nobody_%s" % h.RUN), 404)
        self.assertStatus(self.http.get(API + "/no/such/thing"), 404)
        self.assertStatus(self.http.post(API + "/tweets", {"text": "x"}), 401)
        after = self.m()

        def d(key):
            return after.get(key, 0) - before.get(key, 0)

        self.assertEqual(d(req_key("GET", route, "2xx")), 3)
        self.assertEqual(d(req_key("GET", route, "4xx")), 1)
        self.assertEqual(d(req_key("ANY", "unmatched", "4xx")), 1)
        self.assertEqual(d(req_key("POST", API + "/tweets", "4xx")), 1)
        self.assertEqual(d(req_key("GET", "/metrics", "2xx")), 1)  # the first scrape
        self.assertGreater(d('chirp_http_request_seconds_sum{method="GET",route="%s"}' % route), 0)

    def test_amqp_counters_move_with_a_tweet(self):
        tok, _ = h.sign_up(self.http, "mt")
        before = self.m()
        h.post_tweet(self.http, tok, "counted %s" % h.RUN)
        after = self.m()
        self.assertEqual(after["chirp_amqp_published_total"] - before["chirp_amqp_published_total"], 1)
        self.assertEqual(after["chirp_amqp_confirmed_total"] - before["chirp_amqp_confirmed_total"], 1)
        self.assertEqual(after["chirp_amqp_failed_total"], before["chirp_amqp_failed_total"])
        self.assertEqual(after["chirp_amqp_connected"], 1)
        # A write that publishes nothing moves nothing.
        self.assertStatus(self.http.post(API + "/tweets", {"text": ""}, token=tok), 422)
        again = self.m()
        self.assertEqual(again["chirp_amqp_published_total"], after["chirp_amqp_published_total"])

    def test_db_queries_total(self):
        _, acct = h.sign_up(self.http, "mt")
        path = API + "/accounts/%s" % acct["id"]
        self.http.get(path)
        before = self.m()["chirp_db_queries_total"]
        self.assertStatus(self.http.get(path), 200)  # cached: no statement
        self.assertStatus(self.http.get("/healthz"), 200)
        self.assertEqual(self.m()["chirp_db_queries_total"], before)
        h.evict_account(acct["id"])
        self.assertStatus(self.http.get(path), 200)  # a miss: PostgreSQL
        self.assertGreater(self.m()["chirp_db_queries_total"], before)

    def test_worker_series_for_every_role_and_queue(self):
        m = self.m()
        for role in ROLES:
            for result in ("processed", "failed"):
                self.assertIn('chirp_worker_events_total{role="%s",result="%s"}' % (role, result), m)
            self.assertIn('chirp_dead_letters_total{role="%s"}' % role, m)
        for q in QUEUES:
            key = 'chirp_queue_depth{queue="%s"}' % q
            self.assertIn(key, m)
            self.assertGreaterEqual(m[key], 0)

    def test_worker_events_move(self):
        tok, acct = h.sign_up(self.http, "mt")
        key = 'chirp_worker_events_total{role="%s",result="processed"}'
        before = self.m()
        t = h.post_tweet(self.http, tok, "processed %s" % h.RUN)
        h.wait_until(lambda: h.sql_int("SELECT count(*) FROM tweets WHERE id = %s"
                                       % h.id_literal(t["id"])) == 1, 20, 0.05, "the tweet stored")
        for role in ("persist", "fanout"):
            h.wait_until(lambda: self.m()[key % role] > before[key % role], 20, 0.1,
                         "chirp_worker_events_total{role=%s,processed} to move" % role)

    def test_like_batcher_counters(self):
        tok0, _ = h.sign_up(self.http, "mt")
        t = h.post_tweet(self.http, tok0, "like me %s" % h.RUN)
        likers = [h.sign_up(self.http, "mtl") for _ in range(12)]
        before = self.m()
        for tok, _ in likers:
            self.assertStatus(self.http.post(API + "/tweets/%s/like" % t["id"], token=tok), 202)
        h.wait_until(lambda: self.m()["chirp_likes_received_total"] -
                     before["chirp_likes_received_total"] >= len(likers), 20, 0.1,
                     "chirp_likes_received_total to count %d likes" % len(likers))
        h.wait_until(lambda: self.m()["chirp_likes_statements_total"] >
                     before["chirp_likes_statements_total"], 20, 0.1,
                     "chirp_likes_statements_total to move (a flush)")
        key = 'chirp_worker_events_total{role="likes",result="processed"}'
        h.wait_until(lambda: self.m()[key] > before[key], 20, 0.1, "likes processed to move")


if __name__ == "__main__":
    h.main()
