#!/usr/bin/env python3
"""End-to-end: the gateway serves the web client (gateway/web/) at "/":
content types, ETag and If-None-Match, gzip, the pages of the client
(SPA fallback), the Content-Security-Policy of every HTML answer, no path
out of the folder, and the API's JSON 404 left alone."""

import gzip
import os
import shutil
import socket
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

API = h.API
WEB = os.path.join(h.ROOT, "gateway", "web")
CSP_PARTS = ("default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
             "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'")


def raw_get(port, target):
    """GET with the request target sent exactly as given (no client-side
    normalisation); returns (status, body bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % target).encode("latin-1"))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


class WebStatic(h.StackTestCase):
    WORKERS = 0
    ROLES = ()

    def index(self):
        with open(os.path.join(WEB, "index.html"), "rb") as f:
            return f.read()

    def assertHtmlPage(self, r):
        self.assertStatus(r, 200)
        self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")
        csp = r.header("Content-Security-Policy") or ""
        for part in CSP_PARTS:
            self.assertIn(part, csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertNotIn("unsafe-eval", csp)
        self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")

    def test_root_is_the_client_with_its_headers(self):
        r = self.http.get("/")
        self.assertHtmlPage(r)
        self.assertEqual(r.body, self.index())
        self.assertEqual(r.header("Cache-Control"), "no-cache")
        self.assertRegex(r.header("ETag") or "", r'^"[0-9a-f]{32}"$')

    def test_content_types(self):
        for path, ctype in (("/js/app.js", "text/javascript; charset=utf-8"),
                            ("/css/app.css", "text/css; charset=utf-8"),
                            ("/favicon.svg", "image/svg+xml"),
                            ("/docs/docs.js", "text/javascript; charset=utf-8")):
            with self.subTest(path=path):
                r = self.http.get(path)
                self.assertStatus(r, 200)
                self.assertEqual(r.header("Content-Type"), ctype)
                self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
                self.assertIsNone(r.header("Content-Security-Policy"))  # HTML answers only
                with open(os.path.join(WEB, path.lstrip("/")), "rb") as f:
                    self.assertEqual(r.body, f.read())

    def test_etag_revalidates_to_304(self):
        r = self.http.get("/js/api.js")
        etag = r.header("ETag")
        r2 = self.http.get("/js/api.js", headers={"If-None-Match": etag})
        self.assertStatus(r2, 304)
        self.assertEqual(r2.body, b"")
        self.assertEqual(r2.header("ETag"), etag)
        r3 = self.http.get("/js/api.js", headers={"If-None-Match": '"0000", ' + etag})
        self.assertStatus(r3, 304)
        r4 = self.http.get("/js/api.js", headers={"If-None-Match": '"not-it"'})
        self.assertStatus(r4, 200)
        self.assertTrue(r4.body)

    def test_gzip_when_accepted(self):
        plain = self.http.get("/css/app.css")
        r = self.http.get("/css/app.css", headers={"Accept-Encoding": "br, gzip, deflate"})
        self.assertStatus(r, 200)
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertEqual(r.header("Vary"), "Accept-Encoding")
        self.assertLess(len(r.body), len(plain.body))
        self.assertEqual(gzip.decompress(r.body), plain.body)
        self.assertNotEqual(r.header("ETag"), plain.header("ETag"))
        r304 = self.http.get("/css/app.css", headers={"Accept-Encoding": "gzip",
                                                      "If-None-Match": r.header("ETag")})
        self.assertStatus(r304, 304)
        for ae in ("gzip;q=0", "identity", "br"):
            with self.subTest(accept_encoding=ae):
                r = self.http.get("/css/app.css", headers={"Accept-Encoding": ae})
                self.assertIsNone(r.header("Content-Encoding"))
                self.assertEqual(r.body, plain.body)

    def test_pages_of_the_client_get_index_html(self):
        for path in ("/@alice", "/@alice/followers", "/tweets/123", "/notifications",
                     "/search", "/tags/c", "/login/"):
            with self.subTest(path=path):
                r = self.http.get(path)
                self.assertHtmlPage(r)
                self.assertEqual(r.body, self.index())

    def test_docs_page(self):
        r = self.http.get("/docs")
        self.assertHtmlPage(r)
        self.assertIn(b"/docs/docs.js", r.body)
        self.assertNotIn(b"<script>", r.body)  # no inline script
        self.assertEqual(self.http.get("/docs/").body, r.body)

    def test_head(self):
        r = self.http.request("HEAD", "/")
        self.assertStatus(r, 200)
        self.assertEqual(r.body, b"")

    def test_missing_asset_is_the_json_404(self):
        for path in ("/js/nope.js", "/nope.css", "/docs/vendor/nope.js"):
            with self.subTest(path=path):
                self.assertError(self.http.get(path), 404, "not_found")

    def test_api_paths_keep_their_json_404(self):
        for method, path in (("GET", API + "/nope"), ("GET", "/api"), ("GET", "/api/x"),
                             ("GET", "/metrics/x"), ("GET", "/healthz/x"), ("POST", "/"),
                             ("PUT", "/index.html"), ("DELETE", "/@alice")):
            with self.subTest(method=method, path=path):
                self.assertError(self.http.request(method, path), 404, "not_found")

    def test_no_path_leaves_the_folder(self):
        for target in ("/../../../../etc/passwd", "/js/../../../../../etc/passwd",
                       "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/js/%2E%2E/%2E%2E/CMakeLists.txt",
                       "/..%2f..%2f..%2fetc%2fpasswd", "/js/..%5c..%5cCMakeLists.txt",
                       "/./index.html", "/js/./api.js", "/.lock", "/docs/vendor/.lock",
                       "//etc/passwd", "/js//api.js", "/etc/passwd%00.js"):
            with self.subTest(target=target):
                status, body = raw_get(self.stack.port, target)
                self.assertNotIn(b"root:", body)
                self.assertNotIn(b"cmake_minimum_required", body)
                self.assertNotIn(b"lockfileVersion", body)
                # Either refused (404) or a page of the client: never a file
                # outside the folder, nor a hidden one.
                if status == 200:
                    self.assertEqual(body, self.index(), target)
                else:
                    self.assertEqual(status, 404, target)
        status, _ = raw_get(self.stack.port, "/../index.html")
        self.assertEqual(status, 404)


class WebRootFolder(h.StackTestCase):
    """CHIRP_WEB_ROOT: a folder of our own, with a link that leads out of it
    and a file that changes while the gateway runs."""
    WORKERS = 0
    ROLES = ()
    ROOT = tempfile.mkdtemp(prefix="chirp-web-root-")
    ENV = {"CHIRP_WEB_ROOT": ROOT}

    @classmethod
    def setUpClass(cls):
        with open(os.path.join(cls.ROOT, "index.html"), "w") as f:
            f.write("<!doctype html><title>t</title>" + "x" * 400)
        with open(os.path.join(cls.ROOT, "a.js"), "w") as f:
            f.write("export const v = 1;\n")
        outside = os.path.join(tempfile.mkdtemp(prefix="chirp-web-outside-"), "secret.txt")
        with open(outside, "w") as f:
            f.write("secret outside the root\n")
        os.symlink(outside, os.path.join(cls.ROOT, "leak.txt"))
        os.symlink("/etc", os.path.join(cls.ROOT, "etc"))
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.ROOT, ignore_errors=True)

    def test_links_out_of_the_folder_are_refused(self):
        self.assertError(self.http.get("/leak.txt"), 404, "not_found")
        self.assertError(self.http.get("/etc/passwd.txt"), 404, "not_found")
        r = self.http.get("/etc/passwd")  # no extension: a page of the client
        self.assertNotIn(b"root:", r.body)

    def test_a_changed_file_is_served_anew(self):
        r1 = self.http.get("/a.js")
        self.assertEqual(r1.body, b"export const v = 1;\n")
        path = os.path.join(self.ROOT, "a.js")
        with open(path, "w") as f:
            f.write("export const v = 22;\n")
        st = os.stat(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        r2 = self.http.get("/a.js", headers={"If-None-Match": r1.header("ETag")})
        self.assertStatus(r2, 200)
        self.assertEqual(r2.body, b"export const v = 22;\n")
        self.assertNotEqual(r2.header("ETag"), r1.header("ETag"))


if __name__ == "__main__":
    h.main()
