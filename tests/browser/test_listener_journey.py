"""A listener without Spotify in a real Chromium: a local account, a library file, a sort, a quick review, an export."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Site
from tests.browser.test_journey import JOB_TIMEOUT_S, Watch, dash_id, follow_job

pytestmark = pytest.mark.slow


def library_export(site: Site, user: str, limit: int = 120) -> bytes:
    """Spotify's privacy export (YourLibrary.json) of a sandbox listener's likes: artist, album, track and uri."""
    world = site.sandbox.world
    tracks = []
    for track_id, _added in world.users[user].liked[:limit]:
        track = world.tracks[track_id]
        album = world.albums.get(track.album_id)
        tracks.append({"artist": world.artists[track.artist_ids[0]].name, "album": getattr(album, "title", ""),
                       "track": track.title, "uri": f"spotify:track:{track.spotify_id}"})
    return json.dumps({"tracks": tracks, "albums": [], "shows": [], "episodes": []}).encode()


# The generated world only: its likes make the library file (and the real-audio site is not started for a skip).
@pytest.mark.parametrize("site", ["generated"], indirect=True)
def test_a_listener_without_spotify_imports_a_file_sorts_reviews_and_exports(site: Site, browser,
                                                                                browser_context_args, tmp_path):
    journey = site.journey
    context = browser.new_context(**browser_context_args)
    watch = Watch(context)
    page = context.new_page()
    page.set_default_timeout(20_000)

    # The way in without Spotify: an account and its key, shown once.
    page.goto(site.url + "/")
    page.click("#start-without-spotify")
    page.fill("#start-name", "Lena")
    page.click("#start-local")
    key = page.locator("#local-key").inner_text()
    assert key.startswith("ctx-")
    page.click("#continue")
    page.wait_for_url(site.url + "/app/library")
    expect(page.locator("#library-connect")).to_be_visible()  # Spotify import offered as "connect", not a dead end
    expect(page.locator("#library-import")).to_be_hidden()

    # A library file: Spotify's privacy export.
    export = tmp_path / "YourLibrary.json"
    export.write_bytes(library_export(site, journey.user))
    page.locator("#library-upload input[type=file]").set_input_files(str(export))
    follow_job(page, "library-status", "the file import", timeout_s=journey.job_timeout_s)
    watch.assert_clean("library")
    expect(page.locator("#library-summary .counts")).to_contain_text("tracks in all")

    # Contexts, model and sort, as any listener does them.
    page.get_by_role("link", name="Contexts").first.click()
    page.wait_for_url(site.url + "/app/contexts")
    page.fill("#context-input", ", ".join(journey.contexts))
    page.click("#context-add")
    page.fill("#harvest-playlists", str(journey.playlists))
    page.fill("#harvest-tracks", str(journey.tracks))
    page.click("#harvest-start")
    follow_job(page, "harvest-status", "the harvest", timeout_s=journey.job_timeout_s)
    page.get_by_role("link", name="Model").first.click()
    page.wait_for_url(site.url + "/app/model")
    if journey.target is not None:
        # The precision this world's playlists can back (the main journey's): at the default 0.8 no context has one.
        page.fill("#model-target", f"{journey.target:.2f}")
    page.click("#model-train")
    follow_job(page, "model-status", "the training")
    page.get_by_role("link", name="Library & sort").first.click()
    page.wait_for_url(site.url + "/app/sort")
    page.click("#sort-start")
    follow_job(page, "sort-status", "the sort", timeout_s=JOB_TIMEOUT_S)
    expect(page.locator(".playlist-panel tbody tr").first).to_be_visible()  # drawn once the sort's answer is in
    # A context without a playlist may still list its nearest songs, saying why it has none; only a playlist's own
    # songs are reviewed.
    panels = page.locator(".playlist-panel").all()
    for panel in panels:
        if panel.locator(".no-playlist").count():
            expect(panel.locator(".no-playlist")).to_contain_text("No playlist because")
    filled = [panel for panel in panels
              if panel.locator("tbody tr").count() > 0 and panel.locator(".no-playlist").count() == 0]
    assert filled, "no promised playlist holds a song"
    panel = filled[0]

    # A typed cutoff commits on Enter, and the playlist answers.
    before = panel.locator(".chart-reading").first.inner_text()
    box = panel.locator("input.dash-range-slider-input").last
    cutoff = float(box.input_value())
    # Down where there is room above the sort's floor, else up (a library mostly of no context sorts at low cutoffs).
    box.fill(f"{cutoff - 0.2:.2f}" if cutoff >= 0.3 else f"{cutoff + 0.2:.2f}")
    box.press("Enter")
    expect(page.locator("#sort-review-message")).to_contain_text("cutoff")
    expect(panel.locator(".chart-reading").first).not_to_have_text(before)

    # Drop a song: the answer appears beside its row; then Undo puts it back.
    drop = panel.locator("button", has_text="Drop").first
    drop_id = drop.get_attribute("id")
    assignment = dash_id(drop_id)["assignment"]
    note = page.locator(f"td[id='{json.dumps({'assignment': assignment, 'type': 'sort-row-note'}, separators=(',', ':'))}']")
    drop.click()
    expect(note).to_contain_text("left out")
    expect(page.locator(f"button[id='{drop_id}']")).to_have_attribute("aria-pressed", "true")
    page.click("#sort-undo")
    expect(note).to_contain_text("Undone")
    expect(page.locator(f"button[id='{drop_id}']")).to_have_attribute("aria-pressed", "false")
    # The cutoff move is the one action left to undo: the playlist's cutoff comes back, and nothing is left.
    page.click("#sort-undo")
    expect(page.locator("#sort-review-message")).to_contain_text("Undone")
    expect(page.locator("#sort-review-message")).to_contain_text("cutoff")
    expect(page.locator("#sort-undo")).to_be_disabled()
    expect(panel.locator(".chart-reading").first).to_have_text(before)
    watch.assert_clean("sort")

    # Save: export now, Spotify once connected.
    page.get_by_role("link", name="Save").first.click()
    page.wait_for_url(site.url + "/app/save")
    expect(page.get_by_text("Connect Spotify to save there; export now")).to_be_visible()
    expect(page.locator("#save-start")).to_be_hidden()
    with page.expect_download() as download_info:
        page.click("#save-export-m3u")
    playlist = download_info.value.path().read_text(encoding="utf-8")
    assert playlist.startswith("#EXTM3U") and re.search(r"^#EXTINF:", playlist, re.M), playlist[:300]
    watch.assert_clean("save")
    context.close()
