#!/usr/bin/env python3
"""stream_load.py — the load of tests/bench/bench_streaming.sh (see there).

  stream_load.py PORT GATEWAY_PID STREAMS AUTHORS RATE SECONDS

Signs up AUTHORS authors and STREAMS readers (each reader follows one
author, round robin), opens one stream per reader, measures the gateway's
memory and threads before and after, its CPU while the streams are idle,
then posts RATE tweets/s for SECONDS (open loop, from a child process so
the posting does not share the reader's interpreter) and times each
tweet's arrival in the streams of its author's followers."""

import json
import multiprocessing
import os
import re
import resource
import selectors
import socket
import urllib.parse
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import chirp_harness as h  # noqa: E402
import sse_client  # noqa: E402

API = h.API
ID_RE = re.compile(r'"id":"(\d+)"')


def say(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def rss_kb(pid):
    return int(proc_status(pid)["VmRSS"].split()[0])


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def announcements(readers, seen, stop):
    """Subscribes to the live channels of readers (one follower per author)
    and notes when each tweet's announcement arrived: the workers' share of
    the latency, apart from the gateway's."""
    u = urllib.parse.urlsplit(os.environ["CHIRP_REDIS_URL"])
    sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379))
    args = [b"SUBSCRIBE"] + [("chirp:live:{%s}" % h.id_literal(r)).encode() for r in readers]
    sock.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
    sock.settimeout(0.5)
    buf = b""
    while not stop.is_set():
        try:
            got = sock.recv(65536)
        except socket.timeout:
            continue
        if not got:
            break
        now = time.monotonic()
        buf += got
        for m in re.finditer(rb"\$\d+\r\ntweet (\d+)\r\n", buf):
            seen.setdefault(m.group(1).decode(), now)
        cut = buf.rfind(b"*3\r\n")
        buf = buf[cut:] if cut > 0 else buf[-256:]
    sock.close()


def poster(port, tokens, rate, seconds, conn):
    """Open loop: tweet k is due at start + k / rate, sent by one of the
    threads; sends [(tweet id, author index, monotonic send time)] back."""
    total = int(rate * seconds)
    out, lock = [], threading.Lock()
    start = time.monotonic() + 0.5
    nthreads = 16

    def run(t):
        c = h.Client(port, keepalive=True, timeout=30)
        for k in range(t, total, nthreads):
            due = start + k / rate
            d = due - time.monotonic()
            if d > 0:
                time.sleep(d)
            a = k % len(tokens)
            t0 = time.monotonic()
            r = c.post(API + "/tweets", {"text": "bench %d" % k}, token=tokens[a])
            if r.status == 202:
                with lock:
                    out.append((r.json["id"], a, t0, time.monotonic()))
        c.close()

    ths = [threading.Thread(target=run, args=(t,)) for t in range(nthreads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    conn.send((out, time.monotonic() - start))
    conn.close()


def main():
    port, gw_pid, n_streams, n_authors, rate, seconds = (int(x) for x in sys.argv[1:7])
    t0 = time.monotonic()
    authors = h.sign_up_many(port, n_authors, "ba", threads=8)
    readers = h.sign_up_many(port, n_streams, "br", threads=16)
    say("%d accounts in %.1f s" % (n_authors + n_streams, time.monotonic() - t0))
    follows = [(readers[i][0], authors[i % n_authors][1]["id"]) for i in range(n_streams)]

    def follow(c, f):
        r = c.post(API + "/accounts/%s/follow" % f[1], token=f[0])
        if r.status not in (200, 202):
            raise AssertionError("follow: %r" % (r,))
    h.parallel(port, follow, follows, threads=16)
    ids = ",".join(h.id_literal(a[1]["id"]) for a in authors)
    h.wait_until(lambda: h.sql_int("SELECT count(*) FROM follows WHERE active AND followee_id IN (%s)"
                                   % ids) >= n_streams, 120, 0.2, "the follows applied")
    say("%d follows applied after %.1f s" % (n_streams, time.monotonic() - t0))

    # Streams, one per reader.
    time.sleep(1.0)
    rss0, thr0 = rss_kb(gw_pid), int(proc_status(gw_pid)["Threads"])
    sel = selectors.DefaultSelector()
    streams = []
    author_of = {}
    for i in range(n_streams):
        s = sse_client.Stream(port, readers[i][0], reader=False)
        if s.status != 200:
            raise AssertionError("stream %d: status %d" % (i, s.status))
        s.sock.setblocking(False)
        s.author = i % n_authors
        s.arrived = {}
        s.feed(b"")
        sel.register(s.sock, selectors.EVENT_READ, s)
        streams.append(s)

    def pump(until):
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return
            for key, _ in sel.select(min(left, 0.5)):
                s = key.data
                try:
                    got = s.sock.recv(1 << 16)
                except BlockingIOError:
                    continue
                if not got:
                    sel.unregister(s.sock)
                    continue
                now = time.monotonic()
                for ev in s.feed(got):
                    if ev["event"] == "tweet":
                        m = ID_RE.search(ev["data"])
                        if m:
                            s.arrived.setdefault(m.group(1), now)
                s.events = []

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(s.last_id is None for s in streams):
        pump(time.monotonic() + 0.2)
    ready = sum(1 for s in streams if s.last_id is not None)
    time.sleep(1.0)
    rss1, thr1 = rss_kb(gw_pid), int(proc_status(gw_pid)["Threads"])
    c0, w0 = cpu_s(gw_pid), time.monotonic()
    pump(time.monotonic() + 5.0)
    idle_cpu = (cpu_s(gw_pid) - c0) / (time.monotonic() - w0)

    # Load.
    announced, stop = {}, threading.Event()
    sub = threading.Thread(target=announcements, args=(
        [readers[a][1]["id"] for a in range(n_authors)], announced, stop), daemon=True)
    sub.start()
    time.sleep(0.5)
    parent, child = multiprocessing.Pipe()
    p = multiprocessing.Process(target=poster, args=(port, [a[0] for a in authors], rate, seconds,
                                                     child))
    c1, w1 = cpu_s(gw_pid), time.monotonic()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    p.start()
    while not parent.poll():
        pump(time.monotonic() + 0.2)
    posted, took = parent.recv()
    p.join()
    load_cpu = (cpu_s(gw_pid) - c1) / (time.monotonic() - w1)
    r2 = resource.getrusage(resource.RUSAGE_SELF)
    reader_cpu = (r2.ru_utime + r2.ru_stime - r1.ru_utime - r1.ru_stime) / (time.monotonic() - w1)
    pump(time.monotonic() + 10.0)  # the tail
    stop.set()
    sub.join(2)

    followers = {}
    for s in streams:
        followers.setdefault(s.author, []).append(s)
    per_delivery, per_tweet, missing, expected = [], [], 0, 0
    post_lat = [t1 - ts for _, _, ts, t1 in posted]
    ann_lat = [announced[tid] - ts for tid, _, ts, _ in posted if tid in announced]
    for tid, a, ts, _ in posted:
        arr = []
        for s in followers.get(a, []):
            expected += 1
            t = s.arrived.get(tid)
            if t is None:
                missing += 1
            else:
                arr.append(t - ts)
        per_delivery += arr
        if arr and len(arr) == len(followers.get(a, [])):
            per_tweet.append(max(arr))

    ms = lambda v: "%.1f" % (v * 1000)  # noqa: E731
    print("streams open:            %d of %d (ready %d)" % (len(streams), n_streams, ready))
    print("gateway threads:         %d before, %d with the streams open" % (thr0, thr1))
    print("gateway RSS:             %.1f MiB before, %.1f MiB after: %.1f KiB per stream"
          % (rss0 / 1024, rss1 / 1024, (rss1 - rss0) / max(1, len(streams))))
    print("idle CPU (streams open): %.2f %% of a core" % (idle_cpu * 100))
    print("tweets posted:           %d in %.1f s (%.0f/s; target %d/s), %d followers online each"
          % (len(posted), took, len(posted) / took if took else 0, rate, n_streams // n_authors))
    print("deliveries:              %d of %d expected (%d missing)"
          % (len(per_delivery), expected, missing))
    print("POST /tweets -> 202:     p50 %s ms, p99 %s ms" % (ms(pct(post_lat, 50)),
                                                            ms(pct(post_lat, 99))))
    print("post -> announced:       p50 %s ms, p99 %s ms (Redis channel of one follower per"
          " author; %d tweets)" % (ms(pct(ann_lat, 50)), ms(pct(ann_lat, 99)), len(ann_lat)))
    print("post -> one stream:      p50 %s ms, p99 %s ms" % (ms(pct(per_delivery, 50)),
                                                            ms(pct(per_delivery, 99))))
    print("post -> all followers:   p50 %s ms, p99 %s ms (%d tweets complete)"
          % (ms(pct(per_tweet, 50)), ms(pct(per_tweet, 99)), len(per_tweet)))
    print("gateway CPU under load:  %.0f %% of a core (the stream reader here: %.0f %%; load"
          " average %.1f)" % (load_cpu * 100, reader_cpu * 100, os.getloadavg()[0]))
    for s in streams:
        s.close()
    return 0 if ready == n_streams else 1


if __name__ == "__main__":
    sys.exit(main())
