"""A job's failure is dated, so one from earlier reads as history and not as what is happening now."""

from __future__ import annotations

from app.dash_views.jobs_view import job_sentence


def test_a_failure_says_when_it_happened():
    job = {"status": "failed", "error": "Deezer did not answer.", "finished_at": "2026-12-06T14:02:00+00:00"}
    assert job_sentence(job, "The harvest", "") == "The harvest failed on 06 Dec 2026, 14:02 UTC: Deezer did not answer."


def test_a_cancel_or_an_interruption_says_when_too():
    at = "2026-12-06T14:02:00+00:00"
    assert job_sentence({"status": "cancelled", "finished_at": at}, "The sort", "") == \
        "The sort was cancelled on 06 Dec 2026, 14:02 UTC."
    assert job_sentence({"status": "interrupted", "finished_at": at}, "The sort", "").startswith(
        "The sort was interrupted on 06 Dec 2026, 14:02 UTC (contextify stopped")


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


class Clock:
    """A hand-moved clock for Progress."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_estimate_follows_a_new_rate_within_a_minute():
    """A stage that crawled for two minutes (a rate limit, a cold cache) and then ran at 10 per second: a minute
    after the change its estimate is the new rate's, not the average since the start (which says twice as long)."""
    from app.runs.progress import Progress

    clock = Clock()
    progress = Progress(clock=clock)
    progress.stage("tracks", total=5_000)
    for _ in range(120):            # 1 per second for two minutes
        clock.now += 1.0
        progress.advance("tracks")
    for _ in range(61):             # then 10 per second
        clock.now += 1.0
        progress.advance("tracks", 10)
    entry = progress.snapshot()["tracks"]
    truth = (5_000 - entry["done"]) / 10
    assert abs(entry["eta_s"] - truth) <= 0.1 * truth, (entry["eta_s"], truth)
    for _ in range(30):             # and a steady rate keeps it steady
        clock.now += 1.0
        progress.advance("tracks", 10)
    assert progress.snapshot()["tracks"]["eta_s"] == (5_000 - progress.snapshot()["tracks"]["done"]) / 10


def test_work_not_reached_yet_keeps_a_bar_short_of_full_and_counts_in_the_estimate():
    from app.dash_views.harvests import stage_rows
    from app.runs.progress import Progress

    clock = Clock()
    progress = Progress(clock=clock)
    progress.add_total("tracks matched", 500)     # the first chunk of 10,500 songs
    progress.expect("tracks matched", 10_000)
    clock.now = 50.0
    progress.advance("tracks matched", 500)
    entry = progress.snapshot()["tracks matched"]
    (row,) = stage_rows({"tracks matched": entry})
    assert row.fraction < 0.05 and row.detail.startswith("500 of 10,500 (at most: 10,000 not reached yet)")
    assert entry["eta_s"] == 1_000.0, "10,000 more at the measured 10 per second"
    progress.add_total("tracks matched", 10_000)
    progress.expect("tracks matched", 0)
    progress.advance("tracks matched", 10_000)
    (row,) = stage_rows({"tracks matched": progress.snapshot()["tracks matched"]})
    assert row.fraction == 1.0 and row.detail == "10,500 of 10,500"


def test_a_failed_job_does_not_draw_a_stage_it_never_counted_as_done():
    from app.dash_views.harvests import stage_rows

    progress = {"tracks labelled": {"done": 50, "total": None, "eta_s": None}}
    assert stage_rows(progress, finished=True, succeeded=True)[0].fraction == 1.0
    assert stage_rows(progress, finished=True, succeeded=False)[0].fraction == 0.0
    assert stage_rows(progress)[0].fraction is None, "while it runs: the moving stripe"


def test_a_bar_one_song_short_is_not_drawn_full():
    from app.dash_views.components import stage_progress
    from app.dash_views.harvests import stage_rows

    bar = stage_progress(stage_rows({"tracks matched": {"done": 9_999, "total": 10_000, "eta_s": 0.1}}))
    fill = bar.children[0].children[1].children
    assert fill.style == {"width": "99.9%"}


def test_a_harvest_failure_says_when_it_happened():
    from app.dash_views.harvests import status_text

    job = {"kind": "harvest", "status": "failed", "params": {"contexts": ["x"]}, "error": "Deezer did not answer.",
           "finished_at": "2026-12-06T14:02:00+00:00"}
    assert status_text(job) == "Harvest of x failed on 06 Dec 2026, 14:02 UTC: Deezer did not answer."
