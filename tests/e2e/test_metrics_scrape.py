#!/usr/bin/env python3
"""End-to-end: scraping /metrics costs the broker no connections, and
CHIRP_METRICS_TOKEN protects it.

The queue depths of /metrics come from one broker connection that the
gateway keeps open (gateway/depths.c): 50 scrapes in a row must not open
and close connections (before, each scrape opened its own: anyone could
make the gateway hammer the broker).  Churn is counted in the broker's log,
which has a line for every connection it accepts, and the connections open
in `rabbitmqctl list_connections`.  With CHIRP_METRICS_TOKEN set,
/metrics answers 401 without "Authorization: Bearer <token>".

Counts the test broker's connections: run serially.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

TOKEN = "metrics-%s-0123456789abcdef" % h.RUN


def broker_log():
    top = os.path.dirname(os.path.dirname(os.path.abspath(h.stack_sh())))
    node = os.environ.get("CHIRP_STACK_NODE", "chirp-test@localhost")
    return os.path.join(top, "var", "test", "log", "rabbit", "%s.log" % node)


def connections_accepted():
    """How many AMQP connections the test broker has accepted so far (it
    logs each one: "accepting AMQP connection")."""
    with open(broker_log(), errors="replace") as f:
        return sum(1 for line in f if "accepting AMQP connection" in line)


class MetricsScrape(h.StackTestCase):
    ROLES = ("persist",)
    ENV = {"CHIRP_METRICS_TOKEN": TOKEN}

    def test_scrapes_reuse_one_broker_connection(self):
        m = h.metrics(self.http, token=TOKEN)  # the first scrape may connect
        self.assertIn('chirp_queue_depth{queue="chirp.persist"}', m)
        time.sleep(0.5)
        before = connections_accepted()
        conns_before = len(h.rabbitmqctl("list_connections", "peer_port").split())
        for _ in range(50):
            m = h.metrics(self.http, token=TOKEN)
            self.assertIn('chirp_queue_depth{queue="chirp.dead"}', m)
        time.sleep(0.5)  # the broker's log is written as it goes
        new = connections_accepted() - before
        conns_after = len(h.rabbitmqctl("list_connections", "peer_port").split())
        print("50 scrapes: %d new broker connection(s); %d -> %d listed by the broker"
              % (new, conns_before, conns_after), file=sys.stderr)
        self.assertEqual(new, 0, "50 scrapes opened %d broker connections" % new)
        self.assertEqual(conns_after, conns_before)

    def test_token_is_required_when_set(self):
        for hdr in (None, {"Authorization": "Bearer wrong-token-0123456789"},
                    {"Authorization": "Bearer " + TOKEN[:-1]},
                    {"Authorization": "Basic " + TOKEN}):
            with self.subTest(header=hdr):
                r = self.http.get("/metrics", headers=hdr)
                self.assertError(r, 401, "unauthorized")
        r = self.http.get("/metrics", token=TOKEN)
        self.assertStatus(r, 200)
        self.assertIn(b"chirp_http_requests_total", r.body)
        # Health checks stay open.
        self.assertStatus(self.http.get("/readyz"), 200)
        self.assertStatus(self.http.get("/healthz"), 200)


if __name__ == "__main__":
    h.main()
