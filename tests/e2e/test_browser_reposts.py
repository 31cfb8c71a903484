#!/usr/bin/env python3
"""End-to-end in a real browser (headless Chromium, as test_browser.py): a
tweet reposted by a followed account shows in the home feed as the original
with "Reposted by"; the repost button's count moves at once and the repost
is applied; the Quote action posts a quoting tweet, which shows the quoted
tweet inside its card."""

import os
import sys
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402
from test_browser import BrowserCase, By  # noqa: E402
from test_feed import follows_active  # noqa: E402

API = h.API
APPLY = 20.0


class BrowserReposts(BrowserCase):
    def test_repost_and_quote_from_the_feed(self):
        token, me = h.sign_up(self.http, "bro")
        rtok, reposter = h.sign_up(self.http, "brr")
        atok, author = h.sign_up(self.http, "bra")
        self.assertStatus(self.http.post(API + "/accounts/%s/follow" % reposter["id"], token=token),
                          202)
        h.wait_until(lambda: follows_active(me["id"], reposter["id"]), APPLY, 0.05, "the follow")
        text = "reposted in a browser " + uuid.uuid4().hex[:8]
        tweet = h.post_tweet(self.http, atok, text)
        self.assertStatus(self.http.post(API + "/tweets/%s/repost" % tweet["id"], token=rtok), 202)
        h.wait_until(lambda: any(i["id"] == tweet["id"] for i in
                                 self.http.get(API + "/feed", token=token).json["items"]),
                     APPLY, 0.1, "the repost in the reader's feed")
        d = self.browser(1000, 900)
        self.log_in_with_token(d, token)
        self.go(d, "/")
        card = self.wait(d, lambda: self.card_with(d, text), "the reposted tweet's card")
        self.assertIn(reposter["username"],
                      card.find_element(By.CSS_SELECTOR, ".reposted-by a").get_attribute("href"))
        btn = card.find_element(By.CSS_SELECTOR, "button.repost")
        self.assertEqual(btn.get_attribute("aria-pressed"), "false")
        self.assertEqual(btn.find_element(By.CSS_SELECTOR, ".count").text, "1")
        btn.click()
        self.wait(d, lambda: btn.get_attribute("aria-pressed") == "true" and
                  btn.find_element(By.CSS_SELECTOR, ".count").text == "2", "the count moved at once")
        h.wait_until(lambda: self.http.get(API + "/tweets/%s" % tweet["id"],
                                           token=token).json["reposted_by_me"], APPLY, 0.1,
                     "the repost applied")
        self.shot(d, "repost")
        # Quote it from the same card.
        card.find_element(By.CSS_SELECTOR, "button.quote-action").click()
        form = self.find(d, ".quote-compose form.compose")
        quote_text = "my quote " + uuid.uuid4().hex[:8]
        self.type_into(form.find_element(By.CSS_SELECTOR, "textarea[name=text]"), quote_text)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        h.wait_until(lambda: any(i["text"] == quote_text and i.get("quote_of") == tweet["id"] for i in
                                 self.http.get(API + "/accounts/%s/tweets" % me["id"],
                                               token=token).json["items"]),
                     APPLY, 0.1, "the quoting tweet stored")
        self.go(d, "/@" + me["username"])
        qcard = self.wait(d, lambda: self.card_with(d, quote_text), "the quoting tweet's card")
        inner = qcard.find_element(By.CSS_SELECTOR, "a.quote")
        self.assertIn(text, inner.text)
        self.shot(d, "quote")


if __name__ == "__main__":
    h.main()
