#!/usr/bin/env python3
"""End-to-end: lists, a person's curated timelines, private to the owner.

  - create, read, rename, delete a list; add and remove members; the
    validation (title 1-100 characters, a member must exist, at most
    CHIRP_LISTS_MAX lists and CHIRP_LIST_MEMBERS_MAX members, small here);
    repeats answer 200 and publish nothing;
  - privacy: someone else's list is 404 on every route;
  - GET /lists/{id}/tweets: the members' tweets (older ones merged when a
    member is added), hydrated like the feed, newest first; a member
    removed while their tweets arrive leaves none of theirs and takes no
    other; paging stable while tweets arrive and endless below the Redis
    cap (CHIRP_FEED_CAP=10 here); FLUSHALL then the same page (rebuilt from
    PostgreSQL); a deleted list is 404 and its Redis keys are gone.

The FLUSHALL test wipes the test stack's Redis: run this file serially."""

import os
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402
from test_feed import redis_flushall, persisted  # noqa: E402

API = h.API
APPLY = 20.0  # seconds for the fan-out worker to apply an event
LIST_KEYS = {"id", "owner_id", "title", "created_at"}
ADMIN = "lists-admin-token-0123456789abcdef"


class ListsTestCase(h.StackTestCase):
    WORKERS = 1  # per role: one fan-out worker applies events in publish order
    ENV = {"CHIRP_LISTS_MAX": "4", "CHIRP_LIST_MEMBERS_MAX": "3", "CHIRP_FEED_CAP": "10",
           "CHIRP_ADMIN_TOKEN": ADMIN}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        h.wait_fanout_idle(cls.http)

    # ---- helpers ----

    def user(self, prefix="l"):
        return h.sign_up(self.http, prefix)

    def new_list(self, token, title="friends"):
        r = self.http.post(API + "/lists", {"title": title}, token=token)
        self.assertStatus(r, 202)
        return r.json

    def wait_list_applied(self, list_id):
        h.wait_until(lambda: h.sql_int("SELECT count(*) FROM lists WHERE id = %s"
                                       % h.id_literal(list_id)) == 1, APPLY, what="list applied")

    def add(self, token, list_id, account_id):
        return self.http.post(API + "/lists/%s/members" % list_id, {"account_id": account_id},
                              token=token)

    def remove(self, token, list_id, account_id):
        return self.http.delete(API + "/lists/%s/members/%s" % (list_id, account_id), token=token)

    def member_applied(self, list_id, account_id, active=True):
        h.wait_until(lambda: h.psql("SELECT active FROM list_members WHERE list_id = %s AND "
                                    "account_id = %s" % (h.id_literal(list_id),
                                                         h.id_literal(account_id)))
                     == ("t" if active else "f"), APPLY, what="membership applied")

    def page(self, token, list_id, limit=100, cursor=None):
        path = API + "/lists/%s/tweets?limit=%d" % (list_id, limit)
        if cursor:
            path += "&cursor=" + cursor
        r = self.http.get(path, token=token)
        self.assertStatus(r, 200)
        return r.json

    def all_ids(self, token, list_id, limit=100):
        ids, cursor = [], None
        while True:
            p = self.page(token, list_id, limit, cursor)
            ids += [it["id"] for it in p["items"]]
            cursor = p["next_cursor"]
            if not cursor:
                return ids

    def posts(self, token, n, text="t"):
        ids = [h.post_tweet(self.http, token, "%s %d" % (text, i))["id"] for i in range(n)]
        h.wait_until(lambda: persisted(ids) == len(ids), APPLY, what="tweets persisted")
        return ids

    # ---- CRUD and validation ----

    def test_crud_and_validation(self):
        tok, me = self.user()
        for bad, code in [("", "empty"), ("   ", None), ("x" * 101, None), (7, "wrong_type")]:
            r = self.http.post(API + "/lists", {"title": bad}, token=tok)
            self.assertEqual(r.status, 422, r)
            self.assertEqual(r.json["error"]["field"], "title", r)
            if code:
                self.assertEqual(r.json["error"]["code"], code, r)
        r = self.http.post(API + "/lists", {}, token=tok)
        self.assertEqual((r.status, r.json["error"]["field"]), (422, "title"), r)
        self.assertStatus(self.http.post(API + "/lists", {"title": "x"}), 401)

        lst = self.new_list(tok, "é" * 100)  # 100 code points is the most
        self.assertKeys(lst, LIST_KEYS)
        self.assertEqual(lst["owner_id"], me["id"])
        # Read-your-write before the worker applied it.
        r = self.http.get(API + "/lists/%s" % lst["id"], token=tok)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["title"], "é" * 100)
        self.wait_list_applied(lst["id"])
        h.wait_until(lambda: lst["id"] in [x["id"] for x in self.http.get(
            API + "/lists", token=tok).json["items"]], APPLY, what="list in GET /lists")

        r = self.http.patch(API + "/lists/%s" % lst["id"], {"title": "close friends"}, token=tok)
        self.assertStatus(r, 202)
        self.assertEqual(r.json["title"], "close friends")
        r = self.http.patch(API + "/lists/%s" % lst["id"], {"title": "close friends"}, token=tok)
        self.assertStatus(r, 200)
        r = self.http.patch(API + "/lists/%s" % lst["id"], {"title": ""}, token=tok)
        self.assertError(r, 422, "empty", "title")
        h.wait_until(lambda: h.psql("SELECT title FROM lists WHERE id = %s"
                                    % h.id_literal(lst["id"])) == "close friends", APPLY,
                     what="rename applied")

        # Members: must exist; twice is 200; the limit.
        others = [self.user("m")[1] for _ in range(4)]
        self.assertError(self.add(tok, lst["id"], "12345"), 422, "no_such_account", "account_id")
        self.assertError(self.add(tok, lst["id"], "abc"), 422, "invalid_id", "account_id")
        r = self.add(tok, lst["id"], others[0]["id"])
        self.assertStatus(r, 202)
        self.assertEqual(r.json, {"list_id": lst["id"], "account_id": others[0]["id"],
                                  "member": True})
        self.assertStatus(self.add(tok, lst["id"], others[0]["id"]), 200)
        for o in others[1:3]:
            self.assertStatus(self.add(tok, lst["id"], o["id"]), 202)
        for o in others[:3]:
            self.member_applied(lst["id"], o["id"])
        self.assertError(self.add(tok, lst["id"], others[3]["id"]), 422, "too_many", "account_id")
        r = self.http.get(API + "/lists/%s/members?limit=2" % lst["id"], token=tok)
        self.assertStatus(r, 200)
        self.assertEqual([a["id"] for a in r.json["items"]], [others[2]["id"], others[1]["id"]])
        r = self.http.get(API + "/lists/%s/members?limit=2&cursor=%s"
                          % (lst["id"], r.json["next_cursor"]), token=tok)
        self.assertEqual([a["id"] for a in r.json["items"]], [others[0]["id"]])
        self.assertIsNone(r.json["next_cursor"])
        r = self.remove(tok, lst["id"], others[0]["id"])
        self.assertStatus(r, 202)
        self.assertFalse(r.json["member"])
        self.assertStatus(self.remove(tok, lst["id"], others[0]["id"]), 200)
        self.assertStatus(self.remove(tok, lst["id"], others[3]["id"]), 200)  # never was

        # At most CHIRP_LISTS_MAX (4 here) lists.
        more = [self.new_list(tok, "l%d" % i) for i in range(3)]
        for m in more:
            self.wait_list_applied(m["id"])
        self.assertError(self.http.post(API + "/lists", {"title": "one too many"}, token=tok),
                         422, "too_many", "title")
        r = self.http.get(API + "/lists?limit=3", token=tok)
        self.assertEqual([x["id"] for x in r.json["items"]], [m["id"] for m in reversed(more)])
        r = self.http.get(API + "/lists?limit=3&cursor=" + r.json["next_cursor"], token=tok)
        self.assertEqual([x["id"] for x in r.json["items"]], [lst["id"]])

        # Delete: 404 at once, and gone from GET /lists once applied.
        self.assertStatus(self.http.delete(API + "/lists/%s" % more[0]["id"], token=tok), 202)
        self.assertStatus(self.http.get(API + "/lists/%s" % more[0]["id"], token=tok), 404)
        self.assertStatus(self.http.delete(API + "/lists/%s" % more[0]["id"], token=tok), 404)
        h.wait_until(lambda: more[0]["id"] not in [x["id"] for x in self.http.get(
            API + "/lists", token=tok).json["items"]], APPLY, what="deleted list gone")
        self.assertStatus(self.http.post(API + "/lists", {"title": "room again"}, token=tok), 202)
        self.assertStatus(self.http.get(API + "/lists/123", token=tok), 404)
        self.assertStatus(self.http.get(API + "/lists/nope", token=tok), 404)

    def test_privacy(self):
        tok, me = self.user()
        tok2, other = self.user()
        lst = self.new_list(tok)
        self.wait_list_applied(lst["id"])
        self.assertStatus(self.add(tok, lst["id"], other["id"]), 202)
        lid = lst["id"]
        for method, path, body in [("GET", "", None), ("PATCH", "", {"title": "mine"}),
                                   ("DELETE", "", None), ("GET", "/members", None),
                                   ("POST", "/members", {"account_id": me["id"]}),
                                   ("DELETE", "/members/%s" % other["id"], None),
                                   ("GET", "/tweets", None)]:
            r = self.http.request(method, API + "/lists/%s%s" % (lid, path), body=body, token=tok2)
            self.assertError(r, 404, "not_found", "id")
            self.assertStatus(self.http.request(method, API + "/lists/%s%s" % (lid, path),
                                                body=body), 401)
        self.assertEqual(self.http.get(API + "/lists", token=tok2).json["items"], [])
        self.assertStatus(self.http.get(API + "/lists/%s" % lid, token=tok), 200)

    def test_account_deleted_takes_its_lists_and_memberships(self):
        tok, me = self.user()
        mtok, member = self.user("m")
        lst = self.new_list(tok)
        other = self.new_list(mtok, "the member's own")
        self.assertStatus(self.add(tok, lst["id"], member["id"]), 202)
        self.member_applied(lst["id"], member["id"])
        self.wait_list_applied(other["id"])
        r = self.http.delete(API + "/accounts/me", token=mtok, body={})
        self.assertStatus(r, 202)
        h.wait_until(lambda: h.psql("SELECT deleted_at IS NOT NULL FROM lists WHERE id = %s"
                                    % h.id_literal(other["id"])) == "t", APPLY,
                     what="the deleted account's list deleted")
        self.member_applied(lst["id"], member["id"], active=False)
        self.assertEqual(self.http.get(API + "/lists/%s/members" % lst["id"],
                                       token=tok).json["items"], [])

    # ---- the list's timeline ----

    def test_tweets_after_member_add(self):
        tok, me = self.user()
        atok, author = self.user("a")
        xtok, stranger = self.user("x")
        old = self.posts(atok, 3, "old")
        self.posts(xtok, 2, "not in the list")
        lst = self.new_list(tok)
        self.assertEqual(self.page(tok, lst["id"])["items"], [])
        self.assertStatus(self.add(tok, lst["id"], author["id"]), 202)
        h.wait_until(lambda: [it["id"] for it in self.page(tok, lst["id"])["items"]]
                     == list(reversed(old)), APPLY, what="the member's older tweets merged")
        new = h.post_tweet(self.http, atok, "new one")["id"]
        h.wait_until(lambda: self.page(tok, lst["id"])["items"][0]["id"] == new, APPLY,
                     what="a new tweet of the member pushed")
        items = self.page(tok, lst["id"])["items"]
        self.assertEqual([it["id"] for it in items], [new] + list(reversed(old)))
        # The same hydrated items as the home feed (the author follows
        # themself there).
        feed = self.http.get(API + "/feed?limit=4", token=atok).json["items"]
        self.assertEqual(items, feed)
        self.assertEqual(items[0]["author"]["id"], author["id"])
        # A deleted tweet leaves the list.
        self.assertStatus(self.http.delete(API + "/tweets/%s" % old[1], token=atok), 202)
        h.wait_until(lambda: old[1] not in [it["id"] for it in self.page(tok, lst["id"])["items"]],
                     APPLY, what="deleted tweet gone")
        key = "chirp:lf:{%s}:%s" % (h.id_literal(me["id"]), h.id_literal(lst["id"]))
        h.wait_until(lambda: old[1] not in [x.decode() for x in h.redis_cmd("LRANGE", key, 0, -1)],
                     APPLY, what="deleted tweet out of the Redis list feed")

    def test_member_removed_while_tweets_arrive(self):
        tok, me = self.user()
        atok, a = self.user("a")
        btok, b = self.user("b")
        lst = self.new_list(tok)
        for m in (a, b):
            self.assertStatus(self.add(tok, lst["id"], m["id"]), 202)
        self.member_applied(lst["id"], b["id"])
        self.assertEqual(self.page(tok, lst["id"])["items"], [])  # built: pushes from now on
        stop = threading.Event()
        posted = {"a": [], "b": []}
        errors = []

        def poster(name, token):
            client = self.stack.client()
            try:
                i = 0
                while not stop.is_set() and i < 300:
                    posted[name].append(h.post_tweet(client, token, "%s %d" % (name, i))["id"])
                    i += 1
            except Exception as e:  # noqa: BLE001 — reported below
                errors.append(e)

        threads = [threading.Thread(target=poster, args=("a", atok)),
                   threading.Thread(target=poster, args=("b", btok))]
        for t in threads:
            t.start()
        time.sleep(0.3)
        self.assertStatus(self.remove(tok, lst["id"], a["id"]), 202)
        # Both keep posting a moment after the removal, not so long that the
        # capped (10) Redis list would trim the removed member's tweets away.
        time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        h.wait_fanout_idle(self.http)
        got = self.all_ids(tok, lst["id"])
        self.assertFalse(set(got) & set(posted["a"]), "a removed member's tweets stayed")
        self.assertEqual(got, list(reversed(posted["b"])), "a remaining member's tweet missing")
        key = "chirp:lf:{%s}:%s" % (h.id_literal(me["id"]), h.id_literal(lst["id"]))
        in_redis = [x.decode() for x in h.redis_cmd("LRANGE", key, 0, -1)]
        self.assertFalse(set(in_redis) & set(posted["a"]), in_redis)
        self.assertEqual(in_redis, list(reversed(posted["b"]))[:len(in_redis)])
        self.assertTrue(in_redis and in_redis[0] == posted["b"][-1], in_redis)  # pushed

    def test_paging_stable_and_endless(self):
        tok, me = self.user()
        atok, a = self.user("a")
        before = self.posts(atok, 25, "p")  # more than the Redis cap (10 here)
        lst = self.new_list(tok)
        self.assertStatus(self.add(tok, lst["id"], a["id"]), 202)
        h.wait_until(lambda: self.page(tok, lst["id"], 1)["items"][:1] and
                     self.page(tok, lst["id"], 1)["items"][0]["id"] == before[-1], APPLY,
                     what="member merged")
        stop = threading.Event()

        def poster():
            client = self.stack.client()
            i = 0
            while not stop.is_set() and i < 30:
                h.post_tweet(client, atok, "arriving %d" % i)
                i += 1
                time.sleep(0.02)

        t = threading.Thread(target=poster)
        t.start()
        try:
            ids, cursor = [], None
            while True:
                p = self.page(tok, lst["id"], 4, cursor)
                ids += [it["id"] for it in p["items"]]
                cursor = p["next_cursor"]
                if not cursor:
                    break
        finally:
            stop.set()
            t.join(60)
        self.assertEqual(len(ids), len(set(ids)), "a duplicate across pages")
        self.assertEqual(ids[-25:], list(reversed(before)), "a skip or a wrong order below the top")
        self.assertEqual(ids, sorted(ids, key=int, reverse=True))
        # Link header and a foreign cursor.
        r = self.http.get(API + "/lists/%s/tweets?limit=2" % lst["id"], token=tok)
        self.assertIn("rel=\"next\"", r.header("Link") or "")
        cur = self.http.get(API + "/feed?limit=1", token=atok).json["next_cursor"]
        r = self.http.get(API + "/lists/%s/tweets?cursor=%s" % (lst["id"], cur), token=tok)
        self.assertError(r, 400, "invalid_cursor", "cursor")

    def test_warm_page_asks_no_postgresql(self):
        """A page of a built list feed is one page script (the owner check
        included) plus the feed's hydration: no SQL statement."""
        tok, me = self.user()
        atok, a = self.user("a")
        self.posts(atok, 3, "w")
        lst = self.new_list(tok)
        self.assertStatus(self.add(tok, lst["id"], a["id"]), 202)
        h.wait_until(lambda: len(self.page(tok, lst["id"])["items"]) == 3, APPLY,
                     what="member merged")
        path = API + "/lists/%s/tweets" % lst["id"]
        # The create's pending state would answer the owner check too: as
        # after its minute, only PostgreSQL or the list feed itself can.
        self.wait_list_applied(lst["id"])
        h.redis_cmd("DEL", "chirp:lp:{%s}:%s" % (h.id_literal(me["id"]), h.id_literal(lst["id"])))
        self.assertEqual(len(self.page(tok, lst["id"], 2)["items"]), 2)
        calls = self.http.get(API + "/admin/logs?limit=100&after=0", token=ADMIN).json["items"]
        seq = 0
        while len(calls) == 100:  # to the newest calls
            seq = calls[-1]["seq"]
            calls = self.http.get(API + "/admin/logs?limit=100&after=%d" % seq,
                                  token=ADMIN).json["items"]
        mine = [c for c in calls if c["path"].startswith(path)]
        self.assertTrue(mine, calls[-5:])
        self.assertEqual(mine[-1]["db_queries"], 0, mine[-1])

    def test_flushall_then_same_page(self):
        tok, me = self.user()
        atok, a = self.user("a")
        ids = self.posts(atok, 6, "f")
        lst = self.new_list(tok)
        self.assertStatus(self.add(tok, lst["id"], a["id"]), 202)
        h.wait_until(lambda: len(self.page(tok, lst["id"])["items"]) == 6, APPLY,
                     what="member merged")
        h.wait_fanout_idle(self.http)
        first = self.page(tok, lst["id"], 4)
        rest = self.page(tok, lst["id"], 4, first["next_cursor"])
        redis_flushall()
        self.assertEqual(self.page(tok, lst["id"], 4), first)
        self.assertEqual(self.page(tok, lst["id"], 4, first["next_cursor"]), rest)
        self.assertEqual([it["id"] for it in first["items"] + rest["items"]], list(reversed(ids)))

    def test_delete_list_drops_its_redis_data(self):
        tok, me = self.user()
        atok, a = self.user("a")
        self.posts(atok, 2, "d")
        lst = self.new_list(tok)
        self.assertStatus(self.add(tok, lst["id"], a["id"]), 202)
        h.wait_until(lambda: len(self.page(tok, lst["id"])["items"]) == 2, APPLY,
                     what="member merged")
        keys = ["chirp:lf:{%s}:%s" % (h.id_literal(me["id"]), h.id_literal(lst["id"])),
                "chirp:lfok:{%s}:%s" % (h.id_literal(me["id"]), h.id_literal(lst["id"]))]
        self.assertEqual(h.redis_cmd("EXISTS", *keys), 2)
        r = self.http.delete(API + "/lists/%s" % lst["id"], token=tok)
        self.assertStatus(r, 202)
        self.assertTrue(r.json["deleted"])
        self.assertError(self.http.get(API + "/lists/%s/tweets" % lst["id"], token=tok), 404,
                         "not_found", "id")
        h.wait_until(lambda: h.redis_cmd("EXISTS", *keys) == 0, APPLY, what="list feed dropped")
        # A tweet of the former member does not bring it back.
        h.post_tweet(self.http, atok, "after the delete")
        h.wait_fanout_idle(self.http)
        self.assertEqual(h.redis_cmd("EXISTS", *keys), 0)
        self.assertStatus(self.http.get(API + "/lists/%s" % lst["id"], token=tok), 404)


if __name__ == "__main__":
    h.main()
