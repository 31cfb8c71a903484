#!/usr/bin/env python3
"""End-to-end: what a hostile client sends, while a normal client reads.

The attacks, all at once against one gateway: random bytes, a header of
64 KiB, 10 000 headers, request bodies and headers that arrive one byte per
100 ms, 2 000 idle connections, and requests sent halfway and then closed.  All the
while normal readers fetch tweets and pages on fresh connections; they must
see no error, the gateway must answer each attack with an error status or a
close (never a hang past its deadline), and its memory must stay within a
budget (RSS before and after, from /proc, printed).  The whole test takes
about 30 s.
"""

import os
import resource
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

API = h.API
IDLE_CONNECTIONS = 2000
SLOW_BODIES = 20
SLOW_BODY_BYTES = 40  # one per 100 ms: 4 s each
ATTACK_SECONDS = 12   # the idle connections are held this long
# RSS growth allowed over the attack.  Each connection costs libmicrohttpd
# its memory pool (MHD_OPTION_CONNECTION_MEMORY_LIMIT, 32 KiB), so 2 000 at
# once may take up to ~64 MiB while they are open; afterwards the gateway
# must be back near where it started.  Sanitizer builds keep freed memory in
# quarantine and have shadow memory: they get a wider budget.
BUDGET_PEAK_MIB = 96
BUDGET_AFTER_MIB = 48
SANITIZED_FACTOR = 8


def rss_kib(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def sanitized(pid):
    with open("/proc/%d/maps" % pid) as f:
        maps = f.read()
    return any(lib in maps for lib in ("libasan", "libtsan", "libubsan"))


def raise_fd_limit(want):
    """Raises this process's descriptor limit (the gateway inherits it) to
    want: the hard limit too when allowed (root), else up to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE,
                               (want, hard if hard == resource.RLIM_INFINITY else max(hard, want)))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def connect(port, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_answer(s, deadline_s=15.0):
    """Reads until the server closes or deadline_s passes; returns the bytes
    and whether the server closed (b"" read / reset)."""
    s.settimeout(1.0)
    got = b""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            if got.endswith(b"}") or b"\r\n\r\n" in got and b"Content-Length: 0" in got:
                return got, False
            continue
        except (ConnectionResetError, BrokenPipeError):
            return got, True
        if not chunk:
            return got, True
        got += chunk
    return got, False


def send_all(s, data):
    """Sends data; the server may answer and close before taking it all."""
    try:
        s.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False


def status_of(answer):
    if not answer.startswith(b"HTTP/1."):
        return None
    try:
        return int(answer.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


class Hostile(h.StackTestCase):
    WORKERS = 1
    ROLES = ("persist",)

    @classmethod
    def setUpClass(cls):
        cls.fd_limit = raise_fd_limit(IDLE_CONNECTIONS + 1000)  # the gateway inherits it
        super().setUpClass()

    def setUp(self):
        self.port = self.stack.port
        self.problems = []  # what the attackers saw that the contract forbids
        self.lock = threading.Lock()

    def problem(self, msg):
        with self.lock:
            self.problems.append(msg)

    # -- the attacks; each runs in its own thread --

    def random_bytes(self):
        rnd = open("/dev/urandom", "rb")
        for i in range(30):
            s = connect(self.port)
            send_all(s, rnd.read(4096))
            answer, closed = read_answer(s)
            st = status_of(answer)
            if st is not None and st < 400:
                self.problem("random bytes #%d answered %d" % (i, st))
            if not closed and st is None:
                self.problem("random bytes #%d: neither an answer nor a close" % i)
            s.close()
        rnd.close()

    def huge_header(self):
        for i in range(5):
            s = connect(self.port)
            req = (b"GET " + API.encode() + b"/tweets/1 HTTP/1.1\r\nHost: x\r\nX-Big: " +
                   b"a" * 65536 + b"\r\n\r\n")
            send_all(s, req)
            answer, closed = read_answer(s)
            st = status_of(answer)
            if st not in (None, 400, 413, 414, 431) or (st is None and not closed):
                self.problem("64 KiB header: %r, closed=%s" % (answer[:80], closed))
            s.close()

    def many_headers(self):
        for i in range(5):
            s = connect(self.port)
            req = (b"GET /healthz HTTP/1.1\r\nHost: x\r\n" +
                   b"".join(b"X-H%d: v\r\n" % k for k in range(10000)) + b"\r\n")
            send_all(s, req)
            answer, closed = read_answer(s)
            st = status_of(answer)
            if st not in (None, 400, 413, 414, 431) or (st is None and not closed):
                self.problem("10 000 headers: %r, closed=%s" % (answer[:80], closed))
            s.close()

    def slow_body(self, i):
        s = connect(self.port, timeout=30)
        body = b'{"text":"' + b"s" * (SLOW_BODY_BYTES - 11) + b'"}'
        head = (b"POST " + API.encode() + b"/tweets HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nConnection: close\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body))
        send_all(s, head)
        for k in range(len(body)):
            if not send_all(s, body[k:k + 1]):
                break
            time.sleep(0.1)
        answer, closed = read_answer(s)
        # No token: the whole body read, the answer is 401.
        if status_of(answer) != 401:
            self.problem("slow body #%d: %r, closed=%s" % (i, answer[:80], closed))
        s.close()

    def slow_headers(self, stop):
        """The classic slow-loris: headers one byte per 100 ms, never done."""
        s = connect(self.port)
        line = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"z" * 4096
        k = 0
        while not stop.is_set() and k < len(line) and send_all(s, line[k:k + 1]):
            k += 1
            time.sleep(0.1)
        s.close()

    def half_sent(self):
        for i in range(200):
            s = connect(self.port)
            send_all(s, b"POST " + API.encode() + b"/tweets HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"te")
            s.close()
            s = connect(self.port)
            send_all(s, b"GET " + API.encode() + b"/tweets/1 HTTP/1.1\r\nHo")
            s.close()

    def test_hostile_clients_do_not_disturb_a_reader(self):
        c = self.http
        token, acct = h.sign_up(c, "hostile")
        tweets = [h.post_tweet(c, token, "hostile test %d" % i) for i in range(5)]
        if self.fd_limit < IDLE_CONNECTIONS + 500:
            self.fail("descriptor limit %d: cannot open %d connections (raise ulimit -n)"
                      % (self.fd_limit, IDLE_CONNECTIONS))
        gw = self.stack.gateway.pid
        budget = SANITIZED_FACTOR if sanitized(gw) else 1

        # The normal readers: fresh connections, as a browser behind a proxy.
        stop = threading.Event()
        reads = {"ok": 0, "errors": [], "slowest": 0.0}

        def reader(k):
            rc = h.Client(self.port, timeout=10)
            n = 0
            while not stop.is_set():
                t = tweets[n % len(tweets)]
                n += 1
                path = API + "/tweets/" + t["id"] if n % 2 else API + "/accounts/%s/tweets" % acct["id"]
                try:
                    r = rc.get(path)
                    ok = r.status == 200
                    detail = r
                except OSError as e:
                    ok, detail = False, e
                with self.lock:
                    if ok:
                        reads["ok"] += 1
                        reads["slowest"] = max(reads["slowest"], r.elapsed)
                    else:
                        reads["errors"].append("%s: %r" % (path, detail))
                time.sleep(0.02)

        readers = [threading.Thread(target=reader, args=(k,), daemon=True) for k in range(2)]
        for t in readers:
            t.start()
        time.sleep(1.0)
        before = rss_kib(gw)

        idle = []
        attackers = [threading.Thread(target=f, daemon=True) for f in
                     (self.random_bytes, self.huge_header, self.many_headers, self.half_sent)]
        attackers += [threading.Thread(target=self.slow_body, args=(i,), daemon=True)
                      for i in range(SLOW_BODIES)]
        loris_stop = threading.Event()
        loris = [threading.Thread(target=self.slow_headers, args=(loris_stop,), daemon=True)
                 for _ in range(SLOW_BODIES)]
        attackers += loris
        t0 = time.monotonic()
        for t in attackers:
            t.start()
        try:
            for _ in range(IDLE_CONNECTIONS):
                idle.append(connect(self.port))
            opened = time.monotonic() - t0
            time.sleep(max(0.0, ATTACK_SECONDS - opened))
            # The readers still get through with every idle connection open.
            during = rss_kib(gw)
            loris_stop.set()
            for t in attackers:
                t.join(30)
                self.assertFalse(t.is_alive(), "an attacker hangs: the gateway did not answer")
        finally:
            for s in idle:
                s.close()
        time.sleep(2.0)  # the gateway notices the closes
        stop.set()
        for t in readers:
            t.join(15)
        after = rss_kib(gw)
        peak = rss_kib(gw, "VmHWM")
        print("gateway RSS: before %d KiB, with %d idle connections %d KiB, after %d KiB, "
              "peak %d KiB (budget: peak +%d MiB, after +%d MiB%s); fd limit %d; "
              "%d good reads, slowest %.3f s; %d idle connections opened in %.1f s"
              % (before, len(idle), during, after, peak, BUDGET_PEAK_MIB * budget,
                 BUDGET_AFTER_MIB * budget, ", sanitizer build" if budget > 1 else "",
                 self.fd_limit, reads["ok"], reads["slowest"], len(idle), opened), flush=True)

        self.assertEqual(reads["errors"], [], "the normal reader saw errors")
        self.assertGreater(reads["ok"], 50, "the normal reader got almost nothing through")
        self.assertEqual(self.problems, [])
        self.assertLessEqual(peak - before, BUDGET_PEAK_MIB * 1024 * budget, "peak RSS over budget")
        self.assertLessEqual(after - before, BUDGET_AFTER_MIB * 1024 * budget, "RSS over budget")
        self.assertStatus(c.get("/readyz"), 200)
        self.assertStatus(c.get(API + "/tweets/" + tweets[0]["id"]), 200)


if __name__ == "__main__":
    h.main()
