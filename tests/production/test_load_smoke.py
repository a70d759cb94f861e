"""The load test's CI version: a few sessions browse and start jobs against gunicorn on PostgreSQL, with no 5xx."""

from __future__ import annotations

import pytest

from benchmarks.load import markdown, run

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_sessions_browse_and_start_jobs_without_a_server_error(postgres_url):
    summary = run(sessions=8, seconds=10, seed_tracks=0, database_url=postgres_url)
    report = markdown(summary)

    assert summary["sessions_logged_in"] == 8, report  # every session came through the OAuth consent
    assert summary["page_visits"] >= 8 and summary["requests"] >= 40, report  # each session: a job page at least
    assert summary["server_errors_5xx"] == 0 and summary["no_answer"] == 0, report
    assert summary["failures"] == 0, report
    assert sum(summary["jobs_started"].values()) >= 1, report
    assert sum(summary["jobs_in_database"].values()) >= sum(summary["jobs_started"].values()), report
    assert summary["tracebacks_in_server_log"] == 0, report
