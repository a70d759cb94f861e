"""The job interface (start, submit, cancel, resume, status) over two runners: an in-process thread pool, or Celery workers.

Job state lives only in the `jobs` table, so every tab, process and restart sees the same thing:

    queued ──claim──> running ──> succeeded | failed | cancelled
       │                 │
       │                 └─ its worker died ──> interrupted ──resume──> queued
       └─ cancel ──> cancelled                        └─ cancel ──> cancelled

The concerns live apart: `service.py` (rows and the rules for starting jobs), `execution.py` (one run and its
retries), `pool.py` (where jobs run), `heartbeat.py` (proof a worker is alive, and who it is), `local.py` (a
run from the command line). A job's row names its worker; a worker on this machine that ended is seen at
once (its process is gone), one elsewhere when its heartbeat is older than STALE_AFTER_S. Tasks re-run from
the start on resume, and the pipeline steps skip what an earlier attempt finished.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app
from sqlalchemy.orm import sessionmaker

from app.jobs.execution import (  # noqa: F401  (re-exported: the interface's constants and one run)
    CANCELLED_NOTE, DATABASE_RETRY_NOTE, UNEXPECTED_FAILURE, execute,
)
from app.jobs.heartbeat import HEARTBEAT_S, STALE_AFTER_S, Heartbeat  # noqa: F401
from app.jobs.pool import CeleryRunner, InProcessRunner, Runner
from app.jobs.service import (  # noqa: F401
    INTERRUPTED_PREFIX, QUEUE_DOWN, JobRefused, JobService, describe, interrupted_note,
)

EXTENSION = "contextify.jobs"


def start(kind: str, params: Mapping[str, Any] | None, user_id: int, what: str, busy: str | None = None,
          bucket: str | None = None) -> str:
    """Start a job for `user_id` under the job rules (one of a kind at a time, the rate limit); returns its id,
    or raises JobRefused with the reason in plain words. What pages call; `bucket` rate-limits apart."""
    _service().admit(kind, user_id, what, busy, bucket)
    return submit(kind, params, user_id)


def submit(kind: str, params: Mapping[str, Any] | None, user_id: int) -> str:
    """Queue a job of a registered `kind` for `user_id`, with no rules applied; returns its id at once."""
    return _service().submit(kind, dict(params or {}), user_id)


def cancel(job_id: str, user_id: int) -> bool:
    """Cancel the user's job: a queued or interrupted one at once, a running one at its next check.

    False when the job is not this user's, or already over.
    """
    return _service().cancel(job_id, user_id)


def resume(job_id: str, user_id: int) -> bool:
    """Queue the user's interrupted job again; False when it is not this user's or not interrupted."""
    return _service().resume(job_id, user_id)


def job_status(job_id: str, user_id: int) -> dict[str, Any] | None:
    """The job as plain data (see `describe`), or None when there is no such job of this user."""
    return _service().status(job_id, user_id)


def list_jobs(user_id: int, limit: int = 20, kind: str | None = None) -> list[dict[str, Any]]:
    """The user's most recent jobs (of `kind` when given), newest first."""
    return _service().recent(user_id, limit, kind)


def mark_interrupted(stale_after_s: float = STALE_AFTER_S) -> list[str]:
    """Mark jobs whose worker is gone as interrupted; returns their ids (called by the sweep too)."""
    return _service().mark_interrupted(stale_after_s)


def init_app(app: Flask) -> None:
    """Choose the runner from the config: Celery when CELERY_BROKER_URL is set, else the in-process pool.

    Nothing starts here: the pool, its heartbeat and the sweep start on first use.
    """
    from app.extensions import db

    with app.app_context():
        session_factory = sessionmaker(bind=db.engine, expire_on_commit=False)
    broker = app.config.get("CELERY_BROKER_URL")
    runner: Runner = CeleryRunner(broker) if broker else InProcessRunner(app, app.config["CONTEXTIFY_JOB_WORKERS"])
    app.extensions[EXTENSION] = JobService(session_factory, runner)


def shutdown(app: Flask, wait: bool = True) -> None:
    """Stop the app's runner threads (tests, clean exits); queued in-process jobs are then interrupted ones."""
    from app.jobs.sync_schedule import stop

    stop(app)
    service = app.extensions.get(EXTENSION)
    if service is not None:
        service.close(wait)


def run_job(job_id: str) -> str | None:
    """Run one job to its end in this process (inside an app context), beating its heartbeat.

    What a Celery worker calls. Besides a queued job it takes over one whose worker died: interrupted, or
    running with a heartbeat older than STALE_AFTER_S (a message Celery delivers again after its worker was
    killed). Returns the final status, or None when there was nothing to run (finished, cancelled, or alive
    on another worker).
    """
    session_factory = _service().session_factory
    heartbeat = Heartbeat(session_factory)
    heartbeat.hold(job_id)
    heartbeat.start()
    try:
        return execute(job_id, current_app.config, session_factory, takeover=True)
    finally:
        heartbeat.stop()


def _service() -> JobService:
    return current_app.extensions[EXTENSION]
