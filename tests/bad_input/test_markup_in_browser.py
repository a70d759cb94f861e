"""In a real Chromium: context names made of HTML and JavaScript show as text on the Contexts page and never run."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import (  # noqa: F401  (fixtures: Debian's Chromium and the served app)
    Site, browser_context_args, browser_type_launch_args, site,
)

NAMES = ['<img src=x onerror="window.__pwned=1;alert(1)">', "<script>window.__pwned=2;alert(2)</script>",
         "<svg onload=alert(3)>", "javascript:alert(4)"]


def test_markup_names_are_shown_literally_and_no_script_runs(site: Site, browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    dialogs, console = [], []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("console", lambda message: console.append(message.text))

    page.goto(site.url + "/")
    page.get_by_role("link", name="Log in with the sandbox").first.click()
    page.wait_for_url(re.compile(re.escape(site.sandbox.url) + r"/accounts/authorize"))
    page.check("input[name=user_id][value='mira.s']")
    page.get_by_role("button", name="Agree").click()
    page.wait_for_url(site.url + "/app/")
    page.get_by_role("link", name="Contexts").first.click()
    page.wait_for_url(site.url + "/app/contexts")

    chips = page.locator("#context-chips .chip-name")
    for added, name in enumerate(NAMES, start=1):  # one at a time: the page splits what is typed on commas
        page.fill("#context-input", name)
        page.click("#context-add")
        # The add callback reads the chips as they are: wait for each before typing the next, as a person would.
        expect(chips).to_have_count(added)
    expect(chips).to_have_count(len(NAMES))
    assert chips.all_text_contents() == NAMES, "each name is shown exactly as typed, as text"
    assert page.locator("#context-chips img, #context-chips script, #context-chips svg").count() == 0
    page.wait_for_timeout(500)  # an onerror/onload would have fired by now
    assert page.evaluate("window.__pwned") is None
    assert dialogs == [] and not [line for line in console if "pwned" in line]
    context.close()
