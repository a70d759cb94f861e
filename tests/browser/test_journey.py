"""A real Chromium walks the whole product against the sandbox: login, harvest, explore, train, import, sort, save, export, log out."""

from __future__ import annotations

import csv
import json
import re
import time
from collections import defaultdict

import pytest
import requests
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from tests.browser.conftest import ARTIFACTS, Site
from tests.browser.plotly_checks import SUMMARY_JS, figure_problem
from tests.browser.tour import Step, write_steps

pytestmark = pytest.mark.slow

JOB_TIMEOUT_S = 90
# Callbacks answer in well under a second on an idle machine; CI shares two cores with other work.
expect.set_options(timeout=20_000)
EXPLORE_CHARTS = ("explore-sizes", "explore-overlap", "explore-means", "explore-distribution",
                  "explore-correlation", "explore-map")


class Watch:
    """Every browser console error, uncaught page error and failed app request of a context, for the steps to check."""

    def __init__(self, context: BrowserContext) -> None:
        self.problems: list[str] = []
        self.expected: list[str] = []  # substrings of problems a step announced in advance
        context.on("console", self._console)
        context.on("weberror", lambda error: self.problems.append(f"page error: {error.error}"))
        context.on("response", self._response)

    def _console(self, message) -> None:
        # The browser asks every host for /favicon.ico unprompted; neither the app nor the sandbox serves one.
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            self.problems.append(f"console error: {message.text} ({message.location.get('url')})")

    def _response(self, response) -> None:
        if response.status >= 500 or (response.status >= 400 and "/_dash-" in response.url):
            self.problems.append(f"HTTP {response.status} from {response.request.method} {response.url}")

    def expect(self, fragment: str) -> None:
        """Announce a problem the next step causes on purpose; console events arrive when they like."""
        self.expected.append(fragment)

    def assert_clean(self, where: str) -> None:
        found = [p for p in self.problems if not any(fragment in p for fragment in self.expected)]
        self.problems[:] = []
        assert not found, f"{where}: {found}"


class Tour:
    """Screenshots named by step, recorded for docs/tour.md (the generated world's; other worlds keep theirs apart)."""

    def __init__(self, folder=ARTIFACTS) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.steps: list[Step] = []
        self.started = time.monotonic()

    def shot(self, page: Page, name: str, heading: str, sentence: str, focus=None) -> None:
        if focus is not None:
            focus.scroll_into_view_if_needed()
        else:
            page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(300)  # let Plotly finish its transitions
        file = f"{len(self.steps) + 1:02d}-{name}.png"
        page.screenshot(path=str(self.folder / file))
        self.steps.append(Step(file=file, heading=heading, sentence=sentence))
        print(f"{time.monotonic() - self.started:6.1f} s  {file}")


def login(page: Page, site: Site, user: str) -> None:
    page.goto(site.url + "/")
    page.get_by_role("link", name="Log in with the sandbox").first.click()
    page.wait_for_url(re.compile(re.escape(site.sandbox.url) + r"/accounts/authorize"))
    page.check(f"input[name=user_id][value='{user}']")
    page.get_by_role("button", name="Agree").click()
    page.wait_for_url(site.url + "/app/")


def rerun(page: Page, button: str, status_id: str, what: str) -> str:
    """Start a job again and follow the new one, not the finished sentence of the one before."""
    before = page.locator(f"#{status_id}").inner_text()
    page.click(button)
    if "finished" in before:
        expect(page.locator(f"#{status_id}")).not_to_have_text(before, timeout=30_000)
    return follow_job(page, status_id, what)


def follow_job(page: Page, status_id: str, what: str, on_tick=None, timeout_s: float = JOB_TIMEOUT_S) -> str:
    """Wait until the job card's sentence says the job ended; fail at once on a failed job."""
    status = page.locator(f"#{status_id}")
    deadline = time.monotonic() + timeout_s
    while True:
        text = status.inner_text()
        if on_tick:
            on_tick()
        if re.search(r"failed|cancelled|interrupted", text):
            pytest.fail(f"{what}: {text}")
        if "finished" in text:
            return text
        assert time.monotonic() < deadline, f"{what} did not finish in {timeout_s:.0f} s: {text!r}"
        page.wait_for_timeout(250)


def chart_problem(page: Page, graph_id: str) -> str | None:
    plot = page.locator(f"#{graph_id} .js-plotly-plot")
    if plot.count() == 0:
        return "no Plotly chart on the page"
    return figure_problem(plot.first.evaluate(SUMMARY_JS))


def wait_for_charts(page: Page, graph_ids, timeout_s: float = 30) -> None:
    """Every chart has drawn data points; a chart still empty (or empty-state) after the timeout fails."""
    deadline = time.monotonic() + timeout_s
    while True:
        problems = {gid: chart_problem(page, gid) for gid in graph_ids}
        problems = {gid: why for gid, why in problems.items() if why}
        if not problems:
            return
        assert time.monotonic() < deadline, f"charts without data: {problems}"
        page.wait_for_timeout(300)


def set_slider(container, value: float | None = None, presses: int = 0, key: str = "ArrowRight") -> None:
    """Move a Dash slider as a user would: type `value` into its number box, else use the arrow keys on its thumb.

    Both commit on blur, which is when a slider with updatemode="mouseup" sends its value.
    """
    box = container.locator("input.dash-range-slider-input")
    if value is not None and box.count():
        box.last.fill(f"{value:.2f}")
        box.last.press("Tab")
        return
    handle = container.locator("[role=slider]").first
    handle.focus()
    for _ in range(presses):
        handle.press(key)
    handle.blur()


def dash_id(element_id: str) -> dict:
    return json.loads(element_id)


def user_id(site: Site, spotify_id: str) -> int:
    from app.extensions import db
    from app.storage.tables import User

    with site.app.app_context():
        return db.session.scalar(select(User.id).where(User.spotify_id == spotify_id))


def expected_playlists(site: Site, owner: int) -> dict[str, list[str]]:
    """Per context, the Spotify ids a saved playlist must hold: kept tracks of the latest sort, most likely first.

    Computed from the assignment rows directly (not through the app's own selection code), so a save that drops,
    adds or reorders a track disagrees with it; a later version of a song the user liked first is left out (one
    entry per song, as app.services.songs groups them).
    """
    from app.extensions import db
    from app.services.songs import library_songs
    from app.storage.tables import SortAssignment, SortRun, Track

    with site.app.app_context():
        hidden = library_songs(db.session, owner).hidden
        run_id = db.session.scalar(select(SortRun.id).where(SortRun.user_id == owner).order_by(SortRun.id.desc()))
        rows = db.session.execute(
            select(SortAssignment.context, Track.spotify_id, SortAssignment.decision, SortAssignment.assigned, Track.id)
            .join(Track, Track.id == SortAssignment.track_id)
            .where(SortAssignment.sort_run_id == run_id, SortAssignment.user_id == owner)
            .order_by(SortAssignment.context, SortAssignment.probability.desc(), Track.id)).all()
    wanted: dict[str, list[str]] = defaultdict(list)
    for context, spotify_id, decision, assigned, track_id in rows:
        if track_id in hidden:
            continue
        if decision == "accepted" or (assigned and decision != "rejected"):
            wanted[context].append(spotify_id)
    return dict(wanted)


def saved_playlists(site: Site, owner: int) -> dict[str, str]:
    from app.extensions import db
    from app.storage.tables import ExportedPlaylist

    with site.app.app_context():
        return {row.context: row.spotify_playlist_id for row in db.session.scalars(
            select(ExportedPlaylist).where(ExportedPlaylist.user_id == owner))}


def wait_for_sync_run(site: Site, owner: int, timeout_s: float) -> None:
    """Wait until the user's latest sync has ended (neither queued nor running)."""
    from app.extensions import db
    from app.storage.tables import SyncRun

    deadline = time.monotonic() + timeout_s
    while True:
        with site.app.app_context():
            status = db.session.scalar(select(SyncRun.status).where(SyncRun.user_id == owner)
                                       .order_by(SyncRun.id.desc()))
        if status is not None and status not in ("queued", "running"):
            return
        assert time.monotonic() < deadline, f"the scheduled sync did not end in {timeout_s:.0f} s: {status!r}"
        time.sleep(0.25)


def sandbox_playlist(site: Site, playlist_id: str) -> list[str]:
    answer = requests.get(f"{site.sandbox.url}/__sandbox__/playlists/{playlist_id}", timeout=10)
    answer.raise_for_status()
    return answer.json()["spotify_ids"]


def assignment_track(site: Site, assignment_id: int) -> tuple[str, str]:
    from app.extensions import db
    from app.storage.tables import SortAssignment, Track

    with site.app.app_context():
        row = db.session.execute(select(SortAssignment.context, Track.spotify_id)
                                 .join(Track, Track.id == SortAssignment.track_id)
                                 .where(SortAssignment.id == assignment_id)).one()
    return row.context, row.spotify_id


def report_realised_precision(site: Site, owner: int, saved: dict[str, str]) -> None:
    """Print and keep (test-artifacts/browser/<world>/realised-precision.json) the share of each saved playlist
    whose recording truly carries the label, read back from the sandbox's truth (the labels of real recordings)."""
    from benchmarks.real_audio_e2e import truth_labels

    figures = {}
    for context_name, playlist_id in sorted(saved.items()):
        ids = sandbox_playlist(site, playlist_id)
        truth = truth_labels(site.sandbox, ids)
        figures[context_name] = {"tracks": len(ids),
                                 "realised": round(sum(context_name in truth[i] for i in ids) / len(ids), 3)}
    assert figures, "no saved playlist to check against the labels"
    print(f"\nrealised precision of the saved playlists ({site.journey.world}):", json.dumps(figures))
    (ARTIFACTS / site.journey.world / "realised-precision.json").write_text(json.dumps(figures, indent=1))


def test_a_visitor_goes_from_the_landing_page_to_saved_playlists(site: Site, browser, browser_context_args):
    journey = site.journey
    user_name, other_name, contexts = journey.user, journey.other, list(journey.contexts)
    generated = journey.world == "generated"
    context = browser.new_context(**browser_context_args)
    watch = Watch(context)
    tour = Tour() if generated else Tour(ARTIFACTS / journey.world)
    page = context.new_page()
    page.set_default_timeout(20_000)

    # Landing page, then the sandbox's consent page.
    page.goto(site.url + "/")
    expect(page.get_by_text("Sandbox mode").first).to_be_visible()
    tour.shot(page, "landing", "The landing page",
              "A visitor arrives, reads what contextify does, and logs in; in sandbox mode the login goes to the "
              "local sandbox instead of Spotify.")
    page.get_by_role("link", name="Log in with the sandbox").first.click()
    page.wait_for_url(re.compile(re.escape(site.sandbox.url) + r"/accounts/authorize"))
    page.check(f"input[name=user_id][value='{user_name}']")
    tour.shot(page, "authorize", "Approve on the consent page",
              "The sandbox plays Spotify's consent page: pick one of its generated listeners and agree.")
    page.get_by_role("button", name="Agree").click()
    page.wait_for_url(site.url + "/app/")
    expect(page.locator("#current-user")).not_to_be_empty()
    expect(page.locator("#home-steps li")).to_have_count(6)
    tour.shot(page, "home", "Logged in: the six steps",
              "Back in contextify, the home page lists the six steps from context names to playlists.")
    watch.assert_clean("home")

    # Contexts: four chips, small harvest settings, a progress bar that advances.
    page.get_by_role("link", name="Contexts").first.click()
    page.wait_for_url(site.url + "/app/contexts")
    page.fill("#context-input", ", ".join(contexts))
    page.click("#context-add")
    expect(page.locator("#context-chips .chip")).to_have_count(len(contexts))
    page.fill("#harvest-playlists", str(journey.playlists))
    page.fill("#harvest-tracks", str(journey.tracks))
    page.click("#harvest-start")
    seen: dict[str, list[float]] = defaultdict(list)
    shot_taken = []

    def sample() -> None:
        for bar in page.locator("#harvest-progress [role=progressbar]").all():
            value = bar.get_attribute("aria-valuenow")
            if value is not None:
                seen[bar.get_attribute("aria-label")].append(float(value))
                if not shot_taken and 0 < float(value) < 100:
                    shot_taken.append(True)
                    tour.shot(page, "harvest-running", "Harvest, with live progress",
                              "Four contexts go in as chips; the harvest finds public playlists for each, labels "
                              "their tracks and analyses them, one progress bar per stage.",
                              focus=page.locator("#harvest-progress"))

    status = follow_job(page, "harvest-status", "the harvest", on_tick=sample, timeout_s=journey.job_timeout_s)
    advancing = {stage: values for stage, values in seen.items()
                 if len(set(values)) >= 2 and min(values) < 100 and values[-1] > values[0]}
    assert advancing, f"no progress bar was seen advancing: {dict(seen)}"
    assert shot_taken, "no screenshot of a running harvest"
    expect(page.locator("#harvest-runs table tbody tr")).not_to_have_count(0)
    tour.shot(page, "harvest-done", "Harvest finished",
              f"The harvest ends with what it stored ({status.split(': ', 1)[-1].rstrip('.')}), and the run is "
              "listed under Past runs.", focus=page.locator("#harvest-status"))
    watch.assert_clean("contexts")

    # Explore: every chart drawn with data, no console error.
    page.get_by_role("link", name="Explore").first.click()
    page.wait_for_url(site.url + "/app/explore")
    wait_for_charts(page, EXPLORE_CHARTS, timeout_s=60)  # the overview of ~700 harvested tracks, on a busy CI
    expect(page.locator("#explore-vif table tbody tr")).not_to_have_count(0)
    tour.shot(page, "explore", "Explore the contexts",
              "Class sizes and overlap, feature averages, one feature's distribution, collinearity and a map of the "
              "tracks show how the contexts differ before anything is trained.")
    tour.shot(page, "explore-map", "A map of the tracks",
              "Each harvested track placed by its features, coloured by context.", focus=page.locator("#explore-map"))
    watch.assert_clean("explore")

    # Library: import Liked Songs from the sandbox's Spotify (training needs the library: it uses only features
    # the library has too, and refuses to train on an empty one).
    page.get_by_role("link", name="Library", exact=True).first.click()
    page.wait_for_url(site.url + "/app/library")
    page.click("#library-import")
    follow_job(page, "library-status", "the library import", timeout_s=journey.job_timeout_s)
    expect(page.locator("#library-summary .counts")).to_contain_text("Liked Songs")
    tour.shot(page, "library", "Import the library",
              "The Liked Songs come in from Spotify, are matched to Deezer and analysed like the training tracks.",
              focus=page.locator("#library-summary"))
    watch.assert_clean("library")

    # Model: train on the four contexts, read the curves, move the target precision.
    page.get_by_role("link", name="Model").first.click()
    page.wait_for_url(site.url + "/app/model")
    expect(page.locator("#model-contexts .Select-value, #model-contexts [class*=multi-value], "
                        "#model-contexts .dash-dropdown-value")).not_to_have_count(0)
    if journey.target is not None:
        page.fill("#model-target", f"{journey.target:.2f}")
    page.click("#model-train")
    follow_job(page, "model-status", "the training")
    wait_for_charts(page, ("model-curve", "model-coassign"))
    expect(page.locator("#model-summary")).to_contain_text("Trained on")
    expect(page.locator("#model-holdout table tbody tr")).not_to_have_count(0)
    # The promise per context (a cutoff, or "no playlist, because ...") and the reliability curve.
    expect(page.locator("#model-holdout .promise-lines li")).not_to_have_count(0)
    wait_for_charts(page, ("model-reliability",))
    before = page.locator("#model-curve-text").inner_text()
    assert before, "the curve has no sentence"
    tour.shot(page, "model", "Train a model",
              "Training runs as a job; the report shows precision, recall and F1 by cutoff for each context, the "
              "held-out playlists and what speaks for each context.", focus=page.locator("#model-curve"))
    set_slider(page.locator("#model-curve-target").locator(".."), presses=10)
    expect(page.locator("#model-curve-text")).not_to_have_text(before, timeout=15_000)
    wait_for_charts(page, ("model-curve",))
    tour.shot(page, "model-target", "Move the target precision",
              "Moving the target precision moves the cutoff on the curve and says what the playlist now promises.",
              focus=page.locator("#model-curve"))
    watch.assert_clean("model")

    # Sort: playlists with tracks, a cutoff moved, one track dropped.
    page.get_by_role("link", name="Library & sort").first.click()
    page.wait_for_url(site.url + "/app/sort")
    page.click("#sort-start")
    follow_job(page, "sort-status", "the sort")
    panels = page.locator(".playlist-panel")
    expect(panels.first).to_be_visible()
    # Every playlist says how much of the library sounds like it (or that the songs' sound cannot tell, as for a
    # hundred real recordings whose moods sound alike) and what it promises, or why it has none.
    expect(page.locator(".promise-words").first).to_contain_text(
        re.compile("of these songs sound like|cannot be told from their sound"))
    for words in page.locator(".promise-words").all():
        assert "we are at least" in words.inner_text() or page.locator(".no-playlist, .best-effort").count(), \
            words.inner_text()
    def playlists_with_songs(panels):
        # A context without a playlist may still list its nearest songs; only a playlist's own songs are reviewed.
        return [panel for panel in panels.all()
                if panel.locator("tbody tr").count() > 0 and panel.locator(".no-playlist").count() == 0]

    filled = playlists_with_songs(panels)
    no_playlist = page.locator(".no-playlist")
    if generated:
        # The generated world has as many playlists per context as a real harvest finds: a context that sounds
        # like itself keeps the target, and overlapping ones (rock and indie) get no playlist, saying why.
        assert filled, "no promised playlist to review"
        assert no_playlist.count(), "every context kept the target: no 'No playlist because' message to check"
    if no_playlist.count():
        # A context that cannot keep the target says why, whether or not others keep theirs.
        expect(no_playlist.first).to_contain_text("No playlist because")
        tour.shot(page, "sort-no-promise", "No playlist without a promise",
                  "A context that cannot keep the target precision gets no playlist, and the page says why and "
                  "what would help.", focus=no_playlist.first)
    if not filled:
        # No context keeps the target (the real recordings have a handful of artists per label): the listener opts
        # in to best effort on the Model page; those playlists are then labelled as not promised.
        page.get_by_role("link", name="Model").first.click()
        page.wait_for_url(site.url + "/app/model")
        page.locator("#model-best-effort input[type=checkbox]").check()
        rerun(page, "#model-train", "model-status", "the best-effort training")
        page.get_by_role("link", name="Library & sort").first.click()
        page.wait_for_url(site.url + "/app/sort")
        rerun(page, "#sort-start", "sort-status", "the sort after best-effort training")
        expect(page.locator(".best-effort").first).to_contain_text("Best effort, not promised")
        panels = page.locator(".playlist-panel")
        filled = playlists_with_songs(panels)
    assert filled, "no playlist holds a track"
    panel = filled[0]
    kept_text = panel.locator(".chart-reading").first
    before = kept_text.inner_text()
    tour.shot(page, "sort", "Sorted into playlists",
              "The model places each song in the playlists it fits, with the probability and the reasons.",
              focus=panel)
    # Raise the cutoff just above the last kept song's probability (two decimals): that song, at least, leaves.
    # The list may go on below the cutoff with the near misses, so the last kept row is found from the count.
    # (Lowering it may add nothing: under the exclusive rule a song the playlist could take at a lower cutoff
    # may belong to a likelier context, as in the real-audio world's best-effort playlists.)
    rows = panel.locator("tbody tr")
    last_kept = min(int(before.split()[0].replace(",", "")), rows.count()) - 1
    set_slider(panel, min(float(rows.nth(last_kept).locator("td").nth(2).inner_text()) + 0.01, 1.0))
    expect(page.locator("#sort-review-message")).not_to_be_empty(timeout=45_000)
    assert "cutoff" in page.locator("#sort-review-message").inner_text(), \
        page.locator("#sort-review-message").inner_text()
    # A review answer took 6-10 s on an idle machine (issue 21); CI's busy 2 cores need more room.
    expect(kept_text).not_to_have_text(before, timeout=45_000)
    first_drop = panel.locator("button", has_text="Drop").first
    drop_id = first_drop.get_attribute("id")  # read before the click redraws the list
    dropped = dash_id(drop_id)["assignment"]
    dropped_title = panel.locator("tbody tr").first.locator("td").first.inner_text()
    first_drop.click()
    expect(page.locator("#sort-review-message")).to_contain_text("left out", timeout=45_000)
    dropped_button = page.locator(f"button[id='{drop_id}']")
    expect(dropped_button).to_have_class(re.compile(r"\bactive\b"))
    expect(dropped_button).to_have_attribute("aria-pressed", "true")
    tour.shot(page, "sort-review", "Review: move a cutoff, drop a track",
              f"Raising a playlist's cutoff keeps fewer, surer songs; “{dropped_title}” is dropped by hand.", focus=panel)
    watch.assert_clean("sort")

    # Save: the dry-run diff, then the save, checked against the sandbox.
    page.get_by_role("link", name="Save").first.click()
    page.wait_for_url(site.url + "/app/save")
    expect(page.locator("#save-preview .plan")).not_to_have_count(0)
    expect(page.locator("#save-preview")).to_contain_text("New playlist")
    tour.shot(page, "save-preview", "What will be written",
              "Before anything changes on Spotify, the Save page lists each playlist it would create or update.")
    page.click("#save-start")
    follow_job(page, "save-status", "the save")
    expect(page.locator("#save-playlists table tbody tr")).not_to_have_count(0)
    tour.shot(page, "saved", "Saved and checked",
              "Each playlist is written, read back from Spotify and listed as saved and checked.",
              focus=page.locator("#save-playlists"))
    watch.assert_clean("save")

    owner = user_id(site, user_name)
    wanted, saved = expected_playlists(site, owner), saved_playlists(site, owner)
    wanted = {context: ids_ for context, ids_ in wanted.items() if ids_}
    assert wanted and set(saved) == set(wanted), (sorted(saved), sorted(wanted))
    for context_name, playlist_id in saved.items():
        assert sandbox_playlist(site, playlist_id) == wanted[context_name], f"{context_name} lost or gained tracks"
    dropped_context, dropped_spotify_id = assignment_track(site, dropped)
    assert dropped_spotify_id not in sandbox_playlist(site, saved[dropped_context]), "the dropped track was saved"
    shown_counts = {row.locator("td").nth(0).inner_text(): int(row.locator("td").nth(2).inner_text().replace(",", ""))
                    for row in page.locator("#save-playlists table tbody tr").all()}
    assert sorted(shown_counts.values()) == sorted(len(v) for v in wanted.values()), shown_counts

    # Export CSV, and open it.
    with page.expect_download() as download_info:
        page.click("#save-export-csv")
    path = ARTIFACTS / f"contextify-playlists-{journey.world}.csv"  # the two worlds' journeys may run at once
    download_info.value.save_as(path)
    with path.open(newline="", encoding="utf-8") as handle:
        exported_rows = list(csv.DictReader(handle))
    assert exported_rows, "the CSV is empty"
    assert len(exported_rows) == sum(len(v) for v in wanted.values()), len(exported_rows)
    watch.assert_clean("export")

    # Keep my playlists sorted: new likes arrive, the user turns the sync on, the web process's scheduler runs it,
    # and the digest on Home offers an undo that removes exactly that track from Spotify.
    # Other releases of a song exist in the generated world; each real recording has only its own.
    other_versions = 2 if journey.world == "generated" else 0
    liked = requests.post(f"{site.sandbox.url}/__sandbox__/users/{user_name}/likes",
                          json={"count": 40, "other_versions": other_versions, "seed": 3}, timeout=10)
    assert liked.status_code == 200, liked.text
    if generated:
        # Random likes come from the world's 33 contexts, about one of them fitting the one promised playlist; ten
        # more of its context (not liked yet) give the sync something to add whatever the draw.
        world = site.sandbox.world
        taken = {tid for tid, _ in world.users[user_name].liked} | {a["spotify_id"] for a in liked.json()["added"]}
        fitting = [t.spotify_id for t in sorted(world.tracks.values(), key=lambda t: t.deezer_id)
                   if set(saved) & t.contexts and t.on_deezer and t.deezer_id not in taken
                   and t.spotify_id not in taken][:10]
        more = requests.post(f"{site.sandbox.url}/__sandbox__/users/{user_name}/likes",
                             json={"spotify_ids": fitting}, timeout=10)
        assert more.status_code == 200, more.text
    before_sync = {c: sandbox_playlist(site, pid) for c, pid in saved.items()}
    page.locator("#sync-enabled input[type=checkbox]").check()
    page.locator("#sync-period input[value=daily]").check()
    page.click("#sync-apply")
    expect(page.locator("#sync-message")).to_contain_text("On: daily")
    # The sync imports, matches and enriches the 40 new likes first. Its end is read from the store and Home opened
    # once: reloading Home every 2 s to find out cost a full page load per look and up to 2 s after the sync ended.
    wait_for_sync_run(site, owner, timeout_s=2 * journey.job_timeout_s)
    page.goto(site.url + "/app/")
    expect(page.locator("#sync-digest .sync-run h3").first).not_to_have_text(re.compile(r"\b(queued|running)\b"))
    run = page.locator("#sync-digest .sync-run").first
    expect(run).to_contain_text("added to your playlists and read back")
    tour.shot(page, "sync-digest", "Playlists that stay sorted",
              "With the sync on, new likes that pass the promise are appended to the saved playlists; the Home page "
              "lists what each sync added, with an undo for 7 days.", focus=page.locator("#sync-digest-card"))
    after_sync = {c: sandbox_playlist(site, pid) for c, pid in saved.items()}
    grown = {c: ids_[len(before_sync[c]):] for c, ids_ in after_sync.items() if ids_ != before_sync[c]}
    assert grown and all(after_sync[c][:len(before_sync[c])] == before_sync[c] for c in saved), "append only"
    undo = run.get_by_role("button", name="Undo", exact=True).first
    undo.click()
    expect(page.locator("#sync-answer")).to_contain_text("nothing else changed")
    after_undo = {c: sandbox_playlist(site, pid) for c, pid in saved.items()}
    changed = [c for c in saved if after_undo[c] != after_sync[c]]
    assert len(changed) == 1 and len(after_undo[changed[0]]) == len(after_sync[changed[0]]) - 1, changed
    assert [i for i in after_sync[changed[0]] if i not in after_undo[changed[0]]][0] in grown[changed[0]]
    watch.assert_clean("sync")

    # Another listener, in a browser context of their own, sees none of it.
    other = browser.new_context(**browser_context_args)
    other_watch, other_page = Watch(other), other.new_page()
    login(other_page, site, other_name)
    other_page.goto(site.url + "/app/contexts")
    expect(other_page.locator("#harvest-runs")).to_contain_text("No runs yet.")
    other_page.goto(site.url + "/app/model")
    # The page's callback answers with the no-model state (asserting "empty" raced it: it passed only when checked
    # before the answer came).
    expect(other_page.locator("#model-summary")).to_contain_text("No model yet")
    expect(other_page.locator("#model-holdout")).to_be_empty()
    other_page.goto(site.url + "/app/save")
    expect(other_page.locator("#save-playlists")).to_contain_text("has not written any playlist")
    expect(other_page.locator("#save-preview")).to_contain_text("Nothing to save yet")
    tour.shot(other_page, "other-user", "Another listener sees only their own",
              f"{other_name} logs in from another browser: no runs, models or playlists of {user_name} show up.")
    other_watch.assert_clean("second user")
    other.close()

    # Log out; a protected page then sends the browser to log in.
    page.goto(site.url + "/logout")
    page.get_by_role("main").get_by_role("button", name="Log out").click()
    page.wait_for_url(site.url + "/")
    response = page.goto(site.url + "/app/model")
    chain, request = [], response.request
    while request is not None:
        chain.append(request.url)
        request = request.redirected_from
    assert any(url.startswith(site.url + "/login") for url in chain), chain
    assert page.url.startswith(site.sandbox.url + "/accounts/authorize"), page.url
    tour.shot(page, "logged-out", "Logged out",
              "After logging out, opening a page of the app leads back to the login.")
    watch.assert_clean("logout")
    context.close()
    if generated:
        write_steps(tour.steps)
    else:
        report_realised_precision(site, owner, saved)


def test_denying_at_the_consent_page_shows_plain_words(site: Site, browser, browser_context_args):
    context = browser.new_context(**browser_context_args)
    watch, page = Watch(context), context.new_page()
    page.goto(site.url + "/login")
    page.wait_for_url(re.compile(re.escape(site.sandbox.url) + r"/accounts/authorize"))
    # Chromium logs every 4xx document as a console error; this one is the expected refusal, nothing else is.
    watch.expect("/callback?error=access_denied")
    with page.expect_response(re.compile(re.escape(site.url) + r"/callback")) as answer:
        page.get_by_role("button", name="Cancel").click()
    assert answer.value.status == 403, answer.value.status
    expect(page.locator("h1")).to_have_text("You did not allow contextify to use your Spotify account")
    expect(page.get_by_role("link", name="Try again")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "denied.png"))
    assert page.request.get(site.url + "/app/", max_redirects=0).status == 302, "a denied login must not log in"
    watch.assert_clean("denied")
    context.close()


def test_the_other_modes_work_in_the_browser_on_the_journeys_data(site: Site, browser, browser_context_args):
    """After the journey (a harvested catalog, ana's imported library): Map draws and clusters it, and the Enhance,
    Discover and Compare pages open from the navigation with their controls and no console errors."""
    context = browser.new_context(**browser_context_args)
    watch, page = Watch(context), context.new_page()
    login(page, site, site.journey.user)

    nav = page.locator("header nav")  # the home page links the modes too
    nav.get_by_role("link", name="Map", exact=True).click()
    page.wait_for_url(site.url + "/app/map")
    expect(page.locator("h1")).to_have_text("Map")
    wait_for_charts(page, ["map-scatter"])
    page.locator("#map-cluster-start").click()  # k-means is the default method
    follow_job(page, "map-cluster-status", "clustering")
    wait_for_charts(page, ["map-composition"])
    expect(page.locator("#map-sentences")).not_to_be_empty()
    watch.assert_clean("map")

    for name, heading, control in (("Enhance", "Enhance my playlists", "enhance-start"),
                                   ("Discover", "Discover", "discover-start"),
                                   ("Compare", "Compare", "compare-invite-create")):
        nav.get_by_role("link", name=name, exact=True).click()
        page.wait_for_url(site.url + "/app/" + name.lower())
        expect(page.locator("h1")).to_have_text(heading)
        expect(page.locator(f"#{control}")).to_be_visible()
        page.wait_for_timeout(500)  # let the page's first callbacks answer
        watch.assert_clean(name)
    context.close()
