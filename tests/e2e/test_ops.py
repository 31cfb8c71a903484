#!/usr/bin/env python3
"""End-to-end: operations endpoints (/healthz, /readyz), the JSON 404 for
unknown paths, and the request-size limits of the HTTP layer."""

import os
import socket
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

API = h.API


class Ops(h.StackTestCase):
    WORKERS = 0

    def test_healthz(self):
        r = self.http.get("/healthz")
        self.assertStatus(r, 200)
        self.assertTrue(r.header("Content-Type").startswith("application/json"))
        self.assertEqual(r.json["status"], "ok")

    def test_readyz_all_up(self):
        r = self.http.get("/readyz")
        self.assertStatus(r, 200)
        self.assertTrue(r.header("Content-Type").startswith("application/json"))
        self.assertEqual(r.json["status"], "ready")
        self.assertEqual(r.json["checks"], {"redis": "up", "postgres": "up", "rabbitmq": "up"})

    def test_health_endpoints_live_at_the_root_only(self):
        for path in (API + "/healthz", API + "/readyz"):
            with self.subTest(path=path):
                self.assertError(self.http.get(path), 404, "not_found")

    def test_unknown_path_is_json_404(self):
        # GET of other paths is the web client's (test_web_static).
        for method, path in (("POST", "/nope"), ("GET", API + "/nope"), ("POST", "/"),
                             ("POST", API + "/no/such/thing"), ("DELETE", "/api/v2/tweets/1"),
                             ("GET", API + "/tweets"), ("GET", API + "/tweets/1/nope")):
            with self.subTest(method=method, path=path):
                r = self.http.request(method, path)
                self.assertError(r, 404, "not_found")

    def test_unknown_method_on_a_known_path_is_a_json_error(self):
        # The API lists no 405; whatever the gateway answers must be a JSON error.
        for method, path in (("PUT", API + "/tweets/1"), ("DELETE", "/healthz"),
                             ("POST", API + "/accounts/me")):
            with self.subTest(method=method, path=path):
                r = self.http.request(method, path)
                self.assertIn(r.status, (404, 405), r)
                self.assertError(r, r.status, {404: "not_found", 405: "method_not_allowed"}
                                 [r.status])

    def test_headers_within_8_kib_are_accepted(self):
        r = self.http.get("/healthz", headers={"X-Pad": "p" * 6000})
        self.assertStatus(r, 200)
        r = self.http.get("/healthz?pad=" + "q" * 6000)
        self.assertStatus(r, 200)

    def test_request_line_over_8_kib_is_414(self):
        # The API: "request lines or headers over 8 KiB are 414/431".
        r = self.http.get("/healthz?pad=" + "q" * 9000)
        self.assertStatus(r, 414)

    def test_headers_over_8_kib_are_431(self):
        r = self.http.get("/healthz", headers={"X-Pad": "p" * 9000})
        self.assertStatus(r, 431)
        r = self.http.get("/healthz", headers={"X-Pad-%d" % i: "p" * 1000 for i in range(9)})
        self.assertStatus(r, 431)

    def test_huge_headers_do_not_hurt_the_gateway(self):
        # Far past any limit: refused, and the gateway serves on.
        r = self.http.get("/healthz", headers={"X-Pad": "p" * 64000})
        self.assertIn(r.status, (413, 414, 431), r)
        self.assertStatus(self.http.get("/healthz"), 200)

    def test_garbage_request_does_not_hurt_the_gateway(self):
        with socket.create_connection(("127.0.0.1", self.stack.port), timeout=10) as s:
            s.sendall(b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
            try:
                s.recv(4096)
            except OSError:
                pass
        self.assertStatus(self.http.get("/healthz"), 200)


if __name__ == "__main__":
    h.main()
