#!/usr/bin/env python3
"""End-to-end: GET /accounts/relationships for many ids at once: id=, id[]=
and comma-joined ids; each {id, following, followed_by, blocking,
blocked_by, muting} as the follows, blocks and mutes stand (a change just
published counts at once); unknown ids all false; 422 for a bad, missing
or 101st id, 401 without a token."""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402
import blocks_lib as bl  # noqa: E402
from blocks_lib import API  # noqa: E402

REL = API + "/accounts/relationships"


class RelationshipsTestCase(bl.Mixin, h.StackTestCase):
    WORKERS = 1

    def rels(self, token, query):
        r = self.http.get(REL + "?" + query, token=token)
        self.assertStatus(r, 200)
        return {x["id"]: x for x in r.json["items"]}

    def test_states_for_many_ids(self):
        tv, v = h.sign_up(self.http, "rv")
        others = [h.sign_up(self.http, "ro") for _ in range(5)]
        (t0, a0), (t1, a1), (t2, a2), (t3, a3), (t4, a4) = others
        self.follow(tv, v, a0)     # following
        self.follow(t1, a1, v)     # followed_by
        self.block(tv, v, a2)      # blocking
        self.block(t3, a3, v)      # blocked_by
        self.mute(tv, v, a4)       # muting
        ids = [a["id"] for _, a in others]
        want = {
            a0["id"]: (True, False, False, False, False),
            a1["id"]: (False, True, False, False, False),
            a2["id"]: (False, False, True, False, False),
            a3["id"]: (False, False, False, True, False),
            a4["id"]: (False, False, False, False, True),
            "999999999999": (False,) * 5,
        }
        keys = ("following", "followed_by", "blocking", "blocked_by", "muting")
        for q in ("&".join("id=%s" % i for i in ids + ["999999999999"]),
                  "&".join("id[]=%s" % i for i in ids + ["999999999999"]),
                  "&".join("id%%5B%%5D=%s" % i for i in ids + ["999999999999"]),
                  "id=" + ",".join(ids + ["999999999999"])):
            r = self.http.get(REL + "?" + q, token=tv)
            self.assertStatus(r, 200)
            self.assertEqual([x["id"] for x in r.json["items"]], ids + ["999999999999"], "in order")
            got = {x["id"]: tuple(x[k] for k in keys) for x in r.json["items"]}
            self.assertEqual(got, want, q)
        # Duplicates count once; a change just published counts at once.
        r = self.act(tv, a1["id"], "follow")
        self.assertStatus(r, 202)
        got = self.rels(tv, "id=%s&id=%s" % (a1["id"], a1["id"]))
        self.assertEqual(list(got), [a1["id"]])
        self.assertTrue(got[a1["id"]]["following"] and got[a1["id"]]["followed_by"])
        # The other side's view.
        got = self.rels(t2, "id=%s" % v["id"])[v["id"]]
        self.assertEqual((got["blocked_by"], got["blocking"]), (True, False))

    def test_errors(self):
        tv, v = h.sign_up(self.http, "re")
        self.assertStatus(self.http.get(REL + "?id=1"), 401)
        self.assertError(self.http.get(REL, token=tv), 422, "missing_id", "id")
        self.assertError(self.http.get(REL + "?id=", token=tv), 422, "invalid_id", "id")
        self.assertError(self.http.get(REL + "?id=abc", token=tv), 422, "invalid_id", "id")
        self.assertError(self.http.get(REL + "?id=1,,2", token=tv), 422, "invalid_id", "id")
        q = "&".join("id=%d" % (1000 + i) for i in range(101))
        self.assertError(self.http.get(REL + "?" + q, token=tv), 422, "too_many_ids", "id")
        q = "&".join("id=%d" % (1000 + i) for i in range(100))
        r = self.http.get(REL + "?" + q, token=tv)
        self.assertStatus(r, 200)
        self.assertEqual(len(r.json["items"]), 100)


if __name__ == "__main__":
    h.main()
