#!/usr/bin/env python3
"""End-to-end: threads (GET /tweets/{id}/context) and reply_count.

- ancestors from the root down to the parent; a deleted ancestor shows as
  {"id", "unavailable": true}; descendants depth first, oldest first at
  each level, deleted replies left out (their live replies still shown);
- paging: a thread of several pages walked while replies arrive
  concurrently repeats nothing and skips nothing that existed before;
- reply_count on every hydrated tweet (GET /tweets/{id}, context items,
  the feed): counted when a reply is stored, down when one is deleted, the
  same after a Redis FLUSHALL (recounted from PostgreSQL);
- 404 for an unknown or deleted tweet, 400 for a foreign cursor.

FLUSHALL wipes the test stack's Redis: run serially.
"""

import os
import random
import sys
import threading

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402
from test_feed import persisted, redis_flushall  # noqa: E402

API = h.API
WAIT = 60
NO_RATE_LIMITS = {"CHIRP_RATE_LOGIN": "100000000", "CHIRP_RATE_WRITE": "100000000",
                  "CHIRP_RATE_READ": "100000000"}


def dfs(children, node):
    """Reading order below node: each reply followed by its own, oldest first."""
    out = []
    for c in sorted(children.get(node, []), key=int):
        out.append(c)
        out += dfs(children, c)
    return out


class Context(h.StackTestCase):
    ENV = NO_RATE_LIMITS

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.a_token, cls.a = h.sign_up(cls.http, "xa")
        cls.b_token, cls.b = h.sign_up(cls.http, "xb")

    def reply(self, parent, text="re", token=None, client=None):
        return h.post_tweet(client or self.http, token or self.b_token, text,
                            reply_to=parent)["id"]

    def wait_persisted(self, ids):
        h.wait_until(lambda: persisted(ids) == len(ids), WAIT, 0.05, "the tweets persisted")

    def context(self, tid, limit=20, cursor=None, token=None, client=None):
        q = {"limit": limit}
        if cursor:
            q["cursor"] = cursor
        r = (client or self.http).get(API + "/tweets/%s/context" % tid, query=q, token=token)
        self.assertStatus(r, 200)
        return r.json

    def walk(self, tid, limit, between=None):
        got, cursor, first = [], None, None
        for _ in range(500):
            page = self.context(tid, limit, cursor)
            if first is None:
                first = page
            else:
                self.assertEqual(page["ancestors"], [], "ancestors come on the first page only")
            self.assertLessEqual(len(page["descendants"]), limit)
            got += [d["id"] for d in page["descendants"]]
            cursor = page["next_cursor"]
            if between:
                between()
            if cursor is None:
                return first, got
        self.fail("paging does not end")

    def reply_count(self, tid):
        r = self.http.get(API + "/tweets/%s" % tid)
        self.assertStatus(r, 200)
        return r.json["reply_count"]

    def test_shape_order_and_deleted(self):
        root = h.post_tweet(self.http, self.a_token, "root")["id"]
        r1 = self.reply(root, "r1")
        r2 = self.reply(r1, "r2", self.a_token)
        r3 = self.reply(root, "r3")
        r4 = self.reply(r1, "r4")
        r5 = self.reply(r2, "r5")
        self.wait_persisted([root, r1, r2, r3, r4, r5])
        page = self.context(root, token=self.b_token)
        self.assertEqual(page["ancestors"], [])
        self.assertEqual([d["id"] for d in page["descendants"]], [r1, r2, r5, r4, r3])
        self.assertIsNone(page["next_cursor"])
        d = page["descendants"][0]
        self.assertEqual(d["author"]["username"], self.b["username"])
        self.assertEqual(d["reply_to"], root)
        self.assertEqual(d["reply_count"], 2)
        self.assertIs(d["bookmarked_by_me"], False)
        page = self.context(r5)
        self.assertEqual([a["id"] for a in page["ancestors"]], [root, r1, r2])
        self.assertEqual(page["descendants"], [])
        self.assertEqual(self.reply_count(root), 2)
        self.assertEqual(self.reply_count(r1), 2)
        self.assertEqual(self.reply_count(r5), 0)

        # A deleted ancestor is unavailable; a deleted reply is left out,
        # its replies still shown; the counts follow.
        self.assertStatus(self.http.delete(API + "/tweets/%s" % r1, token=self.b_token), 202)
        h.wait_until(lambda: self.reply_count(root) == 1, WAIT, 0.05, "root's count down")
        page = self.context(r5)
        self.assertEqual(page["ancestors"][1], {"id": r1, "unavailable": True})
        self.assertEqual([a["id"] for a in page["ancestors"]], [root, r1, r2])
        self.assertEqual(page["ancestors"][2]["text"], "r2")
        page = self.context(root)
        self.assertEqual([d["id"] for d in page["descendants"]], [r2, r5, r4, r3])
        self.assertStatus(self.http.get(API + "/tweets/%s/context" % r1), 404)
        self.assertStatus(self.http.get(API + "/tweets/123456789/context"), 404)
        r = self.http.get(API + "/tweets/%s/context" % root, query={"cursor": "bm90YWN1cnNvcg"})
        self.assertStatus(r, 400)

    def test_paging_while_replies_arrive(self):
        root = h.post_tweet(self.http, self.a_token, "big thread")["id"]
        rnd = random.Random(12)
        nodes, children = [root], {}
        for i in range(90):
            parent = rnd.choice(nodes)
            rid = self.reply(parent, "n%d" % i)
            nodes.append(rid)
            children.setdefault(parent, []).append(rid)
        self.wait_persisted(nodes)
        before = dfs(children, root)

        # Replies arriving meanwhile, from another client, anywhere in it.
        stop, lock, added = threading.Event(), threading.Lock(), []
        c2 = self.stack.client()

        def writer():
            k = 0
            while not stop.is_set() and k < 60:
                with lock:
                    parent = rnd.choice(nodes)
                rid = self.reply(parent, "late %d" % k, client=c2)
                with lock:
                    nodes.append(rid)
                    children.setdefault(parent, []).append(rid)
                    added.append(rid)
                k += 1

        th = threading.Thread(target=writer, daemon=True)
        th.start()
        try:
            _, got = self.walk(root, 7, between=lambda: h.time.sleep(0.02))
        finally:
            stop.set()
            th.join(30)
        self.assertEqual(len(got), len(set(got)), "a reply repeated across pages")
        missing = [x for x in before if x not in got]
        self.assertEqual(missing, [], "replies that existed before were skipped")
        extra = [x for x in got if x not in before and x not in added]
        self.assertEqual(extra, [])
        # The pages read in the order of the final tree.
        self.wait_persisted(list(nodes))
        final = dfs(children, root)
        pos = [final.index(x) for x in got]
        self.assertEqual(pos, sorted(pos), "not in reading order")
        _, again = self.walk(root, 25)
        self.assertEqual(again, final)

    def test_reply_count_after_flushall(self):
        root = h.post_tweet(self.http, self.a_token, "counted")["id"]
        kids = [self.reply(root, "k%d" % i) for i in range(4)]
        grand = self.reply(kids[0], "g")
        self.wait_persisted([root, grand] + kids)
        h.wait_until(lambda: self.reply_count(root) == 4, WAIT, 0.05, "4 replies counted")
        self.assertStatus(self.http.delete(API + "/tweets/%s" % kids[3], token=self.b_token), 202)
        h.wait_until(lambda: self.reply_count(root) == 3, WAIT, 0.05, "a delete counted")
        before = {t: self.reply_count(t) for t in [root, kids[0], grand]}
        self.assertEqual(before, {root: 3, kids[0]: 1, grand: 0})
        # In the feed too (the author follows nobody: their own tweets).
        r = self.http.get(API + "/accounts/%s/tweets" % self.a["id"])
        item = [i for i in r.json["items"] if i["id"] == root][0]
        self.assertEqual(item["reply_count"], 3)
        redis_flushall()
        after = {t: self.reply_count(t) for t in [root, kids[0], grand]}
        self.assertEqual(after, before)
        page = self.context(root)
        self.assertEqual(page["descendants"][0]["reply_count"], 1)
        # Counted live after the rebuild, the counter being held meanwhile
        # (whichever role stores the reply's row first: the fan-out also
        # writes tweets rows).
        for k in range(6):
            self.assertEqual(self.reply_count(root), 3 + k)
            self.wait_persisted([self.reply(root, "after %d" % k)])
            h.wait_until(lambda: self.reply_count(root) == 4 + k, 20, 0.05,
                         "reply %d counted live" % k)

    def test_reply_count_after_account_delete(self):
        root = h.post_tweet(self.http, self.a_token, "replied to by a leaver")["id"]
        tok, leaver = h.sign_up(self.http, "xl")
        kids = [self.reply(root, "bye %d" % i, token=tok) for i in range(2)]
        self.wait_persisted([root] + kids)
        self.assertEqual(self.reply_count(root), 2)  # the counter is held now
        self.assertStatus(self.http.post(API + "/tweets/%s/bookmark" % root, token=tok), 202)
        r = self.http.delete(API + "/accounts/me", token=tok, body={"password": "correct horse 1"})
        self.assertStatus(r, 202)
        h.wait_until(lambda: self.reply_count(root) == 0, WAIT, 0.05, "the leaver's replies uncounted")
        self.assertEqual(self.context(root)["descendants"], [])
        h.wait_until(lambda: h.sql_int("SELECT count(*) FROM bookmarks WHERE user_id = %s"
                                       % h.id_literal(leaver["id"])) == 0, WAIT, 0.05,
                     "the leaver's bookmarks gone")


if __name__ == "__main__":
    h.main()
