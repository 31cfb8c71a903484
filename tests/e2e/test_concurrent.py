#!/usr/bin/env python3
"""End-to-end: many clients at once on a gateway that has just started.

The rest of the suite sends one request at a time, which leaves little for
ThreadSanitizer (the build-tsan tree of tests/run.sh) to see.  Here eight
clients released together by a barrier make the first requests of a fresh
gateway (first log-ins, first scripts loaded into Redis, first connections
of each pool) and then keep going through every kind of endpoint: log-ins
(good, wrong password, unknown login), tweets, likes, comments, follows, a
poll vote, feeds, lists, search, notifications and /metrics, while Redis
forgets its scripts now and then (SCRIPT FLUSH, as after a Redis restart),
so the reload paths run concurrently too.  Every answer
must have its expected status (never a 5xx), and the gateway must then exit
with status 0: under TSan a race report ends it with status 66.
"""

import os
import sys
import threading

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

API = h.API
CLIENTS = 8
ROUNDS = 3
PASSWORD = "correct horse 1"


class Concurrent(h.StackTestCase):
    WORKERS = 1

    def test_many_clients_on_a_fresh_gateway(self):
        c = self.http
        users = []
        for i in range(CLIENTS):
            token, acct = h.sign_up(c, "conc", password=PASSWORD)
            users.append((token, acct))
        host_token = users[0][0]
        seed = h.post_tweet(c, host_token, "seed #concurrent",
                            poll={"options": ["a", "b", "c"], "expires_in": 3600})
        poll_id = seed["poll"]["id"]

        # A second gateway, started now: its first requests are concurrent.
        fresh = h.Stack("ConcurrentFresh", workers=0, roles=())
        fresh.start()
        problems = []
        lock = threading.Lock()
        barrier = threading.Barrier(CLIENTS)

        def expect(what, r, *ok):
            if r.status not in ok:
                with lock:
                    problems.append("%s: %r" % (what, r))

        def client(k):
            token, acct = users[k]
            other = users[(k + 1) % CLIENTS][1]
            fc = fresh.client(timeout=30)
            barrier.wait()
            for rnd in range(ROUNDS):
                expect("unknown login", fc.post(API + "/sessions", {
                    "login": h.unique("nobody"), "password": "whatever 12"}), 401)
                expect("wrong password", fc.post(API + "/sessions", {
                    "login": acct["username"], "password": "wrong password"}), 401)
                expect("log-in", fc.post(API + "/sessions", {
                    "login": acct["username"], "password": PASSWORD}), 201)
                r = fc.post(API + "/tweets", {"text": "conc %d/%d #concurrent" % (k, rnd)},
                            token=token)
                expect("post tweet", r, 202)
                tid = r.json["id"] if r.status == 202 else seed["id"]
                expect("like", fc.post(API + "/tweets/%s/like" % seed["id"], token=token), 200,
                       201, 202, 204)
                expect("unlike", fc.delete(API + "/tweets/%s/like" % seed["id"], token=token),
                       200, 202, 204)
                expect("like own", fc.post(API + "/tweets/%s/like" % tid, token=token), 200, 201,
                       202, 204)
                expect("comment", fc.post(API + "/tweets/%s/comments" % seed["id"],
                                          {"text": "re %d" % k}, token=token), 201, 202)
                expect("follow", fc.post(API + "/accounts/%s/follow" % other["id"], token=token),
                       200, 201, 202, 204)
                if rnd == 0:
                    expect("vote", fc.post(API + "/polls/%s/votes" % poll_id,
                                           {"choices": [k % 3]}, token=token), 200, 201, 202)
                for path in (API + "/feed", API + "/notifications",
                             API + "/notifications/unread_count"):
                    expect(path, fc.get(path, token=token), 200)
                for path in ("/readyz", "/metrics", API + "/tweets/" + seed["id"],
                             API + "/tweets/%s/likes" % seed["id"],
                             API + "/tweets/%s/comments" % seed["id"],
                             API + "/accounts/%s" % other["id"],
                             API + "/accounts/%s/tweets" % other["id"],
                             API + "/accounts/%s/followers" % other["id"],
                             API + "/polls/" + poll_id,
                             API + "/search?q=concurrent&type=tweets",
                             API + "/search?q=conc&type=accounts",
                             API + "/hashtags/concurrent/tweets",
                             API + "/trending/liked"):
                    expect(path, fc.get(path, token=token), 200)

        done = threading.Event()

        def flusher():
            while not done.wait(0.5):
                h.redis_cmd("SCRIPT", "FLUSH")

        threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
        flush = threading.Thread(target=flusher, daemon=True)
        try:
            flush.start()
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
                self.assertFalse(t.is_alive(), "a client hangs")
        finally:
            done.set()
            flush.join(10)
            stopped = None
            try:
                fresh.stop()
            except AssertionError as e:
                stopped = e
        self.assertEqual(problems, [])
        if stopped:
            raise stopped


if __name__ == "__main__":
    h.main()
