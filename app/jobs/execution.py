"""Running one job to its end: claim its row, run its task, retry what is not the task's fault, close the row."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, TextIO

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from app.auth.errors import is_database_outage, job_failure_message
from app.jobs.heartbeat import STALE_AFTER_S, running_here, worker_id
from app.runs.progress import Progress
from app.runs.records import fail_job, finish_job, log_line
from app.jobs.registry import JobCancelled, JobContext, TaskError, get_task
from app.logs import job_context
from app.pipeline.clients.base import ServiceError
from app.storage.conflicts import CONFLICT_NOTE, is_write_conflict
from app.storage.tables import Job, utcnow

log = logging.getLogger("contextify.jobs")

CANCELLED_NOTE = "Cancelled at your request."
# A database outage is not the task's fault: the task runs again (its steps skip finished work) after these
# pauses; past them the job fails, or, when even that cannot be written, the sweep marks it interrupted.
DATABASE_RETRY_PAUSES_S = (2.0, 4.0, 8.0, 16.0, 30.0)
DATABASE_RETRY_NOTE = "The database was briefly unreachable; the job went on where it stopped."
# Another job wrote the same rows first (a track merged away, a deadlock): the task runs again at once and its
# steps skip the work already kept, so it goes on where it stopped. Past these attempts the job fails plainly.
CONFLICT_RETRIES = 3
UNEXPECTED_FAILURE = ("This job stopped on an unexpected problem inside contextify. The work it finished is kept; "
                      "start it again to go on from there, and report it if it happens again (the details are "
                      "in the server log).")

SessionFactory = Callable[[], Session]


def execute(job_id: str, config: Mapping[str, Any], session_factory: SessionFactory, takeover: bool = False,
            stream: TextIO | None = None, on_note: Callable[[str], None] | None = None,
            local: dict[str, Any] | None = None) -> str | None:
    """Claim a queued job, run its task, and close the row: succeeded, failed (plain words) or cancelled.

    `takeover` also claims a job whose runner died (see `runner.run_job`). `stream`, `on_note` and `local`
    serve a run from the command line: a terminal progress bar, notes echoed, and what only an operator may
    hand a task (see `JobContext.local`).
    """
    with job_context(job_id), running_here(job_id):  # every log line of the run carries job_id
        return _execute(job_id, config, session_factory, takeover, stream, on_note, local)


def _execute(job_id: str, config: Mapping[str, Any], session_factory: SessionFactory, takeover: bool,
             stream: TextIO | None, on_note: Callable[[str], None] | None,
             local: dict[str, Any] | None) -> str | None:
    job = _claim(session_factory, job_id, takeover)
    if job is None:
        return None
    pauses = list(DATABASE_RETRY_PAUSES_S)
    conflicts = CONFLICT_RETRIES
    while True:
        progress = Progress(job_id, session_factory, stream=stream)
        context = JobContext(job_id=job_id, user_id=job.user_id, params=dict(job.params or {}), config=config,
                             session_factory=session_factory, progress=progress, on_note=on_note,
                             local=local if local is not None else {})  # the caller reads it afterwards
        try:
            return _run_task(job, context, progress, session_factory, retry_conflicts=conflicts > 0)
        except _Conflict:
            conflicts -= 1
            log.warning("job=%s lost a write race with another job; running it again where it stopped", job_id)
            with contextlib.suppress(Exception):
                context.note(CONFLICT_NOTE)
            continue
        except Exception as exc:
            if not (pauses and is_database_outage(exc)):
                raise
            pause = pauses.pop(0)
            log.warning("job=%s lost the database (%s); running it again in %.0f s", job_id, type(exc).__name__,
                        pause)
            time.sleep(pause)
            with contextlib.suppress(Exception):  # the database may still be away: the next attempt will tell
                context.note(DATABASE_RETRY_NOTE)


class _Conflict(Exception):
    """The task lost a write race with another job; `_execute` runs it again."""


def _run_task(job: Job, context: JobContext, progress: Progress, session_factory: SessionFactory,
              retry_conflicts: bool = False) -> str:
    """One attempt at the task; database outages and write conflicts rise to `_execute`, the rest closes the row."""
    job_id = job.id
    try:
        result = get_task(job.kind)(context)
    except JobCancelled:
        progress.close()
        close(session_factory, job_id, "cancelled", CANCELLED_NOTE)
        return "cancelled"
    except TaskError as exc:
        progress.close()
        fail(session_factory, job_id, str(exc))
        return "failed"
    except ServiceError as exc:
        progress.close()
        fail(session_factory, job_id, job_failure_message(exc))
        return "failed"
    except Exception as exc:  # noqa: BLE001  (any bug must still close the job, never leave it "running")
        if retry_conflicts and is_write_conflict(exc):
            raise _Conflict() from exc
        if is_database_outage(exc):
            raise
        # Tracebacks show code and messages, not local variables, so no token reaches the log.
        log.exception("job=%s kind=%s failed unexpectedly", job_id, job.kind)
        progress.close()
        # Plain words only: an exception's class name means nothing to the person reading the page.
        fail(session_factory, job_id, UNEXPECTED_FAILURE)
        return "failed"
    progress.close()
    with session_factory() as session:
        finish_job(session, job_id, result)
    return "succeeded"


def _claim(session_factory: SessionFactory, job_id: str, takeover: bool = False) -> Job | None:
    """queued -> running in one conditional UPDATE, so two workers never run the same job.

    With `takeover`, also interrupted -> running and running-with-a-stale-heartbeat -> running: the same
    single UPDATE, so of two workers taking over only one wins. The row names this process as its worker.
    """
    now = utcnow()
    claimable = Job.status == "queued"
    if takeover:
        stale = or_(Job.heartbeat_at < now - timedelta(seconds=STALE_AFTER_S), Job.heartbeat_at.is_(None))
        claimable = or_(claimable, Job.status == "interrupted", (Job.status == "running") & stale)
    with session_factory() as session:
        claimed = session.execute(
            update(Job).where(Job.id == job_id, claimable)
            .values(status="running", started_at=now, heartbeat_at=now, attempts=Job.attempts + 1,
                    error=None, finished_at=None, worker=worker_id())).rowcount
        session.commit()
        return session.get(Job, job_id) if claimed else None


def fail(session_factory: SessionFactory, job_id: str, message: str) -> None:
    """Close the job as failed with `message` (plain words), also written to its log."""
    with session_factory() as session:
        log_line(session, job_id, message)
        fail_job(session, job_id, message)


def close(session_factory: SessionFactory, job_id: str, status: str, note: str) -> None:
    """Close the job with `status`, and `note` in its log."""
    with session_factory() as session:
        session.execute(update(Job).where(Job.id == job_id).values(status=status, finished_at=utcnow()))
        session.commit()
        log_line(session, job_id, note)
