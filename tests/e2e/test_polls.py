#!/usr/bin/env python3
"""End-to-end: polls.

A tweet may carry "poll": {"options": [2-4 strings of 1-50 characters],
"expires_in": 300..604800 seconds, "multiple": bool}; invalid ones are 422
naming poll.options / poll.expires_in.  POST /polls/{id}/votes
{"choices": [0-based indexes]} -> 202 with the results; a second vote 409
already_voted; a bad choice 422 (field choices); a vote on an expired poll 422
poll_expired.  GET /polls/{id}: options with votes, total_votes, voters,
voted_by_me, expired.  500 users voting at once add up exactly, in the API
and in PostgreSQL (poll_counts).  When a poll ends, the notify role tells its
author and its voters (poll_ended).

Failing on purpose (reported): the poll of a deleted tweet still takes votes
and answers GET /polls/{id} (as a real API does: 404).
"""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

API = h.API
RESULT_KEYS = ("id", "tweet_id", "options", "multiple", "expires_at", "total_votes", "voters",
               "voted_by_me", "expired")
NO_RATE_LIMITS = {"CHIRP_RATE_LOGIN": "100000000", "CHIRP_RATE_WRITE": "100000000",
                  "CHIRP_RATE_READ": "100000000"}
WAIT = 30  # bound for the workers (on a quiet stack they take milliseconds)


class Polls(h.StackTestCase):
    ENV = NO_RATE_LIMITS

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.author_token, cls.author = h.sign_up(cls.http, "pa")
        cls.voter_token, cls.voter = h.sign_up(cls.http, "pv")

    def post_poll(self, options=("yes", "no"), expires_in=3600, multiple=None, status=202):
        poll = {"options": list(options), "expires_in": expires_in}
        if multiple is not None:
            poll["multiple"] = multiple
        r = self.http.post(API + "/tweets", {"text": "a question", "poll": poll},
                           token=self.author_token)
        self.assertStatus(r, status)
        return r

    def new_poll(self, **kw):
        """A tweet with a poll: (tweet, poll definition)."""
        t = self.post_poll(**kw).json
        self.assertIsInstance(t.get("poll"), dict, t)
        return t, t["poll"]

    def vote(self, poll_id, choices, token=None, client=None):
        return (client or self.http).post(API + "/polls/%s/votes" % poll_id,
                                          {"choices": choices}, token=token or self.voter_token)

    def results(self, poll_id, token=None):
        r = self.http.get(API + "/polls/%s" % poll_id, token=token)
        self.assertStatus(r, 200)
        self.assertKeys(r.json, RESULT_KEYS)
        return r.json

    def votes_of(self, res):
        return [o["votes"] for o in res["options"]]

    # ---- creation ----

    def test_tweet_with_poll(self):
        r = self.post_poll(options=("red", "green", "blue"), expires_in=300, multiple=False)
        t = r.json
        p = t["poll"]
        self.assertKeys(p, ("id", "options", "multiple", "expires_at"))
        self.assertEqual((p["options"], p["multiple"]), (["red", "green", "blue"], False))
        self.assertTrue(p["id"].isdigit())
        # expires_at is about 300 s after the tweet was made.
        self.assertGreater(p["expires_at"], t["created_at"])
        res = self.results(p["id"])
        self.assertEqual(res["id"], p["id"])
        self.assertEqual(res["tweet_id"], t["id"])
        self.assertEqual(res["options"], [{"text": o, "votes": 0} for o in ("red", "green",
                                                                              "blue")])
        self.assertEqual((res["total_votes"], res["voters"], res["voted_by_me"], res["expired"],
                          res["multiple"], res["expires_at"]),
                         (0, 0, False, False, False, p["expires_at"]))
        # The tweet carries its poll when read, and the poll is stored.
        got = self.http.get(API + "/tweets/%s" % t["id"]).json
        self.assertEqual(got["poll"]["id"], p["id"])
        h.wait_until(lambda: h.sql_int("SELECT count(*) FROM polls WHERE id = %s AND tweet_id = %s"
                                       % (h.id_literal(p["id"]), h.id_literal(t["id"]))) == 1,
                     WAIT, 0.05, "the poll row in PostgreSQL")
        # From PostgreSQL (cache evicted) the same definition comes back.
        h.evict_poll(p["id"])
        again = self.results(p["id"])
        self.assertEqual((again["options"], again["expires_at"], again["multiple"],
                          again["tweet_id"]), (res["options"], res["expires_at"], False, t["id"]))
        # Boundaries: 4 options of 50 characters, 604800 s, multiple true.
        r = self.post_poll(options=["a" * 50, "\U0001F426" * 50, "c", "d"], expires_in=604800,
                           multiple=True)
        self.assertEqual(r.json["poll"]["multiple"], True)
        self.assertEqual(len(r.json["poll"]["options"]), 4)

    def test_invalid_polls_are_422(self):
        cases = [
            ({"expires_in": 300}, "poll.options"),
            ({"options": "yes,no", "expires_in": 300}, "poll.options"),
            ({"options": ["only"], "expires_in": 300}, "poll.options"),
            ({"options": [], "expires_in": 300}, "poll.options"),
            ({"options": ["a", "b", "c", "d", "e"], "expires_in": 300}, "poll.options"),
            ({"options": ["a", ""], "expires_in": 300}, "poll.options"),
            ({"options": ["a", "   "], "expires_in": 300}, "poll.options"),
            ({"options": ["a", "x" * 51], "expires_in": 300}, "poll.options"),
            ({"options": ["a", "\U0001F426" * 51], "expires_in": 300}, "poll.options"),
            ({"options": ["a", 2], "expires_in": 300}, "poll.options"),
            ({"options": ["a", None], "expires_in": 300}, "poll.options"),
            ({"options": ["a", "b"]}, "poll.expires_in"),
            ({"options": ["a", "b"], "expires_in": 299}, "poll.expires_in"),
            ({"options": ["a", "b"], "expires_in": 0}, "poll.expires_in"),
            ({"options": ["a", "b"], "expires_in": -300}, "poll.expires_in"),
            ({"options": ["a", "b"], "expires_in": 604801}, "poll.expires_in"),
            ({"options": ["a", "b"], "expires_in": "300"}, "poll.expires_in"),
            ({"options": ["a", "b"], "expires_in": 300.5}, "poll.expires_in"),
            ({"options": ["a", "b"], "expires_in": 300, "multiple": "yes"}, "poll.multiple"),
        ]
        for poll, field in cases:
            with self.subTest(poll=poll):
                r = self.http.post(API + "/tweets", {"text": "q", "poll": poll},
                                   token=self.author_token)
                self.assertEqual(r.status, 422, r)
                self.assertEqual(r.json["error"]["field"], field, r)
        for poll in (5, "x", ["a", "b"], True):
            with self.subTest(poll=poll):
                r = self.http.post(API + "/tweets", {"text": "q", "poll": poll},
                                   token=self.author_token)
                self.assertEqual(r.status, 422, r)
                self.assertEqual(r.json["error"]["field"], "poll", r)
        r = self.http.post(API + "/tweets", {"text": "q", "poll": {"options": ["a", "b"],
                                                                    "expires_in": 60}},
                           token=self.author_token)
        self.assertError(r, 422, "out_of_range", "poll.expires_in")
        # "poll": null is a tweet without a poll.
        r = self.http.post(API + "/tweets", {"text": "q", "poll": None}, token=self.author_token)
        self.assertStatus(r, 202)
        self.assertIsNone(r.json.get("poll"))

    # ---- voting ----

    def test_vote_once(self):
        t, p = self.new_poll(options=("a", "b", "c"))
        r = self.vote(p["id"], [1])
        self.assertStatus(r, 202)
        self.assertKeys(r.json, RESULT_KEYS)
        self.assertEqual(self.votes_of(r.json), [0, 1, 0])
        self.assertEqual((r.json["total_votes"], r.json["voters"], r.json["voted_by_me"],
                          r.json["expired"]), (1, 1, True, False))
        # A second vote (same or another choice) is 409 and changes nothing.
        for choices in ([1], [2]):
            self.assertError(self.vote(p["id"], choices), 409, "already_voted")
        res = self.results(p["id"], self.voter_token)
        self.assertEqual((self.votes_of(res), res["voters"], res["voted_by_me"]),
                         ([0, 1, 0], 1, True))
        self.assertFalse(self.results(p["id"], self.author_token)["voted_by_me"])
        self.assertFalse(self.results(p["id"])["voted_by_me"])
        # Stored once in PostgreSQL; the results survive losing Redis.
        pid = h.id_literal(p["id"])
        h.wait_until(lambda: h.psql("SELECT string_agg(choice || ':' || votes, ',' ORDER BY "
                                    "choice) FROM poll_counts WHERE poll_id = %s" % pid) == "1:1",
                     WAIT, 0.05, "the vote in poll_counts")
        self.assertEqual(h.sql_int("SELECT count(*) FROM poll_votes WHERE poll_id = %s" % pid), 1)
        h.redis_cmd("DEL", "chirp:pv:{%s}" % pid, "chirp:pvok:{%s}" % pid, "chirp:pc:{%s}" % pid,
                    "chirp:p:{%s}" % pid)
        res = self.results(p["id"], self.voter_token)
        self.assertEqual((self.votes_of(res), res["voters"], res["voted_by_me"]),
                         ([0, 1, 0], 1, True))
        self.assertError(self.vote(p["id"], [0]), 409, "already_voted")

    def test_multiple_choice(self):
        t, p = self.new_poll(options=("a", "b", "c", "d"), multiple=True)
        r = self.vote(p["id"], [0, 2, 3])
        self.assertStatus(r, 202)
        self.assertEqual(self.votes_of(r.json), [1, 0, 1, 1])
        self.assertEqual((r.json["total_votes"], r.json["voters"], r.json["multiple"]),
                         (3, 1, True))
        tok2, _ = h.sign_up(self.http, "pm")
        r = self.vote(p["id"], [2], token=tok2)
        self.assertStatus(r, 202)
        self.assertEqual((self.votes_of(r.json), r.json["total_votes"], r.json["voters"]),
                         ([1, 0, 2, 1], 4, 2))
        tok3, _ = h.sign_up(self.http, "pm")
        self.assertError(self.vote(p["id"], [1, 1], token=tok3), 422, "duplicate", "choices")
        self.assertError(self.vote(p["id"], [0, 1, 2, 3, 0], token=tok3), 422, "too_many",
                         "choices")

    def test_invalid_votes_are_422(self):
        t, p = self.new_poll(options=("a", "b", "c"))
        tok, _ = h.sign_up(self.http, "pi")
        for choices in ([3], [-1], [99], ["1"], [1.0], [None], [True]):
            with self.subTest(choices=choices):
                r = self.vote(p["id"], choices, token=tok)
                self.assertEqual(r.status, 422, r)
                self.assertEqual(r.json["error"]["field"], "choices", r)
        self.assertError(self.vote(p["id"], [3], token=tok), 422, "out_of_range", "choices")
        self.assertError(self.vote(p["id"], [0, 1], token=tok), 422, "single_choice", "choices")
        self.assertError(self.vote(p["id"], [], token=tok), 422, "empty", "choices")
        for choices in (1, "0", {"0": 1}):
            with self.subTest(choices=choices):
                self.assertError(self.vote(p["id"], choices, token=tok), 422, "wrong_type",
                                 "choices")
        r = self.http.post(API + "/polls/%s/votes" % p["id"], {}, token=tok)
        self.assertError(r, 422, "missing_field", "choices")
        r = self.http.post(API + "/polls/%s/votes" % p["id"], raw=b"{", token=tok)
        self.assertError(r, 400, "malformed_json")
        # None of those counted; a valid vote still can.
        self.assertEqual(self.results(p["id"])["voters"], 0)
        self.assertStatus(self.vote(p["id"], [2], token=tok), 202)

    def test_unknown_poll_and_no_token(self):
        self.assertError(self.http.get(API + "/polls/1234567"), 404, "not_found", "id")
        self.assertError(self.vote("1234567", [0]), 404, "not_found", "id")
        self.assertEqual(self.http.get(API + "/polls/abc").status, 404)
        t, p = self.new_poll()
        r = self.http.post(API + "/polls/%s/votes" % p["id"], {"choices": [0]})
        self.assertError(r, 401, "unauthorized")
        self.assertEqual(self.results(p["id"])["voters"], 0)

    def test_poll_of_a_deleted_tweet_is_gone(self):
        t, p = self.new_poll()
        self.assertStatus(self.http.delete(API + "/tweets/%s" % t["id"],
                                           token=self.author_token), 202)
        self.assertError(self.vote(p["id"], [0]), 404, "not_found", "id")
        self.assertError(self.http.get(API + "/polls/%s" % p["id"]), 404, "not_found", "id")

    def test_500_concurrent_voters_add_up(self):
        t, p = self.new_poll(options=("w", "x", "y", "z"))
        users = h.sign_up_many(self.stack.port, 500, "pc", threads=32)
        # Voter i picks i % 3: option z gets none.
        plan = [(tok, i % 3) for i, (tok, _) in enumerate(users)]
        want = [sum(1 for _, c in plan if c == k) for k in range(4)]
        res = h.parallel(self.stack.port,
                         lambda c, it: self.vote(p["id"], [it[1]], token=it[0], client=c).status,
                         plan, 64)
        self.assertEqual(set(res), {202})
        # Everybody again, at once: all 409, nothing moves.
        res = h.parallel(self.stack.port,
                         lambda c, it: self.vote(p["id"], [(it[1] + 1) % 4], token=it[0],
                                                 client=c).status, plan, 64)
        self.assertEqual(set(res), {409})
        r = self.results(p["id"], users[0][0])
        self.assertEqual((self.votes_of(r), r["total_votes"], r["voters"], r["voted_by_me"]),
                         (want, 500, 500, True))
        pid = h.id_literal(p["id"])

        def stored():
            return [h.sql_int("SELECT coalesce((SELECT votes FROM poll_counts WHERE poll_id = %s "
                              "AND choice = %d), 0)" % (pid, k)) for k in range(4)]

        h.wait_until(lambda: stored() == want, WAIT, 0.1,
                     "poll_counts to be %r (is %r)" % (want, stored()))
        self.assertEqual(h.sql_int("SELECT count(*) FROM poll_votes WHERE poll_id = %s" % pid),
                         500)
        # Rebuilt from PostgreSQL, the same.
        h.redis_cmd("DEL", "chirp:pv:{%s}" % pid, "chirp:pvok:{%s}" % pid, "chirp:pc:{%s}" % pid)
        r = self.results(p["id"], users[-1][0])
        self.assertEqual((self.votes_of(r), r["total_votes"], r["voters"], r["voted_by_me"]),
                         (want, 500, 500, True))

    # ---- expiry ----

    def test_expired_poll_refuses_votes_and_notifies(self):
        t, p = self.new_poll(options=("soon", "later"), expires_in=300)
        voters = h.sign_up_many(self.stack.port, 3, "pe", threads=3)
        for i, (tok, _) in enumerate(voters):
            self.assertStatus(self.vote(p["id"], [i % 2], token=tok), 202)
        # The author votes too: one poll_ended notification for them anyway.
        self.assertStatus(self.vote(p["id"], [0], token=self.author_token), 202)
        late_tok, late = h.sign_up(self.http, "pl")
        pid = h.id_literal(p["id"])
        h.wait_until(lambda: h.sql_int("SELECT count(*) FROM poll_votes WHERE poll_id = %s" % pid)
                     == 4 and h.sql_int("SELECT count(*) FROM polls WHERE id = %s" % pid) == 1,
                     WAIT, 0.05, "the poll and its 4 votes in PostgreSQL")
        self.assertFalse(self.results(p["id"])["expired"])
        # End it now: in PostgreSQL, and drop the cached definition.
        h.psql("UPDATE polls SET expires_at = now() - interval '1 second' WHERE id = %s" % pid)
        h.evict_poll(p["id"])
        self.assertError(self.vote(p["id"], [1], token=late_tok), 422, "poll_expired")
        res = self.results(p["id"], voters[0][0])
        self.assertEqual((res["expired"], res["voters"], self.votes_of(res), res["voted_by_me"]),
                         (True, 4, [3, 1], True))
        self.assertLess(res["expires_at"], h.psql("SELECT to_char(now() AT TIME ZONE 'UTC', "
                                                   "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"))

        # The notify role tells the author and every voter, once each.
        def ended(token):
            r = self.http.get(API + "/notifications", token=token, query={"limit": 100})
            self.assertStatus(r, 200)
            return [n for n in r.json["items"] if n["type"] == "poll_ended"]

        everyone = [self.author_token] + [tok for tok, _ in voters]
        h.wait_until(lambda: all(ended(tok) for tok in everyone), WAIT, 0.1,
                     "poll_ended notifications for the author and the 3 voters")
        for tok in everyone:
            got = ended(tok)
            mine = [n for n in got if (n.get("tweet") or {}).get("id") == t["id"]]
            self.assertEqual(len(mine), 1, got)
            n = mine[0]
            self.assertEqual(n["tweet"]["poll"]["id"], p["id"])
            self.assertFalse(n["read"])
        self.assertEqual(h.sql_int("SELECT count(*) FROM notifications WHERE type = 'poll_ended' "
                                   "AND tweet_id = %s" % h.id_literal(t["id"])), 4)
        self.assertEqual(ended(late_tok), [], "a non-voter was told the poll ended")
        self.assertTrue(h.psql("SELECT ended_notified FROM polls WHERE id = %s" % pid) == "t")


if __name__ == "__main__":
    h.main()
