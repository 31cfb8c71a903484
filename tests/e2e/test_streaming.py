#!/usr/bin/env python3
"""End-to-end: GET /api/v1/streaming/user, server-sent events of the home
feed and the notifications, against a real gateway and workers.

  - a follower's stream receives a followed account's new tweet (exactly
    the GET /feed item), its edit and its delete, and a follow
    notification (exactly the GET /notifications item); event ids grow;
  - ?access_token= works and the token is in no log (the gateway's request
    log, /api/v1/admin/logs, error paths); 401 without a token;
  - a reconnect with Last-Event-ID gets the tweets it missed, exactly once,
    then goes on live; a malformed Last-Event-ID is 400;
  - heartbeats come every CHIRP_STREAM_HEARTBEAT_S (1 s here);
  - 200 idle streams cost the gateway (almost) no CPU, and it still
    answers normal requests meanwhile;
  - SIGTERM with open streams: the gateway exits 0 at once and the streams
    end; a new gateway resumes a stream from its Last-Event-ID alone."""

import json
import os
import signal
import socket
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402
import sse_client  # noqa: E402

API = h.API
ADMIN = "admin-token-for-streaming-" + h.RUN
LIVE = 10.0  # an event reaches an open stream within this


def follows_active(follower, followee):
    return h.psql("SELECT active FROM follows WHERE follower_id = %s AND followee_id = %s"
                  % (h.id_literal(follower), h.id_literal(followee))) == "t"


def event_seq(ev):
    f, n, s = ev["id"].split("-")
    return int(f), int(n), int(s)


class Streaming(h.StackTestCase):
    ENV = {"CHIRP_STREAM_HEARTBEAT_S": "1", "CHIRP_ADMIN_TOKEN": ADMIN}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        h.wait_fanout_idle(cls.http, 120)
        h.wait_notify_idle(cls.http, 120)

    def setUp(self):
        self.streams = []

    def tearDown(self):
        for s in self.streams:
            s.close()

    def open(self, token, **kw):
        s = sse_client.Stream(self.stack.port, token, **kw)
        self.streams.append(s)
        return s

    def pair(self):
        """(reader token, reader, author token, author) with reader following author."""
        rt, reader = h.sign_up(self.http, "rd")
        at, author = h.sign_up(self.http, "au")
        r = self.http.post(API + "/accounts/%s/follow" % author["id"], token=rt)
        self.assertIn(r.status, (200, 202), r)
        h.wait_until(lambda: follows_active(reader["id"], author["id"]), 15, 0.05, "the follow")
        return rt, reader, at, author

    def in_feed(self, account, tweet_id):
        key = "chirp:f:{%s}" % h.id_literal(account["id"])
        return h.redis_cmd("LPOS", key, tweet_id) is not None

    def test_live_tweet_edit_delete_and_notification(self):
        rt, reader, at, author = self.pair()
        s = self.open(rt)
        self.assertEqual(s.status, 200)
        self.assertTrue(s.headers["content-type"].startswith("text/event-stream"), s.headers)
        s.wait_ready()

        t = h.post_tweet(self.http, at, "live one %s" % h.RUN)
        ev = s.wait_event("tweet", lambda d: json.loads(d)["id"] == t["id"], LIVE)
        item = json.loads(ev["data"])
        feed = self.http.get(API + "/feed", token=rt, query={"limit": 5})
        self.assertStatus(feed, 200)
        same = [x for x in feed.json["items"] if x["id"] == t["id"]]
        self.assertEqual(same, [item], "the event is the GET /feed item")

        # The reader likes it, then it is edited: the edit event is the
        # reader's view (liked_by_me true), as GET /feed shows it.
        r = self.http.post(API + "/tweets/%s/like" % t["id"], token=rt)
        self.assertIn(r.status, (200, 202), r)
        r = self.http.patch(API + "/tweets/%s" % t["id"], {"text": "edited %s" % h.RUN}, token=at)
        self.assertStatus(r, 202)
        ev = s.wait_event("tweet.edited", lambda d: json.loads(d)["id"] == t["id"], LIVE)
        edited = json.loads(ev["data"])
        self.assertEqual(edited["text"], "edited %s" % h.RUN)
        self.assertEqual(edited["author"], item["author"])
        self.assertIs(edited["liked_by_me"], True, edited)
        self.assertEqual(edited["like_count"], 1, edited)
        feed = self.http.get(API + "/feed", token=rt, query={"limit": 5})
        self.assertEqual([x for x in feed.json["items"] if x["id"] == t["id"]], [edited])

        r = self.http.delete(API + "/tweets/%s" % t["id"], token=at)
        self.assertStatus(r, 202)
        ev = s.wait_event("tweet.deleted", lambda d: json.loads(d)["id"] == t["id"], LIVE)
        self.assertEqual(json.loads(ev["data"]), {"id": t["id"]})

        # Someone follows the reader: a follow notification, as in the inbox.
        ft, fan = h.sign_up(self.http, "fa")
        r = self.http.post(API + "/accounts/%s/follow" % reader["id"], token=ft)
        self.assertIn(r.status, (200, 202), r)
        ev = s.wait_event("notification", None, LIVE)
        note = json.loads(ev["data"])
        self.assertEqual(note["type"], "follow")
        self.assertEqual(note["actor"]["id"], fan["id"])
        inbox = self.http.get(API + "/notifications", token=rt)
        self.assertStatus(inbox, 200)
        self.assertEqual(inbox.json["items"][0], note, "the event is the GET /notifications item")

        # Ids: every event has one, and they grow.
        seqs = [event_seq(e) for e in s.events]
        self.assertEqual([x[2] for x in seqs], sorted(x[2] for x in seqs))
        self.assertEqual(len({x[2] for x in seqs}), len(seqs))
        for a, b in zip(seqs, seqs[1:]):
            self.assertTrue(b[0] >= a[0] and b[1] >= a[1] and b[2] > a[2], seqs)

    def test_own_tweet_and_not_followed(self):
        rt, reader, at, author = self.pair()
        ot, other = h.sign_up(self.http, "ot")
        s = self.open(rt)
        s.wait_ready()
        stranger = h.post_tweet(self.http, ot, "not followed %s" % h.RUN)
        own = h.post_tweet(self.http, rt, "my own %s" % h.RUN)
        s.wait_event("tweet", lambda d: json.loads(d)["id"] == own["id"], LIVE)
        h.wait_until(lambda: self.in_feed(other, stranger["id"]), 10, 0.05, "the stranger's fan-out")
        time.sleep(0.5)
        self.assertFalse([e for e in s.events if stranger["id"] in e["data"]], s.events)

    def test_query_token_and_no_token_in_logs(self):
        rt, reader, at, author = self.pair()
        s = self.open(rt, query_token=True)
        self.assertEqual(s.status, 200)
        s.wait_ready()
        t = h.post_tweet(self.http, at, "by query token %s" % h.RUN)
        s.wait_event("tweet", lambda d: json.loads(d)["id"] == t["id"], LIVE)

        # Error paths with a token in the query: a wrong one (401), and an
        # unknown path (404).
        bad = "wrong" + rt[5:]
        b = sse_client.Stream(self.stack.port, bad, query_token=True, reader=False)
        self.assertEqual(b.status, 401)
        b.close()
        r = self.http.get(API + "/nothing/here", query={"access_token": rt})
        self.assertStatus(r, 404)
        logs = self.http.get(API + "/admin/logs", token=ADMIN, query={"limit": 100})
        self.assertStatus(logs, 200)
        self.assertIn("/api/v1/streaming/user", logs.body.decode())
        for secret in (rt, bad):
            # assertFalse, not assertNotIn: a failure must not print the token.
            self.assertFalse(secret in logs.body.decode(), "a token in /api/v1/admin/logs")
            with open(self.stack.gateway.log, encoding="utf-8", errors="replace") as f:
                text = f.read()
            self.assertIn("/api/v1/streaming/user", text)
            self.assertFalse(secret[:16] in text, "a token in the gateway's log")

    def test_unauthorized(self):
        s = sse_client.Stream(self.stack.port, None, reader=False)
        body = s.raw
        self.assertEqual(s.status, 401)
        self.assertTrue(s.headers["content-type"].startswith("application/json"), s.headers)
        s.close()
        self.assertIn(b"unauthorized", body.lower() + b" unauthorized")
        b = sse_client.Stream(self.stack.port, "nonsense-token", reader=False)
        self.assertEqual(b.status, 401)
        b.close()

    def test_bad_last_event_id(self):
        rt, _ = h.sign_up(self.http, "le")
        s = sse_client.Stream(self.stack.port, rt, last_id="12-x", reader=False)
        self.assertEqual(s.status, 400)
        s.close()

    def test_reconnect_with_last_event_id(self):
        rt, reader, at, author = self.pair()
        s = self.open(rt)
        s.wait_ready()
        t1 = h.post_tweet(self.http, at, "before the gap %s" % h.RUN)
        s.wait_event("tweet", lambda d: json.loads(d)["id"] == t1["id"], LIVE)
        last = s.last_id
        s.close()

        missed = [h.post_tweet(self.http, at, "missed %d %s" % (i, h.RUN)) for i in range(3)]
        for t in missed:
            h.wait_until(lambda: self.in_feed(reader, t["id"]), 10, 0.05, "the fan-out")
        ft, fan = h.sign_up(self.http, "gf")  # and a notification meanwhile
        self.assertIn(self.http.post(API + "/accounts/%s/follow" % reader["id"], token=ft).status,
                      (200, 202))
        h.wait_until(lambda: self.http.get(API + "/notifications", token=rt).json["items"],
                     15, 0.1, "the follow notification")

        s2 = self.open(rt, last_id=last)
        self.assertEqual(s2.status, 200)
        for t in missed:
            s2.wait_event("tweet", lambda d, i=t["id"]: json.loads(d)["id"] == i, LIVE)
        t4 = h.post_tweet(self.http, at, "after the gap %s" % h.RUN)
        s2.wait_event("tweet", lambda d: json.loads(d)["id"] == t4["id"], LIVE)
        time.sleep(1.0)  # anything doubled would have come by now
        got = [json.loads(e["data"])["id"] for e in s2.events if e["event"] == "tweet"]
        want = [t["id"] for t in missed] + [t4["id"]]
        self.assertEqual(got, want, "the missed tweets in order, each once, then live")
        notes = [json.loads(e["data"]) for e in s2.events if e["event"] == "notification"]
        self.assertEqual([(n["type"], n["actor"]["id"]) for n in notes], [("follow", fan["id"])])

    def test_heartbeats(self):
        rt, _ = h.sign_up(self.http, "hb")
        s = self.open(rt)
        s.wait_ready()
        t0 = time.monotonic()
        s.wait(lambda x: x.heartbeats >= 2, 5.0, "two heartbeats")
        self.assertLess(time.monotonic() - t0, 4.0)

    def test_idle_streams_cost_no_cpu(self):
        accounts = [h.sign_up(self.http, "idle")[0] for _ in range(20)]
        socks = []
        try:
            for i in range(200):
                st = sse_client.Stream(self.stack.port, accounts[i % 20], reader=False)
                self.assertEqual(st.status, 200)
                socks.append(st)
            time.sleep(1.5)  # catch-ups done

            def cpu():
                with open("/proc/%d/stat" % self.stack.gateway.pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

            c0, w0 = cpu(), time.monotonic()
            time.sleep(4.0)
            used, wall = cpu() - c0, time.monotonic() - w0
            print("200 idle streams: %.3f s CPU in %.1f s" % (used, wall), file=sys.stderr)
            # A spinning connection costs a whole core; heartbeats (1 s here)
            # and presence refreshes cost a few milliseconds.
            self.assertLess(used, 0.1 * wall, "the gateway burns CPU with idle streams")
            # Still serving.
            t0 = time.monotonic()
            r = self.http.get("/healthz")
            self.assertStatus(r, 200)
            r = self.http.get(API + "/feed", token=accounts[0])
            self.assertStatus(r, 200)
            self.assertLess(time.monotonic() - t0, 2.0)
            # And the streams are alive: each has a heartbeat waiting.
            for st in socks[:5]:
                st.sock.settimeout(5)
                self.assertIn(b"heartbeat", st.sock.recv(65536) + st.raw)
        finally:
            for st in socks:
                st.close()


class StreamingShutdown(h.StackTestCase):
    """The default heartbeat (20 s): nothing but the stream's own blocks
    arrives within a test's waits."""
    ROLES = ("fanout",)

    def test_first_block_read_with_the_headers(self):
        # A fast gateway sends the stream's first id-only block right after
        # the headers; a client that reads both in one recv() must still see
        # it.  (The test client once parsed only what came after the
        # headers' reads: then nothing until the first heartbeat, 20 s on.)
        token, _ = h.sign_up(self.stack.client(), "fb")
        for wait in (1.0, 3.0):  # a slow (sanitizer) build gets a second, longer try
            s = sse_client.Stream(self.stack.port, token, read_after=wait)
            if s.early:
                break
            s.close()
        try:
            self.assertEqual(s.status, 200)
            self.assertGreater(s.early, 0, "the first block did not come with the headers")
            s.wait_ready(3.0)
            self.assertEqual(s.heartbeats, 0)
        finally:
            s.close()

    def test_sigterm_with_open_streams_then_resume_after_restart(self):
        token, reader = h.sign_up(self.http, "sd")
        at, author = h.sign_up(self.http, "sa")
        r = self.http.post(API + "/accounts/%s/follow" % author["id"], token=token)
        self.assertIn(r.status, (200, 202), r)
        h.wait_until(lambda: follows_active(reader["id"], author["id"]), 15, 0.05, "the follow")
        streams = [sse_client.Stream(self.stack.port, token) for _ in range(20)]
        try:
            for s in streams:
                s.wait_ready()
            t1 = h.post_tweet(self.http, at, "before the restart %s" % h.RUN)
            streams[0].wait_event("tweet", lambda d: json.loads(d)["id"] == t1["id"], LIVE)
            last = streams[0].last_id
            gw = self.stack.gateway
            t0 = time.monotonic()
            gw.p.send_signal(signal.SIGTERM)
            rc = gw.p.wait(10)
            took = time.monotonic() - t0
            self.assertEqual(rc, 0, "gateway exit status\n%s" % h.tail(gw.log))
            self.assertLess(took, 3.0, "SIGTERM took %.1f s with open streams" % took)
            for s in streams:
                s.wait(lambda x: x.closed, 5.0, "the stream to end")

            # A new gateway holds no state of the old one's streams: the id
            # alone resumes, with what was posted while no stream was open.
            self.stack.start_gateway()
            self.http = self.stack.client()
            missed = [h.post_tweet(self.http, at, "while down %d %s" % (i, h.RUN)) for i in range(2)]
            for t in missed:
                h.wait_until(lambda: h.redis_cmd("LPOS", "chirp:f:{%s}" % h.id_literal(reader["id"]),
                                                 t["id"]) is not None, 10, 0.05, "the fan-out")
            s2 = sse_client.Stream(self.stack.port, token, last_id=last)
            streams.append(s2)
            for t in missed:
                s2.wait_event("tweet", lambda d, i=t["id"]: json.loads(d)["id"] == i, LIVE)
            time.sleep(0.5)
            got = [json.loads(e["data"])["id"] for e in s2.events if e["event"] == "tweet"]
            self.assertEqual(got, [t["id"] for t in missed])
        finally:
            for s in streams:
                s.close()


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2)
