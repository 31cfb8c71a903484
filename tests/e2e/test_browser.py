#!/usr/bin/env python3
"""End-to-end in a real browser: headless Chromium (Debian's chromium and
chromium-driver, driven by python3-selenium) against a gateway and workers
on the test stack.

Two people sign up in two browser sessions, follow each other; one posts a
poll and the other sees it arrive live (skipped, with the reason, while the
gateway has no stream), likes it, votes and comments; the first sees the
notifications badge move.  Endless scrolling walks 60 tweets with no
duplicate while new ones are posted; a 422 shows at its field; the phone
width has no horizontal scroll.  Screenshots of the main pages go to the
test's log folder."""

import os
import socket
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402

try:
    import selenium  # noqa: F401
except ImportError:  # a python3 other than Debian's: use Debian's package
    sys.path.append("/usr/lib/python3/dist-packages")
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

API = h.API
CHROMIUM = os.environ.get("CHIRP_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHIRP_CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT = 20  # seconds for anything the page must show


def shots_dir():
    d = os.path.join(h.log_dir(), "screenshots")
    os.makedirs(d, exist_ok=True)
    return d


def stream_status(port, token):
    """The status of GET /streaming/user (only the status line is read)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(("GET %s/streaming/user?access_token=%s HTTP/1.1\r\nHost: x\r\n"
                   "Accept: text/event-stream\r\nConnection: close\r\n\r\n" % (API, token)).encode())
        line = b""
        while not line.endswith(b"\r\n"):
            chunk = s.recv(1)
            if not chunk:
                break
            line += chunk
    parts = line.split(b" ")
    return int(parts[1]) if len(parts) > 1 else 0


class BrowserCase(h.StackTestCase):
    """The browser helpers (no tests of its own)."""

    # -- the browser --
    def browser(self, width=1000, height=900):
        o = Options()
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--no-first-run", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--window-size=%d,%d" % (width, height),
                  "--user-data-dir=" + tempfile.mkdtemp(prefix="chirp-chromium-")):
            o.add_argument(a)
        o.binary_location = CHROMIUM
        o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
        if width < 500:  # narrower than a headless window can be: emulate a phone's screen
            d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                              {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": True})
        d.set_page_load_timeout(30)
        self.addCleanup(d.quit)
        self.addCleanup(self.check_console, d)
        return d

    def check_console(self, d):
        """No script error and no CSP refusal in the page's console (the
        stream's 404 before it exists is expected)."""
        bad = []
        for e in d.get_log("browser"):
            msg = e.get("message", "")
            if e.get("level") != "SEVERE" or "/streaming/user" in msg:
                continue
            if "Content Security Policy" in msg or "Uncaught" in msg or "SyntaxError" in msg:
                bad.append(msg)
        self.assertEqual(bad, [], "errors in the browser console")

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.stack.port, path)

    def go(self, d, path):
        d.get(self.url(path))
        self.wait(d, lambda: d.execute_script("return document.readyState") == "complete")

    def wait(self, d, cond, what="condition", timeout=WAIT):
        def safe(_):
            try:
                return cond()
            except StaleElementReferenceException:
                return False
        try:
            return WebDriverWait(d, timeout, 0.1).until(safe)
        except TimeoutException:
            self.shot(d, "timeout")
            raise AssertionError("timed out after %ss waiting for %s at %s" % (timeout, what, d.current_url))

    def find(self, d, css, timeout=WAIT):
        return self.wait(d, lambda: next((e for e in d.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()), None),
                         "visible %s" % css, timeout)

    def shot(self, d, name):
        path = os.path.join(shots_dir(), name + ".png")
        d.save_screenshot(path)
        return path

    def log_in_with_token(self, d, token):
        self.go(d, "/login")
        d.execute_script("localStorage.setItem('chirp.token', arguments[0])", token)

    def type_into(self, el, text):
        el.clear()
        el.send_keys(text)

    def sign_up(self, d, name):
        self.go(d, "/signup")
        self.type_into(self.find(d, "input[name=username]"), name)
        self.type_into(self.find(d, "input[name=email]"), name.lower() + "@example.com")
        self.type_into(self.find(d, "input[name=password]"), "correct horse 1")
        self.find(d, "form button[type=submit]").click()
        self.find(d, "#logout")
        self.wait(d, lambda: d.current_url == self.url("/"), "the home page after sign-up")
        return d.execute_script("return localStorage.getItem('chirp.token')")

    def follow(self, d, username):
        self.go(d, "/@" + username)
        btn = self.wait(d, lambda: next((b for b in d.find_elements(By.CSS_SELECTOR, "button.follow")
                                         if b.is_enabled() and b.text == "Follow"), None), "Follow button")
        btn.click()
        self.wait(d, lambda: d.find_element(By.CSS_SELECTOR, "button.follow").text == "Unfollow", "Unfollow")

    def card_with(self, d, text):
        for art in d.find_elements(By.CSS_SELECTOR, "article.tweet"):
            if text in art.find_element(By.CSS_SELECTOR, ".text").text:
                return art
        return None

    def badge(self, d):
        b = d.find_element(By.ID, "badge")
        return int(b.text or 0) if b.is_displayed() else 0



class Browser(BrowserCase):
    WORKERS = 1
    # A like is notified when the batcher flushes it: soon, here.
    ENV = {"CHIRP_LIKES_FLUSH_AGE_MS": "1500"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The notify queue of a shared stack may hold other tests' backlog.
        h.wait_notify_idle(cls.http, 120)

    def test_two_people(self):
        a, b = self.browser(), self.browser()
        na, nb = h.unique("ann"), h.unique("ben")
        ta = self.sign_up(a, na)
        tb = self.sign_up(b, nb)
        acct_a = self.http.get(API + "/accounts/@" + na).json
        acct_b = self.http.get(API + "/accounts/@" + nb).json
        self.follow(a, nb)
        self.follow(b, na)
        h.wait_until(lambda: self.http.get(API + "/accounts/%s/following" % acct_b["id"]).json["items"],
                     20, 0.2, "ben's follow applied")
        h.wait_until(lambda: self.http.get(API + "/accounts/%s/following" % acct_a["id"]).json["items"],
                     20, 0.2, "ann's follow applied")
        live = stream_status(self.stack.port, ta) == 200

        # Ann reads her home feed; Ben posts a poll.
        self.go(a, "/")
        self.find(a, "textarea[name=text]")
        self.go(b, "/")
        text = "lunch poll %s #chirpe2e" % h.unique("t")
        self.type_into(self.find(b, "textarea[name=text]"), text)
        self.find(b, ".compose .check label").click()  # "Add a poll"
        opts = [e for e in b.find_elements(By.CSS_SELECTOR, "input[name='poll.options']")]
        opts[0].send_keys("soup")
        opts[1].send_keys("salad")
        self.find(b, ".compose button[type=submit]").click()
        self.wait(b, lambda: self.card_with(b, text), "Ben's own tweet at the top")

        with self.subTest(step="the tweet arrives live"):
            if not live:
                self.skipTest("GET /api/v1/streaming/user is not served by this gateway (404): "
                              "no live updates to check")
            bar = self.find(a, ".new-bar")
            self.assertEqual(bar.text, "Show 1 new tweet")
            self.assertIsNone(self.card_with(a, text), "a live tweet waits behind the bar")
            bar.click()
            self.wait(a, lambda: self.card_with(a, text), "the new tweet after the bar's click")
        if not self.card_with(a, text):  # without a stream: the next visit shows it
            h.wait_until(lambda: any(t["text"] == text for t in
                                     self.http.get(API + "/feed", token=ta).json["items"]),
                         20, 0.2, "the tweet in Ann's feed")
            self.go(a, "/")
        # The card with its poll (found anew: a live card may be redrawn once
        # its poll is known).
        card = self.wait(a, lambda: (lambda c: c if c and c.find_elements(By.CSS_SELECTOR, ".ballot") else None)(
            self.card_with(a, text)), "Ben's tweet with its poll in Ann's feed")
        before = self.badge(b)

        # Ann likes it: the count moves at once, then settles on the answer.
        like = card.find_element(By.CSS_SELECTOR, "button.like")
        self.assertEqual(like.get_attribute("aria-pressed"), "false")
        like.click()
        self.assertEqual(like.get_attribute("aria-pressed"), "true")
        self.assertEqual(like.find_element(By.CSS_SELECTOR, ".count").text, "1")
        tweet_id = card.get_attribute("data-id")
        h.wait_until(lambda: self.http.get(API + "/tweets/" + tweet_id, token=ta).json["liked_by_me"],
                     20, 0.2, "the like applied")
        self.assertEqual(like.find_element(By.CSS_SELECTOR, ".count").text, "1")

        # Ann votes.
        card.find_elements(By.CSS_SELECTOR, ".ballot label")[1].click()  # salad
        card.find_element(By.CSS_SELECTOR, ".ballot button[type=submit]").click()
        results = self.wait(a, lambda: card.find_element(By.CSS_SELECTOR, ".results"), "the poll's results")
        self.assertIn("100% (1)", results.find_elements(By.CSS_SELECTOR, "li")[1].text)
        self.assertIn("you voted", card.find_element(By.CSS_SELECTOR, ".poll .meta").text)

        # Ann comments on the tweet's page.
        card.find_element(By.CSS_SELECTOR, "a.time").click()
        self.wait(a, lambda: a.current_url == self.url("/tweets/" + tweet_id), "the tweet's page")
        comment = "looks good %s" % h.unique("c")
        self.type_into(self.find(a, ".comment-form textarea[name=text]"), comment)
        self.find(a, ".comment-form button[type=submit]").click()
        self.wait(a, lambda: any(comment in c.text for c in a.find_elements(By.CSS_SELECTOR, "article.comment")),
                  "the comment on the page")
        h.wait_until(lambda: self.http.get(API + "/tweets/%s/comments" % tweet_id).json["items"], 20, 0.2,
                     "the comment applied")
        self.go(a, "/tweets/" + tweet_id)
        self.wait(a, lambda: any(comment in c.text for c in a.find_elements(By.CSS_SELECTOR, "article.comment")),
                  "the comment after a reload")
        self.shot(a, "tweet")

        # Ben's notifications badge moves (like and comment).
        try:
            h.wait_until(lambda: self.http.get(API + "/notifications/unread_count", token=tb).json["count"]
                         >= before + 2, 30, 0.2, "Ben's notifications")
        except AssertionError as e:
            raise AssertionError("%s: before=%d, now %r" % (e, before, self.http.get(API + "/notifications", token=tb).json))
        with self.subTest(step="the badge moves live"):
            if not live:
                self.skipTest("GET /api/v1/streaming/user is not served by this gateway (404): "
                              "the badge moves on the next visit instead")
            self.wait(b, lambda: self.badge(b) >= before + 2, "the badge moving live")
        if self.badge(b) < before + 2:
            self.go(b, "/")
            self.wait(b, lambda: self.badge(b) >= before + 2, "the badge after a visit")
        self.find(b, "#nav-notifications").click()
        self.wait(b, lambda: len(b.find_elements(By.CSS_SELECTOR, "article.notification.unread")) >= 3,
                  "unread notifications (follow, like, comment)")
        kinds = {e.get_attribute("data-type") for e in b.find_elements(By.CSS_SELECTOR, "article.notification")}
        self.assertTrue({"follow", "like", "comment"} <= kinds, kinds)
        self.shot(b, "notifications")
        unread = len(b.find_elements(By.CSS_SELECTOR, "article.notification.unread"))
        count = self.badge(b)
        b.find_element(By.CSS_SELECTOR, "article.notification.unread button.link").click()  # Mark read
        self.wait(b, lambda: len(b.find_elements(By.CSS_SELECTOR, "article.notification.unread")) == unread - 1,
                  "one notification read")
        self.wait(b, lambda: self.badge(b) == count - 1, "the badge one lower")
        self.find(b, ".page-head button").click()  # Mark all read
        self.wait(b, lambda: self.badge(b) == 0 and not b.find_elements(By.CSS_SELECTOR, ".notification.unread"),
                  "everything read")
        self.assertEqual(self.http.get(API + "/notifications/unread_count", token=tb).json["count"], 0)

        # Profile and search pages, for the record.
        self.go(a, "/@" + nb)
        self.find(a, "article.tweet")
        self.assertNotIn("null", self.find(a, ".profile").text)  # no bio: nothing, not "null"
        self.shot(a, "profile")
        self.go(a, "/search?q=lunch&type=tweets")
        self.wait(a, lambda: self.card_with(a, text), "the tweet in search results")
        self.shot(a, "search")
        self.go(a, "/search?q=" + nb + "&type=accounts")
        self.wait(a, lambda: any(nb in e.text for e in a.find_elements(By.CSS_SELECTOR, "article.account")),
                  "Ben among the accounts found")
        self.go(a, "/tags/chirpe2e")
        self.wait(a, lambda: self.card_with(a, text), "the tweet on its hashtag's page")
        self.go(a, "/@%s/followers" % nb)
        self.wait(a, lambda: any(na in e.text for e in a.find_elements(By.CSS_SELECTOR, "article.account")),
                  "Ann among Ben's followers")

        # Ann edits her own profile.
        self.go(a, "/@" + na)
        self.find(a, "button.edit").click()
        self.type_into(self.find(a, "input[name=display_name]"), "Ann Example")
        self.type_into(self.find(a, "textarea[name=bio]"), "Trying Chirp in a real browser.")
        self.find(a, ".edit-profile button[type=submit]").click()
        self.wait(a, lambda: a.find_element(By.CSS_SELECTOR, ".profile h1").text == "Ann Example",
                  "the new display name")
        self.assertEqual(self.http.get(API + "/accounts/@" + na).json["display_name"], "Ann Example")

        # Ann's home page with a few more tweets: the README's picture.
        self.assertStatus(self.http.patch(API + "/accounts/me", {"display_name": "Ben Baker"}, token=tb), 200)
        more = ["Good morning! Coffee first, then code review. #monday",
                "Chirp now has a web client: plain HTML, CSS and ES modules, no build step. @" + na]
        for t in more:
            self.assertStatus(self.http.post(API + "/tweets", {"text": t}, token=tb), 202)
        h.wait_until(lambda: sum(t["text"] in more for t in self.http.get(API + "/feed", token=ta).json["items"]) == 2,
                     20, 0.2, "the new tweets in Ann's feed")
        self.go(a, "/")
        self.wait(a, lambda: self.card_with(a, more[1]) and self.card_with(a, text), "Ann's feed")
        time.sleep(0.5)  # the poll's results and the authors' names
        self.shot(a, "home")

    def test_endless_scroll_walks_60_tweets_once(self):
        token, acct = h.sign_up(self.http, "scroll")
        posted = []
        for i in range(60):
            r = self.http.post(API + "/tweets", {"text": "scroll tweet %02d" % i}, token=token)
            self.assertStatus(r, 202)
            posted.append(r.json["id"])
        h.wait_until(lambda: len(self.http.get(API + "/feed", token=token, query={"limit": 100}).json["items"]) >= 60,
                     60, 0.3, "60 tweets in the feed")
        d = self.browser(1000, 900)
        self.log_in_with_token(d, token)
        self.go(d, "/")
        self.wait(d, lambda: len(d.find_elements(By.CSS_SELECTOR, "ul.items > li")) >= 20, "the first page")
        # New tweets arrive while one scrolls: they must neither repeat nor
        # push older ones into a second appearance.
        for i in range(3):
            self.http.post(API + "/tweets", {"text": "late tweet %d" % i}, token=token)
        seen_counts = []
        for _ in range(40):
            n = len(d.find_elements(By.CSS_SELECTOR, "ul.items > li"))
            seen_counts.append(n)
            if n >= 60 and not d.find_element(By.CSS_SELECTOR, ".endless > .more").is_displayed():
                break
            d.execute_script("window.scrollTo(0, document.documentElement.scrollHeight)")
            time.sleep(0.4)
        ids = d.execute_script("return [...document.querySelectorAll('ul.items > li')].map(li => li.dataset.id)")
        self.assertEqual(len(ids), len(set(ids)), "a tweet shown twice")
        self.assertTrue(set(posted) <= set(ids), "missing: %s" % sorted(set(posted) - set(ids)))
        self.assertGreater(len([c for c in seen_counts if c < 60]), 0, "it loaded in pages")
        texts = d.execute_script("return [...document.querySelectorAll('ul.items .text')].map(p => p.textContent)")
        self.assertFalse([t for t in texts if t.startswith("late tweet")],
                         "tweets newer than the first page appear only through the new-tweets bar")

    def test_errors_show_at_their_field(self):
        d = self.browser(1000, 900)
        self.go(d, "/signup")
        self.type_into(self.find(d, "input[name=username]"), "not valid!")
        self.type_into(self.find(d, "input[name=email]"), "x@example.com")
        self.type_into(self.find(d, "input[name=password]"), "correct horse 1")
        self.find(d, "form button[type=submit]").click()
        user = d.find_element(By.CSS_SELECTOR, "input[name=username]")
        err = self.wait(d, lambda: d.find_element(By.ID, user.get_attribute("id") + "-err").text and
                        d.find_element(By.ID, user.get_attribute("id") + "-err"), "the username's error")
        self.assertIn("username", err.text)
        self.assertEqual(user.get_attribute("aria-invalid"), "true")
        self.assertIn(err.get_attribute("id"), user.get_attribute("aria-describedby"))
        self.assertEqual(user.get_attribute("value"), "not valid!", "what was typed is kept")
        self.shot(d, "signup-422")

        # The composer: code points counted, and a 422 on text at the text.
        token, _ = h.sign_up(self.http, "err")
        self.log_in_with_token(d, token)
        self.go(d, "/")
        text = self.find(d, "textarea[name=text]")
        text.send_keys("\U0001F426" * 3)  # three birds: 3 code points, 6 UTF-16 units
        self.wait(d, lambda: d.find_element(By.CSS_SELECTOR, ".counter").text == "277 left", "277 left")
        d.execute_script("arguments[0].value = '   '; arguments[0].dispatchEvent(new Event('input'))", text)
        self.find(d, ".compose button[type=submit]").click()
        terr = self.wait(d, lambda: d.find_element(By.ID, text.get_attribute("id") + "-err").text and
                         d.find_element(By.ID, text.get_attribute("id") + "-err"), "the text's error")
        self.assertTrue(terr.text)
        self.assertEqual(text.get_attribute("aria-invalid"), "true")

    def test_edit_history_and_delete_own_tweet(self):
        token, acct = h.sign_up(self.http, "edit")
        r = self.http.post(API + "/tweets", {"text": "first words"}, token=token)
        self.assertStatus(r, 202)
        tid = r.json["id"]
        h.wait_until(lambda: self.http.get(API + "/tweets/" + tid).status == 200, 20, 0.2, "the tweet stored")
        d = self.browser(1000, 900)
        self.log_in_with_token(d, token)
        self.go(d, "/tweets/" + tid)
        self.find(d, ".main-tweet .row button").click()  # Edit
        self.type_into(self.find(d, ".editor textarea[name=text]"), "second words")
        self.find(d, ".editor button[type=submit]").click()
        self.wait(d, lambda: d.find_element(By.CSS_SELECTOR, ".main-tweet .text").text == "second words", "the edit")
        h.wait_until(lambda: len(self.http.get(API + "/tweets/%s/history" % tid).json["items"]) == 2, 20, 0.2,
                     "the edit stored")
        self.go(d, "/tweets/" + tid)
        hist = self.find(d, "#history")
        self.assertIn("first words", hist.text)
        self.assertIn("second words", hist.text)
        self.shot(d, "tweet-history")
        self.find(d, ".main-tweet button.danger").click()  # Delete
        d.switch_to.alert.accept()
        self.wait(d, lambda: d.current_url == self.url("/"), "home after the delete")
        h.wait_until(lambda: self.http.get(API + "/tweets/" + tid).status == 404, 20, 0.2, "the tweet deleted")

    def test_thread_bookmark_and_pin(self):
        token, acct = h.sign_up(self.http, "thr")
        root = h.post_tweet(self.http, token, "thread root words")["id"]
        mid = h.post_tweet(self.http, token, "thread middle words", reply_to=root)["id"]
        leaf = h.post_tweet(self.http, token, "thread leaf words", reply_to=mid)["id"]
        h.wait_until(lambda: len(self.http.get(API + "/tweets/%s/context" % mid).json["descendants"]) == 1,
                     20, 0.2, "the thread stored")
        d = self.browser(1000, 900)
        self.log_in_with_token(d, token)
        self.go(d, "/tweets/" + mid)
        # Ancestors above the tweet, replies below.
        self.wait(d, lambda: "thread root words" in self.find(d, ".thread-up").text, "the ancestor")
        self.wait(d, lambda: "thread leaf words" in self.find(d, "#thread").text, "the reply")
        # Bookmark the leaf from its card; the Bookmarks page lists it.
        card = self.wait(d, lambda: next((c for c in d.find_elements(By.CSS_SELECTOR, "#thread article.tweet")
                                          if "thread leaf words" in c.text), None), "the reply's card")
        card.find_element(By.CSS_SELECTOR, "button.bookmark").click()
        self.wait(d, lambda: card.find_element(By.CSS_SELECTOR, "button.bookmark").get_attribute("aria-pressed") == "true",
                  "bookmarked")
        self.find(d, "#nav-bookmarks").click()
        self.wait(d, lambda: self.card_with(d, "thread leaf words"), "the bookmark listed")
        # Pin the root on one's profile: it comes first, marked.
        self.go(d, "/tweets/" + root)
        self.find(d, ".main-tweet button.pin").click()
        self.wait(d, lambda: self.find(d, ".main-tweet button.pin").text == "Unpin", "pinned")
        self.go(d, "/@" + acct["username"])
        first = self.wait(d, lambda: d.find_elements(By.CSS_SELECTOR, "article.tweet")[0], "the profile's tweets")
        self.wait(d, lambda: "Pinned" in first.text and "thread root words" in first.text, "the pinned tweet first")
        self.assertEqual(leaf, self.http.get(API + "/bookmarks", token=token).json["items"][0]["id"])

    def test_phone_width_has_no_horizontal_scroll(self):
        token, acct = h.sign_up(self.http, "phone")
        long = "a-very-long-word-without-spaces-" * 6 + " https://example.com/" + "x" * 120 + " #phone"
        r = self.http.post(API + "/tweets", {"text": long[:280], "poll": {"options": ["yes", "no"],
                                                                         "expires_in": 3600}}, token=token)
        self.assertStatus(r, 202)
        tid = r.json["id"]
        h.wait_until(lambda: self.http.get(API + "/feed", token=token).json["items"], 20, 0.2, "the feed")
        d = self.browser(375, 800)
        self.go(d, "/signup")
        self.shot(d, "phone-signup")
        self.log_in_with_token(d, token)
        for name, path, css in (("phone-home", "/", "article.tweet"),
                                ("phone-profile", "/@" + acct["username"], "article.tweet"),
                                ("phone-tweet", "/tweets/" + tid, "article.tweet"),
                                ("phone-notifications", "/notifications", ".page-head"),
                                ("phone-search", "/search?q=phone&type=hashtags", "form.search"),
                                ("phone-docs", "/docs", "body")):
            with self.subTest(page=path):
                self.go(d, path)
                self.find(d, css)
                time.sleep(0.3)
                sw, cw = d.execute_script("return [document.documentElement.scrollWidth,"
                                          " document.documentElement.clientWidth]")
                self.shot(d, name)
                self.assertLessEqual(sw, cw, "horizontal scroll on %s" % path)
                self.assertLessEqual(cw, 375)  # the page really is phone-wide

    def test_keyboard_alone_posts_a_tweet(self):
        token, _ = h.sign_up(self.http, "keys")
        d = self.browser(1000, 900)
        self.log_in_with_token(d, token)
        self.go(d, "/")
        self.find(d, "textarea[name=text]")
        # Tab from the top of the page to the composer, type, Tab to the button, Enter.
        active = lambda: d.switch_to.active_element  # noqa: E731
        keys = lambda k: ActionChains(d).send_keys(k).perform()  # noqa: E731
        d.execute_script("document.activeElement && document.activeElement.blur()")
        for _ in range(30):
            keys(Keys.TAB)
            if active().get_attribute("name") == "text":
                break
        self.assertEqual(active().get_attribute("name"), "text", "the composer is reachable by Tab")
        keys("typed with the keyboard only")
        for _ in range(6):
            keys(Keys.TAB)
            if active().text == "Tweet":
                break
        self.assertEqual(active().text, "Tweet")
        keys(Keys.ENTER)
        self.wait(d, lambda: self.card_with(d, "typed with the keyboard only"), "the tweet posted")
        labels = d.execute_script(
            "return [...document.querySelectorAll('input:not([type=hidden]), textarea, select')]"
            ".filter(c => !(c.labels && c.labels.length) && !c.getAttribute('aria-label')).map(c => c.outerHTML)")
        self.assertEqual(labels, [], "controls without a label")


class BrowserRateLimited(BrowserCase):
    """A 429 says when to retry, and keeps what was typed."""
    WORKERS = 0
    ROLES = ()
    ENV = {"CHIRP_RATE_LOGIN": "2", "CHIRP_RATE_WINDOW": "60"}

    def test_429_says_when_to_retry(self):
        d = self.browser(1000, 900)
        self.go(d, "/login")
        login = self.find(d, "input[name=login]")
        self.type_into(login, "nobody_here")
        self.type_into(self.find(d, "input[name=password]"), "wrong password 1")
        top = d.find_element(By.CSS_SELECTOR, "form .form-error")
        for _ in range(3):
            self.find(d, "form button[type=submit]").click()
            self.wait(d, lambda: top.text, "an answer to the log-in")
            if "Too many requests" in top.text:
                break
            self.assertEqual(top.text, "Wrong username or password.")
            d.execute_script("arguments[0].textContent = ''", top)
        self.assertRegex(top.text, r"^Too many requests\. Try again in \d+ seconds?\.$")
        self.assertEqual(login.get_attribute("value"), "nobody_here")
        self.shot(d, "login-429")


if __name__ == "__main__":
    h.main()
