#!/usr/bin/env python3
"""End-to-end: quotes.

- POST /tweets with quote_of: a tweet id that names no live tweet (unknown,
  deleted) is 422 with field quote_of, as reply_to; not an id is 422 too.
- The quoting tweet carries quote_of; hydrated (feed, GET /tweets/{id}/quotes)
  it carries quote: the quoted tweet hydrated one level deep (author card,
  numbers, its own quote only as quote_of), or {"id", "unavailable": true}
  once the quoted tweet is deleted.
- quote_count on the quoted tweet (from PostgreSQL when Redis lost it);
  GET /tweets/{id}/quotes pages the quoting tweets, newest first."""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

API = h.API
APPLY = 20.0


def persisted(tweet_id):
    return h.sql_int("SELECT count(*) FROM tweets WHERE id = %s" % h.id_literal(tweet_id)) == 1


class Quotes(h.StackTestCase):
    ENV = {"CHIRP_RATE_WRITE": "100000000", "CHIRP_RATE_READ": "100000000",
           "CHIRP_RATE_LOGIN": "100000000"}

    def quotes(self, tweet_id, token=None, **q):
        r = self.http.get(API + "/tweets/%s/quotes" % tweet_id, token=token, query=q or None)
        self.assertStatus(r, 200)
        return r.json

    def test_quote_of_must_be_a_live_tweet(self):
        ta, _ = h.sign_up(self.http, "qa")
        r = self.http.post(API + "/tweets", {"text": "x", "quote_of": "123"}, token=ta)
        self.assertError(r, 422, "not_found", "quote_of")
        r = self.http.post(API + "/tweets", {"text": "x", "quote_of": "abc"}, token=ta)
        self.assertError(r, 422, "invalid_id", "quote_of")
        t = h.post_tweet(self.http, ta, "gone soon")
        self.assertStatus(self.http.delete(API + "/tweets/%s" % t["id"], token=ta), 202)
        r = self.http.post(API + "/tweets", {"text": "x", "quote_of": t["id"]}, token=ta)
        self.assertError(r, 422, "not_found", "quote_of")

    def test_quote_hydrated_counted_listed_and_unavailable(self):
        ta, a = h.sign_up(self.http, "qa")
        tb, b = h.sign_up(self.http, "qb")
        orig = h.post_tweet(self.http, ta, "quotable")
        self.assertIsNone(orig["quote_of"])
        self.assertStatus(self.http.post(API + "/tweets/%s/like" % orig["id"], token=tb), 202)
        q1 = h.post_tweet(self.http, tb, "so true", quote_of=orig["id"])
        self.assertEqual(q1["quote_of"], orig["id"])
        q2 = h.post_tweet(self.http, tb, "still true", quote_of=orig["id"])
        h.wait_until(lambda: persisted(q1["id"]) and persisted(q2["id"]), APPLY, 0.05,
                     "the quotes in PostgreSQL")
        h.wait_until(lambda: self.quotes(orig["id"])["items"] and
                     len(self.quotes(orig["id"])["items"]) == 2, APPLY, 0.05, "both quotes listed")
        page = self.quotes(orig["id"], token=tb, limit=1)
        self.assertEqual([x["id"] for x in page["items"]], [q2["id"]])
        item = page["items"][0]
        self.assertEqual(item["author"]["id"], b["id"])
        quote = item["quote"]
        self.assertEqual((quote["id"], quote["author"]["id"], quote["text"]),
                         (orig["id"], a["id"], "quotable"))
        self.assertEqual((quote["like_count"], quote["liked_by_me"]), (1, True))
        self.assertIsNone(quote["quote_of"])
        self.assertNotIn("quote", quote)
        page = self.quotes(orig["id"], limit=1, cursor=page["next_cursor"])
        self.assertEqual([x["id"] for x in page["items"]], [q1["id"]])
        h.wait_until(lambda: self.http.get(API + "/tweets/%s" % orig["id"]).json["quote_count"] == 2,
                     APPLY, 0.05, "quote_count 2")
        # In the quoter's own feed, hydrated the same way.
        feed = self.http.get(API + "/feed", token=tb).json["items"]
        mine = [x for x in feed if x["id"] == q1["id"]]
        self.assertEqual(mine[0]["quote"]["author"]["username"], a["username"])
        # A quote of a quote: one level deep only.
        q3 = h.post_tweet(self.http, ta, "meta", quote_of=q1["id"])
        h.wait_until(lambda: persisted(q3["id"]), APPLY, 0.05, "q3 stored")
        item = self.quotes(q1["id"])["items"][0]
        self.assertEqual((item["quote"]["id"], item["quote"]["quote_of"]), (q1["id"], orig["id"]))
        self.assertNotIn("quote", item["quote"])
        # The quoted tweet deleted: unavailable, not an error; the count follows.
        self.assertStatus(self.http.delete(API + "/tweets/%s" % q1["id"], token=tb), 202)
        h.wait_until(lambda: self.http.get(API + "/tweets/%s/quotes" % q1["id"]).status == 404,
                     APPLY, 0.05, "q1 gone")
        feed = self.http.get(API + "/feed", token=ta).json["items"]
        got = [x for x in feed if x["id"] == q3["id"]][0]
        self.assertEqual(got["quote"], {"id": q1["id"], "unavailable": True})
        h.wait_until(lambda: self.http.get(API + "/tweets/%s" % orig["id"]).json["quote_count"] == 1,
                     APPLY, 0.05, "quote_count 1 after a quote was deleted")
        # Redis lost the counter: it comes back from PostgreSQL.
        h.redis_cmd("DEL", "chirp:qc:{%s}" % h.id_literal(orig["id"]))
        self.assertEqual(self.http.get(API + "/tweets/%s" % orig["id"]).json["quote_count"], 1)


if __name__ == "__main__":
    h.main()
