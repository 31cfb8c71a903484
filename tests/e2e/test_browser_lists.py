#!/usr/bin/env python3
"""End-to-end in a real browser (headless Chromium, as test_browser.py): the
Lists page creates, opens, renames and deletes a list; a profile's list
control adds the account, and the list's timeline then shows its tweet."""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402
from test_browser import BrowserCase, By  # noqa: E402

API = h.API


class BrowserLists(BrowserCase):
    def test_lists_page_and_profile_control(self):
        token, me = h.sign_up(self.http, "lo")
        atok, author = h.sign_up(self.http, "la")
        tweet = h.post_tweet(self.http, atok, "a tweet for the list")
        d = self.browser(1000, 900)
        self.log_in_with_token(d, token)
        self.go(d, "/lists")
        self.type_into(self.find(d, ".new-list input[name=title]"), "browser list")
        self.find(d, ".new-list button[type=submit]").click()
        link = self.find(d, ".list-row a")
        self.assertEqual(link.text, "browser list")
        lid = link.get_attribute("href").rsplit("/", 1)[1]
        h.wait_until(lambda: self.http.get(API + "/lists", token=token).json["items"], 20, 0.2,
                     "the list applied")
        # Add the author from their profile.
        self.go(d, "/@" + author["username"])
        self.find(d, ".list-control select")
        buttons = d.find_elements(By.CSS_SELECTOR, ".list-control button")
        buttons[0].click()  # Add to list
        h.wait_until(lambda: self.http.get(API + "/lists/%s/members" % lid,
                                           token=token).json["items"], 20, 0.2, "member applied")
        self.go(d, "/lists/" + lid)
        self.wait(d, lambda: self.card_with(d, "a tweet for the list") is not None,
                  "the member's tweet in the list timeline")
        self.shot(d, "list-timeline")
        # Rename, then delete, on the Lists page.
        self.go(d, "/lists")
        self.find(d, ".list-row button").click()  # Rename
        self.type_into(self.find(d, ".list-row input[name=title]"), "renamed list")
        self.find(d, ".list-row button[type=submit]").click()
        self.wait(d, lambda: d.find_element(By.CSS_SELECTOR, ".list-row a").text == "renamed list",
                  "the new title")
        self.find(d, ".list-row button:nth-of-type(2)").click()  # Delete
        self.wait(d, lambda: not d.find_elements(By.CSS_SELECTOR, ".list-row"), "the row gone")
        self.assertEqual(self.http.get(API + "/lists/" + lid, token=token).status, 404)
        self.assertIsNotNone(tweet["id"])


if __name__ == "__main__":
    h.main()
