#!/usr/bin/env python3
"""End-to-end in a real browser (headless Chromium, as test_browser.py): on
a profile, Mute and Block toggle to Unmute and Unblock and the API agrees;
the Blocked and muted settings page lists the account and its Unblock
button undoes the block."""

import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chirp_harness as h  # noqa: E402
import blocks_lib as bl  # noqa: E402
from test_browser import BrowserCase, By  # noqa: E402


class BrowserBlocks(BrowserCase):
    WORKERS = 1

    def button(self, d, css, text):
        return self.wait(d, lambda: next((b for b in d.find_elements(By.CSS_SELECTOR, css)
                                          if b.is_displayed() and b.is_enabled() and b.text == text),
                                         None), "%s %r" % (css, text))

    def test_block_and_mute_from_a_profile_and_undo_in_settings(self):
        ta, a = h.sign_up(self.http, "wa")
        tb, b = h.sign_up(self.http, "wb")
        d = self.browser()
        self.log_in_with_token(d, ta)
        self.go(d, "/@" + b["username"])
        self.button(d, "button.mute", "Mute").click()
        self.button(d, "button.mute", "Unmute")
        self.button(d, "button.block", "Block").click()
        h.wait_until(lambda: (bl.row(1, a["id"], b["id"]) or (False,))[0], bl.APPLY_TIMEOUT, 0.05,
                     "the block applied")
        self.assertTrue((bl.row(2, a["id"], b["id"]) or (False,))[0], "the mute applied")
        self.button(d, "button.block", "Unblock")
        self.shot(d, "profile-blocked")
        self.go(d, "/settings/blocked")
        self.wait(d, lambda: "@" + b["username"] in d.find_element(By.ID, "main").text,
                  "the blocked account listed")
        self.shot(d, "settings-blocked")
        self.button(d, "button.block", "Unblock").click()
        self.button(d, "button.block", "Block")
        h.wait_until(lambda: bl.row(1, a["id"], b["id"])[0] is False, bl.APPLY_TIMEOUT, 0.05,
                     "the unblock applied")
        self.go(d, "/settings/blocked?tab=muted")
        self.wait(d, lambda: "@" + b["username"] in d.find_element(By.ID, "main").text,
                  "the muted account listed")


if __name__ == "__main__":
    h.main()
