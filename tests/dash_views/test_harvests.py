"""The Contexts page's decisions: which names become chips, which settings start a harvest, how jobs read."""

from __future__ import annotations

import pytest

from app.dash_views import harvests
from app.dash_views.harvests import StageRow
from app.services import contexts
from app.services.contexts import SettingsError


@pytest.mark.parametrize(("chips", "typed", "expected"), [
    ([], "workout", ["workout"]),
    ([], "  rainy   day ,study", ["rainy day", "study"]),
    (["workout"], "🏋️ gym 💪", ["workout", "🏋️ gym 💪"]),
    ([], "موسيقى هادئة", ["موسيقى هادئة"]),
    ([], "<script>alert(1)</script>", ["<script>alert(1)</script>"]),  # kept as text; Dash escapes it
])
def test_names_that_become_chips(chips, typed, expected):
    assert contexts.add_contexts(chips, typed) == (expected, None)


@pytest.mark.parametrize(("chips", "typed", "message"), [
    ([], "   ", "Type a context name first"),
    (["Workout"], "workout", "'workout' and 'Workout' are the same context"),
    ([], "x" * 101, "is 101 characters long; the limit is 100."),
    (["c"] * 0 + [f"c{i}" for i in range(50)], "one more", "51 contexts given; at most 50"),
    ([], "!!! ???", "has no letters, digits or emoji"),
    ([], "work\x00out", "A name contains a control character (an invisible code)"),
])
def test_names_refused_in_plain_words(chips, typed, message):
    kept, error = contexts.add_contexts(chips, typed)
    assert kept == chips and message in error and error.endswith(".") and not error[0].islower()


def test_removing_a_chip():
    assert contexts.remove_context(["a", "b", "c"], 1) == ["a", "c"]


def test_settings_become_the_cli_parameters():
    assert contexts.harvest_params(["workout"], "auto", "12", 50.0, refresh=True) == {
        "contexts": ["workout"], "source": "auto", "playlists_per_context": 12, "tracks_per_playlist": 50,
        "refresh": True, "enrich": True}


@pytest.mark.parametrize(("chips", "source", "playlists", "tracks", "message"), [
    ([], "deezer", 10, 100, "Add at least one context first."),
    (["a"], "napster", 10, 100, "Choose where the playlists come from"),
    (["a"], "deezer", 0, 100, "Playlists per context must be a whole number from 1 to 50."),
    (["a"], "deezer", None, 100, "Playlists per context must be a whole number from 1 to 50."),
    (["a"], "deezer", 2.5, 100, "Playlists per context must be a whole number from 1 to 50."),
    (["a"], "deezer", 10, 5000, "Tracks per playlist must be a whole number from 10 to 500."),
    (["a", "A"], "deezer", 10, 100, "same context"),
])
def test_settings_refused_in_plain_words(chips, source, playlists, tracks, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(".", r"\.")):
        contexts.harvest_params(chips, source, playlists, tracks)


def test_stage_rows_show_counts_fraction_and_eta():
    rows = harvests.stage_rows({"playlists found": {"done": 3, "total": 4, "eta_s": 12.3},
                                "tracks labelled": {"done": 50, "total": None, "eta_s": None}})
    assert rows == [StageRow("playlists found", 3, 4, 0.75, "3 of 4 · about 12 s left"),
                    StageRow("tracks labelled", 50, None, None, "50")]
    finished = harvests.stage_rows({"playlists found": {"done": 4, "total": 4, "eta_s": 1.0},
                                    "tracks enriched (reccobeats)": {"done": 0, "total": 0, "eta_s": None},
                                    "tracks labelled": {"done": 50, "total": None, "eta_s": None}}, finished=True)
    assert [(row.detail, row.fraction) for row in finished] == [("4 of 4", 1.0), ("nothing to do", 1.0), ("50", 1.0)]


@pytest.mark.parametrize(("seconds", "text"), [(None, ""), (0.2, "about 1 s left"), (75, "about 1 min left"),
                                               (5400, "about 1 h 30 min left")])
def test_eta_in_words(seconds, text):
    assert harvests.format_eta(seconds) == text


def test_a_finished_run_reads_as_a_table_row_and_a_sentence():
    job = {"kind": "harvest", "status": "succeeded", "params": {"contexts": ["workout", "sleep"], "source": "auto"},
           "created_at": "2026-01-02T10:00:00+00:00", "started_at": "2026-01-02T10:00:01+00:00",
           "finished_at": "2026-01-02T10:01:31+00:00", "error": None,
           "result": {"stages": {"playlists found": 4, "tracks labelled": 120, "tracks needing enrichment": 80},
                      "failures": {"deezer: timeout": 2}}}
    assert harvests.run_rows([job]) == [{
        "kind": "Harvest", "contexts": "workout, sleep", "source": "Automatic", "status": "Finished",
        "when": "02 Jan 2026, 10:00 UTC", "duration": "1 min 30 s",
        "results": "4 playlists · 120 labels · 80 tracks enriched · 2 skipped or failed"}]
    assert harvests.status_text(job) == ("Harvest of workout, sleep finished in 1 min 30 s: 4 playlists · "
                                         "120 labels · 80 tracks enriched · 2 skipped or failed.")


def test_a_failed_run_says_why():
    job = {"kind": "harvest", "status": "failed", "params": {"contexts": ["x"]}, "error": "Spotify refused.",
           "created_at": None, "started_at": None, "finished_at": None, "result": None}
    assert harvests.status_text(job) == "Harvest of x failed: Spotify refused."
    assert harvests.run_rows([job])[0]["results"] == "Spotify refused."


def test_a_page_finds_its_job_behind_many_newer_jobs_of_other_kinds(app):
    """Each Map click or search is a short job: fifty of them must not hide a running clustering or harvest."""
    from datetime import timedelta

    from app.extensions import db
    from app.storage.base import utcnow
    from app.storage.tables import Job
    from tests.auth.helpers import add_user

    me = add_user(app, "mira.s")
    start = utcnow()
    with app.app_context():
        db.session.add(Job(user_id=me, kind="harvest", status="succeeded", created_at=start,
                           params={"contexts": ["workout"]}))
        db.session.add(Job(user_id=me, kind="map-clusters", status="queued", created_at=start))
        db.session.add_all(Job(user_id=me, kind="map-search", status="succeeded",
                               created_at=start + timedelta(seconds=i + 1)) for i in range(60))
        db.session.commit()
        assert harvests.current_job(me, "map-clusters")["status"] == "queued"
        assert harvests.latest_harvest_contexts(me) == ["workout"]
