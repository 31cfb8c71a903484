#!/usr/bin/env python3
"""End-to-end: comments.

POST /tweets/{id}/comments {"text"} -> 202 with the comment; GET
/tweets/{id}/comments oldest first with cursor paging; PATCH / DELETE
/comments/{id} by the author only (403 otherwise, 404 unknown); the tweet's
comment_count follows every change; 422 for bad text, 404 on an unknown or
deleted tweet, 401 without a token.
"""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

API = h.API
COMMENT_KEYS = ("id", "tweet_id", "author_id", "text", "created_at", "edited_at")
NO_RATE_LIMITS = {"CHIRP_RATE_LOGIN": "100000000", "CHIRP_RATE_WRITE": "100000000",
                  "CHIRP_RATE_READ": "100000000"}
WAIT = 30  # the persist worker stores a comment within this (on a quiet stack: ms)


class Comments(h.StackTestCase):
    ENV = NO_RATE_LIMITS

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.author_token, cls.author = h.sign_up(cls.http, "ca")
        cls.other_token, cls.other = h.sign_up(cls.http, "cb")

    def tweet(self, text="comment on me"):
        return h.post_tweet(self.http, self.author_token, text)

    def comment(self, tweet_id, text, token=None, status=202):
        r = self.http.post(API + "/tweets/%s/comments" % tweet_id, {"text": text},
                           token=token or self.other_token)
        self.assertStatus(r, status)
        return r.json

    def listing(self, tweet_id, limit=100, token=None):
        """Every comment of the tweet, following the cursors."""
        got, cursor = [], None
        for _ in range(50):
            q = {"limit": limit}
            if cursor:
                q["cursor"] = cursor
            r = self.http.get(API + "/tweets/%s/comments" % tweet_id, query=q, token=token)
            self.assertStatus(r, 200)
            got += r.json["items"]
            cursor = r.json["next_cursor"]
            if cursor is None:
                return got
        self.fail("paging does not end")

    def comment_count(self, tweet_id):
        r = self.http.get(API + "/tweets/%s" % tweet_id)
        self.assertStatus(r, 200)
        return r.json["comment_count"]

    def wait_count(self, tweet_id, n):
        h.wait_until(lambda: self.comment_count(tweet_id) == n, WAIT, 0.05,
                     "comment_count of tweet %s to be %d (is %s)" % (
                         tweet_id, n, self.comment_count(tweet_id)))

    def wait_listed(self, tweet_id, ids):
        h.wait_until(lambda: [c["id"] for c in self.listing(tweet_id)] == ids, WAIT, 0.05,
                     "the comments of tweet %s to be %s" % (tweet_id, ids))

    # ---- create ----

    def test_create_answers_202_with_the_comment(self):
        t = self.tweet()
        c = self.comment(t["id"], "  nice one  ")
        self.assertKeys(c, COMMENT_KEYS)
        self.assertEqual((c["tweet_id"], c["author_id"], c["text"], c["edited_at"]),
                         (t["id"], self.other["id"], "  nice one  ", None))
        self.assertTrue(c["id"].isdigit())
        self.assertGreater(int(c["id"]), int(t["id"]), "ids are time-ordered")
        self.wait_listed(t["id"], [c["id"]])
        self.assertEqual(self.listing(t["id"])[0], c)
        self.wait_count(t["id"], 1)
        # The author may comment on their own tweet.
        c2 = self.comment(t["id"], "thanks", token=self.author_token)
        self.wait_listed(t["id"], [c["id"], c2["id"]])
        self.wait_count(t["id"], 2)

    def test_text_limits(self):
        t = self.tweet()
        ok = [self.comment(t["id"], "x" * 280),
              self.comment(t["id"], "\U0001F426" * 280)]  # 280 code points, 1120 bytes
        self.assertEqual(ok[1]["text"], "\U0001F426" * 280)
        for text, code in (("x" * 281, "too_long"), ("\U0001F426" * 281, "too_long"),
                           ("", "empty"), ("   \n\t ", "empty")):
            with self.subTest(text=text[:5], code=code):
                r = self.http.post(API + "/tweets/%s/comments" % t["id"], {"text": text},
                                   token=self.other_token)
                self.assertError(r, 422, code, "text")
        for value in (5, ["x"], {"a": 1}, True):
            with self.subTest(value=value):
                r = self.http.post(API + "/tweets/%s/comments" % t["id"], {"text": value},
                                   token=self.other_token)
                self.assertError(r, 422, "wrong_type", "text")
        for body in ({}, {"text": None}):
            r = self.http.post(API + "/tweets/%s/comments" % t["id"], body,
                               token=self.other_token)
            self.assertError(r, 422, "missing_field", "text")
        r = self.http.post(API + "/tweets/%s/comments" % t["id"], raw=b'{"text": "x"',
                           token=self.other_token)
        self.assertError(r, 400, "malformed_json")
        # Only the two valid ones were stored.
        self.wait_listed(t["id"], [c["id"] for c in ok])
        self.assertEqual([c["text"] for c in self.listing(t["id"])], [c["text"] for c in ok])
        self.wait_count(t["id"], 2)

    def test_unknown_or_deleted_tweet_is_404_and_no_token_401(self):
        r = self.http.post(API + "/tweets/1234567/comments", {"text": "hi"},
                           token=self.other_token)
        self.assertError(r, 404, "not_found", "id")
        self.assertError(self.http.get(API + "/tweets/1234567/comments"), 404, "not_found", "id")
        t = self.tweet()
        self.assertError(self.http.post(API + "/tweets/%s/comments" % t["id"], {"text": "hi"}),
                         401, "unauthorized")
        self.assertStatus(self.http.delete(API + "/tweets/%s" % t["id"],
                                           token=self.author_token), 202)
        r = self.http.post(API + "/tweets/%s/comments" % t["id"], {"text": "too late"},
                           token=self.other_token)
        self.assertError(r, 404, "not_found", "id")
        self.assertError(self.http.get(API + "/tweets/%s/comments" % t["id"]), 404, "not_found",
                         "id")

    # ---- list ----

    def test_list_oldest_first_with_paging(self):
        t = self.tweet()
        posted = [self.comment(t["id"], "comment %d" % i,
                               token=self.other_token if i % 2 else self.author_token)
                  for i in range(7)]
        ids = [c["id"] for c in posted]
        self.wait_listed(t["id"], ids)
        # limit 3: pages of 3, 3 and 1, oldest first, Link on all but the last.
        pages, cursor = [], None
        while True:
            q = {"limit": 3}
            if cursor:
                q["cursor"] = cursor
            r = self.http.get(API + "/tweets/%s/comments" % t["id"], query=q)
            self.assertStatus(r, 200)
            pages.append([c["id"] for c in r.json["items"]])
            cursor = r.json["next_cursor"]
            if cursor is None:
                self.assertIsNone(r.header("Link"))
                break
            link = r.header("Link") or ""
            self.assertIn('rel="next"', link)
            self.assertIn("cursor=" + cursor, link)
            self.assertLess(len(pages), 10)
        self.assertEqual(pages, [ids[0:3], ids[3:6], ids[6:7]])
        for c, want in zip(self.listing(t["id"]), posted):
            self.assertEqual(c, want)
        # A comment posted while paging shows up on the last page, not twice.
        r = self.http.get(API + "/tweets/%s/comments" % t["id"], query={"limit": 4})
        first, cursor = [c["id"] for c in r.json["items"]], r.json["next_cursor"]
        late = self.comment(t["id"], "late")
        self.wait_listed(t["id"], ids + [late["id"]])
        r = self.http.get(API + "/tweets/%s/comments" % t["id"],
                          query={"limit": 4, "cursor": cursor})
        self.assertEqual(first + [c["id"] for c in r.json["items"]], ids + [late["id"]])

    def test_list_parameters(self):
        t = self.tweet()
        path = API + "/tweets/%s/comments" % t["id"]
        for bad in ("0", "-3", "abc"):
            self.assertError(self.http.get(path, query={"limit": bad}), 422, "invalid_field",
                             "limit")
        self.assertError(self.http.get(path, query={"cursor": "not a cursor"}), 400,
                         "invalid_cursor", "cursor")
        # A cursor of another list (an account's tweets) is refused.
        self.tweet("one more")
        tl = self.http.get(API + "/accounts/%s/tweets" % self.author["id"], query={"limit": 1})
        h.wait_until(lambda: self.http.get(API + "/accounts/%s/tweets" % self.author["id"],
                                           query={"limit": 1}).json["next_cursor"], WAIT, 0.05,
                     "a second page of the author's tweets")
        tl = self.http.get(API + "/accounts/%s/tweets" % self.author["id"], query={"limit": 1})
        self.assertError(self.http.get(path, query={"cursor": tl.json["next_cursor"]}), 400,
                         "invalid_cursor", "cursor")
        r = self.http.get(path, query={"limit": 200})
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"items": [], "next_cursor": None})

    # ---- edit ----

    def test_edit_by_author_only(self):
        t = self.tweet()
        c = self.comment(t["id"], "first version")
        self.wait_listed(t["id"], [c["id"]])
        path = API + "/comments/%s" % c["id"]
        # Not the author: 403, whoever wrote the tweet.
        self.assertError(self.http.patch(path, {"text": "hijack"}, token=self.author_token), 403,
                         "forbidden")
        self.assertError(self.http.patch(path, {"text": "anon"}), 401, "unauthorized")
        self.assertError(self.http.patch(API + "/comments/1234567", {"text": "x"},
                                         token=self.other_token), 404, "not_found", "id")
        self.assertError(self.http.patch(path, {"text": ""}, token=self.other_token), 422,
                         "empty", "text")
        self.assertError(self.http.patch(path, {"text": "y" * 281}, token=self.other_token), 422,
                         "too_long", "text")
        r = self.http.patch(path, {"text": "second version"}, token=self.other_token)
        self.assertStatus(r, 202)
        self.assertKeys(r.json, COMMENT_KEYS)
        self.assertEqual((r.json["id"], r.json["text"], r.json["created_at"]),
                         (c["id"], "second version", c["created_at"]))
        self.assertIsNotNone(r.json["edited_at"])
        self.assertGreaterEqual(r.json["edited_at"], c["created_at"])
        h.wait_until(lambda: self.listing(t["id"])[0]["text"] == "second version", WAIT, 0.05,
                     "the edit in the list")
        got = self.listing(t["id"])
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["edited_at"], r.json["edited_at"])
        # An edit does not change the count.
        self.wait_count(t["id"], 1)
        # A quick second edit wins over the first.
        r2 = self.http.patch(path, {"text": "third version"}, token=self.other_token)
        self.assertStatus(r2, 202)
        self.assertGreater(r2.json["edited_at"], r.json["edited_at"])
        h.wait_until(lambda: self.listing(t["id"])[0]["text"] == "third version", WAIT, 0.05,
                     "the second edit in the list")
        self.assertEqual(h.psql("SELECT text FROM comments WHERE id = %s" % h.id_literal(c["id"])),
                         "third version")

    # ---- delete ----

    def test_delete_by_author_only(self):
        t = self.tweet()
        keep = self.comment(t["id"], "keep")
        gone = self.comment(t["id"], "remove me")
        self.wait_listed(t["id"], [keep["id"], gone["id"]])
        self.wait_count(t["id"], 2)
        path = API + "/comments/%s" % gone["id"]
        self.assertError(self.http.delete(path, token=self.author_token), 403, "forbidden")
        self.assertError(self.http.delete(path), 401, "unauthorized")
        self.assertError(self.http.delete(API + "/comments/1234567", token=self.other_token), 404,
                         "not_found", "id")
        r = self.http.delete(path, token=self.other_token)
        self.assertStatus(r, 202)
        self.assertEqual((r.json["id"], r.json["deleted"]), (gone["id"], True))
        self.assertIsInstance(r.json.get("deleted_at"), str)
        # Gone at once for its author: a second delete or an edit is 404.
        self.assertError(self.http.delete(path, token=self.other_token), 404, "not_found", "id")
        self.assertError(self.http.patch(path, {"text": "back"}, token=self.other_token), 404,
                         "not_found", "id")
        self.wait_listed(t["id"], [keep["id"]])
        self.wait_count(t["id"], 1)
        # Still gone when read from PostgreSQL (cache entry evicted).
        h.redis_cmd("DEL", "chirp:c:{%s}" % gone["id"])
        self.assertError(self.http.delete(path, token=self.other_token), 404, "not_found", "id")
        self.assertEqual(h.sql_int("SELECT count(*) FROM comments WHERE id = %s AND deleted_at "
                                   "IS NOT NULL" % h.id_literal(gone["id"])), 1)

    def test_delete_right_after_create(self):
        # A delete that may reach PostgreSQL with (or before) its create
        # still ends deleted and counted once.
        t = self.tweet()
        cs = [self.comment(t["id"], "short-lived %d" % i) for i in range(5)]
        for c in cs[:3]:
            self.assertStatus(self.http.delete(API + "/comments/%s" % c["id"],
                                               token=self.other_token), 202)
        self.wait_listed(t["id"], [c["id"] for c in cs[3:]])
        self.wait_count(t["id"], 2)
        self.assertEqual(h.sql_int("SELECT comments FROM tweet_counts WHERE tweet_id = %s"
                                   % h.id_literal(t["id"])), 2)

    # ---- counts ----

    def test_concurrent_comments_count_exactly(self):
        t = self.tweet()
        users = h.sign_up_many(self.stack.port, 60, "cc", threads=16)
        path = API + "/tweets/%s/comments" % t["id"]
        res = h.parallel(self.stack.port,
                         lambda c, tok: c.post(path, {"text": "me too"}, token=tok),
                         [tok for tok, _ in users], 32)
        self.assertEqual({r.status for r in res}, {202})
        ids = sorted((r.json["id"] for r in res), key=int)
        self.assertEqual(len(set(ids)), 60)
        self.wait_listed(t["id"], ids)
        self.wait_count(t["id"], 60)
        # Ten of them delete theirs at once.
        by_id = {r.json["id"]: tok for r, (tok, _) in zip(res, users)}
        dels = h.parallel(self.stack.port,
                          lambda c, cid: c.delete(API + "/comments/%s" % cid,
                                                  token=by_id[cid]).status, ids[:10], 10)
        self.assertEqual(set(dels), {202})
        self.wait_listed(t["id"], ids[10:])
        self.wait_count(t["id"], 50)
        self.assertEqual(h.sql_int("SELECT comments FROM tweet_counts WHERE tweet_id = %s"
                                   % h.id_literal(t["id"])), 50)
        # Redis loses the counter: it is rebuilt from PostgreSQL.
        h.redis_cmd("DEL", "chirp:cc:{%s}" % t["id"])
        self.assertEqual(self.comment_count(t["id"]), 50)
        self.assertEqual(len(self.listing(t["id"], limit=7)), 50)

    def test_count_in_feed_items(self):
        tf, _ = h.sign_up(self.http, "cf")
        self.assertIn(self.http.post(API + "/accounts/%s/follow" % self.author["id"],
                                     token=tf).status, (200, 202))
        t = self.tweet("count me in the feed")
        for i in range(3):
            self.comment(t["id"], "c%d" % i)

        def item():
            r = self.http.get(API + "/feed", token=tf, query={"limit": 100})
            for it in r.json["items"] if r.status == 200 else ():
                if it["id"] == t["id"]:
                    return it
            return None

        h.wait_until(lambda: (item() or {}).get("comment_count") == 3, WAIT, 0.05,
                     "the feed item to show 3 comments")


class TwoPersistWorkers(h.StackTestCase):
    """Two persist workers share chirp.persist, so the create and the delete
    (or edit) of one comment, published back to back, are usually applied
    by different workers at the same time.  The count must stay exact."""
    ENV = NO_RATE_LIMITS
    ROLES = ("persist", "persist", "fanout", "notify", "likes")

    def test_create_and_delete_on_two_workers_count_exactly(self):
        token, _ = h.sign_up(self.http, "ct")
        t = h.post_tweet(self.http, token, "raced over")
        path = API + "/tweets/%s/comments" % t["id"]

        def churn(c, i):
            r = c.post(path, {"text": "churn %d" % i}, token=token)
            self.assertEqual(r.status, 202, r)
            cid = r.json["id"]
            if i % 3 == 0:  # kept, edited at once
                r = c.patch(API + "/comments/%s" % cid, {"text": "edited %d" % i}, token=token)
            else:  # deleted at once
                r = c.delete(API + "/comments/%s" % cid, token=token)
            self.assertEqual(r.status, 202, r)
            return cid if i % 3 == 0 else None

        kept = [cid for cid in h.parallel(self.stack.port, churn, range(600), 12) if cid]
        kept.sort(key=int)
        tid = h.id_literal(t["id"])
        h.wait_until(lambda: h.sql_int("SELECT count(*) FROM comments WHERE tweet_id = %s AND "
                                       "(deleted_at IS NOT NULL OR edited_at IS NOT NULL)"
                                       % tid) == 600, WAIT, 0.1, "every change persisted")
        live = h.sql_int("SELECT count(*) FROM comments WHERE tweet_id = %s AND deleted_at IS NULL"
                         % tid)
        self.assertEqual(live, len(kept))
        self.assertEqual(h.sql_int("SELECT comments FROM tweet_counts WHERE tweet_id = %s" % tid),
                         len(kept), "PostgreSQL's comment count drifted")
        r = self.http.get(API + "/tweets/%s" % t["id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json["comment_count"], len(kept), "the API's comment count drifted")
        h.redis_cmd("DEL", "chirp:cc:{%s}" % tid)  # rebuilt from PostgreSQL
        self.assertEqual(self.http.get(API + "/tweets/%s" % t["id"]).json["comment_count"],
                         len(kept))


if __name__ == "__main__":
    h.main()
