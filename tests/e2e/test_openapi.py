#!/usr/bin/env python3
"""test_openapi.py — GET /api/v1/openapi.json serves gateway/openapi.json: the
same bytes, as application/json, with an ETag that answers 304 when the
client has it; no token needed."""

import json
import os

import chirp_harness as h

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


if __name__ == "__main__":
    h.main()
