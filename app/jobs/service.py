"""The job service: job rows through owner-scoped queries, the rules for starting jobs, and the sweep for dead workers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.jobs.execution import CANCELLED_NOTE, fail
from app.jobs.heartbeat import STALE_AFTER_S, worker_alive_here, worker_gone
from app.jobs.pool import Runner
from app.runs.records import log_line
from app.jobs.registry import task_kinds
from app.storage.tables import Job, utcnow
from app.storage.ownership import get_owned, owned

log = logging.getLogger("contextify.jobs")

ACTIVE = ("queued", "running")
INTERRUPTED_PREFIX = "Stopped: "
NEVER_STARTED_NOTE = (INTERRUPTED_PREFIX + "contextify restarted before this job could begin. Resume it to start "
                      "it; nothing was lost.")
QUEUE_DOWN = "The job queue is not reachable, so the job could not start. Try again in a few minutes."

SessionFactory = Callable[[], Session]


class JobRefused(ValueError):
    """The job was not started now; the message says why in plain words."""


def interrupted_note(last_beat: datetime | None) -> str:
    """What a job whose worker died says: when it was last known alive, and what to do."""
    if last_beat is None:
        return NEVER_STARTED_NOTE
    return (f"{INTERRUPTED_PREFIX}the worker running this job ended unexpectedly at "
            f"{last_beat.strftime('%H:%M UTC')}. Resume it to go on; the work it finished is kept.")


def create_job(session_factory: SessionFactory, kind: str, params: dict[str, Any], user_id: int | None) -> str:
    """The one place a job row is made: queued, beating from now, for a page (an owner) or a command (none)."""
    with session_factory() as session:
        job = Job(kind=kind, params=params, user_id=user_id, status="queued", log=[], heartbeat_at=utcnow())
        session.add(job)
        session.commit()
        return job.id


def describe(job: Job) -> dict[str, Any]:
    """A job row as JSON-ready data for pages and polling callbacks; `can_cancel` / `can_resume` drive buttons."""
    return {
        "id": job.id, "kind": job.kind, "status": job.status, "params": job.params or {},
        "progress": job.progress or {}, "result": job.result, "error": job.error, "log": job.log or [],
        "attempts": job.attempts, "cancel_requested": job.cancel_requested,
        "created_at": _iso(job.created_at), "started_at": _iso(job.started_at),
        "heartbeat_at": _iso(job.heartbeat_at), "finished_at": _iso(job.finished_at),
        "can_cancel": job.status in (*ACTIVE, "interrupted") and not job.cancel_requested,
        "can_resume": job.status == "interrupted",
    }


class JobService:
    """One app's job bookkeeping: rows through owner-scoped queries, work handed to its runner."""

    def __init__(self, session_factory: SessionFactory, runner: Runner) -> None:
        self.session_factory = session_factory
        self.runner = runner
        self._started = False
        self._start_lock = threading.Lock()

    def ensure_started(self) -> None:
        """Start the runner (and its sweep) on first use, never at import or app build time."""
        with self._start_lock:
            if not self._started:
                self.runner.start(self.session_factory, self.mark_interrupted)
                self._started = True

    def admit(self, kind: str, user_id: int, what: str, busy: str | None = None, bucket: str | None = None) -> None:
        """The rules for a person starting a job: one job of a kind at a time per user, and at most
        CONTEXTIFY_JOB_RATE_LIMIT starts (counted here). Raises JobRefused saying why (`busy`, else "<what> is
        already running. Wait for it to finish."). `bucket`: count these starts apart from the others."""
        from app.web.security import JOBS_TOO_MANY, hit_job_limit  # the limiter lives with the web app's others

        owner = _owner(user_id)
        self.ensure_started()
        self.mark_interrupted(user_id=owner)  # a dead worker's job must not block the new one
        with self.session_factory() as session:
            going = session.scalar(owned(Job, owner).where(Job.kind == kind, Job.status.in_(ACTIVE)).limit(1))
        if going is not None:
            raise JobRefused(busy or f"{what} is already running. Wait for it to finish.")
        if not hit_job_limit(owner, bucket):  # per user, shared through Redis when configured
            raise JobRefused(JOBS_TOO_MANY)

    def submit(self, kind: str, params: dict[str, Any], user_id: int) -> str:
        if kind not in task_kinds():
            raise ValueError(f"no task is registered as {kind!r}; known: {', '.join(task_kinds())}")
        self.ensure_started()
        job_id = create_job(self.session_factory, kind, params, _owner(user_id))
        self._dispatch(job_id)
        return job_id

    def cancel(self, job_id: str, user_id: int) -> bool:
        self.ensure_started()
        with self.session_factory() as session:
            job = get_owned(session, Job, _owner(user_id), job_id)
            if job is None:
                return False
            if job.status in ("queued", "interrupted"):
                # Conditional, so a job claimed by a worker meanwhile is cancelled the running way instead.
                done = session.execute(update(Job).where(Job.id == job_id, Job.status == job.status)
                                       .values(status="cancelled", finished_at=utcnow())).rowcount
                session.commit()
                if done:
                    log_line(session, job_id, CANCELLED_NOTE)
                    return True
                session.refresh(job)
            if job.status != "running" or job.cancel_requested:
                return False
            job.cancel_requested = True
            session.commit()
            return True

    def resume(self, job_id: str, user_id: int) -> bool:
        self.ensure_started()
        with self.session_factory() as session:
            job = get_owned(session, Job, _owner(user_id), job_id)
            if job is None or job.status != "interrupted":
                return False
            requeued = session.execute(
                update(Job).where(Job.id == job_id, Job.status == "interrupted")
                .values(status="queued", error=None, finished_at=None, cancel_requested=False,
                        heartbeat_at=utcnow(), worker=None)).rowcount
            session.commit()
            if not requeued:
                return False
            log_line(session, job_id, "Resumed.")
        self._dispatch(job_id)
        return True

    def status(self, job_id: str, user_id: int) -> dict[str, Any] | None:
        self.ensure_started()
        self.mark_interrupted(user_id=_owner(user_id))  # a page polling a dead worker's job learns it at once
        with self.session_factory() as session:
            job = get_owned(session, Job, _owner(user_id), job_id)
            return None if job is None else describe(job)

    def recent(self, user_id: int, limit: int, kind: str | None = None) -> list[dict[str, Any]]:
        self.ensure_started()
        self.mark_interrupted(user_id=_owner(user_id))
        query = owned(Job, _owner(user_id))
        if kind is not None:  # filtered in the query: many short jobs of other kinds must not hide this one
            query = query.where(Job.kind == kind)
        with self.session_factory() as session:
            jobs = session.scalars(query.order_by(Job.created_at.desc()).limit(limit))
            return [describe(job) for job in jobs]

    def mark_interrupted(self, stale_after_s: float = STALE_AFTER_S, user_id: int | None = None) -> list[str]:
        """Mark as interrupted the jobs whose worker is gone: its process on this machine ended (at once), or
        it stopped beating for `stale_after_s` and is not a live process here. Only `user_id`'s when given."""
        cutoff = utcnow() - timedelta(seconds=stale_after_s)
        statuses = self.runner.orphan_statuses
        query = select(Job.id, Job.status, Job.worker, Job.heartbeat_at, Job.created_at).where(Job.status.in_(statuses))
        if user_id is not None:
            query = query.where(Job.user_id == user_id)
        with self.session_factory() as session:
            candidates = session.execute(query).all()
            marked = []
            for job_id, status, worker, beat, created in candidates:
                # A queued job has no worker yet (whatever ran it before): only its heartbeat's age tells.
                if status == "running" and worker_gone(worker, job_id):
                    still = Job.worker == worker
                elif not worker_alive_here(worker, job_id) and _before(beat or created, cutoff):
                    still = or_(Job.heartbeat_at < cutoff, Job.heartbeat_at.is_(None) & (Job.created_at < cutoff))
                else:
                    continue
                note = interrupted_note(beat if status == "running" else None)
                # Conditional again: a job that beat, finished or changed hands since the SELECT is left alone.
                if session.execute(update(Job).where(Job.id == job_id, Job.status.in_(statuses), still)
                                   .values(status="interrupted", error=note)).rowcount:
                    marked.append((job_id, note))
            session.commit()
            for job_id, note in marked:
                log_line(session, job_id, note)
        if marked:
            log.info("marked %d job(s) interrupted: %s", len(marked), ", ".join(job_id for job_id, _ in marked))
        return [job_id for job_id, _ in marked]

    def close(self, wait: bool) -> None:
        self.runner.close(wait)

    def _dispatch(self, job_id: str) -> None:
        try:
            self.runner.dispatch(job_id)
        except Exception:  # noqa: BLE001  (broker down: say so on the job instead of a 500 page)
            log.exception("job=%s could not be queued", job_id)
            fail(self.session_factory, job_id, QUEUE_DOWN)


def _before(moment: datetime | None, cutoff: datetime) -> bool:
    if moment is None:
        return True
    return (moment if moment.tzinfo else moment.replace(tzinfo=cutoff.tzinfo)) < cutoff


def _owner(user_id: Any) -> int:
    # Jobs started from the web always have an owner; the ownership helpers refuse anything but an int too.
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise TypeError(f"a job's owner must be a user id (int), got {user_id!r}")
    return user_id


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
