"""The job interface on the in-process runner: lifecycle, failures in plain words, cancel, ownership, interruption."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config import DEFAULT_JOB_WORKERS
from app.extensions import db
from app.jobs import runner
from app.jobs.registry import JobContext, task
from app.storage.tables import Job, utcnow
from tests.auth.helpers import add_user
from tests.jobs.conftest import RELEASE, wait_for


@pytest.fixture
def users(app):
    return add_user(app, "mira.s"), add_user(app, "ana.k")


def _submit(app, kind: str, user_id: int, **params) -> str:
    with app.app_context():
        return runner.submit(kind, params, user_id)


def test_a_job_runs_to_success_with_progress_result_and_log(app, users):
    me, _ = users
    job_id = _submit(app, "test-echo", me, contexts=["workout"])
    job = wait_for(app, job_id, me)
    assert job["status"] == "succeeded" and job["attempts"] == 1
    assert job["result"] == {"params": {"contexts": ["workout"]}, "user_id": me}
    assert job["progress"]["steps"]["done"] == 2 and job["log"] == ["echoed"]
    assert job["finished_at"] is not None and not job["can_resume"]


def test_unexpected_errors_fail_the_job_in_plain_words_without_the_message(app, users, caplog):
    me, _ = users
    job = wait_for(app, _submit(app, "test-boom", me), me)
    assert job["status"] == "failed" and job["error"].startswith("This job stopped on an unexpected problem")
    assert "KeyError" not in job["error"], "an exception's class name means nothing to a user"
    assert "BQsecret" not in job["error"] and not any("BQsecret" in line for line in job["log"])
    assert any(record.exc_info for record in caplog.records if record.name == "contextify.jobs")


@task("test-conflict-once")
def conflict_once(ctx: JobContext) -> dict:
    """Loses a write race on its first run (as a track merged away by another job does), then finishes."""
    from sqlalchemy.orm.exc import StaleDataError

    CONFLICT_RUNS.append(ctx.job_id)
    if len(CONFLICT_RUNS) == 1:
        raise StaleDataError("UPDATE statement on table 'tracks' expected to update 1 row(s); 0 were matched.")
    return {"runs": len(CONFLICT_RUNS)}


CONFLICT_RUNS: list[str] = []


def test_a_write_conflict_with_another_job_runs_the_task_again_and_says_so_plainly(app, users):
    me, _ = users
    CONFLICT_RUNS.clear()
    job = wait_for(app, _submit(app, "test-conflict-once", me), me)
    assert job["status"] == "succeeded" and job["result"] == {"runs": 2}, job
    assert any("Another job changed some of the same tracks" in line for line in job["log"])
    assert not any("StaleDataError" in line for line in job["log"])


def test_expected_refusals_keep_their_own_words(app, users):
    me, _ = users
    job = wait_for(app, _submit(app, "test-refuse", me), me)
    assert job["status"] == "failed" and job["error"] == "That playlist is private, so it cannot be read."


def test_unknown_kinds_and_ownerless_jobs_are_refused(app, users):
    with app.app_context():
        with pytest.raises(ValueError, match="no task is registered as 'no-such-kind'"):
            runner.submit("no-such-kind", {}, users[0])
        with pytest.raises(TypeError):
            runner.submit("test-echo", {}, "1")


def test_a_running_job_stops_at_its_next_check_when_cancelled(app, users):
    me, _ = users
    job_id = _submit(app, "test-wait", me)
    wait_for(app, job_id, me, ("running",))
    with app.app_context():
        assert runner.cancel(job_id, me)
        assert not runner.cancel(job_id, me)  # already asked
    job = wait_for(app, job_id, me)
    assert job["status"] == "cancelled" and job["log"][-1] == "Cancelled at your request."


def test_another_user_can_neither_see_nor_touch_a_job(app, users):
    me, other = users
    job_id = _submit(app, "test-wait", me)
    wait_for(app, job_id, me, ("running",))
    with app.app_context():
        assert runner.job_status(job_id, other) is None
        assert runner.list_jobs(other) == []
        assert runner.cancel(job_id, other) is False
        assert runner.resume(job_id, other) is False
        assert [job["id"] for job in runner.list_jobs(me)] == [job_id]
    RELEASE.set()
    assert wait_for(app, job_id, me)["status"] == "succeeded"


def _orphan(app, user_id: int, heartbeat_age_s: float, status: str = "running") -> str:
    """A job row as a process that died mid-run leaves it."""
    with app.app_context():
        job = Job(kind="test-echo", user_id=user_id, status=status, params={"again": True}, attempts=1, log=[],
                  started_at=utcnow(), heartbeat_at=utcnow() - timedelta(seconds=heartbeat_age_s))
        db.session.add(job)
        db.session.commit()
        return job.id


def test_jobs_of_a_dead_process_are_marked_interrupted_and_resume(app, users):
    me, other = users
    dead, alive = _orphan(app, me, 600), _orphan(app, me, 5)
    lost_in_queue = _orphan(app, me, 600, status="queued")
    with app.app_context():
        assert sorted(runner.mark_interrupted()) == sorted([dead, lost_in_queue])
        job = runner.job_status(dead, me)
        assert job["status"] == "interrupted" and job["can_resume"] and "Resume it" in job["error"]
        assert runner.job_status(alive, me)["status"] == "running"
        assert runner.resume(dead, other) is False
        assert runner.resume(dead, me) is True
        assert runner.resume(dead, me) is False  # queued now, not interrupted
    job = wait_for(app, dead, me)
    assert job["status"] == "succeeded" and job["attempts"] == 2 and job["error"] is None
    assert job["result"]["params"] == {"again": True}


def test_an_interrupted_job_can_be_cancelled_instead(app, users):
    me, _ = users
    job_id = _orphan(app, me, 600)
    with app.app_context():
        runner.mark_interrupted()
        assert runner.cancel(job_id, me)
        assert runner.job_status(job_id, me)["status"] == "cancelled"
        assert runner.resume(job_id, me) is False


def test_the_pool_runs_as_many_jobs_at_once_as_configured(app, users):
    me, _ = users
    workers = app.config["CONTEXTIFY_JOB_WORKERS"]
    assert workers == DEFAULT_JOB_WORKERS
    ids = [_submit(app, "test-wait", me) for _ in range(workers + 1)]
    for job_id in ids[:workers]:
        wait_for(app, job_id, me, ("running",))
    with app.app_context():
        assert runner.job_status(ids[-1], me)["status"] == "queued"
        assert runner.cancel(ids[-1], me)  # a queued job is cancelled at once and never starts
    RELEASE.set()
    assert [wait_for(app, i, me)["status"] for i in ids] == ["succeeded"] * workers + ["cancelled"]
    with app.app_context():
        assert runner.job_status(ids[-1], me)["attempts"] == 0


def test_lifecycle_and_interruption_on_postgresql(app_config, postgres_url):
    from flask_migrate import upgrade

    from app import create_app

    app = create_app({**app_config, "DATABASE_URL": postgres_url})
    with app.app_context():
        upgrade()
    me = add_user(app, "mira.s")
    try:
        assert wait_for(app, _submit(app, "test-echo", me), me)["status"] == "succeeded"
        dead, _recent = _orphan(app, me, 600), _orphan(app, me, 5)  # the recent one must not be marked
        with app.app_context():
            assert runner.mark_interrupted() == [dead]
            assert runner.resume(dead, me)
        assert wait_for(app, dead, me)["status"] == "succeeded"
    finally:
        runner.shutdown(app)
        with app.app_context():
            db.engine.dispose()
