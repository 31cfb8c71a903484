#!/usr/bin/env python3
"""End-to-end: search (tweets, accounts, hashtags) and hashtag timelines.

  - GET /search?q=TEXT&type=tweets: PostgreSQL full-text search ('simple':
    case-insensitive words, no stemming, no prefix match), ranked, ties
    newest first; hydrated items like the feed's; deleted tweets never
    appear; a tweet is searchable within a second of its 202 (we poll 3 s);
    type defaults to tweets;
  - type=accounts: username or display name starts with q (case-insensitive,
    q taken literally: no LIKE wildcards), ordered by username, public views;
  - type=hashtags: tags starting with q (with or without '#'), {"tag",
    "count" of live tweets}, most used first;
  - GET /hashtags/{tag}/tweets: newest first, tag case-insensitive, paging
    exact while tweets come and go; a tweet's hashtags (and words) are those
    of its current text, also after an edit;
  - lists page with next_cursor and a Link header that can be followed as it
    is (it keeps q, however long, and type); limit default 20, capped at 100;
  - answers are cached for 60 s but never hide a newer tweet, and cached
    answers never mix types, limits, cursors or viewers (liked_by_me);
  - errors: q missing/empty/over 200 characters, bad type, bad limit (422
    with field), bad cursor (400 invalid_cursor); odd q text never a 5xx.

Every word, tag and name is unique to the run (harness RUN), so reruns
against the same database do not interfere.
"""

import os
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

API = h.API
SEARCH = API + "/search"
NO_RATE_LIMITS = {"CHIRP_RATE_LOGIN": "100000000", "CHIRP_RATE_WRITE": "100000000",
                  "CHIRP_RATE_READ": "100000000"}
FRESH = 3.0    # a tweet is searchable within 1 s of its 202 (contract); we poll this long
BULK = 15.0    # many tweets posted at once are all searchable within this
PERSIST = 20.0  # the persist worker stores a tweet within this
AUTHOR_KEYS = {"id", "username", "display_name", "avatar_url"}
HYDRATED_KEYS = set(h.TWEET_KEYS) | {"author", "like_count", "comment_count", "liked_by_me"}
PUBLIC_ACCOUNT_KEYS = {"id", "username", "display_name", "bio", "avatar_url", "created_at"}


def word(name):
    """A word unique to this run (the 'simple' parser keeps it as one token)."""
    return "zq%s%s" % (h.RUN, name)


def tag(name):
    """A hashtag (lowercase, without '#') unique to this run."""
    return "%s%s" % (name, h.RUN)


def tweets_persisted(ids):
    return h.sql_int("SELECT count(*) FROM tweets WHERE id = ANY('{%s}'::bigint[])"
                     % ",".join(h.id_literal(i) for i in ids))


def tweets_deleted(ids):
    return h.sql_int("SELECT count(*) FROM tweets WHERE deleted_at IS NOT NULL AND "
                     "id = ANY('{%s}'::bigint[])" % ",".join(h.id_literal(i) for i in ids))


class Search(h.StackTestCase):
    ENV = NO_RATE_LIMITS

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.token, cls.author = h.sign_up(cls.http, "sw")
        cls.viewer_token, cls.viewer = h.sign_up(cls.http, "sv")

    # ---- helpers ----

    def post(self, text, token=None):
        return h.post_tweet(self.http, token or self.token, text)

    def delete(self, tweet, token=None):
        r = self.http.delete(API + "/tweets/%s" % tweet["id"], token=token or self.token)
        self.assertStatus(r, 202)

    def get_list(self, path, query, token=None):
        """GET a list; asserts 200 and the list shape; returns the Response."""
        return self.check_list(self.http.get(path, query=query, token=token))

    def check_list(self, r):
        self.assertStatus(r, 200)
        self.assertTrue((r.header("Content-Type") or "").startswith("application/json"), r)
        self.assertIsInstance(r.json, dict, r)
        self.assertEqual(set(r.json), {"items", "next_cursor"}, r)
        self.assertIsInstance(r.json["items"], list, r)
        nxt = r.json["next_cursor"]
        self.assertTrue(nxt is None or (isinstance(nxt, str) and nxt), r)
        if nxt is None:
            self.assertIsNone(r.header("Link"), "no Link header without a next page: %r" % r)
        else:
            self.assertIsNotNone(r.header("Link"), "a Link header with a next page: %r" % r)
        return r

    def search(self, q, type=None, token="viewer", **extra):
        query = {"q": q}
        if type is not None:
            query["type"] = type
        query.update(extra)
        return self.get_list(SEARCH, query, self.viewer_token if token == "viewer" else token)

    def search_ids(self, q, **kw):
        kw.setdefault("limit", 100)
        return [t["id"] for t in self.search(q, **kw).json["items"]]

    def tag_path(self, t):
        return API + "/hashtags/%s/tweets" % urllib.parse.quote(t, safe="")

    def tag_ids(self, t, token="viewer", **query):
        query.setdefault("limit", 100)
        r = self.get_list(self.tag_path(t), query,
                          self.viewer_token if token == "viewer" else token)
        return [x["id"] for x in r.json["items"]]

    def wait_equal(self, fetch, expected, timeout, what):
        """Polls fetch() until it returns expected; returns the seconds it took."""
        last = ["(no answer)"]
        t0 = time.monotonic()

        def check():
            last[0] = fetch()
            return last[0] == expected

        try:
            h.wait_until(check, timeout, 0.05, what)
        except AssertionError as e:
            raise AssertionError("%s\n  want %s\n  have %s" % (e, expected, last[0])) from None
        return time.monotonic() - t0

    def wait_search(self, q, ids, timeout=FRESH, what=None, **kw):
        return self.wait_equal(lambda: self.search_ids(q, **kw), list(ids), timeout,
                               what or "search %r to answer %s" % (q, ids))

    def walk(self, path, query, limit, token="viewer"):
        """Pages through a list by following its Link headers as they are;
        checks that each Link keeps the query (q, type), carries limit and
        the cursor, and that a request built from next_cursor answers the
        same page.  Returns the pages (lists of items)."""
        token = self.viewer_token if token == "viewer" else token
        pages = []
        r = self.get_list(path, dict(query, limit=limit), token)
        for _ in range(60):
            pages.append(r.json["items"])
            nxt = r.json["next_cursor"]
            if nxt is None:
                return pages
            link = r.header("Link")
            self.assertRegex(link, r'^<[^>]+>; rel="next"$')
            url = urllib.parse.urlsplit(link[1:link.index(">")])
            self.assertEqual(url.path, path, link)
            qs = urllib.parse.parse_qs(url.query, keep_blank_values=True)
            for k, v in query.items():
                self.assertEqual(qs.get(k), [str(v)], "the Link %s lost %s=%r" % (link, k, v))
            self.assertEqual(qs.get("limit"), [str(limit)], link)
            self.assertEqual(qs.get("cursor"), [nxt], link)
            built = self.get_list(path, dict(query, limit=limit, cursor=nxt), token)
            r = self._get_url(url, token)
            self.assertEqual([x.get("id", x.get("tag")) for x in r.json["items"]],
                             [x.get("id", x.get("tag")) for x in built.json["items"]],
                             "following the Link and using next_cursor answer the same page")
        self.fail("more than 60 pages")

    def _get_url(self, url, token):
        """GET the Link's URL as it is (no re-encoding)."""
        return self.check_list(self.http.get(url.path + "?" + url.query, token=token))

    def check_tweet_item(self, item, tweet, author, token="viewer"):
        """A hydrated tweet: the tweet as GET /tweets/{id} shows it (same
        viewer), plus its author's public fields."""
        token = self.viewer_token if token == "viewer" else token
        self.assertKeys(item, HYDRATED_KEYS)
        self.assertEqual(item["id"], tweet["id"])
        self.assertEqual(item["text"], tweet["text"])
        self.assertEqual(item["author_id"], author["id"])
        self.assertEqual(set(item["author"]), AUTHOR_KEYS, item)
        self.assertEqual(item["author"], {k: author[k] for k in AUTHOR_KEYS})
        self.assertIsInstance(item["like_count"], int, item)
        self.assertIsInstance(item["comment_count"], int, item)
        self.assertIsInstance(item["liked_by_me"], bool, item)
        g = self.http.get(API + "/tweets/" + tweet["id"], token=token)
        self.assertStatus(g, 200)
        for k, v in g.json.items():
            self.assertEqual(item.get(k), v, "search item and GET /tweets differ in %r" % k)

    # ---- tweets ----

    def test_tweets_found_case_insensitively_hydrated_no_stemming(self):
        tok, acct = h.sign_up(self.http, "sh")
        r = self.http.patch(API + "/accounts/me", {"display_name": "Searcher \u00e9",
                                                   "avatar_url": "https://example.com/s.png"},
                            token=tok)
        self.assertStatus(r, 200)
        acct = r.json
        w = word("hydra")
        t = self.post("Hello %s world" % w.upper(), tok)
        plural = self.post("many %ss here" % w, tok)
        took = self.wait_search(w, [t["id"]], what="the tweet found by its word, lowercase")
        print("search: a new tweet was found %.3f s after its 202 (or less)" % took,
              file=sys.stderr)
        items = self.search(w).json["items"]
        self.check_tweet_item(items[0], t, acct)
        # Any case of the word; type=tweets is the default.
        self.assertEqual(self.search_ids(w.upper(), type="tweets"), [t["id"]])
        self.assertEqual(self.search_ids(w[:4] + w[4:].upper()), [t["id"]])
        self.assertEqual(self.search(w, type="tweets").json["items"], items)
        # 'simple': no stemming (the plural is another word) and no prefix match.
        self.wait_search(w + "s", [plural["id"]], what="the plural word finds only its tweet")
        self.assertEqual(self.search_ids(w[:-2]), [])
        self.assertEqual(self.search_ids(w), [t["id"]])
        # The word among others and punctuation still matches.
        self.assertEqual(self.search_ids("%s!" % w), [t["id"]])

    def test_relevance_then_newest_first(self):
        w = word("rank")
        twice = self.post("%s %s alpha" % (w, w.upper()))   # oldest, the word twice
        once_old = self.post("%s beta gamma" % w)
        other = self.post("nothing to see %s" % word("rankx"))
        once_new = self.post("%s beta gamma" % w)          # newest, same rank as once_old
        want = [twice["id"], once_new["id"], once_old["id"]]
        self.wait_search(w, want, what="twice-matching tweet first, then ties newest first")
        self.assertNotIn(other["id"], self.search_ids(w))

    def test_paging_25_with_limit_10(self):
        w = word("page")
        posted = [self.post("%s number %d" % (w, i)) for i in range(25)]
        want = [t["id"] for t in reversed(posted)]  # one rank for all: newest first
        self.wait_search(w, want, BULK, "all 25 tweets found")
        for query in ({"q": w}, {"q": w, "type": "tweets"}):
            with self.subTest(query=query):
                pages = self.walk(SEARCH, query, 10)
                self.assertEqual([len(p) for p in pages], [10, 10, 5])
                ids = [t["id"] for p in pages for t in p]
                self.assertEqual(len(set(ids)), 25, "no duplicates")
                self.assertEqual(ids, want)
                for item in pages[2]:
                    self.assertKeys(item, HYDRATED_KEYS)

    def test_paging_across_rank_groups(self):
        # Two ranks: the cursor must carry the rank, not only the id.
        w = word("mixed")
        posted = []
        for i in range(12):
            text = ("%s %s n%d" % (w, w, i)) if i % 3 == 0 else ("%s n%d more" % (w, i))
            posted.append((i % 3 == 0, self.post(text)))
        high = [t["id"] for hi, t in reversed(posted) if hi]
        low = [t["id"] for hi, t in reversed(posted) if not hi]
        self.wait_search(w, high + low, BULK, "4 twice-matching tweets, then 8 others")
        pages = self.walk(SEARCH, {"q": w}, 5)
        self.assertEqual([len(p) for p in pages], [5, 5, 2])
        self.assertEqual([t["id"] for p in pages for t in p], high + low)
        pages = self.walk(SEARCH, {"q": w}, 3)
        self.assertEqual([t["id"] for p in pages for t in p], high + low)

    def test_limit_default_20_and_capped_at_100(self):
        w = word("cap")
        posted = h.parallel(self.stack.port, lambda c, i: h.post_tweet(
            c, self.token, "%s many %d" % (w, i)), range(105), 16)
        ids = {t["id"] for t in posted}
        h.wait_until(lambda: tweets_persisted(ids) == 105, PERSIST, 0.1, "105 tweets persisted")
        h.wait_until(lambda: len(self.search_ids(w)) == 100, BULK, 0.1, "100 found (limit 100)")
        r = self.search(w)
        self.assertEqual(len(r.json["items"]), 20, "the default limit is 20")
        self.assertIsNotNone(r.json["next_cursor"])
        r = self.search(w, limit=1000)
        self.assertEqual(len(r.json["items"]), 100, "a limit above 100 is capped at 100")
        self.assertIsNotNone(r.json["next_cursor"])
        first = [t["id"] for t in r.json["items"]]
        r2 = self.search(w, limit=100, cursor=r.json["next_cursor"])
        rest = [t["id"] for t in r2.json["items"]]
        self.assertEqual(len(rest), 5, r2)
        self.assertIsNone(r2.json["next_cursor"])
        self.assertEqual(len(set(first + rest)), 105, "no duplicates")
        self.assertEqual(set(first + rest), ids)

    def test_deleted_tweets_disappear(self):
        w = word("gone")
        tg = tag("dg")
        keep = self.post("%s keep #%s" % (w, tg))
        gone = self.post("%s remove #%s" % (w, tg))
        self.wait_search(w, [gone["id"], keep["id"]])
        self.wait_equal(lambda: self.tag_ids(tg), [gone["id"], keep["id"]], FRESH,
                        "both in the hashtag's tweets")
        self.delete(gone)
        self.wait_search(w, [keep["id"]], what="the deleted tweet gone from the search")
        self.wait_equal(lambda: self.tag_ids(tg), [keep["id"]], FRESH,
                        "the deleted tweet gone from the hashtag's tweets")
        # Deleted right after its 202 (perhaps before it was stored): never shown.
        brief = self.post("%s brief #%s" % (w, tg))
        self.delete(brief)
        barrier = self.post("%s barrier #%s" % (w, tg))
        self.wait_search(w, [barrier["id"], keep["id"]], what="the barrier, not the brief tweet")
        self.wait_equal(lambda: self.tag_ids(tg), [barrier["id"], keep["id"]], FRESH,
                        "the barrier, not the brief tweet, in the hashtag's tweets")
        h.wait_until(lambda: tweets_deleted([gone["id"], brief["id"]]) == 2, PERSIST, 0.1,
                     "both deletes stored")
        # Still gone once the tweets' cache entries are evicted.
        h.evict_tweet(gone["id"])
        h.evict_tweet(brief["id"])
        self.assertEqual(self.search_ids(w), [barrier["id"], keep["id"]])
        self.assertEqual(self.tag_ids(tg), [barrier["id"], keep["id"]])

    def test_cache_never_hides_a_new_tweet(self):
        w = word("cache")
        t1 = self.post("%s first" % w)
        self.wait_search(w, [t1["id"]])
        # The same query again and again: its answer is cached now.
        for _ in range(3):
            self.assertEqual(self.search_ids(w), [t1["id"]])
        t2 = self.post("%s second" % w)
        took = self.wait_search(w, [t2["id"], t1["id"]],
                                what="a tweet posted after the answer was cached")
        print("search: a tweet was found %.3f s after its 202 despite the cache" % took,
              file=sys.stderr)
        t3 = self.post("%s third" % w)
        self.wait_search(w, [t3["id"], t2["id"], t1["id"]], what="one more new tweet")
        # An empty answer is cached too, and does not hide the first match.
        w2 = word("cachenone")
        for _ in range(3):
            self.assertEqual(self.search_ids(w2), [])
        t4 = self.post("%s at last" % w2)
        self.wait_search(w2, [t4["id"]], what="the first match of a query answered empty")
        # The same for a hashtag's tweets.
        tg = tag("ct")
        a = self.post("#%s one" % tg)
        self.wait_equal(lambda: self.tag_ids(tg), [a["id"]], FRESH, "the hashtag's first tweet")
        for _ in range(3):
            self.assertEqual(self.tag_ids(tg), [a["id"]])
        b = self.post("#%s two" % tg)
        self.wait_equal(lambda: self.tag_ids(tg), [b["id"], a["id"]], FRESH,
                        "a new tweet in a cached hashtag timeline")

    def test_like_state_per_viewer_and_fresh(self):
        w = word("liked")
        t = self.post("%s like me" % w)
        tl, liker = h.sign_up(self.http, "sl")
        self.wait_search(w, [t["id"]])
        # Cached for the viewer and for anonymous readers.
        item = self.search(w).json["items"][0]
        self.assertEqual((item["like_count"], item["liked_by_me"]), (0, False), item)
        self.assertEqual(self.search(w, token=tl).json["items"][0]["liked_by_me"], False)
        r = self.http.post(API + "/tweets/%s/like" % t["id"], token=tl)
        self.assertStatus(r, 202)

        def state(token):
            it = self.search(w, token=token).json["items"][0]
            return (it["like_count"], it["liked_by_me"])

        self.wait_equal(lambda: state(tl), (1, True), FRESH, "the liker sees its like")
        self.assertEqual(state(self.viewer_token), (1, False), "liked_by_me is per viewer")
        self.assertEqual(state(None), (1, False), "anonymous: liked_by_me false")
        self.check_tweet_item(self.search(w, token=tl).json["items"][0], t, self.author, tl)

    def test_link_keeps_a_long_query(self):
        # The Link must carry q whole, however long it is once encoded
        # (60 non-ASCII letters are 360 characters percent-encoded).
        w = word("longq")
        long_word = "\u00e9" * 60
        q = "%s %s" % (w, long_word)
        posted = [self.post("%s %s n%d" % (w, long_word, i)) for i in range(3)]
        want = [t["id"] for t in reversed(posted)]
        self.wait_search(q, want, BULK, "3 tweets with both words")
        pages = self.walk(SEARCH, {"q": q, "type": "tweets"}, 2)
        self.assertEqual([t["id"] for p in pages for t in p], want)

    def test_edit_moves_a_tweet_between_hashtags_and_words(self):
        # A tweet's hashtags are those of its current text.
        old_tag, new_tag = tag("ea"), tag("eb")
        old_word, new_word = word("before"), word("after")
        t = self.post("%s #%s" % (old_word, old_tag))
        self.wait_equal(lambda: self.tag_ids(old_tag), [t["id"]], FRESH, "tagged before the edit")
        self.wait_search(old_word, [t["id"]])
        r = self.http.patch(API + "/tweets/%s" % t["id"], {"text": "%s #%s" % (new_word, new_tag)},
                            token=self.token)
        self.assertStatus(r, 202)
        self.wait_search(new_word, [t["id"]], what="the edited text found by its new word")
        self.wait_search(old_word, [], what="the old word no longer finds the edited tweet")
        self.wait_equal(lambda: self.tag_ids(new_tag), [t["id"]], FRESH, "the new tag's tweets")
        self.wait_equal(lambda: self.search(new_tag, type="hashtags").json["items"],
                        [{"tag": new_tag, "count": 1}], FRESH, "the new tag counted")
        self.wait_equal(lambda: self.tag_ids(old_tag), [], FRESH,
                        "the edited tweet gone from the old tag's tweets")
        self.wait_equal(lambda: self.search(old_tag, type="hashtags").json["items"], [], FRESH,
                        "the old tag no longer counted (no live tweet uses it)")

    # ---- accounts ----

    def test_accounts_by_username_prefix(self):
        accts = [h.sign_up(self.http, "sq") for _ in range(5)]
        names = sorted(a["username"] for _, a in accts)
        by_name = {a["username"]: a for _, a in accts}
        prefix = "sq_%s_" % h.RUN
        # One of them also has a display name with the prefix: listed once.
        r = self.http.patch(API + "/accounts/me", {"display_name": prefix.upper() + " me"},
                            token=accts[2][0])
        self.assertStatus(r, 200)
        by_name[r.json["username"]] = r.json
        got = self.search(prefix.upper(), type="accounts", limit=100).json["items"]
        self.assertEqual([a["username"] for a in got], names, "ordered by username, once each")
        for a in got:
            # The public view: as GET /accounts/{id} shows it, no e-mail.
            self.assertKeys(a, PUBLIC_ACCOUNT_KEYS, {"email"})
            self.assertEqual({k: a[k] for k in PUBLIC_ACCOUNT_KEYS},
                             {k: by_name[a["username"]][k] for k in PUBLIC_ACCOUNT_KEYS})
            g = self.http.get(API + "/accounts/%s" % a["id"])
            self.assertStatus(g, 200)
            self.assertEqual(a, g.json)
        # A longer prefix narrows it down; the full name finds that account.
        self.assertEqual([a["username"] for a in self.search(
            names[3], type="accounts").json["items"]],
            [n for n in names if n.startswith(names[3])])
        # Paging: 2, 2, 1 following the Link.
        pages = self.walk(SEARCH, {"q": prefix, "type": "accounts"}, 2)
        self.assertEqual([len(p) for p in pages], [2, 2, 1])
        self.assertEqual([a["username"] for p in pages for a in p], names)
        # q is literal text: '_' and '%' are no wildcards.
        for q in ("s__%s_" % h.RUN, "sq%%%s" % h.RUN, "s%", "%" + h.RUN):
            with self.subTest(q=q):
                got = self.search(q, type="accounts", limit=100).json["items"]
                self.assertEqual([a["username"] for a in got if h.RUN in a["username"]], [])

    def test_accounts_by_display_name_prefix(self):
        zebra, quagga = "Zebra%s" % h.RUN, "Quagga%s" % h.RUN
        pairs = [h.sign_up(self.http, "sd") for _ in range(3)]  # the third has no display name
        # Set in the reverse order of the usernames: the answer is by username.
        for i, (tok, _) in reversed(list(enumerate(pairs[:2]))):
            r = self.http.patch(API + "/accounts/me",
                                {"display_name": "%s %s %d" % (zebra, quagga, i)}, token=tok)
            self.assertStatus(r, 200)
        want = sorted(a["username"] for _, a in pairs[:2])
        for q in (zebra.lower(), zebra.upper(), "%s %s" % (zebra.lower(), quagga[:3].lower())):
            with self.subTest(q=q):
                got = self.search(q, type="accounts").json["items"]
                self.assertEqual([a["username"] for a in got], want)
                for a in got:
                    self.assertTrue(a["display_name"].startswith(zebra), a)
                    self.assertNotIn("email", a)
        # "Starts with": a later word of the display name does not match.
        self.assertEqual(self.search(quagga, type="accounts").json["items"], [])

    # ---- hashtags ----

    def test_hashtag_prefix_search_with_counts(self):
        t1, t2 = tag("ut"), tag("ut") + "2"
        posted = [self.post("first #%s post" % t1.upper()),
                  self.post("second #%s, and #%s again (one tweet)" % (t1, t1.capitalize())),
                  self.post("third (#%s)." % t1),
                  self.post("#%s only" % t2),
                  self.post("no tag: %s or %s" % (t1, t2))]
        h.wait_until(lambda: tweets_persisted([t["id"] for t in posted]) == 5, PERSIST, 0.1,
                     "5 tweets persisted")
        want = [{"tag": t1, "count": 3}, {"tag": t2, "count": 1}]
        self.wait_equal(lambda: self.search(t1, type="hashtags").json["items"], want, FRESH,
                        "the two tags, most used first")
        self.assertEqual(self.search("#" + t1, type="hashtags").json["items"], want)
        self.assertEqual(self.search(t2, type="hashtags").json["items"], want[1:])
        self.assertEqual(self.search("#" + t2, type="hashtags").json["items"], want[1:])
        # Paging, with the '#' kept (encoded) in the Link.
        for q in (t1, "#" + t1):
            with self.subTest(q=q):
                pages = self.walk(SEARCH, {"q": q, "type": "hashtags"}, 1)
                self.assertEqual(pages, [want[:1], want[1:]])
        # q is literal: '_' and '%' are no wildcards.
        for q in ("u_" + h.RUN, "ut%", "ut%" + h.RUN, "%" + h.RUN):
            with self.subTest(q=q):
                got = self.search(q, type="hashtags", limit=100).json["items"]
                self.assertEqual([x for x in got if h.RUN in x["tag"]], [])

    def test_hashtag_count_is_of_live_tweets(self):
        td = tag("dt")
        a = self.post("#%s stays" % td)
        b = self.post("#%s goes" % td)
        self.delete(b)
        h.wait_until(lambda: tweets_persisted([a["id"], b["id"]]) == 2 and
                     tweets_deleted([b["id"]]) == 1, PERSIST, 0.1, "both stored, one deleted")
        self.wait_equal(lambda: self.search(td, type="hashtags").json["items"],
                        [{"tag": td, "count": 1}], FRESH, "the count of live tweets")

    def test_hashtag_tweets_newest_first_case_insensitive(self):
        th = tag("ht")
        spellings = [th, th.upper(), th.capitalize(), th, th.upper()]
        posted = [self.post("tweet %d #%s" % (i, s)) for i, s in enumerate(spellings)]
        other = self.post("another tag #%sx" % th)
        plain = self.post("no hash %s" % th)
        want = [t["id"] for t in reversed(posted)]
        for spelled in (th, th.upper(), th.capitalize()):
            self.wait_equal(lambda: self.tag_ids(spelled), want, BULK,
                            "the hashtag's tweets via /hashtags/%s/tweets" % spelled)
        got = self.tag_ids(th)
        self.assertNotIn(other["id"], got)
        self.assertNotIn(plain["id"], got)
        items = self.get_list(self.tag_path(th), {}, self.viewer_token).json["items"]
        for item, t in zip(items, reversed(posted)):
            self.check_tweet_item(item, t, self.author)
        pages = self.walk(self.tag_path(th.upper()), {}, 2)
        self.assertEqual([len(p) for p in pages], [2, 2, 1])
        self.assertEqual([t["id"] for p in pages for t in p], want)
        # Anonymous readers see the same list.
        self.assertEqual(self.tag_ids(th, token=None), want)

    def test_hashtag_tweets_paging_exact_while_tweets_come_and_go(self):
        tp = tag("hp")
        posted = [self.post("#%s p%d" % (tp, i)) for i in range(6)]
        ids = [t["id"] for t in reversed(posted)]
        self.wait_equal(lambda: self.tag_ids(tp), ids, BULK, "6 tweets with the tag")
        path = self.tag_path(tp)
        first = self.get_list(path, {"limit": 3}, self.viewer_token)
        self.assertEqual([t["id"] for t in first.json["items"]], ids[:3])
        # Meanwhile a new tweet arrives and one of the first page is deleted.
        late = self.post("#%s late" % tp)
        self.delete(posted[5])
        self.wait_equal(lambda: self.tag_ids(tp), [late["id"]] + ids[1:], FRESH,
                        "the new tweet listed, the deleted one gone")
        link = first.header("Link")
        url = urllib.parse.urlsplit(link[1:link.index(">")])
        rest = self._get_url(url, self.viewer_token).json["items"]
        self.assertEqual([t["id"] for t in rest], ids[3:6], "no duplicate, no skip")

    # ---- the cache keeps answers apart ----

    def test_cached_answers_are_per_type_limit_and_cursor(self):
        x = word("keys")
        tx = tag("ck")
        tok, acct = h.sign_up(self.http, "sk")
        self.assertStatus(self.http.patch(API + "/accounts/me", {"display_name": x + " person"},
                                          token=tok), 200)
        posted = [self.post("%s #%s %d" % (x, tx, i)) for i in range(3)]
        want = [t["id"] for t in reversed(posted)]
        self.wait_search(x, want, BULK)
        self.assertEqual([t["id"] for t in self.search(x).json["items"]][:1], want[:1])
        accts = self.search(x, type="accounts").json["items"]
        self.assertEqual([a["id"] for a in accts], [acct["id"]], "type=accounts, same q")
        self.assertEqual(self.search(x, type="hashtags").json["items"], [],
                         "type=hashtags, same q (no tag starts with it)")
        # The fan-out role may store the tweets (found by words) before the
        # persist role committed their hashtags: wait for those too.
        h.wait_until(lambda: self.search(tx, type="hashtags").json["items"] ==
                     [{"tag": tx, "count": 3}], BULK, 0.05, "the hashtag #%s counted 3" % tx)
        self.assertEqual(self.search_ids(tx), want, "the tag's word, type=tweets")
        self.assertEqual(self.search_ids(x, limit=1), want[:1])
        self.assertEqual(self.search_ids(x, limit=2), want[:2])
        r = self.search(x, limit=1)
        self.assertEqual(self.search_ids(x, limit=1, cursor=r.json["next_cursor"]), want[1:2])
        self.assertEqual(self.search_ids(x, limit=2, cursor=r.json["next_cursor"]), want[1:3])
        self.assertEqual(self.search_ids(x, type="tweets"), want)

    # ---- errors ----

    def test_q_errors(self):
        for type_ in (None, "tweets", "accounts", "hashtags"):
            base = {} if type_ is None else {"type": type_}
            for q in (None, "", "a" * 201, "\u00e9" * 201, "\U0001F426" * 201):
                with self.subTest(type=type_, q=(q or "")[:3], n=len(q or "")):
                    query = dict(base)
                    if q is not None:
                        query["q"] = q
                    r = self.http.get(SEARCH, query=query or None, token=self.viewer_token)
                    self.assertStatus(r, 422)
                    self.assertErrorField(r, "q")
            # 200 characters are fine, whatever their size in bytes.
            for q in ("a" * 200, "\u00e9" * 200, "\U0001F426" * 200):
                with self.subTest(type=type_, q=q[:1], n=200):
                    r = self.http.get(SEARCH, query=dict(base, q=q), token=self.viewer_token)
                    self.assertStatus(r, 200)

    def test_type_errors(self):
        for type_ in ("users", "tweet", "hashtag", "all", "tweets,accounts"):
            with self.subTest(type=type_):
                r = self.http.get(SEARCH, query={"q": "hello", "type": type_},
                                  token=self.viewer_token)
                self.assertStatus(r, 422)
                self.assertErrorField(r, "type")

    def test_limit_and_cursor_errors(self):
        lists = [(SEARCH, {"q": "hello"}), (SEARCH, {"q": "hello", "type": "tweets"}),
                 (SEARCH, {"q": "hello", "type": "accounts"}),
                 (SEARCH, {"q": "hello", "type": "hashtags"}),
                 (self.tag_path(tag("er")), {})]
        for path, query in lists:
            for limit in ("0", "-1", "-100", "abc"):
                with self.subTest(path=path, query=query, limit=limit):
                    self.assertError(self.http.get(path, query=dict(query, limit=limit),
                                                   token=self.viewer_token),
                                     422, "invalid_field", "limit")
            for cursor in ("garbage!!", "%%%", "AAAA"):
                with self.subTest(path=path, query=query, cursor=cursor):
                    self.assertError(self.http.get(path, query=dict(query, cursor=cursor),
                                                   token=self.viewer_token),
                                     400, "invalid_cursor", "cursor")

    def test_forged_search_cursors_are_400(self):
        # A search cursor is base64url("sq:<offset>"), the offset an int in
        # the queries: a forged huge one was cast (2^31 became a negative
        # OFFSET, a 500; 2^32 became 0, the first page again).
        import base64

        def cursor(raw):
            return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

        deepest = 2 ** 30 - 1  # GW_SEARCH_MAX_OFFSET (INT_MAX / 2)
        for type_ in ("tweets", "accounts", "hashtags"):
            for raw in ("sq:%d" % (deepest + 1), "sq:%d" % 2 ** 31, "sq:%d" % (2 ** 31 + 5),
                        "sq:%d" % 2 ** 32, "sq:%d" % 2 ** 40, "sq:%d" % (2 ** 63 - 1),
                        "sq:%d" % 2 ** 64, "sq:-5", "sq:-1", "sq:0", "sq:", "sq:1x",
                        "ht:5", "sq:%d" % -(2 ** 31)):
                with self.subTest(type=type_, cursor=raw):
                    self.assertError(self.http.get(SEARCH, query={"q": "hello", "type": type_,
                                                                  "cursor": cursor(raw)},
                                                   token=self.viewer_token),
                                     400, "invalid_cursor", "cursor")
            # The deepest offset a cursor may carry is a valid, empty page.
            with self.subTest(type=type_, cursor="deepest"):
                r = self.http.get(SEARCH, query={"q": "hello", "type": type_, "limit": "100",
                                                 "cursor": cursor("sq:%d" % deepest)},
                                  token=self.viewer_token)
                self.assertStatus(r, 200)
                self.assertEqual(r.json["items"], [], r)
                self.assertIsNone(r.json["next_cursor"], r)

    def test_odd_query_text_is_no_server_error(self):
        odd = ["a & b | !c", "(", ")", "'", "\"", ":*", "a:*", "<->", "!!", "\\", "%", "_",
               "@", "&", "|", "\u00e9t\u00e9", "\U0001F426", "a b c d e f", "x'); DROP",
               "  padded  ", "#"]
        for type_ in ("tweets", "accounts", "hashtags"):
            for q in odd:
                with self.subTest(type=type_, q=q):
                    r = self.http.get(SEARCH, query={"q": q, "type": type_},
                                      token=self.viewer_token)
                    if q in ("#", "@") and r.status == 422:
                        self.assertErrorField(r, "q")  # the mark alone: nothing to search for
                    else:
                        self.assertStatus(r, 200)
                        self.assertEqual(set(r.json), {"items", "next_cursor"}, r)
        # A query with a real word among operators still finds it.
        w = word("odd")
        t = self.post("%s among (operators)" % w)
        self.wait_search(w, [t["id"]])
        self.assertEqual(self.search_ids("%s & | ! :* (" % w), [t["id"]])

    def assertErrorField(self, r, field):
        """A 422 error naming field (the code is not in the contract)."""
        self.assertTrue((r.header("Content-Type") or "").startswith("application/json"), r)
        self.assertIsInstance(r.json, dict, r)
        self.assertEqual(set(r.json), {"error"}, r)
        e = r.json["error"]
        self.assertIsInstance(e.get("code"), str, r)
        self.assertTrue(e["code"], r)
        self.assertIsInstance(e.get("message"), str, r)
        self.assertEqual(e.get("field"), field, r)


if __name__ == "__main__":
    h.main()
