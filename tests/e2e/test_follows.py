#!/usr/bin/env python3
"""End-to-end: the social graph.  POST/DELETE /accounts/{id}/follow (202 when
an event was published, 200 when the state already held), the errors (422
self, 404 unknown, 401 no token), GET /accounts/{id}/followers and /following
with their cursor paging and Link header, and followers_count /
following_count converging, against a real gateway, a persist worker and a
fan-out worker (the role that applies follows) on the test stack."""

import os
import sys
import threading
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

API = h.API
APPLY_TIMEOUT = 15.0  # seconds for the fan-out worker to apply a follow event
ACCOUNT_KEYS = {"id", "username", "display_name", "bio", "avatar_url", "created_at",
                "followers_count", "following_count"}


def follows_row(follower, followee):
    """(active, event_id) of the follows row, or None."""
    out = h.psql("SELECT active, event_id FROM follows WHERE follower_id = %s AND followee_id = %s"
                 % (h.id_literal(follower), h.id_literal(followee)))
    if not out:
        return None
    active, event_id = out.split("|")
    return active == "t", int(event_id)


def pg_counts(account_id):
    """(followers_count, following_count) in PostgreSQL."""
    out = h.psql("SELECT followers_count, following_count FROM accounts WHERE id = %s"
                 % h.id_literal(account_id))
    a, b = out.split("|")
    return int(a), int(b)


class FollowTestCase(h.StackTestCase):
    WORKERS = 1  # one per role: follow events are then applied in publish order

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Earlier tests may have left fan-out work queued: start from an idle queue.
        h.wait_fanout_idle(cls.http)

    # ---- helpers ----

    def follow(self, token, target, method="POST"):
        return self.http.request(method, API + "/accounts/%s/follow" % target, token=token)

    def unfollow(self, token, target):
        return self.follow(token, target, "DELETE")

    def account(self, ident):
        r = self.http.get(API + "/accounts/%s" % ident)
        self.assertStatus(r, 200)
        return r.json

    def wait_row(self, follower, followee, active, what=None):
        """Waits until the fan-out worker wrote the follow state; returns the
        row's event_id."""
        row = h.wait_until(lambda: (lambda r: r if r and r[0] == active else None)(
            follows_row(follower, followee)), APPLY_TIMEOUT, 0.05,
            what or "follows(%s -> %s).active = %s" % (follower, followee, active))
        return row[1]

    def wait_api_counts(self, account_id, followers=None, following=None, timeout=APPLY_TIMEOUT):
        """Polls GET /accounts/{id} until the counts read as given."""
        def ok():
            a = self.account(account_id)
            return ((followers is None or a["followers_count"] == followers) and
                    (following is None or a["following_count"] == following)) and a
        try:
            return h.wait_until(ok, timeout, 0.05, "account %s counts followers=%s following=%s"
                                % (account_id, followers, following))
        except AssertionError as e:
            a = self.account(account_id)
            raise AssertionError("%s; API says followers=%s following=%s, PostgreSQL says %s"
                                 % (e, a["followers_count"], a["following_count"],
                                    pg_counts(account_id))) from None

    def barrier(self):
        """Publishes one follow event of a throwaway pair and waits until it
        is applied: with one fan-out worker, every event published before it
        has been applied too."""
        tx, x = h.sign_up(self.http, "bx")
        _, y = h.sign_up(self.http, "by")
        self.assertStatus(self.follow(tx, y["id"]), 202)
        self.wait_row(x["id"], y["id"], True, "the barrier follow to be applied")

    def list_page(self, path, **query):
        r = self.http.get(path, query=query or None)
        self.assertStatus(r, 200)
        self.assertTrue((r.header("Content-Type") or "").startswith("application/json"), r)
        self.assertEqual(set(r.json), {"items", "next_cursor"}, r)
        return r

    def walk(self, path, limit):
        """Follows the Link header page by page, as a client would; returns
        the list of pages (each a list of account ids) after checking the
        cursor / Link contract of every page."""
        pages = []
        r = self.list_page(path, limit=limit)
        for _ in range(100):
            pages.append([a["id"] for a in r.json["items"]])
            for a in r.json["items"]:
                self.assertKeys(a, ACCOUNT_KEYS, forbidden={"email", "password_hash"})
            nxt, link = r.json["next_cursor"], r.header("Link")
            if nxt is None:
                self.assertIsNone(link, "the last page has no Link header: %r" % r)
                return pages
            self.assertEqual(len(r.json["items"]), limit, "a non-last page is full")
            self.assertIsNotNone(link, "a page with a next cursor has a Link header")
            self.assertRegex(link, r'^<[^>]+>; rel="next"$')
            url = urllib.parse.urlsplit(link[1:link.index(">")])
            self.assertEqual(url.path, path)
            self.assertEqual(urllib.parse.parse_qs(url.query),
                             {"limit": [str(limit)], "cursor": [nxt]})
            r = self.http.get(url.path + "?" + url.query)
            self.assertStatus(r, 200)
        self.fail("more than 100 pages")


class FollowWrites(FollowTestCase):

    def test_follow_202_then_200_unfollow_202_then_200(self):
        ta, a = h.sign_up(self.http, "fa")
        tb, b = h.sign_up(self.http, "fb")
        on = {"follower_id": a["id"], "followee_id": b["id"], "following": True}
        off = dict(on, following=False)

        r = self.follow(ta, b["id"])
        self.assertStatus(r, 202)
        self.assertTrue((r.header("Content-Type") or "").startswith("application/json"), r)
        self.assertEqual(r.json, on)
        # Again at once (the event may not be applied yet): the state holds.
        r = self.follow(ta, b["id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json, on)
        e1 = self.wait_row(a["id"], b["id"], True)
        # And again once it is applied.
        r = self.follow(ta, b["id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json, on)
        self.barrier()
        # The repeats published nothing: the row still carries the first event,
        # and the counts moved once.
        self.assertEqual(follows_row(a["id"], b["id"]), (True, e1))
        self.assertEqual(pg_counts(b["id"]), (1, 0))
        self.assertEqual(pg_counts(a["id"]), (0, 1))
        self.wait_api_counts(b["id"], followers=1, following=0)
        self.wait_api_counts(a["id"], followers=0, following=1)
        self.assertEqual([x["id"] for x in self.list_page(
            API + "/accounts/%s/followers" % b["id"]).json["items"]], [a["id"]])
        self.assertEqual([x["id"] for x in self.list_page(
            API + "/accounts/%s/following" % a["id"]).json["items"]], [b["id"]])
        # b does not follow a: nothing in the other direction.
        self.assertEqual(self.list_page(API + "/accounts/%s/followers" % a["id"]).json["items"], [])
        self.assertEqual(self.list_page(API + "/accounts/%s/following" % b["id"]).json["items"], [])

        r = self.unfollow(ta, b["id"])
        self.assertStatus(r, 202)
        self.assertEqual(r.json, off)
        r = self.unfollow(ta, b["id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json, off)
        e2 = self.wait_row(a["id"], b["id"], False)
        self.assertGreater(e2, e1)
        r = self.unfollow(ta, b["id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json, off)
        self.barrier()
        self.assertEqual(follows_row(a["id"], b["id"]), (False, e2))
        self.assertEqual(pg_counts(b["id"]), (0, 0))
        self.assertEqual(pg_counts(a["id"]), (0, 0))
        self.wait_api_counts(b["id"], followers=0, following=0)
        self.wait_api_counts(a["id"], followers=0, following=0)
        self.assertEqual(self.list_page(API + "/accounts/%s/followers" % b["id"]).json["items"], [])
        self.assertEqual(self.list_page(API + "/accounts/%s/following" % a["id"]).json["items"], [])

    def test_unfollow_of_never_followed_is_200_and_publishes_nothing(self):
        ta, a = h.sign_up(self.http, "na")
        _, b = h.sign_up(self.http, "nb")
        r = self.unfollow(ta, b["id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"follower_id": a["id"], "followee_id": b["id"],
                                  "following": False})
        self.barrier()
        self.assertIsNone(follows_row(a["id"], b["id"]))
        self.assertEqual(pg_counts(b["id"]), (0, 0))

    def test_follow_by_username(self):
        ta, a = h.sign_up(self.http, "ua")
        _, b = h.sign_up(self.http, "ub")
        r = self.follow(ta, "@" + b["username"].upper())  # usernames ignore case
        self.assertStatus(r, 202)
        self.assertEqual(r.json, {"follower_id": a["id"], "followee_id": b["id"],
                                  "following": True})
        self.wait_row(a["id"], b["id"], True)
        self.assertStatus(self.follow(ta, "@" + b["username"]), 200)
        r = self.unfollow(ta, "@" + b["username"])
        self.assertStatus(r, 202)
        self.assertFalse(r.json["following"])
        self.wait_row(a["id"], b["id"], False)
        self.assertEqual([x["id"] for x in self.list_page(
            API + "/accounts/@%s/following" % a["username"]).json["items"]], [])

    def test_follow_unfollow_follow_in_quick_succession_settles_on_the_last(self):
        ta, a = h.sign_up(self.http, "qa")
        _, b = h.sign_up(self.http, "qb")
        self.assertStatus(self.follow(ta, b["id"]), 202)
        self.assertStatus(self.unfollow(ta, b["id"]), 202)
        self.assertStatus(self.follow(ta, b["id"]), 202)
        self.assertStatus(self.follow(ta, b["id"]), 200)
        self.barrier()
        self.assertTrue(follows_row(a["id"], b["id"])[0])
        self.assertEqual(pg_counts(b["id"]), (1, 0))
        self.assertEqual(pg_counts(a["id"]), (0, 1))
        self.wait_api_counts(b["id"], followers=1)
        self.wait_api_counts(a["id"], following=1)
        self.assertEqual([x["id"] for x in self.list_page(
            API + "/accounts/%s/followers" % b["id"]).json["items"]], [a["id"]])

    def test_cannot_follow_self(self):
        ta, a = h.sign_up(self.http, "sa")
        for method in ("POST", "DELETE"):
            for ident in (a["id"], "@" + a["username"]):
                with self.subTest(method=method, ident=ident):
                    self.assertError(self.follow(ta, ident, method), 422, "cannot_follow_self",
                                     "id")
        self.barrier()
        self.assertIsNone(follows_row(a["id"], a["id"]))
        self.assertEqual(pg_counts(a["id"]), (0, 0))

    def test_unknown_account_is_404(self):
        ta, a = h.sign_up(self.http, "ka")
        for ident in ("9" * 18, "1", "0", "abc", "-5", "@nobody_" + h.RUN + "_zz", "@bad-name!"):
            for method in ("POST", "DELETE"):
                with self.subTest(method=method, ident=ident):
                    self.assertError(self.follow(ta, urllib.parse.quote(ident), method), 404,
                                     "not_found", "id")
            for which in ("followers", "following"):
                with self.subTest(which=which, ident=ident):
                    r = self.http.get(API + "/accounts/%s/%s" % (urllib.parse.quote(ident), which))
                    self.assertError(r, 404, "not_found", "id")
        self.assertEqual(pg_counts(a["id"]), (0, 0))

    def test_no_or_bad_token_is_401(self):
        _, b = h.sign_up(self.http, "tb")
        for method in ("POST", "DELETE"):
            with self.subTest(method=method):
                self.assertError(self.follow(None, b["id"], method), 401, "unauthorized")
                self.assertError(self.follow("B" * 43, b["id"], method), 401, "invalid_token")
        self.barrier()
        self.assertEqual(h.sql_int("SELECT count(*) FROM follows WHERE followee_id = %s"
                                   % h.id_literal(b["id"])), 0)


class FollowLists(FollowTestCase):
    N = 25

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        c = cls.http
        cls.t_token, cls.target = h.sign_up(c, "lt")  # followed by N accounts
        cls.f_token, cls.fan = h.sign_up(c, "lf")     # follows N accounts
        cls.people = [h.sign_up(c, "lp") for _ in range(cls.N)]
        # Sequential requests: event ids (which order the lists) grow.
        for tok, p in cls.people:
            r = c.post(API + "/accounts/%s/follow" % cls.target["id"], token=tok)
            assert r.status == 202, r
            r = c.post(API + "/accounts/%s/follow" % p["id"], token=cls.f_token)
            assert r.status == 202, r
        h.wait_until(lambda: pg_counts(cls.target["id"])[0] == cls.N and
                     pg_counts(cls.fan["id"])[1] == cls.N, 30, 0.05,
                     "%d follows applied" % (2 * cls.N))
        cls.newest_first = [p["id"] for _, p in reversed(cls.people)]

    def test_followers_pages_10_10_5_newest_first(self):
        pages = self.walk(API + "/accounts/%s/followers" % self.target["id"], 10)
        self.assertEqual([len(p) for p in pages], [10, 10, 5])
        flat = [i for p in pages for i in p]
        self.assertEqual(len(set(flat)), len(flat), "an account was listed twice")
        self.assertEqual(flat, self.newest_first)

    def test_following_pages_10_10_5_newest_first(self):
        pages = self.walk(API + "/accounts/%s/following" % self.fan["id"], 10)
        self.assertEqual([len(p) for p in pages], [10, 10, 5])
        flat = [i for p in pages for i in p]
        self.assertEqual(len(set(flat)), len(flat), "an account was listed twice")
        self.assertEqual(flat, self.newest_first)

    def test_other_page_sizes(self):
        path = API + "/accounts/%s/followers" % self.target["id"]
        for limit, sizes in ((25, [25]), (24, [24, 1]), (1, [1] * 25), (100, [25])):
            with self.subTest(limit=limit):
                pages = self.walk(path, limit)
                self.assertEqual([len(p) for p in pages], sizes)
                self.assertEqual([i for p in pages for i in p], self.newest_first)
        # Default limit 20, and a limit above 100 is capped.
        r = self.list_page(path)
        self.assertEqual(len(r.json["items"]), 20)
        self.assertIn("limit=20&", r.header("Link"))
        r = self.list_page(path, limit=1000)
        self.assertEqual(len(r.json["items"]), 25)
        self.assertIsNone(r.json["next_cursor"])

    def test_items_are_public_accounts_with_counts(self):
        r = self.list_page(API + "/accounts/%s/following" % self.fan["id"], limit=100)
        by_id = {a["id"]: a for a in r.json["items"]}
        for tok, p in self.people:
            a = by_id[p["id"]]
            self.assertKeys(a, ACCOUNT_KEYS, forbidden={"email", "password_hash"})
            self.assertEqual(a["username"], p["username"])
            # Other tests make these accounts follow more targets: compare
            # with PostgreSQL (no follow is in flight between the tests).
            self.assertEqual((a["followers_count"], a["following_count"]), pg_counts(p["id"]))
            self.assertEqual(a["followers_count"], 1)
            self.assertGreaterEqual(a["following_count"], 1)

    def test_counts_converge(self):
        self.wait_api_counts(self.target["id"], followers=self.N, following=0)
        self.wait_api_counts(self.fan["id"], followers=0, following=self.N)
        self.wait_api_counts(self.people[0][1]["id"], followers=1, following=1)

    def test_paging_is_stable_while_follows_arrive(self):
        _, t2 = h.sign_up(self.http, "lt2")
        first = self.people[:12]
        for tok, p in first:
            self.assertStatus(self.follow(tok, t2["id"]), 202)
        h.wait_until(lambda: pg_counts(t2["id"])[0] == 12, APPLY_TIMEOUT, 0.05, "12 follows")
        path = API + "/accounts/%s/followers" % t2["id"]
        r = self.list_page(path, limit=5)
        seen = [a["id"] for a in r.json["items"]]
        cursor = r.json["next_cursor"]
        # Newer followers arrive between the pages: they go on top, not into
        # the pages still to come.
        for tok, p in self.people[12:16]:
            self.assertStatus(self.follow(tok, t2["id"]), 202)
        h.wait_until(lambda: pg_counts(t2["id"])[0] == 16, APPLY_TIMEOUT, 0.05, "16 follows")
        while cursor:
            r = self.list_page(path, limit=5, cursor=cursor)
            seen += [a["id"] for a in r.json["items"]]
            cursor = r.json["next_cursor"]
        self.assertEqual(seen, [p["id"] for _, p in reversed(first)])

    def test_counts_converge_after_unfollows_under_concurrent_reads(self):
        # A fresh target, so the other tests keep their 25 followers.
        _, t3 = h.sign_up(self.http, "lt3")
        for tok, p in self.people:
            self.assertStatus(self.follow(tok, t3["id"]), 202)
        self.wait_api_counts(t3["id"], followers=self.N)
        # Profile readers keep re-filling the account cache while the counts
        # change underneath; the final count must still show up.
        stop = threading.Event()
        errors = []

        def reader():
            c = h.Client(self.stack.port, keepalive=True, timeout=10)
            try:
                while not stop.is_set():
                    r = c.get(API + "/accounts/%s" % t3["id"])
                    if r.status != 200:
                        errors.append(r)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
            finally:
                c.close()

        threads = [threading.Thread(target=reader, daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            leavers = self.people[::2]  # 13 of 25
            for tok, p in leavers:
                self.assertStatus(self.unfollow(tok, t3["id"]), 202)
            left = self.N - len(leavers)
            h.wait_until(lambda: pg_counts(t3["id"])[0] == left, APPLY_TIMEOUT, 0.05,
                         "the unfollows applied")
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        self.assertEqual(errors[:3], [])
        self.wait_api_counts(t3["id"], followers=left, following=0, timeout=5)
        ids = [i for p in self.walk(API + "/accounts/%s/followers" % t3["id"], 10) for i in p]
        self.assertEqual(ids, [p["id"] for i, (_, p) in reversed(list(enumerate(self.people)))
                               if i % 2 == 1])

    def test_bad_paging_parameters(self):
        path = API + "/accounts/%s/followers" % self.target["id"]
        r = self.list_page(path, limit=10)
        fr_cursor = r.json["next_cursor"]
        r = self.list_page(API + "/accounts/%s/following" % self.fan["id"], limit=10)
        fg_cursor = r.json["next_cursor"]
        self.assertNotEqual(fr_cursor, fg_cursor)
        for limit in ("0", "-1", "abc", "1.5", ""):
            with self.subTest(limit=limit):
                self.assertError(self.http.get(path, query={"limit": limit}), 422,
                                 "invalid_field", "limit")
        feed = self.http.get(API + "/feed", query={"limit": 1}, token=self.t_token)
        self.assertStatus(feed, 200)
        for cursor in ("garbage!!", "%%%", fg_cursor, feed.json["next_cursor"] or "ZmVlZDox"):
            with self.subTest(cursor=cursor):
                self.assertError(self.http.get(path, query={"cursor": cursor}), 400,
                                 "invalid_cursor", "cursor")
        # A followers cursor is not a following cursor either.
        self.assertError(self.http.get(API + "/accounts/%s/following" % self.fan["id"],
                                       query={"cursor": fr_cursor}), 400, "invalid_cursor",
                         "cursor")


if __name__ == "__main__":
    h.main()
