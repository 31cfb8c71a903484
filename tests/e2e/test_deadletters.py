#!/usr/bin/env python3
"""End-to-end: dead letters (workers/dead.c, workers/loop.c).

A follow.added that the fan-out worker cannot apply, for real: the
follower's account row is deleted from PostgreSQL (psql) after its session
was cached in Redis, so the gateway still accepts the follow (202) while
every INSERT INTO follows then violates the foreign key.  The worker tries
CHIRP_MAX_RETRIES times, publishes the message to chirp.dlx (queue
chirp.dead) with its reason, role and routing key, and acks it: nothing is
half-applied, nothing is stuck, the counters move.
`chirp-worker --replay-dead [MAX]` puts dead letters back on their routing
keys (here: they fail again and come back).

Everything runs on a private RabbitMQ virtual host (h.private_vhost): the
shared test stack's chirp.dead may hold thousands of other letters, and its
queues have other consumers; here chirp.dead holds only this test's letters
and the fan-out queue only this test's worker.
"""

import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

API = h.API
RETRIES = 2
WAIT = 20.0


# The /metrics parser is the harness's.
scrape = h.metrics


class DeadLetters(h.StackTestCase):
    ROLES = ("persist", "fanout", "likes")
    ENV = {"CHIRP_MAX_RETRIES": str(RETRIES), "CHIRP_LIKES_FLUSH_AGE_MS": "200"}

    @classmethod
    def setUpClass(cls):
        cls.ENV = dict(cls.ENV, CHIRP_AMQP_URL=h.private_vhost("dead"))
        super().setUpClass()

    # ---- helpers ----

    def m(self):
        return scrape(self.http)

    def depth(self, queue):
        return int(self.m().get('chirp_queue_depth{queue="%s"}' % queue, -1))

    def settled_depth(self, queue):
        """The depth of queue once nothing moves: chirp.fanout empty and the
        same reading twice, 1.5 s apart (/metrics refreshes depths at most
        once a second, and a letter of an earlier test may still be dying)."""
        last = None
        deadline = time.time() + WAIT
        while time.time() < deadline:
            now = (self.depth(queue), self.depth("chirp.fanout"))
            if now == last and now[1] == 0:
                return now[0]
            last = now
            time.sleep(1.5)
        self.fail("%s never settled (last reading %r)" % (queue, last))

    def ghost(self):
        """(token, account) of an account whose row is gone from
        PostgreSQL while its session is still cached in Redis."""
        tok, acct = h.sign_up(self.http, "dl")
        self.assertStatus(self.http.get(API + "/sessions/current", token=tok), 200)
        h.psql("DELETE FROM accounts WHERE id = %s" % h.id_literal(acct["id"]))  # sessions cascade
        return tok, acct

    def fanout_worker(self):
        return [w for w in self.stack.workers_of("fanout") if w.alive()][0]

    def replay(self, *args, timeout=30):
        env = self.stack._env()
        r = subprocess.run([h.worker_bin(), "--replay-dead"] + [str(a) for a in args], env=env,
                           capture_output=True, text=True, timeout=timeout, cwd=h.ROOT)
        self.assertEqual(r.returncode, 0, "replay failed: %s%s" % (r.stdout, r.stderr))
        m = re.search(r"^(\d+) dead letter\(s\) replayed$", r.stdout, re.M)
        self.assertIsNotNone(m, r.stdout)
        return int(m.group(1)), r.stdout

    def wait_depths(self, dead, fanout, what):
        h.wait_until(lambda: self.depth("chirp.dead") == dead and
                     self.depth("chirp.fanout") == fanout, WAIT, 0.1,
                     "%s (chirp.dead %d, chirp.fanout %d)" % (what, dead, fanout))

    # ---- tests ----

    def test_unappliable_follow_is_dead_lettered_and_replayed(self):
        _, b = h.sign_up(self.http, "dl")
        tok, a = self.ghost()
        m0 = self.m()
        dead0 = self.settled_depth("chirp.dead")
        dl_key = 'chirp_dead_letters_total{role="fanout"}'
        failed_key = 'chirp_worker_events_total{role="fanout",result="failed"}'
        self.assertIn(dl_key, m0)
        self.assertIn(failed_key, m0)

        r = self.http.post(API + "/accounts/%s/follow" % b["id"], token=tok)
        self.assertStatus(r, 202)

        # Dead-lettered (not retried forever, not dropped), the queue empty.
        self.wait_depths(dead0 + 1, 0, "the follow in chirp.dead")
        m1 = self.m()
        self.assertGreaterEqual(m1[dl_key] - m0[dl_key], 1)
        self.assertGreaterEqual(m1[failed_key] - m0[failed_key], 1)
        self.assertEqual(h.psql("SELECT count(*) FROM follows WHERE follower_id = %s"
                                % h.id_literal(a["id"])), "0")
        w = self.fanout_worker()
        with open(w.log, encoding="utf-8", errors="replace") as f:
            log = f.read()
        self.assertRegex(log, r"dead-lettering delivery \d+ \(follow\.added\): apply failed %d "
                              r"times" % RETRIES)
        # The worker carries on with the next event.
        _, c = h.sign_up(self.http, "dl")
        t2, d = h.sign_up(self.http, "dl")
        self.assertStatus(self.http.post(API + "/accounts/%s/follow" % c["id"], token=t2), 202)
        h.wait_until(lambda: h.psql("SELECT active FROM follows WHERE follower_id = %s AND "
                                    "followee_id = %s" % (h.id_literal(d["id"]),
                                                          h.id_literal(c["id"]))) == "t",
                     WAIT, 0.05, "a good follow after the dead letter")

        # Replay with the worker stopped: the letter goes back to its
        # routing key (chirp.fanout), with its reason and key in the output.
        err = w.stop()
        self.assertIsNone(err, err)
        n, out = self.replay()
        self.assertEqual(n, dead0 + 1, out)
        self.assertRegex(out, r"replayed follow\.added \(was: apply failed %d times: " % RETRIES)
        self.wait_depths(0, dead0 + 1, "the letter back on chirp.fanout")

        # A worker takes it again: it fails again and is dead-lettered again.
        dl1 = self.m()[dl_key]
        self.stack.start_worker(role="fanout")
        self.wait_depths(dead0 + 1, 0, "the replayed follow dead again")
        self.assertGreaterEqual(self.m()[dl_key] - dl1, 1)
        self.assertEqual(h.psql("SELECT count(*) FROM follows WHERE follower_id = %s"
                                % h.id_literal(a["id"])), "0")

    def test_replay_max(self):
        _, b = h.sign_up(self.http, "dl")
        tok, _ = self.ghost()
        dead0 = self.settled_depth("chirp.dead")
        for i in range(3):
            r = self.http.request("POST" if i % 2 == 0 else "DELETE",
                                  API + "/accounts/%s/follow" % b["id"], token=tok)
            self.assertStatus(r, 202)
        self.wait_depths(dead0 + 3, 0, "three letters in chirp.dead")
        w = self.fanout_worker()
        err = w.stop()
        self.assertIsNone(err, err)
        try:
            n, out = self.replay(1)
            self.assertEqual(n, 1, out)
            self.assertEqual(len(re.findall(r"^replayed ", out, re.M)), 1, out)
            self.wait_depths(dead0 + 2, 1, "one letter replayed")
            n, out = self.replay(2)
            self.assertEqual(n, 2, out)
            self.wait_depths(dead0, 3, "two more replayed")
        finally:
            self.stack.start_worker(role="fanout")
        self.wait_depths(dead0 + 3, 0, "the replayed letters dead again")

    def test_replay_ends_while_letters_keep_failing(self):
        # `--replay-dead` without MAX replays what chirp.dead holds.  With a
        # worker running, a letter that fails again comes back within
        # milliseconds; the run must not pick it up again (it would chase
        # its own tail, for ever when the worker is quick enough): at most
        # what the queue held when it started.
        _, b = h.sign_up(self.http, "dl")
        tok, _ = self.ghost()
        k = int(os.environ.get("CHIRP_TEST_DEAD_K", "40"))
        dead0 = self.settled_depth("chirp.dead")
        for i in range(k):  # follow, unfollow, follow, ...: one event each
            r = self.http.request("POST" if i % 2 == 0 else "DELETE",
                                  API + "/accounts/%s/follow" % b["id"], token=tok)
            self.assertStatus(r, 202)
        self.wait_depths(dead0 + k, 0, "%d letters in chirp.dead" % k)
        held = dead0 + k
        try:
            n, out = self.replay(timeout=20)
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            self.fail("chirp-worker --replay-dead did not end within 20 s with %d letters in "
                      "chirp.dead that fail again (it printed %d \"replayed\" lines)"
                      % (held, out.count("replayed ")))
        print("replay without MAX: %d letter(s) replayed, chirp.dead held %d" % (n, held),
              file=sys.stderr)
        self.wait_depths(held, 0, "the letters dead again")
        self.assertLessEqual(n, held, "one run of --replay-dead replayed %d letters while "
                                      "chirp.dead held %d: letters that failed again during the "
                                      "run were replayed again (and again)" % (n, held))

    def test_failed_like_flush_is_dead_lettered_with_reason(self):
        # The like batcher's own loop (workers/role_likes.c): a flush that
        # PostgreSQL refuses.  A trigger refuses likes of this one tweet only.
        tok, _ = h.sign_up(self.http, "dl")
        t = h.post_tweet(self.http, tok, "refused likes %s" % h.RUN)
        tid = h.id_literal(t["id"])
        h.wait_until(lambda: h.sql_int("SELECT count(*) FROM tweets WHERE id = %s" % tid) == 1,
                     WAIT, 0.05, "the tweet stored")
        fn = "chirp_test_refuse_%s" % h.RUN
        h.psql("CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
               "RAISE EXCEPTION 'refused by the test'; END $$;\n"
               "CREATE TRIGGER %s BEFORE INSERT OR UPDATE ON likes FOR EACH ROW "
               "WHEN (NEW.tweet_id = %s) EXECUTE FUNCTION %s();" % (fn, fn, tid, fn))
        try:
            dl_key = 'chirp_dead_letters_total{role="likes"}'
            m0 = self.m()
            dead0 = self.settled_depth("chirp.dead")
            liker, _ = h.sign_up(self.http, "dl")
            self.assertStatus(self.http.post(API + "/tweets/%s/like" % tid, token=liker), 202)
            h.wait_until(lambda: self.depth("chirp.dead") == dead0 + 1, WAIT, 0.1,
                         "the like in chirp.dead")
        finally:
            h.psql("DROP TRIGGER IF EXISTS %s ON likes; DROP FUNCTION IF EXISTS %s();" % (fn, fn))
        problems = []
        w = [w for w in self.stack.workers_of("likes") if w.alive()][0]
        with open(w.log, encoding="utf-8", errors="replace") as f:
            tries = f.read().count("tweet %s: flush of" % tid)
        if tries != RETRIES:
            problems.append("the flush was tried %d time(s), CHIRP_MAX_RETRIES is %d"
                            % (tries, RETRIES))
        moved = self.m()[dl_key] - m0[dl_key]
        if moved < 1:
            problems.append("%s did not move (%+d)" % (dl_key, moved))
        # Put it back (the trigger is gone: it applies now).
        err = w.stop()
        self.assertIsNone(err, err)
        n, out = self.replay()
        if not re.search(r"replayed like\.added \(was: (?!rejected by the broker)", out):
            problems.append("the letter carries no x-chirp-reason: %r" % out.strip())
        self.stack.start_worker(role="likes")
        h.wait_until(lambda: h.psql("SELECT active FROM likes WHERE tweet_id = %s" % tid) == "t",
                     WAIT, 0.1, "the replayed like in PostgreSQL")
        self.assertEqual(problems, [], "a like flush that failed: " + "; ".join(problems))


if __name__ == "__main__":
    h.main()
