#!/usr/bin/env python3
"""End-to-end: RabbitMQ goes down under a running gateway.

Writes must answer 503 "unavailable" quickly (never a 202 for a write that
could be lost), /readyz must say so, reads keep working, and once the broker
is back writes answer 202 again without restarting anything, and are
persisted.  The broker is ALWAYS restarted, even when the test fails.

Stops the shared test stack's broker for a few seconds: run it serially."""

import os
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

API = h.API
FAST = 6.0  # seconds a refused write may take at most


class BrokerDown(h.StackTestCase):
    WORKERS = 1

    _broker_stopped = False

    @classmethod
    def _ensure_broker(cls):
        if cls._broker_stopped:
            h.stack_cmd("start-rabbit", timeout=180)
            cls._broker_stopped = False

    @classmethod
    def tearDownClass(cls):
        try:
            cls._ensure_broker()
        finally:
            super().tearDownClass()

    def test_writes_503_while_broker_down_then_recover(self):
        token, author = h.sign_up(self.http, "bd")
        # A second author posts only during the outage: none of its writes may land.
        out_token, out_author = h.sign_up(self.http, "bdo")
        existing = h.post_tweet(self.http, token, "before the outage")
        h.wait_until(lambda: h.count_tweets_by_author(author["id"]) == 1, 20, 0.05,
                     "the first tweet persisted")

        self.addCleanup(type(self)._ensure_broker)
        type(self)._broker_stopped = True
        h.stack_cmd("stop-rabbit", timeout=180)

        # The very first write after the outage began: 503, quickly.
        for i in range(3):
            r = self.http.post(API + "/tweets", {"text": "during outage %d" % i}, token=out_token)
            self.assertError(r, 503, "unavailable")
            self.assertLess(r.elapsed, FAST, "a refused write must not hang")

        ready = h.wait_until(lambda: (lambda r: r if r.status == 503 else None)(
            self.http.get("/readyz")), 10, 0.1, "/readyz to report 503")
        self.assertEqual(ready.json["status"], "unavailable")
        self.assertEqual(ready.json["checks"], {"redis": "up", "postgres": "up",
                                                "rabbitmq": "down"})

        # Edits and deletes are writes too: 503, nothing changes.
        t0 = time.monotonic()
        r = self.http.patch(API + "/tweets/" + existing["id"], {"text": "edited in outage"},
                            token=token)
        self.assertError(r, 503, "unavailable")
        r = self.http.delete(API + "/tweets/" + existing["id"], token=token)
        self.assertError(r, 503, "unavailable")
        self.assertLess(time.monotonic() - t0, 2 * FAST)

        # Reads and synchronous account writes still work.
        g = self.http.get(API + "/tweets/" + existing["id"])
        self.assertStatus(g, 200)
        self.assertSameTweet(g.json, existing, "a refused edit or delete changed the tweet")
        self.assertStatus(self.http.get(API + "/accounts/" + author["id"]), 200)
        self.assertStatus(self.http.get(API + "/accounts/" + author["id"] + "/tweets"), 200)
        self.assertStatus(self.http.get(API + "/sessions/current", token=token), 200)
        h.sign_up(self.http, "bds")
        self.assertStatus(self.http.get("/healthz"), 200)

        # The broker comes back: writes answer 202 again, same gateway process.
        gateway_pid = self.stack.gateway.pid
        h.stack_cmd("start-rabbit", timeout=180)
        type(self)._broker_stopped = False
        deadline = time.monotonic() + 30
        after = None
        while time.monotonic() < deadline:
            r = self.http.post(API + "/tweets", {"text": "after the outage"}, token=token)
            if r.status == 202:
                after = r.json
                break
            self.assertError(r, 503, r.json["error"]["code"] if r.json else "unavailable")
            self.assertLess(r.elapsed, FAST)
            time.sleep(0.2)
        self.assertIsNotNone(after, "no 202 within 30 s of the broker's restart")
        self.assertTrue(self.stack.gateway.alive())
        self.assertEqual(self.stack.gateway.pid, gateway_pid)
        h.wait_until(lambda: self.http.get("/readyz").status == 200, 10, 0.1, "/readyz 200 again")
        self.assertStatus(self.http.get(API + "/tweets/" + after["id"]), 200)

        # Persisted (the worker reconnected by itself), exactly once.
        h.wait_until(lambda: h.sql_int("SELECT count(*) FROM tweets WHERE id = %s"
                                       % h.id_literal(after["id"])) == 1, 30, 0.1,
                     "the tweet posted after the outage persisted")
        self.assertEqual(h.count_tweets_by_author(author["id"]), 2)
        # The queue is FIFO and the worker has passed the outage: nothing
        # refused during the outage was stored.
        self.assertEqual(h.count_tweets_by_author(out_author["id"]), 0)
        # And the refused edit/delete left the first tweet as it was.
        self.assertEqual(h.psql("SELECT text || '|' || (edited_at IS NULL) || '|' || "
                                "(deleted_at IS NULL) FROM tweets WHERE id = %s"
                                % existing["id"]), "before the outage|true|true")

    def test_every_202_survives_a_broker_restart_under_load(self):
        """Posting never stops while the broker goes down and comes back:
        each write answers 202 or a quick 503, and every 202 is persisted."""
        token, author = h.sign_up(self.http, "bdl")
        stop = threading.Event()
        lock = threading.Lock()
        accepted, refused, slow, other = [], [], [], []

        def post_loop(t):
            c = h.Client(self.stack.port, keepalive=True, timeout=30)
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    r = c.post(API + "/tweets", {"text": "load %d-%d" % (t, i)}, token=token)
                except OSError as e:
                    with lock:
                        other.append(repr(e))
                    c.close()
                    continue
                with lock:
                    if r.elapsed >= FAST:
                        slow.append(r.elapsed)
                    if r.status == 202:
                        accepted.append(r.json["id"])
                    elif r.status == 503 and r.json and r.json.get("error", {}).get("code") in (
                            "unavailable", "timeout"):
                        refused.append(r.json["error"]["code"])
                    else:
                        other.append(repr(r))
                if r.status != 202:
                    time.sleep(0.01)
            c.close()

        threads = [threading.Thread(target=post_loop, args=(t,), daemon=True) for t in range(8)]
        self.addCleanup(stop.set)
        for th in threads:
            th.start()

        def count(lst):
            with lock:
                return len(lst)

        h.wait_until(lambda: count(accepted) >= 300, 30, 0.01, "300 tweets accepted")
        self.addCleanup(type(self)._ensure_broker)
        type(self)._broker_stopped = True
        h.stack_cmd("stop-rabbit", timeout=180)
        refused_before = count(refused)
        h.wait_until(lambda: count(refused) >= refused_before + 50, 10, 0.01, "refused writes")
        accepted_down = count(accepted)
        h.stack_cmd("start-rabbit", timeout=180)
        type(self)._broker_stopped = False
        h.wait_until(lambda: count(accepted) >= accepted_down + 300, 30, 0.01,
                     "300 tweets accepted after the restart")
        stop.set()
        for th in threads:
            th.join(30)
        print("accepted %d, refused %d" % (len(accepted), len(refused)), file=sys.stderr)
        self.assertEqual(other, [], "answers other than 202 or 503")
        self.assertEqual(slow, [], "requests that took %.0f s or more" % FAST)
        self.assertEqual(len(set(accepted)), len(accepted))

        ids = ",".join(h.id_literal(i) for i in accepted)
        h.wait_until(lambda: h.sql_int("SELECT count(*) FROM tweets WHERE id = ANY('{%s}'::bigint[])"
                                       % ids) == len(accepted), 60, 0.2,
                     "every accepted tweet persisted")
        # Refused writes may exist only if the broker took them before it
        # failed to confirm; none may be stored twice.
        author_id = h.id_literal(author["id"])
        self.assertEqual(h.sql_int("SELECT count(*) - count(DISTINCT text) FROM tweets "
                                   "WHERE author_id = %s" % author_id), 0)


if __name__ == "__main__":
    h.main()
