#!/usr/bin/env python3
"""Integration: a PostgreSQL outage longer than the AMQP heartbeat timeout
costs the workers nothing - they keep their broker connection and, once the
database is back, apply the backlog once.

Workers wait out an outage holding their batch unacked.  rabbitmq-c sends
heartbeats only inside its own calls, so a worker that merely slept in its
retry loop went silent, and the broker dropped its connection after two
missed heartbeats (with the default 30 s: an outage over a minute).  Here
every worker runs with CHIRP_AMQP_HEARTBEAT=5, so an outage of 25 s (five
heartbeat intervals) proves the point quickly:

  1. tweets are posted and persisted;
  2. PostgreSQL stops (deploy/stack.sh test stop-pg); more tweets are
     posted (accepted: the gateway needs only Redis and RabbitMQ for that);
  3. 25 s later PostgreSQL starts again;
  4. every accepted tweet is in PostgreSQL exactly once, every worker is
     alive, and each queue's consumer is the one from before the outage
     (same consumer tag: the connection was never dropped and remade).
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "e2e"))
import chirp_harness as h  # noqa: E402

API = h.API
HEARTBEAT = 5
OUTAGE = 5 * HEARTBEAT
QUEUES = ("chirp.persist", "chirp.fanout", "chirp.notify", "chirp.likes")


def consumers():
    """{queue: sorted consumer tags} of Chirp's role queues on the test broker."""
    out = {q: [] for q in QUEUES}
    for line in h.rabbitmqctl("list_consumers", "-p", "/", "queue_name", "consumer_tag",
                              "--no-table-headers").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in out:
            out[parts[0]].append(parts[1])
    return {q: sorted(t) for q, t in out.items()}


def heartbeats():
    """The negotiated heartbeat timeout of every connection on the broker."""
    return [int(v) for v in h.rabbitmqctl("list_connections", "-p", "/", "timeout",
                                          "--no-table-headers").split() if v.isdigit()]


class PostgresOutage(h.StackTestCase):
    ENV = {"CHIRP_AMQP_HEARTBEAT": str(HEARTBEAT)}

    def post(self, token, n, tag):
        ids = []
        for i in range(n):
            r = self.http.post(API + "/tweets", {"text": "%s %d" % (tag, i)}, token=token)
            self.assertStatus(r, 202)
            ids.append(r.json["id"])
        return ids

    def test_outage_past_the_heartbeat_timeout_applies_the_backlog_once(self):
        for q in QUEUES:
            h.wait_sole_consumers(q, 1)
        token, author = h.sign_up(self.http, "pgout")
        before = self.post(token, 20, "before")
        h.wait_until(lambda: h.count_tweets_by_author(author["id"]) == 20, 30, 0.1,
                     "the first tweets persisted")
        tags = consumers()
        self.assertTrue(all(len(t) == 1 for t in tags.values()), tags)
        # The workers' connections run with the short heartbeat (else this
        # outage would prove nothing).
        self.assertGreaterEqual(heartbeats().count(HEARTBEAT), len(QUEUES), heartbeats())

        h.stack_cmd("stop-pg")
        try:
            during = self.post(token, 30, "during")
            time.sleep(OUTAGE)
            # Posting goes on throughout, as users would.
            during += self.post(token, 10, "late")
        finally:
            h.stack_cmd("start-pg")
        after = self.post(token, 10, "after")

        ids = before + during + after
        h.wait_until(lambda: h.count_tweets_by_author(author["id"]) >= len(ids), 60, 0.2,
                     "the backlog applied (%d of %d)" % (h.count_tweets_by_author(author["id"]),
                                                         len(ids)))
        time.sleep(1)  # a duplicate would land now
        a = h.id_literal(author["id"])
        id_array = "'{%s}'::bigint[]" % ",".join(h.id_literal(i) for i in ids)
        self.assertEqual(h.sql_int("SELECT count(*) FROM tweets WHERE author_id = %s" % a),
                         len(ids))
        self.assertEqual(h.sql_int("SELECT count(*) FROM tweets WHERE id = ANY(%s)" % id_array),
                         len(ids))
        self.assertEqual(h.sql_int("SELECT count(DISTINCT text) FROM tweets WHERE author_id = %s"
                                   % a), len(ids), "a tweet was stored twice")

        for w in self.stack.workers:
            self.assertTrue(w.alive(), "%s died:\n%s" % (w.name, h.tail(w.log)))
        self.assertEqual(consumers(), tags,
                         "a worker lost its broker connection during the outage (the broker "
                         "dropped it for missed heartbeats) and consumes anew")
        for w in self.stack.workers:
            with open(w.log, encoding="utf-8", errors="replace") as f:
                log = f.read()
            self.assertNotIn("lost the RabbitMQ connection", log, w.name)
            self.assertNotIn("heartbeat", log.lower(), w.name)


if __name__ == "__main__":
    h.main()
