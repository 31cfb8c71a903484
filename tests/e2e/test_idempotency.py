#!/usr/bin/env python3
"""End-to-end: the Idempotency-Key header on writes (gateway/guard.c).

A write retried with the same key by the same client answers the first
status and body (with Idempotent-Replayed: true) and has its effect once;
the same key with another request is 422 idempotency_key_reused; another
account's key is its own; a key must be 1-255 characters; a duplicate
racing the first is either the replay or 409 idempotency_in_progress.
Effects are checked in PostgreSQL, after the workers (every role) applied
what they were sent.
"""

import json
import os
import sys
import threading
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

API = h.API
APPLY = 20.0  # seconds for a worker to apply an event


def key():
    return "idem-%s-%s" % (h.RUN, uuid.uuid4())


class Idempotency(h.StackTestCase):
    ROLES = ("persist", "fanout", "notify", "likes")  # every role

    # ---- helpers ----

    def write(self, method, path, token, body=None, k=None, client=None):
        hd = {"Idempotency-Key": k} if k is not None else None
        return (client or self.http).request(method, path, body=body, token=token, headers=hd)

    def assertReplay(self, first, again):
        """again is the stored answer of first: same status and bytes."""
        self.assertIsNone(first.header("Idempotent-Replayed"), first)
        self.assertEqual(again.header("Idempotent-Replayed"), "true",
                         "a replayed answer without Idempotent-Replayed: true: %r" % (again,))
        self.assertEqual(again.status, first.status, again)
        self.assertEqual(again.body, first.body, "the replay's body differs from the first answer")
        self.assertTrue((again.header("Content-Type") or "").startswith("application/json"), again)

    def settle(self, token):
        """Waits until the persist worker applied everything this account
        sent so far: a barrier tweet (no key) reaches PostgreSQL."""
        t = h.post_tweet(self.http, token, "barrier")
        h.wait_until(lambda: h.sql_int("SELECT count(*) FROM tweets WHERE id = %s"
                                       % h.id_literal(t["id"])) == 1, APPLY, 0.05,
                     "the barrier tweet in PostgreSQL")
        return t

    def tweets_by(self, author_id, text):
        return h.sql_int("SELECT count(*) FROM tweets WHERE author_id = %s AND text = '%s'"
                         % (h.id_literal(author_id), text.replace("'", "''")))

    # ---- tests ----

    def test_tweet_retried_with_the_same_key_is_posted_once(self):
        tok, acct = h.sign_up(self.http, "ik")
        k = key()
        body = {"text": "once only %s" % h.RUN}
        r1 = self.write("POST", API + "/tweets", tok, body, k)
        self.assertStatus(r1, 202)
        r2 = self.write("POST", API + "/tweets", tok, body, k)
        self.assertReplay(r1, r2)
        self.assertEqual(r2.json["id"], r1.json["id"])
        # A third retry, after the effect is durable, is still the replay.
        h.wait_until(lambda: self.tweets_by(acct["id"], body["text"]) >= 1, APPLY, 0.05,
                     "the tweet in PostgreSQL")
        r3 = self.write("POST", API + "/tweets", tok, body, k)
        self.assertReplay(r1, r3)
        self.settle(tok)
        self.assertEqual(self.tweets_by(acct["id"], body["text"]), 1)
        self.assertEqual(h.count_tweets_by_author(acct["id"]), 2)  # that one and the barrier
        # The same body without a key is a new tweet, as usual.
        r4 = self.write("POST", API + "/tweets", tok, body)
        self.assertStatus(r4, 202)
        self.assertNotEqual(r4.json["id"], r1.json["id"])
        self.assertIsNone(r4.header("Idempotent-Replayed"))

    def test_same_key_with_another_request_is_422(self):
        tok, acct = h.sign_up(self.http, "ik")
        k = key()
        r1 = self.write("POST", API + "/tweets", tok, {"text": "first %s" % h.RUN}, k)
        self.assertStatus(r1, 202)
        # Another body...
        r = self.write("POST", API + "/tweets", tok, {"text": "second %s" % h.RUN}, k)
        self.assertError(r, 422, "idempotency_key_reused", "Idempotency-Key")
        # ...another path...
        r = self.write("POST", API + "/tweets/%s/like" % r1.json["id"], tok, None, k)
        self.assertError(r, 422, "idempotency_key_reused", "Idempotency-Key")
        # ...another method on the same path.
        r = self.write("DELETE", API + "/tweets/%s" % r1.json["id"], tok, None, k)
        self.assertError(r, 422, "idempotency_key_reused", "Idempotency-Key")
        # The first request still replays.
        self.assertReplay(r1, self.write("POST", API + "/tweets", tok, {"text": "first %s" % h.RUN}, k))
        self.settle(tok)
        self.assertEqual(self.tweets_by(acct["id"], "second %s" % h.RUN), 0)
        self.assertEqual(h.sql_int("SELECT count(*) FROM tweets WHERE id = %s AND deleted_at IS NULL"
                                   % h.id_literal(r1.json["id"])), 1)

    def test_keys_are_per_account(self):
        t1, a1 = h.sign_up(self.http, "ik")
        t2, a2 = h.sign_up(self.http, "ik")
        k = key()
        body = {"text": "shared key %s" % h.RUN}
        r1 = self.write("POST", API + "/tweets", t1, body, k)
        r2 = self.write("POST", API + "/tweets", t2, body, k)
        self.assertStatus(r1, 202)
        self.assertStatus(r2, 202)
        self.assertIsNone(r2.header("Idempotent-Replayed"), r2)
        self.assertNotEqual(r1.json["id"], r2.json["id"])
        self.assertEqual(r2.json["author_id"], a2["id"])
        # ...and each account's own retry replays its own answer.
        self.assertReplay(r2, self.write("POST", API + "/tweets", t2, body, k))
        self.assertReplay(r1, self.write("POST", API + "/tweets", t1, body, k))
        self.settle(t1)
        self.settle(t2)
        self.assertEqual(self.tweets_by(a1["id"], body["text"]), 1)
        self.assertEqual(self.tweets_by(a2["id"], body["text"]), 1)

    def test_other_writes_follow_like_comment_vote(self):
        tok, acct = h.sign_up(self.http, "ik")
        t2, a2 = h.sign_up(self.http, "ik")
        tw = h.post_tweet(self.http, t2, "poll %s" % h.RUN,
                          poll={"options": ["yes", "no"], "expires_in": 3600})
        poll_id = (tw.get("poll") or {}).get("id")
        self.assertIsNotNone(poll_id, "a tweet with a poll has poll.id: %r" % (tw,))
        tid = tw["id"]
        cases = [
            ("follow", "POST", API + "/accounts/%s/follow" % a2["id"], None),
            ("like", "POST", API + "/tweets/%s/like" % tid, None),
            ("comment", "POST", API + "/tweets/%s/comments" % tid, {"text": "nice %s" % h.RUN}),
            ("vote", "POST", API + "/polls/%s/votes" % poll_id, {"choices": [1]}),
        ]
        for name, method, path, body in cases:
            with self.subTest(name):
                k = key()
                r1 = self.write(method, path, tok, body, k)
                self.assertStatus(r1, 202)
                r2 = self.write(method, path, tok, body, k)
                self.assertReplay(r1, r2)
        # Without the key the repeats answer as repeats do (the first took effect).
        r = self.write("POST", API + "/polls/%s/votes" % poll_id, tok, {"choices": [0]})
        self.assertError(r, 409, "already_voted")
        self.assertStatus(self.write("POST", API + "/accounts/%s/follow" % a2["id"], tok), 200)
        self.assertStatus(self.write("POST", API + "/tweets/%s/like" % tid, tok), 200)
        # Each effect once, in PostgreSQL.
        uid, t = h.id_literal(acct["id"]), h.id_literal(tid)
        h.wait_until(lambda: h.psql("SELECT active FROM follows WHERE follower_id = %s AND "
                                    "followee_id = %s" % (uid, h.id_literal(a2["id"]))) == "t",
                     APPLY, 0.05, "the follow in PostgreSQL")
        self.assertEqual(h.sql_int("SELECT followers_count FROM accounts WHERE id = %s"
                                   % h.id_literal(a2["id"])), 1)
        h.wait_until(lambda: h.sql_int("SELECT count(*) FROM comments WHERE tweet_id = %s AND "
                                       "author_id = %s" % (t, uid)) >= 1, APPLY, 0.05,
                     "the comment in PostgreSQL")
        h.wait_until(lambda: h.sql_int("SELECT count(*) FROM poll_votes WHERE poll_id = %s AND "
                                       "user_id = %s" % (h.id_literal(poll_id), uid)) == 1,
                     APPLY, 0.05, "the vote in PostgreSQL")
        self.settle(tok)
        self.assertEqual(h.sql_int("SELECT count(*) FROM comments WHERE tweet_id = %s AND "
                                   "author_id = %s" % (t, uid)), 1)
        r = self.http.get(API + "/polls/%s" % poll_id, token=tok)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["total_votes"], 1, r)
        self.assertEqual([o["votes"] for o in r.json["options"]], [0, 1], r)
        r = self.http.get(API + "/tweets/%s" % tid, token=tok)
        self.assertStatus(r, 200)
        self.assertEqual(r.json.get("like_count"), 1, r)

    def test_key_length(self):
        tok, acct = h.sign_up(self.http, "ik")
        text = "long key %s" % h.RUN
        for bad in ("k" * 256, "k" * 1000, ""):
            with self.subTest(length=len(bad)):
                r = self.write("POST", API + "/tweets", tok, {"text": text}, bad)
                self.assertEqual(r.status, 422, r)
                self.assertEqual(r.json["error"].get("field"), "Idempotency-Key", r)
        r1 = self.write("POST", API + "/tweets", tok, {"text": text}, "k" * 255)
        self.assertStatus(r1, 202)
        self.assertReplay(r1, self.write("POST", API + "/tweets", tok, {"text": text}, "k" * 255))
        self.settle(tok)
        self.assertEqual(self.tweets_by(acct["id"], text), 1)

    def test_a_refused_write_is_replayed_too(self):
        tok, acct = h.sign_up(self.http, "ik")
        k = key()
        r1 = self.write("POST", API + "/tweets", tok, {"text": "x" * 281}, k)
        self.assertError(r1, 422, "too_long", "text")
        self.assertReplay(r1, self.write("POST", API + "/tweets", tok, {"text": "x" * 281}, k))

    def test_concurrent_duplicates_take_effect_once(self):
        tok, acct = h.sign_up(self.http, "ik")
        n = 16
        seen_409 = 0
        # A few rounds (a new key each): the first request is quick, so a
        # round may well end with only replays; invariants hold either way.
        for rnd in range(4):
            k = key()
            body = {"text": "race %d %s" % (rnd, h.RUN)}
            start = threading.Barrier(n)
            out = [None] * n
            clients = [h.Client(self.stack.port, keepalive=True) for _ in range(n)]
            for c in clients:  # connections open before the race
                self.assertStatus(c.get("/healthz"), 200)

            def run(i):
                start.wait(10)
                out[i] = self.write("POST", API + "/tweets", tok, body, k, client=clients[i])

            ths = [threading.Thread(target=run, args=(i,)) for i in range(n)]
            for th in ths:
                th.start()
            for th in ths:
                th.join(60)
            for c in clients:
                c.close()
            self.assertTrue(all(out), out)
            firsts = [r for r in out if r.status == 202 and r.header("Idempotent-Replayed") is None]
            self.assertEqual(len(firsts), 1, "exactly one request runs: %r" % (out,))
            first = firsts[0]
            for r in out:
                if r is first:
                    continue
                if r.status == 409:
                    seen_409 += 1
                    self.assertError(r, 409, "idempotency_in_progress", "Idempotency-Key")
                    self.assertIsNotNone(r.header("Retry-After"), r)
                else:
                    self.assertReplay(first, r)
            self.assertReplay(first, self.write("POST", API + "/tweets", tok, body, k))
            self.settle(tok)
            self.assertEqual(self.tweets_by(acct["id"], body["text"]), 1)
            if seen_409:
                break
        print("concurrent duplicates: %d answer(s) were 409 idempotency_in_progress" % seen_409,
              file=sys.stderr)

    def redis_keys_holding(self, secret):
        """The Redis keys whose name or value (of any type) contains secret,
        by one server-side scan of the whole database."""
        script = """
            local found, cursor = {}, '0'
            repeat
              local r = redis.call('SCAN', cursor, 'COUNT', 1000)
              cursor = r[1]
              for _, k in ipairs(r[2]) do
                local t = redis.call('TYPE', k)['ok']
                local vals = {k}
                if t == 'string' then vals[#vals + 1] = redis.call('GET', k)
                elseif t == 'hash' then vals = redis.call('HGETALL', k)
                elseif t == 'list' then vals = redis.call('LRANGE', k, 0, -1)
                elseif t == 'set' then vals = redis.call('SMEMBERS', k)
                elseif t == 'zset' then vals = redis.call('ZRANGE', k, 0, -1) end
                vals[#vals + 1] = k
                vals[#vals + 1] = redis.call('DUMP', k) or ''
                for _, v in ipairs(vals) do
                  if string.find(v, ARGV[1], 1, true) then found[#found + 1] = k break end
                end
              end
            until cursor == '0'
            return found"""
        return h.redis_cmd("EVAL", script, 0, secret)

    def test_session_tokens_are_never_stored_in_clear(self):
        """A sign-up or log-in with an Idempotency-Key stores its answer for
        replays, but not the token: a replay answers the same account with a
        fresh session, whose token works (and is not stored in clear either)."""
        name = h.unique("ik")
        signup = {"username": name, "email": "%s@example.com" % name.lower(),
                  "password": "correct horse 1"}
        k = key()
        r1 = self.write("POST", API + "/accounts", None, signup, k)
        self.assertStatus(r1, 201)
        login = {"login": name, "password": "correct horse 1"}
        k2 = key()
        r2 = self.write("POST", API + "/sessions", None, login, k2)
        self.assertStatus(r2, 201)
        for r in (r1, r2):
            self.assertEqual(self.redis_keys_holding(r.json["token"]), [],
                             "the token of %r is in Redis in clear" % (r,))
        # The replays: the stored status and account, a fresh working token.
        for first, path, body, kk in ((r1, "/accounts", signup, k), (r2, "/sessions", login, k2)):
            again = self.write("POST", API + path, None, body, kk)
            self.assertStatus(again, 201)
            self.assertEqual(again.header("Idempotent-Replayed"), "true", again)
            self.assertEqual(again.json["account"], first.json["account"])
            self.assertNotEqual(again.json["token"], first.json["token"])
            self.assertStatus(self.http.get(API + "/sessions/current", token=again.json["token"]), 200)
            self.assertEqual(self.redis_keys_holding(again.json["token"]), [])
        self.assertStatus(self.http.get(API + "/sessions/current", token=r1.json["token"]), 200)
        # Only one account was made.
        self.assertEqual(h.sql_int("SELECT count(*) FROM accounts WHERE username = '%s'" % name), 1)

    def test_a_login_fingerprint_is_no_fast_hash_of_the_password(self):
        """The record of a log-in with an Idempotency-Key keeps a fingerprint
        of the body, which holds the password: it must not be a plain SHA-256
        (a fast way to guess the password), yet a replay still matches it
        and a different body under the same key is refused."""
        import hashlib
        tok, acct = h.sign_up(self.http, "ik")
        path = API + "/sessions"
        data = json.dumps({"login": acct["username"], "password": "correct horse 1"}).encode()
        k = key()
        hd = {"Idempotency-Key": k}
        r = self.http.request("POST", path, raw=data, headers=hd)
        self.assertStatus(r, 201)
        plain = hashlib.sha256(b"POST" + path.encode() + b"\0" + data).hexdigest()
        self.assertEqual(self.redis_keys_holding(plain), [],
                         "a log-in's fingerprint is the plain SHA-256 of its body")
        again = self.http.request("POST", path, raw=data, headers=hd)
        self.assertStatus(again, 201)
        self.assertEqual(again.header("Idempotent-Replayed"), "true", again)
        other = json.dumps({"login": acct["username"], "password": "another one"}).encode()
        r = self.http.request("POST", path, raw=other, headers=hd)
        self.assertError(r, 422, "idempotency_key_reused", "Idempotency-Key")

    def test_a_first_attempt_that_died_mid_publish_is_taken_over_with_its_ids(self):
        """A gateway that stored its ids with the key and then died (no
        answer, the event perhaps published) leaves the key pending: a retry
        is 409 while the lease runs, then takes the attempt over and makes
        the tweet with the first attempt's tweet id and event id."""
        import hashlib
        import random
        import time as _time
        tok, acct = h.sign_up(self.http, "ik")
        k = key()
        path = API + "/tweets"
        data = json.dumps({"text": "taken over %s" % h.RUN}).encode()
        # Snowflake ids as a gateway with node id 1023 would make them.
        ms = int(_time.time() * 1000) - 1704067200000
        tweet_id = (ms << 22) | (1023 << 12) | random.randrange(2048)
        event_id = tweet_id + 1
        rkey = "chirp:idem:{a:%s}:%s" % (h.id_literal(acct["id"]),
                                         hashlib.sha256(k.encode()).hexdigest())
        fp = hashlib.sha256(b"POST" + path.encode() + b"\0" + data).hexdigest()
        lease = int(_time.time() * 1000) + 60000
        h.redis_cmd("HSET", rkey, "st", "pending", "h", fp, "ids", "%d,%d" % (tweet_id, event_id),
                    "lease", lease)
        h.redis_cmd("EXPIRE", rkey, 86400)
        hd = {"Idempotency-Key": k}
        r = self.http.request("POST", path, raw=data, token=tok, headers=hd)
        self.assertError(r, 409, "idempotency_in_progress", "Idempotency-Key")
        h.redis_cmd("HSET", rkey, "lease", int(_time.time() * 1000) - 1)  # the lease ran out
        r = self.http.request("POST", path, raw=data, token=tok, headers=hd)
        self.assertStatus(r, 202)
        self.assertEqual(r.json["id"], str(tweet_id), "the retry did not take the stored ids")
        self.assertEqual(h.redis_cmd("HGET", rkey, "st"), b"done")
        self.assertReplay(r, self.http.request("POST", path, raw=data, token=tok, headers=hd))
        h.wait_until(lambda: h.sql_int("SELECT count(*) FROM tweets WHERE id = %d" % tweet_id) == 1,
                     APPLY, 0.05, "the taken-over tweet in PostgreSQL")
        self.assertEqual(h.sql_int("SELECT count(*) FROM processed_events WHERE event_id = %d"
                                   % event_id) >= 1, True)

    def test_reads_ignore_the_key(self):
        tok, acct = h.sign_up(self.http, "ik")
        k = key()
        r1 = self.http.get(API + "/sessions/current", token=tok, headers={"Idempotency-Key": k})
        self.assertStatus(r1, 200)
        self.assertIsNone(r1.header("Idempotent-Replayed"))
        r2 = self.http.get(API + "/sessions/current", token=tok, headers={"Idempotency-Key": k})
        self.assertStatus(r2, 200)
        self.assertIsNone(r2.header("Idempotent-Replayed"))
        # ...and a read did not use the key up for a write.
        r = self.write("POST", API + "/tweets", tok, {"text": "after read %s" % h.RUN}, k)
        self.assertStatus(r, 202)


if __name__ == "__main__":
    h.main()
