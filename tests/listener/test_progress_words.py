"""A job's failure is dated, so one from earlier reads as history and not as what is happening now."""

from __future__ import annotations

from app.dash_views.jobs_view import job_sentence


def test_a_failure_says_when_it_happened():
    job = {"status": "failed", "error": "Deezer did not answer.", "finished_at": "2026-12-06T14:02:00+00:00"}
    assert job_sentence(job, "The harvest", "") == "The harvest failed on 06 Dec 2026, 14:02 UTC: Deezer did not answer."


def test_a_failure_without_a_time_still_says_why():
    assert job_sentence({"status": "failed", "error": None}, "The sort", "") == "The sort failed: no reason was recorded."
