#!/usr/bin/env python3
"""test_openapi.py — GET /api/v1/openapi.json serves gateway/openapi.json: the
same bytes, as application/json, with an ETag that answers 304 when the
client has it; no token needed.  And a walk through every documented route
with real data, each answer checked against the document by the harness, so
that no route's success schema goes untested."""

import json
import os
import secrets

import chirp_harness as h

ADMIN = secrets.token_hex(16)
# Documented, but not answered through the harness's client (an endless
# event stream): its own tests read it.
NOT_WALKED = {("GET", "/api/v1/streaming/user")}

DOC = os.path.join(h.ROOT, "gateway", "openapi.json")


class OpenApi(h.StackTestCase):
    ROLES = ()

    def test_serves_the_document(self):
        r = self.http.get(h.API + "/openapi.json")
        self.assertStatus(r, 200)
        self.assertEqual(r.header("Content-Type"), "application/json")
        with open(DOC, "rb") as f:
            self.assertEqual(r.body, f.read())
        doc = r.json
        self.assertEqual(doc["openapi"], "3.1.0")
        self.assertIn("/api/v1/tweets", doc["paths"])
        self.assertIn("/api/v1/openapi.json", doc["paths"])

    def test_etag_and_304(self):
        r = self.http.get(h.API + "/openapi.json")
        etag = r.header("ETag")
        self.assertTrue(etag and etag.startswith('"') and etag.endswith('"'), r.headers)
        self.assertEqual(r.header("Cache-Control"), "no-cache")
        again = self.http.get(h.API + "/openapi.json", headers={"If-None-Match": etag})
        self.assertStatus(again, 304)
        self.assertEqual(again.body, b"")
        self.assertEqual(again.header("ETag"), etag)
        other = self.http.get(h.API + "/openapi.json", headers={"If-None-Match": '"stale"'})
        self.assertStatus(other, 200)
        self.assertEqual(json.loads(other.body)["openapi"], "3.1.0")

    def test_no_token_needed(self):
        # A token is not read here: even a bad one gets the document.
        r = self.http.get(h.API + "/openapi.json", token="not-a-token")
        self.assertStatus(r, 200)


class Walk(h.StackTestCase):
    """Every documented operation answers 2xx once, with real data; the
    harness validates each answer (status, headers, body) as it arrives."""

    ENV = {"CHIRP_ADMIN_TOKEN": ADMIN}

    def ok(self, r, *statuses):
        self.assertIn(r.status, statuses or (200,), r)
        # Nothing the document does not name (its schemas allow more, for
        # forward compatibility; this walk holds the gateway to them).
        self.assertEqual(h.contract().undocumented_in(r), [], "undocumented members")
        template = h.contract().operation(r.method, r.path)[0]
        self.walked.add((r.method, template))
        return r.json

    def items(self, path, what, **kw):
        """Waits for the list at path to have items (the workers make them);
        returns them, the answer checked by ok()."""
        last = []

        def some():
            last[:] = [self.http.get(path, **kw)]
            return last[0].status == 200 and last[0].json["items"]
        h.wait_until(some, 30, 0.1, what)
        return self.ok(last[0])["items"]

    def test_every_route_answers_as_documented(self):
        c, A = self.http, h.API
        self.walked = set()
        t1, a1 = h.sign_up(c, "wa")
        name2 = h.unique("wb")
        a2s = self.ok(c.post(A + "/accounts", {"username": name2, "password": "correct horse 2",
                                                "email": "%s@example.com" % name2.lower()}), 201)
        t2, a2 = a2s["token"], a2s["account"]
        self.ok(c.post(A + "/sessions", {"login": name2, "password": "correct horse 2"}), 201)
        self.ok(c.get(A + "/sessions/current", token=t1))
        self.ok(c.patch(A + "/accounts/me", {"display_name": "Walker", "bio": "walks"},
                        token=t1))
        self.ok(c.get(A + "/accounts/" + a1["id"]))
        self.ok(c.get(A + "/accounts", query={"limit": 2}))
        self.ok(c.post(A + "/accounts/%s/follow" % a1["id"], token=t2), 202)
        tag = "walk" + h.RUN
        tw = self.ok(c.post(A + "/tweets", {"text": "a walk #%s @%s" % (tag, name2),
                                            "poll": {"options": ["yes", "no"],
                                                     "expires_in": 3600}}, token=t1), 202)
        reply = self.ok(c.post(A + "/tweets", {"text": "a reply", "reply_to": tw["id"]},
                               token=t2), 202)
        self.ok(c.get(A + "/tweets/" + tw["id"], token=t2))
        self.ok(c.patch(A + "/tweets/" + reply["id"], {"text": "a reply, edited"}, token=t2),
                202)
        self.ok(c.get(A + "/tweets/%s/history" % reply["id"]))
        self.ok(c.post(A + "/tweets/%s/like" % tw["id"], token=t2), 202)
        self.ok(c.post(A + "/tweets/%s/repost" % tw["id"], token=t2), 202)
        self.ok(c.post(A + "/tweets", {"text": "a quote", "quote_of": tw["id"]}, token=t2), 202)
        cm = self.ok(c.post(A + "/tweets/%s/comments" % tw["id"], {"text": "nice"}, token=t2),
                     202)
        self.ok(c.patch(A + "/comments/" + cm["id"], {"text": "very nice"}, token=t2), 202)
        self.ok(c.post(A + "/polls/%s/votes" % tw["poll"]["id"], {"choices": [0]}, token=t2),
                202)
        self.ok(c.get(A + "/polls/" + tw["poll"]["id"], token=t2))
        # What the workers make: wait for it, so the lists below hold items.
        self.items(A + "/feed", "the tweet in the follower's feed", token=t2)
        self.items(A + "/accounts/%s/tweets" % a1["id"], "the tweet in its author's timeline")
        self.items(A + "/accounts/%s/followers" % a1["id"], "the follow")
        self.ok(c.get(A + "/accounts/%s/following" % a2["id"]))
        self.items(A + "/tweets/%s/likes" % tw["id"], "the like stored")
        self.items(A + "/tweets/%s/reposts" % tw["id"], "the repost stored")
        self.items(A + "/tweets/%s/quotes" % tw["id"], "the quote stored")
        self.items(A + "/accounts/%s/likes" % a2["id"], "the like in the liker's list")
        self.ok(c.get(A + "/trending/liked"))
        # threads, bookmarks, pins
        self.ok(c.post(A + "/tweets/%s/bookmark" % tw["id"], token=t2), 202)
        self.items(A + "/bookmarks", "the bookmark", token=t2)
        self.ok(c.delete(A + "/tweets/%s/bookmark" % tw["id"], token=t2), 202)
        self.ok(c.post(A + "/tweets/%s/pin" % tw["id"], token=t1), 202)
        self.ok(c.delete(A + "/tweets/%s/pin" % tw["id"], token=t1), 202)
        self.ok(c.get(A + "/tweets/%s/context" % tw["id"], token=t2))
        self.items(A + "/tweets/%s/comments" % tw["id"], "the comment stored")
        self.items(A + "/hashtags/%s/tweets" % tag, "the hashtag page")
        for kind, q in (("tweets", "walk"), ("accounts", name2), ("hashtags", tag)):
            self.items(A + "/search", "search type=%s" % kind, query={"q": q, "type": kind})
        self.ok(c.get(A + "/accounts/search", query={"q": name2}))
        notes = self.items(A + "/notifications", "notifications", token=t1)
        self.ok(c.get(A + "/notifications/unread_count", token=t1))
        self.ok(c.post(A + "/notifications/%s/read" % notes[0]["id"], token=t1))
        self.ok(c.post(A + "/notifications/read_all", token=t1))
        # lists
        lst = self.ok(c.post(A + "/lists", {"title": "walkers"}, token=t2), 202)
        lp = A + "/lists/" + lst["id"]
        self.ok(c.get(lp, token=t2))
        self.ok(c.patch(lp, {"title": "walkers all"}, token=t2), 202)
        self.ok(c.post(lp + "/members", {"account_id": a1["id"]}, token=t2), 202)
        self.items(A + "/lists", "the list applied", token=t2)
        self.items(lp + "/members", "the member applied", token=t2)
        self.items(lp + "/tweets", "the member's tweets in the list", token=t2)
        self.ok(c.delete(lp + "/members/" + a1["id"], token=t2), 202)
        self.ok(c.delete(lp, token=t2), 202)
        self.ok(c.get(A + "/admin/logs", token=ADMIN, query={"limit": 5}))
        self.ok(c.get(A + "/admin/services", token=ADMIN))
        self.ok(c.get(A + "/openapi.json"))
        self.ok(c.delete(A + "/tweets/%s/like" % tw["id"], token=t2), 202)
        self.ok(c.delete(A + "/tweets/%s/repost" % tw["id"], token=t2), 202)
        self.ok(c.delete(A + "/comments/" + cm["id"], token=t2), 202)
        self.ok(c.delete(A + "/accounts/%s/follow" % a1["id"], token=t2), 202)
        self.ok(c.get(A + "/accounts/relationships", token=t1, query={"id": a2["id"]}))
        self.ok(c.post(A + "/accounts/%s/mute" % a2["id"], token=t1), 202)
        self.ok(c.get(A + "/mutes", token=t1))
        self.ok(c.delete(A + "/accounts/%s/mute" % a2["id"], token=t1), 202)
        self.ok(c.post(A + "/accounts/%s/block" % a2["id"], token=t1), 202)
        self.ok(c.get(A + "/blocks", token=t1))
        self.ok(c.delete(A + "/accounts/%s/block" % a2["id"], token=t1), 202)
        self.ok(c.delete(A + "/tweets/" + reply["id"], token=t2), 202)
        self.ok(c.delete(A + "/sessions/current", token=t2), 204)
        self.ok(c.delete(A + "/accounts/me", token=t1, body={"password": "correct horse 1"}),
                202)

        walked = self.walked
        documented = {(m.upper(), p) for p, item in h.contract().doc["paths"].items()
                      for m in item}
        self.assertEqual(sorted(documented - walked - NOT_WALKED), [],
                         "documented operations this walk did not see answer 2xx")


if __name__ == "__main__":
    h.main()
