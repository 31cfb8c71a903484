"""Helpers shared by test_blocks.py, test_mutes.py and test_relationships.py
(not a test itself)."""

import chirp_harness as h

API = h.API
APPLY_TIMEOUT = 15.0  # seconds for the fan-out worker to apply an event


def row(kind, actor, target):
    """(active, event_id) of the blocks_mutes row (kind 1 block, 2 mute), or None."""
    out = h.psql("SELECT active, event_id FROM blocks_mutes WHERE kind = %d AND actor_id = %s "
                 "AND target_id = %s" % (kind, h.id_literal(actor), h.id_literal(target)))
    if not out:
        return None
    active, event_id = out.split("|")
    return active == "t", int(event_id)


def follows_active(follower, followee):
    return h.psql("SELECT active FROM follows WHERE follower_id = %s AND followee_id = %s"
                  % (h.id_literal(follower), h.id_literal(followee))) == "t"


def pg_counts(account_id):
    """(followers_count, following_count) in PostgreSQL."""
    a, b = h.psql("SELECT followers_count, following_count FROM accounts WHERE id = %s"
                  % h.id_literal(account_id)).split("|")
    return int(a), int(b)


def hidden_flags(owner, other):
    """The flags of other in owner's hidden set as Redis holds it (0 when
    absent); None when Redis holds no set (it is then read from PostgreSQL)."""
    j = h.redis_cmd("HGET", "chirp:hid:{%s}" % h.id_literal(owner), "j")
    if j is None:
        return None
    for part in j.decode().split(",")[1:]:
        i, f = part.split(":")
        if i == str(other):
            return int(f)
    return 0


class Mixin:
    """Request helpers for a h.StackTestCase."""

    def act(self, token, target, what, method="POST"):
        return self.http.request(method, API + "/accounts/%s/%s" % (target, what), token=token)

    def wait_row(self, kind, actor, target, active):
        return h.wait_until(lambda: (lambda r: r if r and r[0] == active else None)(
            row(kind, actor, target)), APPLY_TIMEOUT, 0.05,
            "blocks_mutes(%d, %s -> %s).active = %s" % (kind, actor, target, active))

    def block(self, token, actor, target, wait=True):
        r = self.act(token, target["id"], "block")
        self.assertStatus(r, 202)
        if wait:
            self.wait_row(1, actor["id"], target["id"], True)
            self.wait_hidden(token, target["id"], True)
        return r

    def unblock(self, token, actor, target):
        r = self.act(token, target["id"], "block", "DELETE")
        self.assertStatus(r, 202)
        self.wait_row(1, actor["id"], target["id"], False)
        self.wait_hidden(token, target["id"], False)

    def mute(self, token, actor, target):
        r = self.act(token, target["id"], "mute")
        self.assertStatus(r, 202)
        self.wait_row(2, actor["id"], target["id"], True)
        self.wait_hidden(token, target["id"], True, "muting")

    def follow(self, token, follower, followee):
        r = self.act(token, followee["id"], "follow")
        self.assertStatus(r, 202)
        h.wait_until(lambda: follows_active(follower["id"], followee["id"]), APPLY_TIMEOUT, 0.05,
                     "%s follows %s" % (follower["username"], followee["username"]))

    def relationship(self, token, other_id):
        r = self.http.get(API + "/accounts/relationships?id=%s" % other_id, token=token)
        self.assertStatus(r, 200)
        return r.json["items"][0]

    def wait_hidden(self, token, other_id, on, flag="blocking"):
        """Waits until the fan-out worker rewrote the viewer's hidden set in
        Redis after its commit (a missing set is read from PostgreSQL)."""
        owner = self.relationship_owner(token)
        bit = {"blocking": 1, "blocked_by": 2, "muting": 4}[flag]
        h.wait_until(lambda: (lambda f: f is None or ((f & bit) != 0) == on)(
            hidden_flags(owner, other_id)), APPLY_TIMEOUT,
                     0.05, "hidden set of %s: %s %s = %s" % (owner, flag, other_id, on))

    def relationship_owner(self, token):
        r = self.http.get(API + "/sessions/current", token=token)
        self.assertStatus(r, 200)
        return r.json["account"]["id"]

    def feed_ids(self, token, limit=100):
        r = self.http.get(API + "/feed?limit=%d" % limit, token=token)
        self.assertStatus(r, 200)
        return [t["id"] for t in r.json["items"]]

    def all_feed_ids(self, token, limit=5):
        """Every page of the feed (small pages: the filter must fill them)."""
        out, cursor = [], None
        for _ in range(200):
            url = API + "/feed?limit=%d" % limit + ("&cursor=%s" % cursor if cursor else "")
            r = self.http.get(url, token=token)
            self.assertStatus(r, 200)
            out.extend(t["id"] for t in r.json["items"])
            cursor = r.json["next_cursor"]
            if not cursor:
                return out
            self.assertEqual(len(r.json["items"]), limit, "a page that is not the last is full")
        raise AssertionError("feed paging did not end")

    def notification_actors(self, token):
        r = self.http.get(API + "/notifications?limit=100", token=token)
        self.assertStatus(r, 200)
        return [n.get("actor_id") for n in r.json["items"]]
