"""A job's failure is dated, so one from earlier reads as history and not as what is happening now."""

from __future__ import annotations

from app.dash_views.jobs_view import job_sentence


def test_a_failure_says_when_it_happened():
    job = {"status": "failed", "error": "Deezer did not answer.", "finished_at": "2026-12-06T14:02:00+00:00"}
    assert job_sentence(job, "The harvest", "") == "The harvest failed on 06 Dec 2026, 14:02 UTC: Deezer did not answer."


def test_a_failure_without_a_time_still_says_why():
    assert job_sentence({"status": "failed", "error": None}, "The sort", "") == "The sort failed: no reason was recorded."


def test_an_estimate_counts_down_from_when_it_was_made():
    from app.dash_views.harvests import format_eta, remaining_s

    entry = {"done": 90, "total": 100, "eta_s": 5.0, "as_of": 1_000.0}
    assert remaining_s(entry, now=1_002.0) == 3.0
    # A stage that stalled 40 minutes ago no longer says "about 5 s left".
    assert format_eta(remaining_s(entry, now=1_000.0 + 40 * 60)) == "taking longer than its rate so far suggested"
    assert remaining_s({"eta_s": 12.0}) == 12.0  # rows written before estimates were dated


def test_progress_snapshots_date_their_estimates():
    from app.runs.progress import Progress

    ticks = iter([0.0, 0.0, 10.0, 10.0, 10.0, 10.0])
    progress = Progress(clock=lambda: next(ticks, 10.0))
    progress.stage("tracks", total=100)
    progress.advance("tracks", 50)
    entry = progress.snapshot()["tracks"]
    assert entry["eta_s"] == 10.0 and entry["as_of"] > 1.7e9
