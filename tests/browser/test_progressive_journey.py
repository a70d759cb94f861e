"""A real Chromium starts the harvest, the library import and progressive sorting at once, sees the Sort page say
"improving" while songs are still being analysed, and ends on the refined playlists (issue 19).

The listener is the small world's biggest library (1,500 likes, matched 500 at a time, most recent first) and the
sandbox answers a little slowly (~0.1 s a call), so the import takes long enough for a first sort to appear before
it ends, as it does at the real services' limits.
"""

from __future__ import annotations

import re
import time

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import Site
from tests.browser.test_journey import Watch, login

pytestmark = pytest.mark.slow

IMPROVING_TIMEOUT_MS = 360_000
REFINED_TIMEOUT_MS = 600_000
USER = "mira.s"


def _latency(site: Site, ms: float) -> None:
    requests.post(f"{site.sandbox.url}/__sandbox__/profile", timeout=10,
                  json={"profile": "default", "latency_ms": ms, "latency_jitter_ms": ms / 2}).raise_for_status()


def _jobs(site: Site) -> str:
    """The jobs as the store has them, for a failure's message."""
    from sqlalchemy import select

    from app.extensions import db
    from app.storage.tables import Job

    with site.app.app_context():
        return "; ".join(f"{job.kind} {job.status} {job.progress} {(job.log or [])[-2:]}"
                         for job in db.session.scalars(select(Job).order_by(Job.created_at)))


@pytest.mark.parametrize("site", ["generated"], indirect=True)
def test_the_sort_page_says_improving_then_ends_on_the_refined_playlists(site: Site, browser, browser_context_args):
    journey = site.journey
    context = browser.new_context(**browser_context_args)
    watch = Watch(context)
    page = context.new_page()
    page.set_default_timeout(20_000)
    _latency(site, 100)
    try:
        login(page, site, USER)

        # Contexts: the harvest starts; the import need not wait for it.
        page.get_by_role("link", name="Contexts").first.click()
        page.wait_for_url(site.url + "/app/contexts")
        page.fill("#context-input", ", ".join(journey.contexts))
        page.click("#context-add")
        page.fill("#harvest-playlists", str(journey.playlists))
        page.fill("#harvest-tracks", str(journey.tracks))
        page.click("#harvest-start")
        # The Model page offers the contexts that have labels: wait until labelling is over and analysis has begun.
        analysing = page.locator("#harvest-progress [role=progressbar][aria-label*='enriched']")
        deadline = time.monotonic() + 120
        while not analysing.count():
            assert "finished" not in page.locator("#harvest-status").inner_text(), \
                "the harvest finished before the import started: nothing would be progressive here"
            assert time.monotonic() < deadline, "the harvest labelled nothing in 120 s"
            page.wait_for_timeout(250)

        page.get_by_role("link", name="Library", exact=True).first.click()
        page.wait_for_url(site.url + "/app/library")
        page.click("#library-import")
        expect(page.locator("#library-status")).to_contain_text(re.compile("running|waiting"))

        # Model: start now and improve (best effort, so this small harvest's playlists have songs to show).
        page.get_by_role("link", name="Model").first.click()
        page.wait_for_url(site.url + "/app/model")
        page.locator("#model-best-effort input[type=checkbox]").check()
        page.click("#refine-start")
        expect(page.locator("#refine-status")).to_contain_text(re.compile("running|waiting"))
        watch.assert_clean("model")

        # Sort: the first playlists say what they rest on and that they are improving.
        page.get_by_role("link", name="Library & sort").first.click()
        page.wait_for_url(site.url + "/app/sort")
        rests_on = page.locator("#refine-rests-on")
        deadline = time.monotonic() + IMPROVING_TIMEOUT_MS / 1000
        while "improving" not in rests_on.inner_text():
            assert "everything that could be analysed" not in rests_on.inner_text(), \
                "the refinement ended before a first sort was shown as improving"
            assert time.monotonic() < deadline, f"no improving sort shown: {rests_on.inner_text()!r}; {_jobs(site)}"
            page.wait_for_timeout(1000)  # the page polls every 5 s while a refinement is at work
        early = rests_on.inner_text()
        assert re.search(r"rest on [\d,]+ of [\d,]+ training songs analysed, [\d,]+ of your [\d,]+ songs; improving",
                         early), early
        expect(page.locator(".playlist-panel").first).to_be_visible()
        page.screenshot(path=str(site.instance_dir / "progressive-improving.png"))

        # The harvest and the import end; the last round replaces the sort on this same page.
        expect(rests_on).to_contain_text("everything that could be analysed", timeout=REFINED_TIMEOUT_MS)
        final = rests_on.inner_text()
        assert "improving" not in final and final != early
        expect(page.locator(".playlist-panel").first).to_be_visible()
        assert any(panel.locator("tbody tr").count() for panel in page.locator(".playlist-panel").all()), \
            "the refined playlists hold no song"
        watch.assert_clean("sort")
    finally:
        _latency(site, 0)
        context.close()
