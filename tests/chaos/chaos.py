#!/usr/bin/env python3
"""tests/chaos/chaos.py — steady mixed load through HAProxy while faults are
injected into the deploy/cluster.sh topology; then every acknowledged write is
checked in PostgreSQL and through the API.  Python 3 standard library only.
Run it through tests/chaos/chaos.sh (which starts and stops the cluster).

Load: THREADS threads, about RATE requests/s in all, over keep-alive HTTP/1.1
connections to HAProxy: post a tweet (28 %), read a home feed (24 %), like a
tweet (14 %), follow an account (9 %), read a tweet (8 %), repost a tweet (6 %),
undo one of one's reposts (2 %), block or unblock an account (4 %, toggling the
pair's state), bookmark a tweet (5 %).  Every answer is
recorded (operation, start, end, status); every write answered 2xx with the
ids it created.

Faults (seconds after the load started; each one's window lasts until the next):
  kill -9 one worker of each role (persist, fanout, notify, likes), one after
  the other, each restarted KILL_FOR seconds later (cluster.sh restart-worker);
  kill -9 gateway 2, restarted KILL_FOR seconds later (cluster.sh restart-gateway);
  RabbitMQ stopped and started again (cluster.sh stack stop-rabbit/start-rabbit);
  Redis FLUSHALL.

Per fault it reports the requests that failed in its window and the
recovery time: from the fault until the first write that succeeded after the
last write that failed ("no write failed" when none did).

Checks (exit status 1 if one fails):
  * every tweet answered 202 is in PostgreSQL exactly once (count(*) per id = 1,
    same text), readable by GET /tweets/{id} with that text, and exactly once in
    its author's timeline (all pages walked);
  * no tweet text of this run is stored twice (a write applied twice);
  * no tweet whose POST was answered 4xx is stored;
  * every like answered 202/200 is active in PostgreSQL; per tweet,
    tweet_counts.likes = the active likes rows = like_count through the API;
  * every repost answered 202/200 (and not undone with a 2xx since) is in
    PostgreSQL exactly once, active, with the repost_id the API answered; every
    undo answered 2xx left its row inactive; per tweet, repost_count through the
    API = the active reposts rows;
  * every bookmark answered 202/200 is active in PostgreSQL and listed by its
    owner's GET /bookmarks;
  * every follow answered 202/200 is active in PostgreSQL (unless a block was
    tried between the pair); per account, followers_count = the active follows
    rows = followers_count through the API;
  * every pair whose block/unblock requests were all answered 202/200 ends in
    PostgreSQL in the state of the last one; no active follow (either way)
    between a pair with an active block;
  * every process of the topology is still running after the faults.
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import random
import secrets
import subprocess
import sys
import threading
import time
import urllib.parse

API = "/api/v1"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CLUSTER = os.path.join(ROOT, "deploy", "cluster.sh")
RUN = secrets.token_hex(3)
WRITES = ("post", "like", "follow", "repost", "unrepost", "block", "bookmark")


def log(msg):
    print("chaos: " + msg, flush=True)


# ---- HTTP ---------------------------------------------------------------------

class Client:
    """One keep-alive connection; reconnects after any error."""

    def __init__(self, host, port, timeout=15.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = None

    def request(self, method, path, body=None, token=None):
        """Returns (status, parsed JSON or None, error text); status -1 when no
        HTTP answer came (connection refused/reset, timeout)."""
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = "Bearer " + token
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.conn.request(method, path, body=data, headers=headers)
            r = self.conn.getresponse()
            raw = r.read()
            if r.will_close:
                self.close()
            try:
                js = json.loads(raw) if raw else None
            except ValueError:
                js = None
            return r.status, js, None
        except (OSError, http.client.HTTPException) as e:
            self.close()
            return -1, None, "%s: %s" % (type(e).__name__, e)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# ---- the cluster, PostgreSQL, Redis ---------------------------------------------

def cluster(*args, timeout=180):
    t0 = time.time()
    r = subprocess.run(["bash", CLUSTER] + list(args), capture_output=True, text=True,
                       timeout=timeout)
    out = (r.stdout + r.stderr).strip()
    if r.returncode != 0:
        log("cluster.sh %s failed (%d):\n%s" % (" ".join(args), r.returncode, out))
    return r.returncode == 0, time.time() - t0, out


def cluster_env():
    r = subprocess.run(["bash", CLUSTER, "env"], capture_output=True, text=True, timeout=60,
                       check=True)
    env = {}
    for line in r.stdout.splitlines():
        if line.startswith("export "):
            k, _, v = line[len("export "):].partition("=")
            env[k] = v
    return env


class PG:
    def __init__(self, url):
        self.url = url

    def query(self, sql):
        r = subprocess.run(["psql", "-X", "-At", "-q", "-v", "ON_ERROR_STOP=1", "-F", "\t",
                            self.url], input=sql, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("psql: %s\n%s" % (r.stderr, sql[:300]))
        return [line.split("\t") for line in r.stdout.splitlines() if line]


def redis_flushall(url):
    u = urllib.parse.urlsplit(url)
    r = subprocess.run(["redis-cli", "-h", u.hostname, "-p", str(u.port or 6379), "FLUSHALL"],
                       capture_output=True, text=True, timeout=30)
    return r.returncode == 0 and r.stdout.strip() == "OK"


def id_array(ids):
    ids = [str(int(i)) for i in ids]
    return "'{%s}'::bigint[]" % ",".join(ids)


# ---- the load -------------------------------------------------------------------

class Load:
    def __init__(self, host, port, users, threads, rate):
        self.host, self.port = host, port
        self.users = users          # [(token, account_id)]
        self.threads = threads
        self.rate = rate
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.records = []           # (op, t0, t1, status, err)
        self.tweets = {}            # id -> (author, text): answered 202
        self.pool = []              # tweet ids to like/read
        self.post_unknown = []      # texts whose POST got no 2xx/4xx answer
        self.post_refused = []      # texts whose POST was answered 4xx
        self.likes = set()          # (user, tweet) answered 202/200
        self.like_tried = set()
        self.reposts = {}           # (user, tweet) -> repost_id (reposted) or None (undone)
        self.repost_unknown = set() # pairs with an answer that was not 2xx: state unknown
        self.repost_busy = set()    # pairs a thread is acting on (one at a time)
        self.follows = set()        # (follower, followee) answered 202/200
        self.follow_tried = set()
        self.blocks = {}            # (blocker, blocked) -> state of the last answered request
        self.block_unsure = set()   # pairs with a request answered neither 2xx nor 4xx
        self.block_inflight = set()
        self.bookmarks = set()      # (user, tweet) answered 202/200
        self.bookmark_tried = set()
        self.tokens = {}            # user -> token (to read their bookmarks)
        self.seq = 0

    def record(self, op, t0, status, err):
        with self.lock:
            self.records.append((op, t0, time.time(), status, err))

    def next_seq(self):
        with self.lock:
            self.seq += 1
            return self.seq

    def one(self, c, rnd):
        op = rnd.choices(("post", "feed", "like", "follow", "get", "repost", "unrepost",
                          "block", "bookmark"), (28, 24, 14, 9, 8, 6, 2, 4, 5))[0]
        token, uid = rnd.choice(self.users)
        t0 = time.time()
        if op == "post":
            text = "chaos %s %d" % (RUN, self.next_seq())
            st, js, err = c.request("POST", API + "/tweets", {"text": text}, token)
            if st == 202 and js and "id" in js:
                with self.lock:
                    self.tweets[js["id"]] = (uid, text)
                    self.pool.append(js["id"])
            elif 400 <= st < 500:
                with self.lock:
                    self.post_refused.append(text)
            else:
                with self.lock:
                    self.post_unknown.append(text)
        elif op == "feed":
            st, js, err = c.request("GET", API + "/feed?limit=20", None, token)
        elif op == "get":
            with self.lock:
                tid = rnd.choice(self.pool) if self.pool else None
            if tid is None:
                return
            st, js, err = c.request("GET", API + "/tweets/" + tid)
        elif op == "like":
            with self.lock:
                cands = [t for t in self.pool[-200:] if (uid, t) not in self.like_tried]
                tid = rnd.choice(cands) if cands else None
                if tid is not None:
                    self.like_tried.add((uid, tid))
            if tid is None:
                return
            st, js, err = c.request("POST", API + "/tweets/%s/like" % tid, None, token)
            if st in (200, 202):
                with self.lock:
                    self.likes.add((uid, tid))
        elif op in ("repost", "unrepost"):
            with self.lock:
                if op == "repost":
                    cands = [t for t in self.pool[-200:] if (uid, t) not in self.repost_busy
                             and self.reposts.get((uid, t)) is None]
                else:
                    cands = [t for (u, t), r in self.reposts.items()
                             if u == uid and r is not None and (u, t) not in self.repost_busy]
                tid = rnd.choice(cands) if cands else None
                if tid is not None:
                    self.repost_busy.add((uid, tid))
            if tid is None:
                return
            st, js, err = c.request("POST" if op == "repost" else "DELETE",
                                    API + "/tweets/%s/repost" % tid, None, token)
            with self.lock:
                self.repost_busy.discard((uid, tid))
                if st in (200, 202) and js:
                    self.reposts[(uid, tid)] = js.get("repost_id") if op == "repost" else None
                elif not 400 <= st < 500:
                    self.repost_unknown.add((uid, tid))
        elif op == "block":
            with self.lock:
                target = rnd.choice([u for _, u in self.users if u != uid])
                on = not self.blocks.get((uid, target), False)
                if (uid, target) in self.block_inflight:  # two at once: order unknown
                    self.block_unsure.add((uid, target))
                self.block_inflight.add((uid, target))
            st, js, err = c.request("POST" if on else "DELETE",
                                    API + "/accounts/%s/block" % target, None, token)
            with self.lock:
                self.block_inflight.discard((uid, target))
                if st in (200, 202):
                    self.blocks[(uid, target)] = on
                elif not 400 <= st < 500:
                    self.block_unsure.add((uid, target))
        elif op == "bookmark":
            with self.lock:
                cands = [t for t in self.pool[-200:] if (uid, t) not in self.bookmark_tried]
                tid = rnd.choice(cands) if cands else None
                if tid is not None:
                    self.bookmark_tried.add((uid, tid))
                    self.tokens[uid] = token
            if tid is None:
                return
            st, js, err = c.request("POST", API + "/tweets/%s/bookmark" % tid, None, token)
            if st in (200, 202):
                with self.lock:
                    self.bookmarks.add((uid, tid))
        else:  # follow
            with self.lock:
                others = [u for _, u in self.users
                          if u != uid and (uid, u) not in self.follow_tried]
                target = rnd.choice(others) if others else None
                if target is not None:
                    self.follow_tried.add((uid, target))
            if target is None:
                return
            st, js, err = c.request("POST", API + "/accounts/%s/follow" % target, None, token)
            if st in (200, 202):
                with self.lock:
                    self.follows.add((uid, target))
        refused = st == 403 and js and js.get("error", {}).get("code") == "blocked"
        if err is None and not 200 <= st < 300 and not refused:  # a block's refusal is right
            err = (json.dumps(js)[:120] if js is not None else "")
        self.record(op, t0, st, err)

    def thread(self, k):
        rnd = random.Random(k)
        c = Client(self.host, self.port)
        interval = self.threads / float(self.rate)
        nxt = time.time()
        while not self.stop.is_set():
            self.one(c, rnd)
            nxt += interval
            delay = nxt - time.time()
            if delay > 0:
                self.stop.wait(delay)
            else:
                nxt = time.time()
        c.close()

    def start(self):
        self.ths = [threading.Thread(target=self.thread, args=(k,), daemon=True)
                    for k in range(self.threads)]
        for th in self.ths:
            th.start()

    def finish(self):
        self.stop.set()
        for th in self.ths:
            th.join(30)


def make_accounts(pg, n):
    """n accounts with a session each, inserted with psql (POST /accounts is
    rate limited per client address: CHIRP_RATE_LOGIN, 20 a minute by
    default).  Returns [(token, account id)].  Ids use the layout of
    shared/include/chirp_id.h with node 1023 (kept for tools); a token is 32
    random bytes in unpadded base64url (43 characters), stored as the hex
    SHA-256 of its text (shared/chirp_account.c); the password hash "!" never
    verifies, so these accounts cannot log in."""
    ms = int(time.time() * 1000) - 1704067200000
    out, acc, ses = [], [], []
    for i in range(n):
        aid = str(((ms + i // 4096) << 22) | (1023 << 12) | (i % 4096))
        token = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
        name = "ch_%s_%d" % (RUN, i)
        acc.append("%s\t%s\t%s@chaos.invalid\t!" % (aid, name, name))
        ses.append("%s\t%s" % (hashlib.sha256(token.encode()).hexdigest(), aid))
        out.append((token, aid))
    pg.query("COPY accounts (id, username, email, password_hash) FROM STDIN;\n%s\n\\.\n"
             "CREATE TEMP TABLE s (token_hash text, account_id bigint);\n"
             "COPY s FROM STDIN;\n%s\n\\.\n"
             "INSERT INTO sessions (token_hash, account_id, expires_at) "
             "SELECT token_hash, account_id, now() + interval '1 day' FROM s;\n"
             % ("\n".join(acc), "\n".join(ses)))
    return out


# ---- the faults -------------------------------------------------------------------

def run_faults(load, env, kill_for, gap, warmup, cooldown):
    """Runs the schedule; returns [(name, t_start, note)]."""
    faults = []

    def at(t):
        d = t - time.time()
        if d > 0:
            time.sleep(d)

    t = time.time() + warmup
    for role in ("persist", "fanout", "notify", "likes"):
        at(t)
        name = "kill -9 worker %s-1" % role
        faults.append((name, time.time(), ""))
        log(name)
        cluster("kill-worker", role, "1")
        at(t + kill_for)
        ok, secs, _ = cluster("restart-worker", role, "1")
        faults[-1] = (name, faults[-1][1], "restarted after %.0f s%s" % (
            kill_for, "" if ok else " (restart FAILED)"))
        t += gap
    at(t)
    name = "kill -9 gateway 2"
    faults.append((name, time.time(), ""))
    log(name)
    cluster("kill-gateway", "2")
    at(t + kill_for)
    ok, secs, _ = cluster("restart-gateway", "2")
    faults[-1] = (name, faults[-1][1], "restarted after %.0f s, ready and UP in HAProxy %.1f s "
                  "later%s" % (kill_for, secs, "" if ok else " (restart FAILED)"))
    t += gap
    at(t)
    name = "RabbitMQ restart"
    faults.append((name, time.time(), ""))
    log(name + ": stop-rabbit")
    ok1, s1, _ = cluster("stack", "stop-rabbit")
    log(name + ": start-rabbit")
    ok2, s2, _ = cluster("stack", "start-rabbit")
    faults[-1] = (name, faults[-1][1], "stop took %.1f s, start %.1f s%s" % (
        s1, s2, "" if ok1 and ok2 else " (FAILED)"))
    t = time.time() + gap
    at(t)
    name = "Redis FLUSHALL"
    faults.append((name, time.time(), ""))
    log(name)
    ok = redis_flushall(env["CHIRP_REDIS_URL"])
    faults[-1] = (name, faults[-1][1], "" if ok else "FLUSHALL FAILED")
    at(t + cooldown)
    return faults


def failed(r):
    """Whether a record (op, start, end, status, error) failed: not 2xx, and
    not a block's right refusal (403 blocked, recorded without an error)."""
    return not 200 <= r[3] < 300 and not (r[3] == 403 and r[4] is None)


def report_faults(load, faults, t_end):
    rows = []
    bounds = [f[1] for f in faults[1:]] + [t_end]
    for (name, ts, note), te in zip(faults, bounds):
        recs = [r for r in load.records if ts <= r[1] < te]
        bad = [r for r in recs if failed(r)]
        wfail = [r for r in bad if r[0] in WRITES]
        if wfail:
            last = max(r[1] for r in wfail)
            ok_after = [r[2] for r in recs if r[0] in WRITES and 200 <= r[3] < 300 and r[1] > last]
            rec = ("%.1f s" % (min(ok_after) - ts)) if ok_after else "not within the window"
        else:
            rec = "no write failed"
        kinds = {}
        for r in bad:
            k = "%s:%s" % (r[0], r[3])
            kinds[k] = kinds.get(k, 0) + 1
        rows.append((name, len(recs), len(bad), len(wfail), rec, note,
                     ", ".join("%s x%d" % kv for kv in sorted(kinds.items()))))
    print()
    print("%-26s %8s %7s %7s  %-22s %s" % ("fault", "requests", "failed", "writes", "recovery",
                                            "notes / failed requests by op:status"))
    for r in rows:
        print("%-26s %8d %7d %7d  %-22s %s%s" % (r[0], r[1], r[2], r[3], r[4], r[5],
                                                 (" | " + r[6]) if r[6] else ""))
    print()
    return rows


# ---- the checks -------------------------------------------------------------------

def wait_for(what, fn, timeout):
    t0 = time.time()
    while True:
        left = fn()
        if not left:
            log("%s: done in %.1f s" % (what, time.time() - t0))
            return []
        if time.time() - t0 > timeout:
            log("%s: %d still missing after %d s" % (what, len(left), timeout))
            return left
        time.sleep(1)


def parallel(fn, items, threads=8):
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        return list(ex.map(fn, items))


def check(load, pg, host, port, drain, likes_wait):
    """The reads go with the users' tokens, spread over them: the read budget
    (CHIRP_RATE_READ) is per account, or per address for anonymous reads."""
    problems = []
    tweets = dict(load.tweets)
    tokens = [t for t, _ in load.users]
    turn = iter(range(10 ** 9))
    turn_lock = threading.Lock()

    def token():
        with turn_lock:
            return tokens[next(turn) % len(tokens)]

    # Pairs that may be under a block at the end: each side's tweets are
    # hidden from the other's reads (hydrated lists), so a read of an
    # author's tweets goes with a reader outside such a pair.
    hidden = ({frozenset(k) for k, on in load.blocks.items() if on} |
              {frozenset(k) for k in load.block_unsure})

    def token_for(author):
        with turn_lock:
            for _ in range(len(load.users)):
                t, u = load.users[next(turn) % len(load.users)]
                if frozenset((u, author)) not in hidden:
                    return t
        return None  # (anonymous: nothing is hidden)

    def missing_tweets():
        if not tweets:
            return []
        have = {r[0] for r in pg.query("SELECT id FROM tweets WHERE id = ANY(%s)" %
                                       id_array(tweets))}
        return [t for t in tweets if t not in have]

    left = wait_for("every tweet answered 202 in PostgreSQL", missing_tweets, drain)
    if left:
        problems.append("%d tweets answered 202 are not in PostgreSQL, e.g. %s" % (len(left), left[:5]))
    rows = pg.query("SELECT id, count(*), min(text), max(text) FROM tweets WHERE id = ANY(%s) "
                    "GROUP BY id" % id_array(tweets)) if tweets else []
    bad = [r for r in rows if r[1] != "1" or r[2] != tweets[r[0]][1]]
    if bad:
        problems.append("tweets stored more than once or with another text: %s" % bad[:5])
    dup = pg.query("SELECT text, count(*) FROM tweets WHERE text LIKE 'chaos %s %%' "
                   "GROUP BY text HAVING count(*) > 1" % RUN)
    if dup:
        problems.append("%d tweet texts stored more than once, e.g. %s" % (len(dup), dup[:5]))
    stored = {r[0] for r in pg.query("SELECT text FROM tweets WHERE text LIKE 'chaos %s %%'" % RUN)}
    acked_texts = {v[1] for v in tweets.values()}
    unacked_stored = stored - acked_texts
    refused_stored = unacked_stored & set(load.post_refused)
    if refused_stored:
        problems.append("%d tweets answered 4xx were stored: %s" % (
            len(refused_stored), sorted(refused_stored)[:5]))
    log("tweets: %d answered 202, %d stored in all; %d answered with an error/no answer, "
        "of which %d were stored anyway (outcome unknown to the client: allowed)" % (
            len(tweets), len(stored), len(load.post_unknown),
            len(unacked_stored & set(load.post_unknown))))

    # Through the API: each tweet by id, and each author's timeline once.
    def get_one(tid):
        c = Client(host, port)
        st, js, err = c.request("GET", API + "/tweets/" + tid, None, token())
        c.close()
        return tid, st, js

    bad = [(t, st) for t, st, js in parallel(get_one, list(tweets))
           if st != 200 or not js or js.get("text") != tweets[t][1]]
    if bad:
        problems.append("%d tweets not readable by GET /tweets/{id} with their text: %s" % (
            len(bad), bad[:5]))

    def timeline(uid):
        c = Client(host, port)
        ids, cursor = [], None
        for _ in range(1000):
            q = "?limit=100" + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
            st, js, err = c.request("GET", API + "/accounts/%s/tweets%s" % (uid, q), None,
                                    token_for(uid))
            if st != 200:
                c.close()
                return uid, None, "status %s %s" % (st, err)
            ids += [t["id"] for t in js["items"]]
            cursor = js.get("next_cursor")
            if not cursor:
                break
        c.close()
        return uid, ids, None

    by_author = {}
    for t, (a, _) in tweets.items():
        by_author.setdefault(a, set()).add(t)
    for uid, ids, err in parallel(timeline, list(by_author)):
        if err:
            problems.append("timeline of %s: %s" % (uid, err))
            continue
        dups = len(ids) - len(set(ids))
        miss = by_author[uid] - set(ids)
        if dups or miss:
            problems.append("timeline of %s: %d duplicates, %d acknowledged tweets missing" % (
                uid, dups, len(miss)))
    log("API: %d tweets read by id, %d timelines walked" % (len(tweets), len(by_author)))

    # Likes: flushed by the like batcher (count or age), so wait for them.
    likes = sorted(load.likes)

    def missing_likes():
        if not likes:
            return []
        have = {(r[0], r[1]) for r in pg.query(
            "SELECT user_id, tweet_id FROM likes WHERE active AND tweet_id = ANY(%s)" %
            id_array({t for _, t in likes}))}
        return [lk for lk in likes if lk not in have]

    left = wait_for("every like answered 202/200 in PostgreSQL", missing_likes, likes_wait)
    if left:
        problems.append("%d likes answered 202/200 are not in PostgreSQL, e.g. %s" % (
            len(left), left[:5]))
    liked = sorted({t for _, t in likes})
    if liked:
        rows = pg.query(
            "SELECT t.id, coalesce(c.likes, 0), (SELECT count(*) FROM likes l WHERE l.tweet_id = t.id "
            "AND l.active) FROM unnest(%s) AS t(id) LEFT JOIN tweet_counts c ON c.tweet_id = t.id"
            % id_array(liked))
        pgcount = {r[0]: int(r[2]) for r in rows}
        bad = [r for r in rows if r[1] != r[2]]
        if bad:
            problems.append("%d tweets whose tweet_counts.likes differs from their likes rows: %s"
                            % (len(bad), bad[:5]))
        api = parallel(get_one, liked)
        bad = [(t, js.get("like_count") if js else st, pgcount.get(t)) for t, st, js in api
               if st != 200 or not js or js.get("like_count") != pgcount.get(t)]
        if bad:
            problems.append("%d tweets whose API like_count differs from PostgreSQL "
                            "(tweet, api, pg): %s" % (len(bad), bad[:5]))
    log("likes: %d answered 202/200 on %d tweets" % (len(likes), len(liked)))

    # Bookmarks: every one answered 202/200 is active in PostgreSQL and in
    # its owner's GET /bookmarks.
    marks = sorted(load.bookmarks)

    def missing_marks():
        if not marks:
            return []
        have = {(r[0], r[1]) for r in pg.query(
            "SELECT user_id, tweet_id FROM bookmarks WHERE active AND user_id = ANY(%s)" %
            id_array({u for u, _ in marks}))}
        return [m for m in marks if m not in have]

    left = wait_for("every bookmark answered 202/200 in PostgreSQL", missing_marks, drain)
    if left:
        problems.append("%d bookmarks answered 202/200 are not in PostgreSQL, e.g. %s" % (
            len(left), left[:5]))

    def bookmarks_of(uid):
        c, got, cursor = Client(host, port), set(), None
        for _ in range(100):
            q = "?limit=100" + ("&cursor=" + cursor if cursor else "")
            st, js, err = c.request("GET", API + "/bookmarks" + q, None, load.tokens[uid])
            if st != 200 or not js:
                break
            got |= {i["id"] for i in js["items"]}
            cursor = js.get("next_cursor")
            if not cursor:
                break
        c.close()
        return uid, got

    listed = dict(parallel(bookmarks_of, sorted({u for u, _ in marks})))
    bad = [m for m in marks if m[1] not in listed.get(m[0], set())
           and frozenset((m[0], tweets.get(m[1], (None,))[0])) not in hidden]
    if bad:
        problems.append("%d bookmarks answered 202/200 missing from GET /bookmarks, e.g. %s"
                        % (len(bad), bad[:5]))
    log("bookmarks: %d answered 202/200" % len(marks))


    # Reposts: applied by the fan-out role.
    pairs = {k: v for k, v in load.reposts.items() if k not in load.repost_unknown}

    def repost_problems():
        if not pairs:
            return []
        rows = {(r[0], r[1]): (r[2], r[3]) for r in pg.query(
            "SELECT user_id, tweet_id, active, repost_id FROM reposts WHERE tweet_id = ANY(%s)" %
            id_array({t for _, t in pairs}))}
        out = []
        for k, rid in sorted(pairs.items()):
            got = rows.get(k)
            if rid is not None and got != ("t", rid):
                out.append((k, rid, got))
            if rid is None and got is not None and got[0] != "f":
                out.append((k, None, got))
        return out

    left = wait_for("every 2xx repost / undo in PostgreSQL", repost_problems, drain)
    if left:
        problems.append("%d reposts answered 2xx whose PostgreSQL row differs "
                        "((user, tweet), repost_id answered, row): %s" % (len(left), left[:5]))
    reposted = sorted({t for _, t in load.reposts})
    if reposted:
        pgcount = {r[0]: int(r[1]) for r in pg.query(
            "SELECT t.id, (SELECT count(*) FROM reposts r WHERE r.tweet_id = t.id AND r.active) "
            "FROM tweets t WHERE t.id = ANY(%s)" % id_array(reposted))}
        api = parallel(get_one, reposted)
        bad = [(t, js.get("repost_count") if js else st, pgcount.get(t)) for t, st, js in api
               if st != 200 or not js or js.get("repost_count") != pgcount.get(t)]
        if bad:
            problems.append("%d tweets whose API repost_count differs from PostgreSQL "
                            "(tweet, api, pg): %s" % (len(bad), bad[:5]))
    log("reposts: %d pairs answered 2xx on %d tweets (%d of unknown outcome left out)" % (
        len(load.reposts), len(reposted), len(load.repost_unknown)))

    blocked_pairs = {frozenset(p) for p in load.blocks} | {frozenset(p) for p in load.block_unsure}
    follows = sorted(f for f in load.follows if frozenset(f) not in blocked_pairs)

    def missing_follows():
        if not follows:
            return []
        have = {(r[0], r[1]) for r in pg.query(
            "SELECT follower_id, followee_id FROM follows WHERE active AND follower_id = ANY(%s)" %
            id_array({f for f, _ in follows}))}
        return [f for f in follows if f not in have]

    left = wait_for("every follow answered 202/200 in PostgreSQL", missing_follows, drain)
    if left:
        problems.append("%d follows answered 202/200 are not in PostgreSQL, e.g. %s" % (
            len(left), left[:5]))
    accts = sorted({u for _, u in load.users})
    rows = pg.query("SELECT a.id, a.followers_count, a.following_count, "
                    "(SELECT count(*) FROM follows f WHERE f.followee_id = a.id AND f.active), "
                    "(SELECT count(*) FROM follows f WHERE f.follower_id = a.id AND f.active) "
                    "FROM accounts a WHERE a.id = ANY(%s)" % id_array(accts))
    bad = [r for r in rows if r[1] != r[3] or r[2] != r[4]]
    if bad:
        problems.append("accounts whose followers/following counts differ from the follows rows "
                        "(id, followers, following, rows in, rows out): %s" % bad[:5])
    pgf = {r[0]: int(r[3]) for r in rows}

    def acct(uid):
        c = Client(host, port)
        st, js, err = c.request("GET", API + "/accounts/" + uid, None, token())
        c.close()
        return uid, st, js

    bad = [(u, js.get("followers_count") if js else st, pgf.get(u))
           for u, st, js in parallel(acct, accts)
           if st != 200 or not js or js.get("followers_count") != pgf.get(u)]
    if bad:
        problems.append("accounts whose API followers_count differs from PostgreSQL: %s" % bad[:5])
    log("follows: %d answered 202/200" % len(follows))
    problems += check_blocks(load, pg, drain)
    return problems


def check_blocks(load, pg, drain):
    """The blocks answered 202/200 against PostgreSQL: each sure pair in the
    state of its last answer; no follow across an active block."""
    problems = []
    sure = {p: on for p, on in load.blocks.items() if p not in load.block_unsure}
    if not sure:
        return problems

    def wrong():
        rows = pg.query("SELECT actor_id, target_id FROM blocks_mutes WHERE kind = 1 AND active "
                        "AND actor_id = ANY(%s)" % id_array({a for a, _ in sure}))
        have = {(r[0], r[1]) for r in rows}
        return [(p, on) for p, on in sure.items() if (p in have) != on]

    left = wait_for("every block/unblock answered 202/200 in PostgreSQL", wrong, drain)
    if left:
        problems.append("%d blocks whose PostgreSQL state is not the last answered one, e.g. %s"
                        % (len(left), left[:5]))
    rows = pg.query("SELECT b.actor_id, b.target_id FROM blocks_mutes b JOIN follows f ON f.active "
                    "AND ((f.follower_id = b.actor_id AND f.followee_id = b.target_id) OR "
                    "(f.follower_id = b.target_id AND f.followee_id = b.actor_id)) "
                    "WHERE b.kind = 1 AND b.active")
    if rows:
        problems.append("%d active follows across an active block, e.g. %s" % (len(rows), rows[:5]))
    log("blocks: %d pairs answered 202/200 (%d active)" % (len(sure), sum(sure.values())))
    return problems


# ---- main -------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=40)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--rate", type=float, default=150, help="requests/s in all")
    ap.add_argument("--warmup", type=float, default=8)
    ap.add_argument("--gap", type=float, default=9, help="seconds between faults")
    ap.add_argument("--kill-for", type=float, default=4, help="seconds a killed process stays dead")
    ap.add_argument("--cooldown", type=float, default=10)
    ap.add_argument("--drain", type=float, default=120)
    ap.add_argument("--likes-wait", type=float, default=90)
    args = ap.parse_args()

    env = cluster_env()
    lb = urllib.parse.urlsplit(env["CHIRP_LB_URL"])
    host, port = lb.hostname, lb.port
    pg = PG(env["CHIRP_PG_URL"])
    log("run %s: load through %s, %d threads, ~%.0f req/s" % (RUN, env["CHIRP_LB_URL"],
                                                            args.threads, args.rate))
    users = make_accounts(pg, args.users)
    load = Load(host, port, users, args.threads, args.rate)
    t_load = time.time()
    load.start()
    faults = run_faults(load, env, args.kill_for, args.gap, args.warmup, args.cooldown)
    load.finish()
    t_end = time.time()
    total = len(load.records)
    ok = sum(1 for r in load.records if 200 <= r[3] < 300)
    log("load stopped after %.0f s: %d requests (%.0f/s), %d answered 2xx" % (
        t_end - t_load, total, total / (t_end - t_load), ok))
    before = [r for r in load.records if r[1] < faults[0][1]]
    bfail = sum(1 for r in before if failed(r))
    log("before the first fault: %d requests, %d failed" % (len(before), bfail))
    report_faults(load, faults, t_end)

    dump = os.path.join(ROOT, "var", "cluster", "chaos-%s.json" % RUN)
    with open(dump, "w") as f:
        json.dump({"faults": faults, "records": load.records, "tweets": load.tweets,
                   "likes": sorted(load.likes), "follows": sorted(load.follows),
                   "reposts": sorted([list(k) + [v] for k, v in load.reposts.items()]),
                   "blocks": sorted([a, b, on] for (a, b), on in load.blocks.items()),
                   "bookmarks": sorted(load.bookmarks),
                   "users": [u for _, u in load.users]}, f)
    log("every request and fault in %s" % os.path.relpath(dump, ROOT))
    problems = []
    okst, _, out = cluster("status")
    down = [line for line in out.splitlines() if line.rstrip().endswith("down")]
    if down:
        problems.append("processes down after the faults (healed for the checks): %s" % down)
        cluster("heal")
    problems += check(load, pg, host, port, args.drain, args.likes_wait)
    if bfail:
        problems.append("%d requests failed before any fault" % bfail)
    if problems:
        print("\nchaos: FAILED")
        for p in problems:
            print("  - " + p)
        return 1
    print("\nchaos: PASSED — every acknowledged write is in PostgreSQL and visible through the "
          "API exactly once")
    return 0


if __name__ == "__main__":
    sys.exit(main())
