#!/usr/bin/env python3
"""End-to-end: tweets (post, read, edit, history, delete) and the user
timeline GET /accounts/{id}/tweets with its paging, against a real gateway
and persist worker on the test stack."""

import base64
import os
import re
import sys
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

API = h.API
TWEET_KEYS = set(h.TWEET_KEYS)
TIME_RE = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"
PERSIST_TIMEOUT = 20.0


def cursor_of(raw):
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def persisted_row(tweet_id):
    """(count of rows with this id, text, edited?, deleted?) from PostgreSQL."""
    out = h.psql("SELECT count(*) OVER (), text, edited_at IS NOT NULL, deleted_at IS NOT NULL "
                 "FROM tweets WHERE id = %s" % h.id_literal(tweet_id))
    if not out:
        return None
    n, text, edited, deleted = out.split("|")
    return int(n), text, edited == "t", deleted == "t"


def wait_persisted(tweet_id, pred=lambda row: True, what="the tweet persisted"):
    return h.wait_until(lambda: (lambda row: row if row and pred(row) else None)(
        persisted_row(tweet_id)), PERSIST_TIMEOUT, 0.05, "%s (%s)" % (what, tweet_id))


class Tweets(h.StackTestCase):
    WORKERS = 1

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice_token, cls.alice = h.sign_up(cls.http, "alice")
        cls.bob_token, cls.bob = h.sign_up(cls.http, "bob")

    def post(self, text, token=None, **extra):
        body = {"text": text}
        body.update(extra)
        return self.http.post(API + "/tweets", body, token=token or self.alice_token)

    def check_tweet_shape(self, t):
        self.assertKeys(t, TWEET_KEYS)
        self.assertIsInstance(t["id"], str)
        self.assertTrue(t["id"].isdigit(), t)
        self.assertRegex(t["created_at"], TIME_RE)

    # ---- create and read ----

    def test_post_answers_202_and_is_readable_at_once(self):
        r = self.post("hello world")
        self.assertStatus(r, 202)
        t = r.json
        self.check_tweet_shape(t)
        self.assertEqual(t["author_id"], self.alice["id"])
        self.assertEqual(t["text"], "hello world")
        self.assertIsNone(t["reply_to"])
        self.assertIsNone(t["edited_at"])
        g = self.http.get(API + "/tweets/" + t["id"])  # no token needed to read
        self.assertStatus(g, 200)
        self.assertSameTweet(g.json, t)
        # Durable: one row in PostgreSQL, exactly once.
        n, text, edited, deleted = wait_persisted(t["id"])
        self.assertEqual((n, text, edited, deleted), (1, "hello world", False, False))
        self.assertEqual(h.sql_int("SELECT count(*) FROM tweets WHERE id = %s" % t["id"]), 1)
        self.assertSameTweet(self.http.get(API + "/tweets/" + t["id"]).json, t)

    def test_ids_are_unique_and_time_ordered(self):
        ids = [int(self.post("order %d" % i).json["id"]) for i in range(5)]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(set(ids)), 5)

    def test_280_code_points_accepted_281_rejected(self):
        for text in ("\U0001F600" * 280, "\u00e9" * 280, "a" * 279 + "\U0001F426",
                     "\u6f22" * 280):
            with self.subTest(text=text[:3]):
                r = self.post(text)
                self.assertStatus(r, 202)
                self.assertEqual(r.json["text"], text)
                self.assertEqual(self.http.get(API + "/tweets/" + r.json["id"]).json["text"], text)
        for text in ("\U0001F600" * 281, "a" * 281, "a" * 280 + "\u00e9", "x" * 5000):
            with self.subTest(text=text[:3], n=len(text)):
                self.assertError(self.post(text), 422, "too_long", "text")

    def test_empty_or_blank_text_is_422(self):
        for text in ("", " ", "   \n\t  ", "\r\n"):
            with self.subTest(text=text):
                self.assertError(self.post(text), 422, "empty", "text")

    def test_wrong_type_or_missing_text_is_422(self):
        for value in (5, ["x"], {"a": 1}, True):
            with self.subTest(value=value):
                self.assertError(self.post(value), 422, "wrong_type", "text")
        self.assertError(self.http.post(API + "/tweets", {}, token=self.alice_token), 422,
                         "missing_field", "text")
        self.assertError(self.post(None), 422, "missing_field", "text")

    def test_poll_with_too_short_expiry_is_422(self):
        r = self.post("a poll", poll={"options": ["a", "b"], "expires_in": 60})
        self.assertError(r, 422, "out_of_range", "poll.expires_in")

    def test_post_without_token_is_401(self):
        self.assertError(self.http.post(API + "/tweets", {"text": "x"}), 401, "unauthorized")
        self.assertError(self.http.post(API + "/tweets", {"text": "x"}, token="B" * 43), 401,
                         "invalid_token")

    def test_post_bad_body(self):
        self.assertError(self.http.post(API + "/tweets", raw=b'{"text": "x"',
                                        token=self.alice_token), 400, "malformed_json")
        self.assertError(self.http.post(API + "/tweets", raw=b'{"text": "x"}',
                                        token=self.alice_token, content_type="text/plain"),
                         415, "unsupported_media_type")
        big = b'{"text": "' + b"a" * (1024 * 1024) + b'"}'
        self.assertError(self.http.post(API + "/tweets", raw=big, token=self.alice_token), 413,
                         "payload_too_large")

    def test_invalid_utf8_body_is_400(self):
        # Not valid JSON text (RFC 8259 requires UTF-8), so malformed.
        for raw in (b'{"text": "\xff"}', b'{"text": "\xc3"}', b'{"text": "\xed\xa0\x80"}',
                    b'{"text": "\\ud800"}'):
            with self.subTest(raw=raw):
                r = self.http.post(API + "/tweets", raw=raw, token=self.alice_token)
                self.assertError(r, 400, "malformed_json")

    # ---- replies ----

    def test_reply_to(self):
        parent = self.post("parent").json
        r = self.post("a reply", token=self.bob_token, reply_to=parent["id"])
        self.assertStatus(r, 202)
        self.assertEqual(r.json["reply_to"], parent["id"])
        self.assertEqual(r.json["author_id"], self.bob["id"])
        g = self.http.get(API + "/tweets/" + r.json["id"])
        self.assertStatus(g, 200)
        self.assertEqual(g.json["reply_to"], parent["id"])
        wait_persisted(r.json["id"])
        self.assertEqual(h.psql("SELECT reply_to FROM tweets WHERE id = %s" % r.json["id"]),
                         parent["id"])

    def test_reply_to_unknown_or_invalid_is_422(self):
        self.assertError(self.post("r", reply_to="123456789012345"), 422, "not_found", "reply_to")
        self.assertError(self.post("r", reply_to="abc"), 422, "invalid_id", "reply_to")
        self.assertError(self.post("r", reply_to="0"), 422, "invalid_id", "reply_to")
        self.assertError(self.post("r", reply_to=5), 422, "wrong_type", "reply_to")

    def test_reply_to_deleted_tweet_is_422(self):
        parent = self.post("soon gone").json
        self.assertStatus(self.http.delete(API + "/tweets/" + parent["id"],
                                           token=self.alice_token), 202)
        self.assertError(self.post("too late", reply_to=parent["id"]), 422, "not_found",
                         "reply_to")

    # ---- edit and history ----

    def test_edit_by_author_and_history(self):
        t = self.post("version one").json
        r = self.http.patch(API + "/tweets/" + t["id"], {"text": "version two"},
                            token=self.alice_token)
        self.assertStatus(r, 202)
        e1 = r.json
        self.check_tweet_shape(e1)
        self.assertEqual((e1["id"], e1["text"], e1["created_at"], e1["author_id"]),
                         (t["id"], "version two", t["created_at"], t["author_id"]))
        self.assertRegex(e1["edited_at"] or "", TIME_RE)
        self.assertGreaterEqual(e1["edited_at"], t["created_at"])
        g = self.http.get(API + "/tweets/" + t["id"])
        self.assertStatus(g, 200)
        self.assertSameTweet(g.json, e1)

        e2 = self.http.patch(API + "/tweets/" + t["id"], {"text": "version three \U0001F426"},
                             token=self.alice_token).json
        self.assertGreater(e2["edited_at"], e1["edited_at"])
        self.assertEqual(self.http.get(API + "/tweets/" + t["id"]).json["text"],
                         "version three \U0001F426")

        # History: current + previous versions, newest first, once persisted.
        def history_complete():
            r = self.http.get(API + "/tweets/" + t["id"] + "/history")
            return r if r.status == 200 and len(r.json["items"]) == 3 else None
        hist = h.wait_until(history_complete, PERSIST_TIMEOUT, 0.05, "3 versions in the history")
        self.assertKeys(hist.json, {"items", "next_cursor"})
        self.assertIsNone(hist.json["next_cursor"])
        self.assertIsNone(hist.header("Link"))
        items = hist.json["items"]
        for it in items:
            self.assertKeys(it, {"text", "since", "until"})
        self.assertEqual([it["text"] for it in items],
                         ["version three \U0001F426", "version two", "version one"])
        self.assertEqual(items[0]["since"], e2["edited_at"])
        self.assertIsNone(items[0]["until"])
        self.assertEqual((items[1]["since"], items[1]["until"]),
                         (e1["edited_at"], e2["edited_at"]))
        self.assertEqual((items[2]["since"], items[2]["until"]),
                         (t["created_at"], e1["edited_at"]))
        # PostgreSQL holds the latest text, one row.
        n, text, edited, deleted = wait_persisted(
            t["id"], lambda row: row[1] == "version three \U0001F426", "the last edit persisted")
        self.assertEqual((n, edited, deleted), (1, True, False))

    def test_history_of_unedited_tweet(self):
        t = self.post("never edited").json
        r = self.http.get(API + "/tweets/" + t["id"] + "/history")
        self.assertStatus(r, 200)
        self.assertIsNone(r.json["next_cursor"])
        self.assertEqual(len(r.json["items"]), 1)
        it = r.json["items"][0]
        self.assertEqual((it["text"], it["since"], it["until"]),
                         ("never edited", t["created_at"], None))

    def test_edit_validation(self):
        t = self.post("to edit").json
        path = API + "/tweets/" + t["id"]
        self.assertError(self.http.patch(path, {"text": "x" * 281}, token=self.alice_token), 422,
                         "too_long", "text")
        self.assertError(self.http.patch(path, {"text": "  "}, token=self.alice_token), 422,
                         "empty", "text")
        self.assertError(self.http.patch(path, {"text": 1}, token=self.alice_token), 422,
                         "wrong_type", "text")
        self.assertError(self.http.patch(path, {}, token=self.alice_token), 422,
                         "missing_field", "text")
        self.assertError(self.http.patch(path, {"text": "x"}), 401, "unauthorized")
        self.assertError(self.http.patch(path, raw=b"{", token=self.alice_token), 400,
                         "malformed_json")
        g = self.http.get(path)
        self.assertEqual((g.json["text"], g.json["edited_at"]), ("to edit", None))

    def test_edit_or_delete_by_someone_else_is_403(self):
        t = self.post("mine").json
        path = API + "/tweets/" + t["id"]
        self.assertError(self.http.patch(path, {"text": "hijacked"}, token=self.bob_token), 403,
                         "forbidden")
        self.assertError(self.http.delete(path, token=self.bob_token), 403, "forbidden")
        g = self.http.get(path)
        self.assertStatus(g, 200)
        self.assertSameTweet(g.json, t)
        n, text, edited, deleted = wait_persisted(t["id"])
        self.assertEqual((text, edited, deleted), ("mine", False, False))

    # ---- delete ----

    def test_delete_by_author(self):
        t = self.post("delete me").json
        path = API + "/tweets/" + t["id"]
        r = self.http.delete(path, token=self.alice_token)
        self.assertStatus(r, 202)
        self.assertKeys(r.json, {"id", "deleted", "deleted_at"})
        self.assertEqual(r.json["id"], t["id"])
        self.assertIs(r.json["deleted"], True)
        self.assertRegex(r.json["deleted_at"], TIME_RE)
        self.assertError(self.http.get(path), 404, "not_found", "id")
        self.assertError(self.http.patch(path, {"text": "zombie"}, token=self.alice_token), 404,
                         "not_found", "id")
        self.assertError(self.http.delete(path, token=self.alice_token), 404, "not_found", "id")
        self.assertError(self.http.get(path + "/history"), 404, "not_found", "id")
        n, _, _, deleted = wait_persisted(t["id"], lambda row: row[3], "the delete persisted")
        self.assertEqual(n, 1)
        # Still gone once PostgreSQL holds the tombstone, even without the cache entry.
        self.assertError(self.http.get(path), 404, "not_found", "id")

    def test_delete_without_token_is_401(self):
        t = self.post("keep me").json
        self.assertError(self.http.delete(API + "/tweets/" + t["id"]), 401, "unauthorized")
        self.assertStatus(self.http.get(API + "/tweets/" + t["id"]), 200)

    def test_reads_fall_back_to_postgresql_after_cache_loss(self):
        """Redis is a cache that can be lost: once persisted, a tweet read
        without its cache entry comes back identical from PostgreSQL."""
        parent = self.post("parent \u00e9\U0001F426").json
        child = self.post("child", token=self.bob_token, reply_to=parent["id"]).json
        edited = self.post("before edit").json
        edited = self.http.patch(API + "/tweets/" + edited["id"], {"text": "after edit \u6f22"},
                                 token=self.alice_token).json
        gone = self.post("gone").json
        self.assertStatus(self.http.delete(API + "/tweets/" + gone["id"], token=self.alice_token),
                          202)
        wait_persisted(parent["id"])
        wait_persisted(child["id"])
        wait_persisted(edited["id"], lambda row: row[2], "the edit persisted")
        wait_persisted(gone["id"], lambda row: row[3], "the delete persisted")
        for t in (parent, child, edited):
            with self.subTest(tweet=t["text"]):
                self.assertEqual(h.evict_tweet(t["id"]), 1, "no cache entry to evict")
                g = self.http.get(API + "/tweets/" + t["id"])
                self.assertStatus(g, 200)
                self.assertSameTweet(g.json, t)
                self.assertSameTweet(self.http.get(API + "/tweets/" + t["id"]).json, t)  # refilled
        h.evict_tweet(edited["id"])
        hist = self.http.get(API + "/tweets/" + edited["id"] + "/history")
        self.assertStatus(hist, 200)
        self.assertEqual([it["text"] for it in hist.json["items"]],
                         ["after edit \u6f22", "before edit"])
        h.evict_tweet(gone["id"])
        self.assertError(self.http.get(API + "/tweets/" + gone["id"]), 404, "not_found", "id")
        h.evict_tweet(gone["id"])
        self.assertError(self.http.patch(API + "/tweets/" + gone["id"], {"text": "back"},
                                         token=self.alice_token), 404, "not_found", "id")
        # An edit of an evicted tweet starts from the PostgreSQL state.
        h.evict_tweet(parent["id"])
        e = self.http.patch(API + "/tweets/" + parent["id"], {"text": "parent v2"},
                            token=self.alice_token)
        self.assertStatus(e, 202)
        self.assertEqual((e.json["created_at"], e.json["reply_to"]), (parent["created_at"], None))
        hist = h.wait_until(lambda: (lambda r: r if len(r.json["items"]) == 2 else None)(
            self.http.get(API + "/tweets/" + parent["id"] + "/history")), PERSIST_TIMEOUT, 0.05,
            "2 versions")
        self.assertEqual([it["text"] for it in hist.json["items"]],
                         ["parent v2", "parent \u00e9\U0001F426"])

    def test_unknown_or_malformed_tweet_id_is_404(self):
        for ident in ("123456789012345", "9223372036854775807", "abc", "0", "-1", "12ab",
                      "99999999999999999999"):
            with self.subTest(ident=ident):
                path = API + "/tweets/" + ident
                self.assertError(self.http.get(path), 404, "not_found", "id")
                self.assertError(self.http.get(path + "/history"), 404, "not_found", "id")
                self.assertError(self.http.patch(path, {"text": "x"}, token=self.alice_token),
                                 404, "not_found", "id")
                self.assertError(self.http.delete(path, token=self.alice_token), 404,
                                 "not_found", "id")


class ConcurrentEdits(h.StackTestCase):
    """Several edits of one tweet at the same moment (a double-submitting
    client, two devices).  Whatever the gateway decides, every accepted
    edit must be a distinct version, the cache and PostgreSQL must agree on
    the result, and the history must keep each accepted version once."""

    WORKERS = 1
    TWEETS = 12  # tweets edited at once (the race is probabilistic)
    EDITS = 20   # concurrent edits of each

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.token, cls.author = h.sign_up(cls.http, "ce")

    def race(self):
        """Posts TWEETS tweets, then fires EDITS concurrent PATCHes at each.
        Returns [(tweet, [accepted edit replies])]."""
        import threading
        tweets = [h.post_tweet(self.http, self.token, "v0 of %d" % k) for k in range(self.TWEETS)]
        for t in tweets:
            wait_persisted(t["id"])
        n = self.TWEETS * self.EDITS
        barrier = threading.Barrier(n)
        replies = [None] * n

        def edit(j):
            t = tweets[j % self.TWEETS]
            c = self.stack.client()
            barrier.wait(30)
            replies[j] = (t, c.patch(API + "/tweets/" + t["id"],
                                     {"text": "v%d of %d" % (j // self.TWEETS + 1,
                                                            j % self.TWEETS)},
                                     token=self.token))
        threads = [threading.Thread(target=edit, args=(j,)) for j in range(n)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        out = []
        for t in tweets:
            mine = [r for (tt, r) in replies if tt is t]
            for r in mine:
                # Refusing a concurrent edit (409) is a valid choice; losing it is not.
                self.assertIn(r.status, (202, 409), r)
            out.append((t, [r.json for r in mine if r.status == 202]))
        return out

    def wait_history(self, t, accepted):
        def complete():
            r = self.http.get(API + "/tweets/" + t["id"] + "/history")
            return r.json["items"] if r.status == 200 and \
                len(r.json["items"]) >= len(accepted) + 1 else None
        return h.wait_until(complete, PERSIST_TIMEOUT, 0.1,
                            "%d versions of %s in the history" % (len(accepted) + 1, t["id"]))

    def test_concurrent_edits_get_distinct_versions(self):
        for t, accepted in self.race():
            self.assertTrue(accepted)
            stamps = [e["edited_at"] for e in accepted]
            self.assertEqual(len(set(stamps)), len(stamps),
                             "two accepted edits of tweet %s got the same edited_at: %s"
                             % (t["id"], sorted(stamps)))

    def test_concurrent_edits_cache_and_postgresql_agree(self):
        for t, accepted in self.race():
            self.wait_history(t, accepted)
            cached = self.http.get(API + "/tweets/" + t["id"]).json
            pg_text = h.psql("SELECT text FROM tweets WHERE id = %s" % t["id"])
            self.assertEqual(cached["text"], pg_text,
                             "tweet %s: the cache says %r, PostgreSQL %r" % (t["id"],
                                                                             cached["text"],
                                                                             pg_text))
            h.evict_tweet(t["id"])
            self.assertSameTweet(self.http.get(API + "/tweets/" + t["id"]).json, cached,
                             "tweet %s changed when its cache entry was lost" % t["id"])

    def test_concurrent_edits_history_keeps_every_version_once(self):
        for t, accepted in self.race():
            items = self.wait_history(t, accepted)
            texts = [it["text"] for it in items]
            want = sorted([t["text"]] + [e["text"] for e in accepted])
            self.assertEqual(sorted(texts), want,
                             "tweet %s: history %s" % (t["id"], texts))
            # A chain: each version ends where the next one begins.
            for newer, older in zip(items, items[1:]):
                self.assertEqual(older["until"], newer["since"], items)


class Timeline(h.StackTestCase):
    WORKERS = 1

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.token, cls.author = h.sign_up(cls.http, "tl")
        cls.path = API + "/accounts/" + cls.author["id"] + "/tweets"
        cls.ids = [h.post_tweet(cls.http, cls.token, "timeline %d" % i)["id"] for i in range(25)]
        h.wait_until(lambda: h.count_tweets_by_author(cls.author["id"]) == 25, PERSIST_TIMEOUT,
                     0.05, "25 tweets persisted")

    def page(self, path, **query):
        r = self.http.get(path, query=query or None)
        self.assertStatus(r, 200)
        self.assertKeys(r.json, {"items", "next_cursor"})
        return r

    def test_pages_of_10_10_5_newest_first(self):
        seen, sizes = [], []
        r = self.page(self.path, limit=10)
        while True:
            items = r.json["items"]
            sizes.append(len(items))
            for it in items:
                self.assertKeys(it, TWEET_KEYS)
                self.assertEqual(it["author_id"], self.author["id"])
            seen.extend(it["id"] for it in items)
            nxt = r.json["next_cursor"]
            link = r.header("Link")
            if nxt is None:
                self.assertIsNone(link, "the last page has no Link header")
                break
            self.assertIsInstance(nxt, str)
            self.assertIsNotNone(link, "a page with a next cursor has a Link header")
            m = re.fullmatch(r'<([^>]*)>; rel="next"', link)
            self.assertIsNotNone(m, link)
            url = urllib.parse.urlsplit(m.group(1))
            self.assertEqual(url.path, self.path)
            q = urllib.parse.parse_qs(url.query)
            self.assertEqual(q, {"limit": ["10"], "cursor": [nxt]})
            # Follow the Link header as a client would.
            r = self.http.get(m.group(1))
            self.assertStatus(r, 200)
            self.assertLess(len(sizes), 10, "paging does not end")
        self.assertEqual(sizes, [10, 10, 5])
        self.assertEqual(len(set(seen)), 25, "duplicates across pages")
        self.assertEqual(seen, list(reversed(self.ids)))  # newest first, nothing skipped
        self.assertEqual(seen, sorted(seen, key=int, reverse=True))

    def test_by_username_and_default_limit(self):
        r = self.page(API + "/accounts/@" + self.author["username"] + "/tweets")
        self.assertEqual(len(r.json["items"]), 20)  # default limit
        self.assertEqual([it["id"] for it in r.json["items"]], list(reversed(self.ids))[:20])
        self.assertIsNotNone(r.json["next_cursor"])
        self.assertIn("limit=20", r.header("Link"))

    def test_paging_is_stable_while_new_tweets_arrive(self):
        token, author = h.sign_up(self.http, "tls")
        path = API + "/accounts/" + author["id"] + "/tweets"
        ids = [h.post_tweet(self.http, token, "s%d" % i)["id"] for i in range(6)]
        h.wait_until(lambda: h.count_tweets_by_author(author["id"]) == 6, PERSIST_TIMEOUT, 0.05,
                     "6 tweets persisted")
        p1 = self.page(path, limit=3)
        newer = h.post_tweet(self.http, token, "newer")["id"]
        h.wait_until(lambda: h.count_tweets_by_author(author["id"]) == 7, PERSIST_TIMEOUT, 0.05,
                     "the new tweet persisted")
        p2 = self.page(path, limit=3, cursor=p1.json["next_cursor"])
        got = [it["id"] for it in p1.json["items"] + p2.json["items"]]
        self.assertEqual(got, list(reversed(ids)))
        self.assertNotIn(newer, got)
        self.assertIsNone(p2.json["next_cursor"])
        self.assertEqual(self.page(path, limit=1).json["items"][0]["id"], newer)

    def test_empty_timeline(self):
        _, nobody = h.sign_up(self.http, "quiet")
        r = self.page(API + "/accounts/" + nobody["id"] + "/tweets")
        self.assertEqual(r.json["items"], [])
        self.assertIsNone(r.json["next_cursor"])
        self.assertIsNone(r.header("Link"))

    def test_page_boundaries(self):
        r = self.page(self.path, limit=25)  # exactly all: no next page
        self.assertEqual(len(r.json["items"]), 25)
        self.assertIsNone(r.json["next_cursor"])
        self.assertIsNone(r.header("Link"))
        r = self.page(self.path, limit=24)
        self.assertEqual(len(r.json["items"]), 24)
        r2 = self.page(self.path, limit=24, cursor=r.json["next_cursor"])
        self.assertEqual([it["id"] for it in r2.json["items"]], [self.ids[0]])
        self.assertIsNone(r2.json["next_cursor"])
        r = self.page(self.path, limit=1)
        self.assertEqual([it["id"] for it in r.json["items"]], [self.ids[-1]])
        self.assertIsNotNone(r.json["next_cursor"])

    def test_limit_is_validated(self):
        for bad in ("0", "-1", "abc", "1.5", "", "10x", "1e3"):
            with self.subTest(limit=bad):
                r = self.http.get(self.path, query={"limit": bad})
                self.assertError(r, 422, "invalid_field", "limit")

    def test_limit_above_100_is_capped(self):
        token, author = h.sign_up(self.http, "cap")
        for i in range(101):
            h.post_tweet(self.http, token, "c%d" % i)
        h.wait_until(lambda: h.count_tweets_by_author(author["id"]) == 101, PERSIST_TIMEOUT, 0.05,
                     "101 tweets persisted")
        path = API + "/accounts/" + author["id"] + "/tweets"
        r = self.page(path, limit=1000)
        self.assertEqual(len(r.json["items"]), 100)
        self.assertIsNotNone(r.json["next_cursor"])
        self.assertIn("limit=100&", r.header("Link"))
        r2 = self.page(path, limit=100, cursor=r.json["next_cursor"])
        self.assertEqual(len(r2.json["items"]), 1)
        self.assertIsNone(r2.json["next_cursor"])
        self.assertIsNone(r2.header("Link"))
        self.assertEqual(len(self.page(path, limit=99999999999999999999).json["items"]), 100)

    def test_bad_cursor_is_400(self):
        for cur in ("garbage!!", "%%%", cursor_of("xx:123"), cursor_of("ut:abc"),
                    cursor_of("ut:"), cursor_of("ut"), cursor_of("ut:-5"), "dXQ6MTIz=",
                    cursor_of("ut:1") + "A" * 100):
            with self.subTest(cursor=cur):
                r = self.http.get(self.path, query={"cursor": cur, "limit": "5"})
                self.assertError(r, 400, "invalid_cursor", "cursor")

    def test_crafted_cursor_of_this_list_works(self):
        # The cursor is opaque to clients, but one made the same way pages on.
        mid = self.ids[12]
        r = self.page(self.path, limit=5, cursor=cursor_of("ut:" + mid))
        self.assertEqual([it["id"] for it in r.json["items"]],
                         list(reversed(self.ids[7:12])))

    def test_unknown_account_is_404(self):
        for ident in ("123456789012345", "abc", "@" + h.unique("ghost")):
            with self.subTest(ident=ident):
                self.assertError(self.http.get(API + "/accounts/" + ident + "/tweets"), 404,
                                 "not_found", "id")

    def test_deleted_and_edited_tweets_in_the_timeline(self):
        token, author = h.sign_up(self.http, "tld")
        path = API + "/accounts/" + author["id"] + "/tweets"
        ids = [h.post_tweet(self.http, token, "d%d" % i)["id"] for i in range(5)]
        h.wait_until(lambda: h.count_tweets_by_author(author["id"]) == 5, PERSIST_TIMEOUT, 0.05,
                     "5 tweets persisted")
        self.assertStatus(self.http.delete(API + "/tweets/" + ids[1], token=token), 202)
        self.assertStatus(self.http.delete(API + "/tweets/" + ids[3], token=token), 202)
        self.assertStatus(self.http.patch(API + "/tweets/" + ids[2], {"text": "d2 edited"},
                                          token=token), 202)

        def settled():
            items = self.page(path).json["items"]
            return items if len(items) == 3 and items[1]["text"] == "d2 edited" else None
        items = h.wait_until(settled, PERSIST_TIMEOUT, 0.05, "deletes and edit in the timeline")
        self.assertEqual([it["id"] for it in items], [ids[4], ids[2], ids[0]])
        self.assertIsNotNone(items[1]["edited_at"])
        # Tombstones stay as one row each.
        self.assertEqual(h.sql_int("SELECT count(*) FROM tweets WHERE author_id = %s AND "
                                   "deleted_at IS NOT NULL" % author["id"]), 2)
        # A cursor pointing at a deleted tweet still pages on correctly.
        r = self.page(path, cursor=cursor_of("ut:" + ids[3]))
        self.assertEqual([it["id"] for it in r.json["items"]], [ids[2], ids[0]])

    def test_bad_token_is_401(self):
        self.assertError(self.http.get(self.path, token="C" * 43), 401, "invalid_token")


if __name__ == "__main__":
    h.main()
