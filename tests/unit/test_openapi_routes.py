#!/usr/bin/env python3
"""test_openapi_routes.py — the OpenAPI document (gateway/openapi.json) and the
gateway's route table (chirp-gateway --print-routes) name the same /api/v1
routes, and the document is what gateway/openapi_gen.py writes.

Routes outside /api/v1 (/healthz, /readyz, /metrics, the web client's static
files) are out of the document's scope.  Python 3 standard library only;
needs no servers (CHIRP_GATEWAY_BIN, else build/gateway/chirp-gateway)."""

import json
import os
import re
import subprocess
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "gateway", "openapi.json")
PREFIX = "/api/v1/"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Documented, but served by a module that may register the route outside the
# route table (the server-sent-events stream): it need not be listed there.
OUTSIDE_TABLE = {("GET", "/api/v1/streaming/user")}


def gateway_routes():
    gw = os.environ.get("CHIRP_GATEWAY_BIN") or os.path.join(ROOT, "build", "gateway",
                                                             "chirp-gateway")
    out = subprocess.run([gw, "--print-routes"], check=True, capture_output=True, text=True,
                         timeout=30).stdout
    routes = set()
    for line in out.splitlines():
        method, _, path = line.strip().partition(" ")
        if path.startswith(PREFIX):
            # ulfius ":id" is OpenAPI "{id}"
            routes.add((method, re.sub(r":([A-Za-z_][A-Za-z0-9_]*)", r"{\1}", path)))
    return routes, out


def document_routes(doc):
    return {(m.upper(), p) for p, item in doc["paths"].items() for m in item if m in METHODS}


class OpenApiRoutes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(DOC, encoding="utf-8") as f:
            cls.doc = json.load(f)
        cls.table, cls.raw = gateway_routes()
        cls.documented = document_routes(cls.doc)

    def test_table_is_read(self):
        # The gateway printed its table (a route we know is there).
        self.assertIn(("POST", "/api/v1/tweets"), self.table, self.raw)

    def test_every_route_is_documented(self):
        missing = sorted(self.table - self.documented)
        self.assertFalse(missing, "routes of the gateway missing from gateway/openapi.json "
                                  "(add them to gateway/openapi_gen.py): %s" % missing)

    def test_every_documented_route_exists(self):
        extra = sorted(self.documented - self.table - OUTSIDE_TABLE)
        self.assertFalse(extra, "gateway/openapi.json names routes the gateway does not have: "
                                "%s" % extra)

    def test_only_api_v1(self):
        outside = sorted(p for p in self.doc["paths"] if not p.startswith(PREFIX))
        self.assertFalse(outside, "paths outside /api/v1 in the document: %s" % outside)

    def test_path_parameters_declared(self):
        params = self.doc["components"]["parameters"]
        for path, item in self.doc["paths"].items():
            want = set(re.findall(r"{([^}]+)}", path))
            for m, op in item.items():
                have = set()
                for p in op.get("parameters", []):
                    p = params[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p
                    if p["in"] == "path":
                        have.add(p["name"])
                self.assertEqual(want, have, "%s %s: path parameters" % (m.upper(), path))

    def test_refs_resolve(self):
        def walk(v):
            if isinstance(v, dict):
                r = v.get("$ref")
                if r is not None:
                    node = self.doc
                    for part in r.lstrip("#/").split("/"):
                        self.assertIn(part, node, "unresolved $ref %s" % r)
                        node = node[part]
                for x in v.values():
                    walk(x)
            elif isinstance(v, list):
                for x in v:
                    walk(x)
        walk(self.doc)

    def test_schemas_are_valid(self):
        try:
            from jsonschema import Draft202012Validator
        except ImportError:
            self.skipTest("python3-jsonschema is not installed")
        for name, s in self.doc["components"]["schemas"].items():
            Draft202012Validator.check_schema(s)

    def test_valid_openapi_3_1(self):
        try:
            from openapi_spec_validator import validate
        except ImportError:
            self.skipTest("openapi-spec-validator is not installed (optional)")
        validate(self.doc)

    def test_generated_file_is_current(self):
        gen = os.path.join(ROOT, "gateway", "openapi_gen.py")
        r = subprocess.run([sys.executable, gen, "--check"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)


class HarnessContract(unittest.TestCase):
    """The e2e harness's answer check (chirp_harness.Contract) catches what
    it is there to catch."""

    @classmethod
    def setUpClass(cls):
        try:
            import jsonschema  # noqa: F401
        except ImportError:
            raise unittest.SkipTest("python3-jsonschema is not installed")
        sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
        import chirp_harness
        cls.h = chirp_harness
        cls.c = chirp_harness.Contract(DOC)

    def answer(self, status, body, headers=None):
        import email.message
        m = email.message.Message()
        for k, v in (headers or {"Content-Type": "application/json"}).items():
            m[k] = v
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.h.Response(status, m, raw, 0.0)

    TWEET = {"id": "1", "author_id": "2", "text": "hi", "reply_to": None,
             "created_at": "2026-01-01T00:00:00.000Z", "edited_at": None, "poll": None}

    def test_matching_templates(self):
        self.assertEqual(self.c.operation("GET", "/api/v1/accounts/search?q=x")[0],
                         "/api/v1/accounts/search")
        self.assertEqual(self.c.operation("GET", "/api/v1/accounts/me")[0],
                         "/api/v1/accounts/{id}")
        self.assertEqual(self.c.operation("PATCH", "/api/v1/accounts/me")[0],
                         "/api/v1/accounts/me")
        self.assertEqual(self.c.operation("GET", "/api/v1/nothing/here"), (None, None))

    def test_a_right_answer_passes(self):
        self.assertEqual(self.c.problems("POST", "/api/v1/tweets", self.answer(202, self.TWEET)),
                         [])

    def test_a_missing_field_fails(self):
        t = dict(self.TWEET)
        del t["author_id"]
        p = self.c.problems("POST", "/api/v1/tweets", self.answer(202, t))
        self.assertTrue(p and "author_id" in p[0], p)

    def test_a_wrong_type_fails(self):
        p = self.c.problems("GET", "/api/v1/tweets/1/likes",
                            self.answer(200, {"items": [], "next_cursor": 5}))
        self.assertTrue(p, p)

    def test_a_next_page_needs_its_link(self):
        page = {"items": [], "next_cursor": "abc"}
        p = self.c.problems("GET", "/api/v1/feed", self.answer(200, page))
        self.assertTrue(p and "Link" in p[0], p)
        linked = self.answer(200, page, {"Content-Type": "application/json",
                                         "Link": '</api/v1/feed?limit=20&cursor=abc>; rel="next"'})
        self.assertEqual(self.c.problems("GET", "/api/v1/feed", linked), [])
        last = self.answer(200, {"items": [], "next_cursor": None},
                           {"Content-Type": "application/json", "Link": "<x>; rel=\"next\""})
        self.assertTrue(self.c.problems("GET", "/api/v1/feed", last))

    def test_an_undocumented_status_fails(self):
        p = self.c.problems("GET", "/api/v1/feed", self.answer(500, {"error": {
            "code": "internal", "message": "x"}}))
        self.assertTrue(p and "does not list" in p[0], p)

    def test_an_error_body_is_checked(self):
        p = self.c.problems("GET", "/api/v1/tweets/1", self.answer(404, {"error": "nope"}))
        self.assertTrue(p, p)

    def test_429_needs_retry_after(self):
        body = {"error": {"code": "rate_limited", "message": "slow down"}}
        p = self.c.problems("GET", "/api/v1/feed", self.answer(429, body))
        self.assertTrue(p and "Retry-After" in p[0], p)
        ok = self.answer(429, body, {"Content-Type": "application/json", "Retry-After": "3"})
        self.assertEqual(self.c.problems("GET", "/api/v1/feed", ok), [])

    def test_no_body_where_none_is_documented(self):
        p = self.c.problems("DELETE", "/api/v1/sessions/current", self.answer(204, {"x": 1}))
        self.assertTrue(p, p)
        self.assertEqual(self.c.problems("DELETE", "/api/v1/sessions/current",
                                         self.answer(204, b"", {})), [])

    def test_undocumented_members_are_found(self):
        feed = self.c.doc["paths"]["/api/v1/feed"]["get"]["responses"]["200"]
        schema = feed["content"]["application/json"]["schema"]
        item = dict(self.TWEET, like_count=0, comment_count=0, liked_by_me=False,
                    author={"id": "2", "username": "a", "display_name": "", "avatar_url": ""},
                    poll={"id": "3", "options": ["a", "b"], "multiple": False,
                          "expires_at": "2026-01-01T00:00:00.000Z"})
        page = {"items": [item], "next_cursor": None}
        self.assertEqual(self.c.undocumented(schema, page), [])
        item["author"]["email"] = "x@example.com"
        item["poll"]["author_id"] = "2"
        item["secret"] = 1
        self.assertEqual(sorted(self.c.undocumented(schema, page)),
                         ["body.items[0].author.email", "body.items[0].poll.author_id",
                          "body.items[0].secret"])

    def test_stream_events(self):
        self.assertEqual(self.c.event_problems("tweet.deleted", '{"id": "5"}'), [])
        self.assertTrue(self.c.event_problems("tweet.deleted", '{"id": 5}'))
        self.assertTrue(self.c.event_problems("tweet", json.dumps(self.TWEET)))  # not hydrated
        self.assertTrue(self.c.event_problems("like", "{}"))

    def test_event_streams_are_not_read(self):
        r = self.answer(200, b"event: tweet\ndata: {}\n\n", {"Content-Type": "text/event-stream"})
        self.assertEqual(self.c.problems("GET", "/api/v1/streaming/user", r), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
