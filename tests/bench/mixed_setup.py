#!/usr/bin/env python3
"""tests/bench/mixed_setup.py — the population of tests/bench/bench_mixed.sh,
written straight into PostgreSQL with COPY (seconds instead of 10 000 sign-ups
through the rate-limited, argon2id-hashing POST /accounts).

  mixed_setup.py PG_URL OUT_DIR [--accounts 10000] [--seed 1]

Writes, in one transaction:
  accounts   ids in the layout of shared/include/chirp_id.h with node 1023
             (kept for tools), usernames mx_<run>_<n>, password_hash "!" (never
             verifies: these accounts cannot log in); followers_count and
             following_count equal to their follows rows
  sessions   one per account: a token is 32 random bytes in unpadded base64url
             (43 characters), stored as the hex SHA-256 of its text, as
             shared/chirp_account.c does
  follows    a power-law graph: how many accounts one follows is log-normal
             (median 20, at most 400); whom, Zipf-like by popularity rank
             (weight 1/(rank+5)), so a few accounts have thousands of
             followers and most have tens or fewer
  tweets     3 per account, 10 more for the 200 most followed, created in the
             last hour (the home feeds and timelines are rebuilt from them on
             the first read, as after a Redis loss)
and OUT_DIR/accounts.lua: a Lua table of {id, token} for the wrk script, plus
OUT_DIR/population.txt: the follower distribution.  Python 3 standard library.
"""

import argparse
import base64
import hashlib
import math
import os
import random
import secrets
import subprocess
import sys
import time

EPOCH_MS = 1704067200000
NODE = 1023


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pg_url")
    ap.add_argument("out_dir")
    ap.add_argument("--accounts", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    run = secrets.token_hex(3)
    n = a.accounts
    t0 = time.time()

    # Ids: time-ordered, node 1023, spread over the last hour for the tweets.
    now_ms = int(time.time() * 1000) - EPOCH_MS
    seq = [0]

    def new_id(ms):
        seq[0] += 1
        return ((ms + seq[0] // 4096) << 22) | (NODE << 12) | (seq[0] % 4096)

    ids = [new_id(now_ms - 3600_000) for _ in range(n)]
    tokens = [base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode() for _ in range(n)]

    # Popularity: account i has rank i (account 0 is the most followed).
    weights = [1.0 / (r + 5) ** 1.0 for r in range(n)]
    cum, s = [], 0.0
    for w in weights:
        s += w
        cum.append(s)
    following = [set() for _ in range(n)]
    for u in range(n):
        k = min(400, max(1, int(math.exp(rnd.gauss(math.log(20), 0.9)))))
        k = min(k, n - 1)
        tries = 0
        while len(following[u]) < k and tries < 4 * k:
            tries += 1
            v = rnd.choices(range(n), cum_weights=cum)[0]
            if v != u:
                following[u].add(v)
    followers = [0] * n
    for u in range(n):
        for v in following[u]:
            followers[v] += 1
    nf = sum(len(f) for f in following)

    def rows_accounts():
        for i in range(n):
            name = "mx_%s_%d" % (run, i)
            yield "%d\t%s\t%s@bench.invalid\t!\t%d\t%d\n" % (ids[i], name, name, followers[i],
                                                           len(following[i]))

    def rows_sessions():
        for i in range(n):
            yield "%s\t%d\n" % (hashlib.sha256(tokens[i].encode()).hexdigest(), ids[i])

    ev = [0]

    def rows_follows():
        for u in range(n):
            for v in sorted(following[u]):
                ev[0] += 1
                yield "%d\t%d\tt\t%d\t2026-01-01 00:00:00+00\n" % (
                    ids[u], ids[v], ((now_ms - 7200_000 + ev[0] // 4096) << 22) | (NODE << 12)
                    | (ev[0] % 4096))

    ntweets = [0]

    def rows_tweets():
        # Distinct milliseconds spread over the last hour, authors shuffled.
        posts = [i for i in range(n) for _ in range(3 + (10 if i < 200 else 0))]
        rnd.shuffle(posts)
        step = max(1, 3600_000 // len(posts))
        for k, i in enumerate(posts):
            ms = now_ms - 3600_000 + k * step
            ntweets[0] += 1
            tid = (ms << 22) | (NODE << 12) | (k % 4096)
            created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime((ms + EPOCH_MS) // 1000))
            yield "%d\t%d\tseed tweet %d of account %d of run %s\t%s.%03d+00\n" % (
                tid, ids[i], k, i, run, created, (ms + EPOCH_MS) % 1000)

    script = []
    script.append("BEGIN;\n")
    script.append("COPY accounts (id, username, email, password_hash, followers_count, "
                  "following_count) FROM STDIN;\n")
    script.extend(rows_accounts())
    script.append("\\.\n")
    script.append("CREATE TEMP TABLE s (token_hash text, account_id bigint);\n")
    script.append("COPY s FROM STDIN;\n")
    script.extend(rows_sessions())
    script.append("\\.\n")
    script.append("INSERT INTO sessions (token_hash, account_id, expires_at) "
                  "SELECT token_hash, account_id, now() + interval '1 day' FROM s;\n")
    script.append("COPY follows (follower_id, followee_id, active, event_id, changed_at) "
                  "FROM STDIN;\n")
    script.extend(rows_follows())
    script.append("\\.\n")
    script.append("COPY tweets (id, author_id, text, created_at) FROM STDIN;\n")
    script.extend(rows_tweets())
    script.append("\\.\n")
    script.append("COMMIT;\nANALYZE accounts; ANALYZE follows; ANALYZE tweets; ANALYZE sessions;\n")
    r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", a.pg_url],
                       input="".join(script), capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        sys.exit("mixed_setup: psql failed: %s" % r.stderr[-2000:])

    # Check what we wrote: the counters equal the rows.
    chk = subprocess.run(["psql", "-X", "-At", a.pg_url, "-c",
                          "SELECT count(*) FROM accounts a WHERE a.username LIKE 'mx\\_%s\\_%%' AND "
                          "(a.followers_count <> (SELECT count(*) FROM follows f WHERE "
                          "f.followee_id = a.id AND f.active) OR a.following_count <> (SELECT "
                          "count(*) FROM follows f WHERE f.follower_id = a.id AND f.active))" % run],
                         capture_output=True, text=True, timeout=600)
    if chk.returncode != 0 or chk.stdout.strip() != "0":
        sys.exit("mixed_setup: counters differ from the follows rows: %s %s" % (chk.stdout,
                                                                              chk.stderr))

    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, "accounts.lua"), "w") as f:
        f.write("-- written by tests/bench/mixed_setup.py (run %s)\nreturn {\n" % run)
        for i in range(n):
            f.write('{"%d","%s"},\n' % (ids[i], tokens[i]))
        f.write("}\n")
    fs = sorted(followers, reverse=True)
    fo = sorted(len(x) for x in following)
    summary = ("run %s: %d accounts, %d follows, %d tweets in %.1f s\n"
               "followers: max %d, top 10 %s, p99 %d, p90 %d, median %d, min %d; "
               "accounts with >= 1000 followers: %d, with 10-99: %d\n"
               "following: median %d, p99 %d, max %d\n") % (
        run, n, nf, ntweets[0], time.time() - t0, fs[0], fs[:10], fs[n // 100], fs[n // 10],
        fs[n // 2], fs[-1], sum(1 for x in fs if x >= 1000), sum(1 for x in fs if 10 <= x < 100),
        fo[n // 2], fo[n * 99 // 100], fo[-1])
    with open(os.path.join(a.out_dir, "population.txt"), "w") as f:
        f.write(summary)
    sys.stdout.write(summary)


if __name__ == "__main__":
    main()
