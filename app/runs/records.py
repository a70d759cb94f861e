"""Creating and closing job rows, so the CLI and the web app record runs the same way."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.storage.tables import Job, utcnow

FINISHED = ("succeeded", "failed", "cancelled")


class JobCancelled(Exception):
    """The user asked to cancel this job; raised at the task's next `check_cancelled()`."""


def start_job(session: Session, kind: str, params: dict[str, Any] | None = None,
              user_id: int | None = None) -> Job:
    """A running job row, committed at once so other processes can see it."""
    job = Job(kind=kind, params=params or {}, user_id=user_id, status="running", started_at=utcnow(),
              heartbeat_at=utcnow(), attempts=1, log=[])
    session.add(job)
    session.commit()
    return job


def log_line(session: Session, job_id: str, message: str) -> None:
    """Append a plain-words line to the job's log (fallbacks, degradations), committed at once."""
    job = session.get(Job, job_id)
    if job is not None:
        job.log = [*(job.log or []), message]
        session.commit()


def finish_job(session: Session, job_id: str, result: dict[str, Any] | None = None) -> None:
    _close(session, job_id, "succeeded", result=result)


def fail_job(session: Session, job_id: str, error: str) -> None:
    _close(session, job_id, "failed", error=error)


def _close(session: Session, job_id: str, status: str, *, result: dict[str, Any] | None = None,
           error: str | None = None) -> None:
    job = session.get(Job, job_id)
    if job is None:
        return
    job.status = status
    job.result = result
    job.error = error
    job.finished_at = utcnow()
    session.commit()
