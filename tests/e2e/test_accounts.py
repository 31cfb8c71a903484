#!/usr/bin/env python3
"""End-to-end: accounts and sessions (sign up, log in, status, log out,
profiles, PATCH /accounts/me, the account list and account search, and
cursors on every list) against a real gateway on the test stack.  Deleting
an account: test_account_delete.py."""

import json
import re
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

API = h.API
PRIVATE_KEYS = {"id", "username", "display_name", "bio", "avatar_url", "created_at", "email"}
PUBLIC_KEYS = PRIVATE_KEYS - {"email"}


def signup_body(name=None, **over):
    name = name or h.unique("acc")
    body = {"username": name, "email": "%s@example.com" % name.lower(),
            "password": "correct horse 1"}
    body.update(over)
    return body


class SignUp(h.StackTestCase):
    WORKERS = 0  # accounts are written synchronously: no worker needed

    def test_sign_up_returns_account_and_a_working_token(self):
        body = signup_body()
        r = self.http.post(API + "/accounts", body)
        self.assertStatus(r, 201)
        self.assertKeys(r.json, {"account", "token"})
        a, token = r.json["account"], r.json["token"]
        self.assertKeys(a, PRIVATE_KEYS)
        self.assertIsInstance(a["id"], str)
        self.assertTrue(a["id"].isdigit(), a)
        self.assertEqual(a["username"], body["username"])
        self.assertEqual(a["email"], body["email"])
        self.assertEqual((a["display_name"], a["bio"], a["avatar_url"]), ("", "", ""))
        self.assertRegex(a["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertIsInstance(token, str)
        self.assertGreaterEqual(len(token), 32)
        # The token works at once.
        s = self.http.get(API + "/sessions/current", token=token)
        self.assertStatus(s, 200)
        self.assertEqual(s.json["account"]["id"], a["id"])
        # Written synchronously, once; only a hash of the password is kept.
        self.assertEqual(h.psql("SELECT username || '|' || (password_hash LIKE '$argon2id$%%') "
                                "FROM accounts WHERE id = %s" % h.id_literal(a["id"])),
                         body["username"] + "|true")

    def test_concurrent_sign_ups_of_one_name_give_one_account(self):
        import threading
        name = h.unique("race")
        n = 12
        barrier = threading.Barrier(n)
        replies = [None] * n

        def sign_up(i):
            c = self.stack.client()
            barrier.wait(30)
            replies[i] = c.post(API + "/accounts", signup_body(
                name if i % 2 else name.upper(), email="%s_%d@example.com" % (name, i)))
        threads = [threading.Thread(target=sign_up, args=(i,)) for i in range(n)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        self.assertEqual(sorted(r.status for r in replies), [201] + [409] * (n - 1), replies)
        for r in replies:
            if r.status == 409:
                self.assertError(r, 409, "username_taken", "username")
        self.assertEqual(h.sql_int("SELECT count(*) FROM accounts WHERE lower(username) = "
                                   "lower('%s')" % name), 1)

    def test_content_type_with_charset_is_json(self):
        r = self.http.post(API + "/accounts", signup_body(),
                           content_type="application/json; charset=utf-8")
        self.assertStatus(r, 201)

    def test_duplicate_username_is_409_case_insensitive(self):
        name = h.unique("Dup")
        self.assertStatus(self.http.post(API + "/accounts", signup_body(name)), 201)
        for variant in (name, name.swapcase(), name.upper()):
            r = self.http.post(API + "/accounts",
                               signup_body(variant, email="other_%s@example.com" % h.unique("e")))
            self.assertError(r, 409, "username_taken", "username")
        self.assertEqual(h.sql_int("SELECT count(*) FROM accounts WHERE lower(username) = "
                                   "lower('%s')" % name), 1)

    def test_duplicate_email_is_409_case_insensitive(self):
        first = signup_body()
        self.assertStatus(self.http.post(API + "/accounts", first), 201)
        for email in (first["email"], first["email"].upper()):
            r = self.http.post(API + "/accounts", signup_body(email=email))
            self.assertError(r, 409, "email_taken", "email")

    def test_invalid_username_is_422(self):
        cases = [("bad name", "invalid_format"), ("dash-ed", "invalid_format"),
                 ("\u00fcmlaut", "invalid_format"), ("a" * 31, "too_long"), ("", "empty")]
        for username, code in cases:
            with self.subTest(username=username):
                r = self.http.post(API + "/accounts",
                                   signup_body(username=username,
                                               email="%s@example.com" % h.unique("e")))
                self.assertError(r, 422, code, "username")
        # 30 characters is the maximum and is accepted.
        name30 = (h.unique("m") + "_" * 30)[:30]
        self.assertStatus(self.http.post(API + "/accounts", signup_body(name30)), 201)

    def test_invalid_email_is_422(self):
        cases = [("no-at-sign", "invalid_format"), ("a@b", "invalid_format"),
                 ("two@at@example.com", "invalid_format"), ("sp ace@example.com",
                                                            "invalid_format"),
                 ("@example.com", "invalid_format"), ("", "empty")]
        for email, code in cases:
            with self.subTest(email=email):
                r = self.http.post(API + "/accounts", signup_body(email=email))
                self.assertError(r, 422, code, "email")

    def test_invalid_password_is_422(self):
        for pw, code in [("short", "too_short"), ("1234567", "too_short"), ("x" * 257, "too_long")]:
            with self.subTest(password=pw[:10]):
                r = self.http.post(API + "/accounts", signup_body(password=pw))
                self.assertError(r, 422, code, "password")
        self.assertStatus(self.http.post(API + "/accounts", signup_body(password="12345678")), 201)

    def test_missing_field_is_422(self):
        for field in ("username", "email", "password"):
            with self.subTest(missing=field):
                body = signup_body()
                del body[field]
                self.assertError(self.http.post(API + "/accounts", body), 422, "missing_field",
                                 field)
                body[field] = None
                self.assertError(self.http.post(API + "/accounts", body), 422, "missing_field",
                                 field)

    def test_wrong_type_is_422(self):
        for field, value in (("username", 5), ("email", ["a@b.cd"]), ("password", True),
                             ("username", {"x": 1})):
            with self.subTest(field=field, value=value):
                r = self.http.post(API + "/accounts", signup_body(**{field: value}))
                self.assertError(r, 422, "wrong_type", field)

    def test_bad_json_is_400(self):
        for raw in (b'{"username": ', b"not json", b"", b'{"a": 1} trailing',
                    b'{"username": "a", "username": "b"}'):
            with self.subTest(raw=raw):
                r = self.http.post(API + "/accounts", raw=raw)
                self.assertError(r, 400, "malformed_json")
        for raw in (b"[]", b'"str"', b"42", b"null"):
            with self.subTest(raw=raw):
                self.assertError(self.http.post(API + "/accounts", raw=raw), 400, "malformed_json")

    def test_wrong_content_type_is_415(self):
        raw = json_bytes(signup_body())
        for ct in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx",
                   None):
            with self.subTest(content_type=ct):
                r = self.http.post(API + "/accounts", raw=raw, content_type=ct)
                self.assertError(r, 415, "unsupported_media_type")

    def test_body_over_one_mib_is_413(self):
        mib = 1024 * 1024
        prefix = b'{"username": "x", "pad": "'
        # Exactly 1 MiB is allowed (then the fields are checked) ...
        at_limit = prefix + b"a" * (mib - len(prefix) - 2) + b'"}'
        self.assertEqual(len(at_limit), mib)
        self.assertError(self.http.post(API + "/accounts", raw=at_limit), 422, "missing_field",
                         "email")
        # ... one byte more is 413, and so is much more.
        over = prefix + b"a" * (mib - len(prefix) - 1) + b'"}'
        self.assertEqual(len(over), mib + 1)
        self.assertError(self.http.post(API + "/accounts", raw=over), 413, "payload_too_large")
        self.assertError(self.http.post(API + "/accounts", raw=b" " * (3 * mib)), 413,
                         "payload_too_large")


def json_bytes(obj):
    return json.dumps(obj).encode()


class Sessions(h.StackTestCase):
    WORKERS = 0

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.password = "s3cret pass"
        cls.token, cls.account = h.sign_up(cls.http, "ses", password=cls.password)

    def login(self, login, password):
        return self.http.post(API + "/sessions", {"login": login, "password": password})

    def check_session_reply(self, r):
        self.assertStatus(r, 201)
        self.assertKeys(r.json, {"account", "token"})
        self.assertKeys(r.json["account"], PRIVATE_KEYS)
        self.assertEqual(r.json["account"]["id"], self.account["id"])
        self.assertEqual(r.json["account"]["email"], self.account["email"])
        tok = r.json["token"]
        self.assertNotEqual(tok, self.token)
        self.assertStatus(self.http.get(API + "/sessions/current", token=tok), 200)
        return tok

    def test_log_in_by_username(self):
        self.check_session_reply(self.login(self.account["username"], self.password))
        # Usernames are case-insensitive.
        self.check_session_reply(self.login(self.account["username"].swapcase(), self.password))

    def test_log_in_by_email(self):
        self.check_session_reply(self.login(self.account["email"], self.password))
        self.check_session_reply(self.login(self.account["email"].upper(), self.password))

    def test_wrong_password_and_unknown_login_are_the_same_401(self):
        wrong = self.login(self.account["username"], self.password + "x")
        unknown = self.login(h.unique("nobody"), self.password)
        unknown_email = self.login("%s@example.com" % h.unique("nobody"), self.password)
        for r in (wrong, unknown, unknown_email):
            self.assertError(r, 401, "invalid_credentials")
        self.assertEqual(wrong.body, unknown.body)
        self.assertEqual(wrong.body, unknown_email.body)

    def test_log_in_validation(self):
        self.assertError(self.http.post(API + "/sessions", {"login": self.account["username"]}),
                         422, "missing_field", "password")
        self.assertError(self.http.post(API + "/sessions", {"password": "x" * 10}), 422,
                         "missing_field", "login")
        self.assertError(self.http.post(API + "/sessions", {"login": 5, "password": "x" * 10}),
                         422, "wrong_type", "login")
        self.assertError(self.http.post(API + "/sessions", raw=b"{"), 400, "malformed_json")
        self.assertError(self.http.post(API + "/sessions", raw=b"{}", content_type="text/plain"),
                         415, "unsupported_media_type")

    def test_login_status(self):
        r = self.http.get(API + "/sessions/current", token=self.token)
        self.assertStatus(r, 200)
        self.assertKeys(r.json, {"authenticated", "account"})
        self.assertIs(r.json["authenticated"], True)
        self.assertKeys(r.json["account"], PRIVATE_KEYS)
        self.assertEqual(r.json["account"]["id"], self.account["id"])
        self.assertEqual(r.json["account"]["username"], self.account["username"])

    def test_login_status_without_or_with_bad_token_is_401(self):
        self.assertError(self.http.get(API + "/sessions/current"), 401, "unauthorized")
        self.assertError(self.http.get(API + "/sessions/current",
                                       headers={"Authorization": "Basic dXNlcjpwYXNz"}),
                         401, "unauthorized")
        self.assertError(self.http.get(API + "/sessions/current", token="nope"), 401,
                         "invalid_token")
        # Well-formed (43 base64url characters) but never issued.
        self.assertError(self.http.get(API + "/sessions/current", token="A" * 43), 401,
                         "invalid_token")
        # A token is one header value: a valid token with extra text is not it.
        self.assertError(self.http.get(API + "/sessions/current", token=self.token + "x"), 401,
                         "invalid_token")

    def test_log_out(self):
        tok = self.check_session_reply(self.login(self.account["username"], self.password))
        other = self.check_session_reply(self.login(self.account["username"], self.password))
        # Used once, so it is in the gateway's session cache.
        self.assertStatus(self.http.get(API + "/sessions/current", token=tok), 200)
        r = self.http.delete(API + "/sessions/current", token=tok)
        self.assertStatus(r, 204)
        self.assertEqual(r.body, b"")
        self.assertError(self.http.get(API + "/sessions/current", token=tok), 401, "invalid_token")
        self.assertError(self.http.delete(API + "/sessions/current", token=tok), 401,
                         "invalid_token")
        self.assertError(self.http.patch(API + "/accounts/me", {"bio": "x"}, token=tok), 401,
                         "invalid_token")
        # Other sessions of the account live on.
        self.assertStatus(self.http.get(API + "/sessions/current", token=other), 200)
        self.assertStatus(self.http.get(API + "/sessions/current", token=self.token), 200)

    def test_sessions_survive_cache_loss(self):
        tok = self.check_session_reply(self.login(self.account["username"], self.password))
        self.assertStatus(self.http.get(API + "/sessions/current", token=tok), 200)
        self.assertEqual(h.evict_session(tok), 1, "the session was not cached")
        self.assertStatus(self.http.get(API + "/sessions/current", token=tok), 200)
        # Log out while the token is not cached; then it is refused either way.
        h.evict_session(tok)
        self.assertStatus(self.http.delete(API + "/sessions/current", token=tok), 204)
        self.assertError(self.http.get(API + "/sessions/current", token=tok), 401, "invalid_token")
        h.evict_session(tok)
        self.assertError(self.http.get(API + "/sessions/current", token=tok), 401, "invalid_token")

    def test_expired_session_is_refused(self):
        import hashlib
        import time
        tok = self.check_session_reply(self.login(self.account["username"], self.password))
        digest = hashlib.sha256(tok.encode()).hexdigest()
        # Let the session end in 1.5 s (tokens live 30 days by default).
        expires = float(h.psql("UPDATE sessions SET expires_at = now() + interval '1.5 s' "
                               "WHERE token_hash = '%s' RETURNING extract(epoch FROM expires_at)"
                               % digest).splitlines()[0])
        h.evict_session(tok)
        self.assertStatus(self.http.get(API + "/sessions/current", token=tok), 200)
        late = []
        while time.time() < expires + 1.5:
            r = self.http.get(API + "/sessions/current", token=tok)
            if r.status == 200 and time.time() > expires + 0.1:
                late.append(round(time.time() - expires, 2))
            time.sleep(0.05)
        self.assertEqual(late, [], "the token was accepted this many seconds after it expired")
        self.assertError(self.http.get(API + "/sessions/current", token=tok), 401, "invalid_token")

    def test_log_out_without_token_is_401(self):
        self.assertError(self.http.delete(API + "/sessions/current"), 401, "unauthorized")


class Profiles(h.StackTestCase):
    WORKERS = 0

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.token, cls.account = h.sign_up(cls.http, "prof")

    def test_get_by_id_is_public(self):
        r = self.http.get(API + "/accounts/" + self.account["id"])
        self.assertStatus(r, 200)
        self.assertKeys(r.json, PUBLIC_KEYS, {"email"})  # no email in the public view
        for k in PUBLIC_KEYS:
            self.assertEqual(r.json[k], self.account[k], k)
        # The same with a token (even the owner's): the public view.
        r2 = self.http.get(API + "/accounts/" + self.account["id"], token=self.token)
        self.assertStatus(r2, 200)
        self.assertNotIn("email", r2.json)
        self.assertNotIn(self.account["email"].encode(), r2.body)

    def test_get_by_username(self):
        for name in (self.account["username"], self.account["username"].upper()):
            r = self.http.get(API + "/accounts/@" + name)
            self.assertStatus(r, 200)
            self.assertKeys(r.json, PUBLIC_KEYS, {"email"})
            self.assertEqual(r.json["id"], self.account["id"])
            self.assertEqual(r.json["username"], self.account["username"])

    def test_public_view_survives_cache_loss(self):
        first = self.http.get(API + "/accounts/" + self.account["id"])
        self.assertStatus(first, 200)
        h.evict_account(self.account["id"])
        again = self.http.get(API + "/accounts/" + self.account["id"])
        self.assertStatus(again, 200)
        self.assertEqual(again.json, first.json)

    def test_unknown_account_is_404(self):
        for ident in ("1", "9223372036854775807", "@" + h.unique("ghost"), "abc", "0", "-1",
                      "99999999999999999999", "@bad-name", "@"):
            with self.subTest(ident=ident):
                self.assertError(self.http.get(API + "/accounts/" + ident), 404, "not_found", "id")

    def test_bad_token_on_public_read_is_401(self):
        self.assertError(self.http.get(API + "/accounts/" + self.account["id"], token="A" * 43),
                         401, "invalid_token")


class UpdateMe(h.StackTestCase):
    WORKERS = 0

    def setUp(self):
        self.token, self.account = h.sign_up(self.http, "upd")
        self.path = API + "/accounts/" + self.account["id"]

    def test_update_all_fields(self):
        # Read first, so that the public view is cached: the update must show anyway.
        self.assertEqual(self.http.get(self.path).json["display_name"], "")
        body = {"display_name": "Ada L\u00f6velace \U0001F680", "bio": "line one\nline two",
                "avatar_url": "https://example.com/a.png"}
        r = self.http.patch(API + "/accounts/me", body, token=self.token)
        self.assertStatus(r, 200)
        self.assertKeys(r.json, PRIVATE_KEYS)
        for k, v in body.items():
            self.assertEqual(r.json[k], v)
        self.assertEqual(r.json["id"], self.account["id"])
        self.assertEqual(r.json["email"], self.account["email"])
        pub = self.http.get(self.path)
        self.assertStatus(pub, 200)
        for k, v in body.items():
            self.assertEqual(pub.json[k], v, "a cached profile hid the update")
        self.assertEqual(self.http.get(API + "/accounts/@" + self.account["username"])
                         .json["display_name"], body["display_name"])
        self.assertEqual(h.psql("SELECT display_name FROM accounts WHERE id = %s"
                                % h.id_literal(self.account["id"])), body["display_name"])

    def test_partial_update_keeps_other_fields(self):
        self.assertStatus(self.http.patch(API + "/accounts/me",
                                          {"display_name": "Name", "bio": "Bio"}, token=self.token),
                          200)
        r = self.http.patch(API + "/accounts/me", {"bio": "New bio"}, token=self.token)
        self.assertStatus(r, 200)
        self.assertEqual((r.json["display_name"], r.json["bio"]), ("Name", "New bio"))
        # An empty avatar_url clears it.
        self.assertStatus(self.http.patch(API + "/accounts/me",
                                          {"avatar_url": "http://x.example/p"}, token=self.token),
                          200)
        r = self.http.patch(API + "/accounts/me", {"avatar_url": ""}, token=self.token)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["avatar_url"], "")
        self.assertEqual(self.http.get(self.path).json["avatar_url"], "")

    def test_display_name_limits(self):
        ok = self.http.patch(API + "/accounts/me", {"display_name": "\u00e9" * 50},
                             token=self.token)
        self.assertStatus(ok, 200)
        self.assertEqual(ok.json["display_name"], "\u00e9" * 50)
        r = self.http.patch(API + "/accounts/me", {"display_name": "x" * 51}, token=self.token)
        self.assertError(r, 422, "too_long", "display_name")
        r = self.http.patch(API + "/accounts/me", {"display_name": "tab\there"}, token=self.token)
        self.assertError(r, 422, "invalid_format", "display_name")
        # Nothing of a rejected update was applied.
        self.assertEqual(self.http.get(self.path).json["display_name"], "\u00e9" * 50)

    def test_display_name_is_one_line(self):
        # shared/include/chirp_text.h: no control characters "other than
        # newline in a bio" - a display name is one line.
        r = self.http.patch(API + "/accounts/me", {"display_name": "two\nlines"},
                            token=self.token)
        self.assertError(r, 422, "invalid_format", "display_name")
        # A bio may have several lines.
        self.assertStatus(self.http.patch(API + "/accounts/me", {"bio": "two\nlines"},
                                          token=self.token), 200)

    def test_bio_limits(self):
        self.assertStatus(self.http.patch(API + "/accounts/me", {"bio": "b" * 160},
                                          token=self.token), 200)
        self.assertError(self.http.patch(API + "/accounts/me", {"bio": "b" * 161},
                                         token=self.token), 422, "too_long", "bio")
        self.assertError(self.http.patch(API + "/accounts/me", {"bio": "bell\u0007"},
                                         token=self.token), 422, "invalid_format", "bio")

    def test_bad_avatar_url_is_422(self):
        for url, code in (("ftp://example.com/a.png", "invalid_format"),
                          ("javascript:alert(1)", "invalid_format"),
                          ("example.com/a.png", "invalid_format"),
                          ("https://exa mple.com/", "invalid_format"),
                          ("https://example.com/" + "a" * 500, "too_long")):
            with self.subTest(url=url[:30]):
                r = self.http.patch(API + "/accounts/me", {"avatar_url": url}, token=self.token)
                self.assertError(r, 422, code, "avatar_url")
        self.assertEqual(self.http.get(self.path).json["avatar_url"], "")

    def test_empty_object_is_422(self):
        self.assertError(self.http.patch(API + "/accounts/me", {}, token=self.token), 422,
                         "nothing_to_update")
        self.assertError(self.http.patch(API + "/accounts/me", {"display_name": None},
                                         token=self.token), 422, "nothing_to_update")

    def test_wrong_type_is_422(self):
        for field in ("display_name", "bio", "avatar_url"):
            with self.subTest(field=field):
                r = self.http.patch(API + "/accounts/me", {field: 5}, token=self.token)
                self.assertError(r, 422, "wrong_type", field)

    def test_without_token_is_401(self):
        self.assertError(self.http.patch(API + "/accounts/me", {"bio": "x"}), 401, "unauthorized")
        self.assertError(self.http.patch(API + "/accounts/me", {"bio": "x"}, token="A" * 43), 401,
                         "invalid_token")
        self.assertEqual(self.http.get(self.path).json["bio"], "")

    def test_bad_body_is_400_or_415(self):
        self.assertError(self.http.patch(API + "/accounts/me", raw=b"{", token=self.token), 400,
                         "malformed_json")
        self.assertError(self.http.patch(API + "/accounts/me", raw=b'{"bio": "x"}',
                                         token=self.token, content_type="text/plain"),
                         415, "unsupported_media_type")


def list_items(tc, r):
    """Asserts a list answer (200, items, next_cursor, Link iff a next
    page) and returns (items, next_cursor)."""
    tc.assertStatus(r, 200)
    tc.assertEqual(set(r.json), {"items", "next_cursor"}, r)
    nxt = r.json["next_cursor"]
    if nxt is None:
        tc.assertIsNone(r.header("Link"), "no Link header on the last page: %r" % r)
    else:
        tc.assertIsInstance(nxt, str)
        tc.assertRegex(r.header("Link") or "", r'^<[^>]+cursor=%s>; rel="next"$' % re.escape(nxt))
    return r.json["items"], nxt


class AccountList(h.StackTestCase):
    """GET /accounts: every live account, newest first, paged."""
    WORKERS = 0

    def test_newest_first_paged_by_cursor(self):
        made = [h.sign_up(self.http, "ls")[1] for _ in range(5)]
        seen, cursor = [], None
        for _ in range(3):
            query = {"limit": 2}
            if cursor:
                query["cursor"] = cursor
            items, cursor = list_items(self, self.http.get(API + "/accounts", query=query))
            self.assertLessEqual(len(items), 2)
            seen += items
        # Nobody else signs up meanwhile: the five are the newest, in order.
        self.assertEqual([a["id"] for a in seen[:5]], [a["id"] for a in reversed(made)])
        for a in seen:
            self.assertKeys(a, PUBLIC_KEYS, forbidden={"email"})
        ids = [int(a["id"]) for a in seen]
        self.assertEqual(ids, sorted(ids, reverse=True), "newest first, no repeats")
        self.assertEqual(len(set(ids)), len(ids))

    def test_walk_to_the_last_page(self):
        live = h.sql_int("SELECT count(*) FROM accounts WHERE deleted_at IS NULL")
        if live > 20000:
            self.skipTest("too many accounts on this stack to walk")
        total, cursor, pages = 0, None, 0
        while True:
            query = {"limit": 100}
            if cursor:
                query["cursor"] = cursor
            items, cursor = list_items(self, self.http.get(API + "/accounts", query=query))
            total += len(items)
            pages += 1
            if cursor is None:
                break
        self.assertGreaterEqual(total, live)

    def test_limit_default_cap_and_errors(self):
        for _ in range(3):
            h.sign_up(self.http, "lc")
        if h.sql_int("SELECT count(*) FROM accounts WHERE deleted_at IS NULL") > 100:
            self.assertEqual(len(self.http.get(API + "/accounts").json["items"]), 20)
            r = self.http.get(API + "/accounts", query={"limit": 1000})
            self.assertEqual(len(list_items(self, r)[0]), 100, "limit capped at 100")
        for bad in ("0", "-1", "abc", "1.5", ""):
            with self.subTest(limit=bad):
                self.assertError(self.http.get(API + "/accounts?limit=" + bad), 422,
                                 "invalid_field", "limit")
        for bad in ("abc", "%00", "bm90OmFjY291bnRz"):
            with self.subTest(cursor=bad):
                self.assertError(self.http.get(API + "/accounts?cursor=" + bad), 400,
                                 "invalid_cursor", "cursor")


class AccountSearch(h.StackTestCase):
    """GET /accounts/search?q=: the answers of /search?type=accounts."""
    WORKERS = 0

    def walk(self, path, query):
        pages, cursor = [], None
        for _ in range(50):
            q = dict(query)
            if cursor:
                q["cursor"] = cursor
            r = self.http.get(path, query=q)
            items, cursor = list_items(self, r)
            pages.append((items, r.header("Link")))
            if cursor is None:
                return pages
        self.fail("more than 50 pages")

    def test_same_answers_as_search_type_accounts(self):
        prefix = h.unique("srch")[:12]
        made = []
        for i in range(5):
            name = "%s_%d" % (prefix, i)
            r = self.http.post(API + "/accounts", {"username": name, "email": name + "@example.com",
                                                   "password": "correct horse 1"})
            self.assertStatus(r, 201)
            made.append(r.json)
        # One more that matches by display name only.
        tok, other = h.sign_up(self.http, "dn")
        self.assertStatus(self.http.patch(API + "/accounts/me", {"display_name": prefix.upper()},
                                          token=tok), 200)
        ours = self.walk(API + "/accounts/search", {"q": prefix, "limit": 2})
        theirs = self.walk(API + "/search", {"q": prefix, "type": "accounts", "limit": 2})
        self.assertEqual([p[0] for p in ours], [p[0] for p in theirs])
        found = [a["id"] for p in ours for a in p[0]]
        self.assertEqual(sorted(found), sorted([m["account"]["id"] for m in made] + [other["id"]]))
        for items, link in ours[:-1]:
            self.assertTrue(link.startswith("<%s/accounts/search?q=" % API), link)
            self.assertNotIn("type=", link)
        for a in ours[0][0]:
            self.assertKeys(a, PUBLIC_KEYS, forbidden={"email"})

    def test_not_taken_for_an_account_id(self):
        # "/accounts/search" is its own route, not "/accounts/{id}" with id
        # "search" (which would be a 404).
        self.assertError(self.http.get(API + "/accounts/search"), 422, "empty", "q")
        self.assertError(self.http.get(API + "/accounts/search?q="), 422, "empty", "q")
        self.assertError(self.http.get(API + "/accounts/search?q=%20%20"), 422, "empty", "q")
        r = self.http.get(API + "/accounts/search", query={"q": "nobody_has_this_name_zz"})
        self.assertEqual(list_items(self, r), ([], None))
        self.assertError(self.http.get(API + "/accounts/search?q=a&limit=0"), 422, "invalid_field",
                         "limit")
        self.assertError(self.http.get(API + "/accounts/search?q=a&cursor=%00"), 400,
                         "invalid_cursor", "cursor")
        # The other account routes still take their ids.
        tok, a = h.sign_up(self.http, "rt")
        self.assertStatus(self.http.get(API + "/accounts/%s" % a["id"]), 200)
        self.assertStatus(self.http.get(API + "/accounts/@%s" % a["username"]), 200)


class Cursors(h.StackTestCase):
    """A cursor with bytes outside the cursor alphabet is 400 on every list
    (regression: /feed and /accounts/{id}/tweets, among others, answered
    the first page for cursor=%00 or cursor=abc%ff)."""
    WORKERS = 0

    BAD = ("%00", "abc%ff", "%ff", "ZmVlZDox%00", "%00ZmVlZDox", "ZmVl%0AZDox", "ZmVlZDox%",
           "ZmVlZDox%zz", "a" * 200, "Zm9vOjE")

    def lists(self):
        tok, a = h.sign_up(self.http, "cur")
        t = h.post_tweet(self.http, tok, "cursor #cursortag")
        acct, tweet = a["id"], t["id"]
        return tok, [
            "/accounts", "/accounts/search?q=cur", "/accounts/%s/tweets" % acct,
            "/accounts/%s/followers" % acct, "/accounts/%s/following" % acct,
            "/accounts/%s/likes" % acct, "/feed", "/tweets/%s/likes" % tweet,
            "/tweets/%s/comments" % tweet, "/notifications", "/search?q=cursor",
            "/search?q=cur&type=accounts", "/search?q=cur&type=hashtags",
            "/hashtags/cursortag/tweets", "/trending/liked"]

    def test_bad_cursor_bytes_are_400_on_every_list(self):
        tok, paths = self.lists()
        for path in paths:
            sep = "&" if "?" in path else "?"
            for bad in self.BAD:
                with self.subTest(path=path, cursor=bad):
                    r = self.http.get(API + path + sep + "cursor=" + bad, token=tok)
                    self.assertError(r, 400, "invalid_cursor", "cursor")
            with self.subTest(path=path, cursor=""):
                self.assertStatus(self.http.get(API + path + sep + "cursor=", token=tok), 200)

    def test_a_good_cursor_still_pages(self):
        h.sign_up(self.http, "cg")
        h.sign_up(self.http, "cg")
        r = self.http.get(API + "/accounts", query={"limit": 1})
        items, cursor = list_items(self, r)
        self.assertIsNotNone(cursor)
        r2 = self.http.get(API + "/accounts", query={"limit": 1, "cursor": cursor})
        items2, _ = list_items(self, r2)
        self.assertLess(int(items2[0]["id"]), int(items[0]["id"]))
        # The same cursor percent-encoded byte for byte is the same cursor.
        enc = "".join("%%%02X" % ord(c) for c in cursor)
        r3 = self.http.get(API + "/accounts?limit=1&cursor=" + enc)
        self.assertEqual(list_items(self, r3)[0], items2)


if __name__ == "__main__":
    h.main()
