"""The job interface (submit, cancel, resume, status) over two runners: an in-process thread pool, or Celery workers.

Job state lives only in the `jobs` table, so every tab, process and restart sees the same thing:

    queued ──claim──> running ──> succeeded | failed | cancelled
       │                 │
       │                 └─ its process died (heartbeat older than STALE_AFTER_S) ──> interrupted ──resume──> queued
       └─ cancel ──> cancelled                                                    └─ cancel ──> cancelled

Whoever runs a job keeps its `heartbeat_at` fresh (every HEARTBEAT_S); a sweep marks jobs whose heartbeat
stopped as interrupted, so the user can resume them. Tasks re-run from the start on resume, and the pipeline
steps skip what an earlier attempt finished.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from flask import Flask, current_app
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.runs.progress import Progress
from app.auth.errors import is_database_outage, job_failure_message
from app.runs.records import fail_job, finish_job, log_line
from app.jobs.registry import JobCancelled, JobContext, TaskError, get_task, task_kinds
from app.logs import job_context
from app.pipeline.clients.base import ServiceError
from app.storage.conflicts import CONFLICT_NOTE, is_write_conflict
from app.storage.tables import Job, utcnow
from app.storage.ownership import get_owned, owned

log = logging.getLogger("contextify.jobs")

EXTENSION = "contextify.jobs"
HEARTBEAT_S = 15.0
STALE_AFTER_S = 120.0       # several missed heartbeats: the process running the job is gone
SWEEP_EVERY_S = 60.0
ACTIVE = ("queued", "running")
INTERRUPTED_NOTE = ("Interrupted: contextify stopped while this job was running. Resume it to continue; "
                    "work already finished is kept.")
CANCELLED_NOTE = "Cancelled at your request."
QUEUE_DOWN = "The job queue is not reachable, so the job could not start. Try again in a few minutes."
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


# --------------------------------------------------------------------------------- public interface


def submit(kind: str, params: Mapping[str, Any] | None, user_id: int) -> str:
    """Queue a job of a registered `kind` for `user_id`; returns its id at once (the work runs elsewhere)."""
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


def list_jobs(user_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The user's most recent jobs, newest first."""
    return _service().recent(user_id, limit)


def mark_interrupted(stale_after_s: float = STALE_AFTER_S) -> list[str]:
    """Mark jobs whose runner stopped beating as interrupted; returns their ids (called by the sweep too)."""
    return _service().mark_interrupted(stale_after_s)


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


# ------------------------------------------------------------------------------------- execution


def execute(job_id: str, config: Mapping[str, Any], session_factory: SessionFactory,
            takeover: bool = False) -> str | None:
    """Claim a queued job, run its task, and close the row: succeeded, failed (plain words) or cancelled.

    `takeover` also claims a job whose runner died (see `run_job`).
    """
    with job_context(job_id):  # every log line of the run carries job_id
        return _execute(job_id, config, session_factory, takeover)


def _execute(job_id: str, config: Mapping[str, Any], session_factory: SessionFactory,
             takeover: bool = False) -> str | None:
    job = _claim(session_factory, job_id, takeover)
    if job is None:
        return None
    pauses = list(DATABASE_RETRY_PAUSES_S)
    conflicts = CONFLICT_RETRIES
    while True:
        progress = Progress(job_id, session_factory)
        context = JobContext(job_id=job_id, user_id=job.user_id, params=dict(job.params or {}), config=config,
                             session_factory=session_factory, progress=progress)
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
        _close(session_factory, job_id, "cancelled", CANCELLED_NOTE)
        return "cancelled"
    except TaskError as exc:
        progress.close()
        _fail(session_factory, job_id, str(exc))
        return "failed"
    except ServiceError as exc:
        progress.close()
        _fail(session_factory, job_id, job_failure_message(exc))
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
        _fail(session_factory, job_id, UNEXPECTED_FAILURE)
        return "failed"
    progress.close()
    with session_factory() as session:
        finish_job(session, job_id, result)
    return "succeeded"


def _claim(session_factory: SessionFactory, job_id: str, takeover: bool = False) -> Job | None:
    """queued -> running in one conditional UPDATE, so two workers never run the same job.

    With `takeover`, also interrupted -> running and running-with-a-stale-heartbeat -> running: the same
    single UPDATE, so of two workers taking over only one wins.
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
                    error=None, finished_at=None)).rowcount
        session.commit()
        return session.get(Job, job_id) if claimed else None


def _fail(session_factory: SessionFactory, job_id: str, message: str) -> None:
    with session_factory() as session:
        log_line(session, job_id, message)
        fail_job(session, job_id, message)


def _close(session_factory: SessionFactory, job_id: str, status: str, note: str) -> None:
    with session_factory() as session:
        session.execute(update(Job).where(Job.id == job_id).values(status=status, finished_at=utcnow()))
        session.commit()
        log_line(session, job_id, note)


# --------------------------------------------------------------------------------------- runners


class Runner(Protocol):
    """Where queued jobs run. `orphan_statuses`: states a dead process of this runner leaves behind."""

    orphan_statuses: tuple[str, ...]

    def dispatch(self, job_id: str) -> None: ...

    def start(self, session_factory: SessionFactory, sweep: Callable[[], Any]) -> None: ...

    def close(self, wait: bool) -> None: ...


class InProcessRunner:
    """A pool of worker threads in the web process (the default, and what `make demo` uses).

    The threads are daemons: stopping the server never waits for a long harvest; the jobs it held are
    then marked interrupted on the next start, and resume. Its queue dies with the process, so both queued
    and running jobs can be orphaned.
    """

    orphan_statuses = ("queued", "running")

    def __init__(self, app: Flask, workers: int) -> None:
        self._app = app
        self._workers = workers
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._heartbeat: Heartbeat | None = None
        self._session_factory: SessionFactory | None = None

    def start(self, session_factory: SessionFactory, sweep: Callable[[], Any]) -> None:
        self._session_factory = session_factory
        self._heartbeat = Heartbeat(session_factory, sweep=sweep)
        self._heartbeat.start()
        self._threads = [threading.Thread(target=self._work, name=f"contextify-job-{n}", daemon=True)
                         for n in range(self._workers)]
        for thread in self._threads:
            thread.start()

    def dispatch(self, job_id: str) -> None:
        assert self._heartbeat is not None, "start() first"
        self._heartbeat.hold(job_id)
        self._queue.put(job_id)

    def _work(self) -> None:
        while (job_id := self._queue.get()) is not None:
            self._run(job_id)

    def _run(self, job_id: str) -> None:
        try:
            # An app context, so tasks can use current_app and db like any request does.
            with self._app.app_context():
                execute(job_id, self._app.config, self._session_factory)
        except Exception:  # noqa: BLE001  (a pool thread has nobody to raise to)
            log.exception("job=%s could not be run", job_id)
        finally:
            if self._heartbeat is not None:
                self._heartbeat.release(job_id)

    def close(self, wait: bool) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()  # jobs not started stay queued in the table: interrupted later, resumable
        for _ in self._threads:
            self._queue.put(None)  # each worker stops after its current job
        if wait:
            for thread in self._threads:
                thread.join(timeout=30)


class CeleryRunner:
    """Jobs go to Celery workers through Redis (`celery -A app.jobs.celery_app worker`); they beat while running.

    Queued jobs wait in the broker, which survives restarts: only running ones can be orphaned.
    """

    orphan_statuses = ("running",)

    def __init__(self, broker_url: str) -> None:
        from app.jobs.celery_app import make_celery

        self._celery = make_celery(broker_url)
        self._sweeper: Heartbeat | None = None

    def start(self, session_factory: SessionFactory, sweep: Callable[[], Any]) -> None:
        self._sweeper = Heartbeat(None, sweep=sweep)  # the workers beat their own jobs; this only sweeps
        self._sweeper.start()

    def dispatch(self, job_id: str) -> None:
        from app.jobs.celery_app import RUN_JOB

        self._celery.send_task(RUN_JOB, args=[job_id])

    def close(self, wait: bool) -> None:
        if self._sweeper is not None:
            self._sweeper.stop()


class Heartbeat:
    """A daemon thread that keeps `heartbeat_at` fresh for the jobs held, and optionally runs the sweep."""

    def __init__(self, session_factory: SessionFactory | None, sweep: Callable[[], Any] | None = None,
                 every_s: float = HEARTBEAT_S, sweep_every_s: float = SWEEP_EVERY_S) -> None:
        self._session_factory = session_factory
        self._sweep = sweep
        self._every_s = every_s
        self._sweep_every_s = sweep_every_s
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="contextify-heartbeat", daemon=True)

    def hold(self, job_id: str) -> None:
        with self._lock:
            self._held.add(job_id)

    def release(self, job_id: str) -> None:
        with self._lock:
            self._held.discard(job_id)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        since_sweep = self._sweep_every_s  # sweep at once: jobs a dead process left behind show up soon
        while True:
            self._guarded(self._beat)
            if self._sweep is not None and since_sweep >= self._sweep_every_s:
                since_sweep = 0.0
                self._guarded(self._sweep)
            if self._stop.wait(self._every_s):
                return
            since_sweep += self._every_s

    def _beat(self) -> None:
        with self._lock:
            held = list(self._held)
        if not held or self._session_factory is None:
            return
        with self._session_factory() as session:
            session.execute(update(Job).where(Job.id.in_(held), Job.status.in_(ACTIVE)).values(heartbeat_at=utcnow()))
            session.commit()

    @staticmethod
    def _guarded(step: Callable[[], Any]) -> None:
        try:
            step()
        except Exception:  # noqa: BLE001  (a database hiccup must not end the heartbeat for good)
            log.warning("job heartbeat step failed", exc_info=True)


# ---------------------------------------------------------------------------------------- service


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

    def submit(self, kind: str, params: dict[str, Any], user_id: int) -> str:
        if kind not in task_kinds():
            raise ValueError(f"no task is registered as {kind!r}; known: {', '.join(task_kinds())}")
        self.ensure_started()
        with self.session_factory() as session:
            job = Job(kind=kind, params=params, user_id=_owner(user_id), status="queued", log=[],
                      heartbeat_at=utcnow())
            session.add(job)
            session.commit()
            job_id = job.id
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
                        heartbeat_at=utcnow())).rowcount
            session.commit()
            if not requeued:
                return False
            log_line(session, job_id, "Resumed.")
        self._dispatch(job_id)
        return True

    def status(self, job_id: str, user_id: int) -> dict[str, Any] | None:
        self.ensure_started()
        with self.session_factory() as session:
            job = get_owned(session, Job, _owner(user_id), job_id)
            return None if job is None else describe(job)

    def recent(self, user_id: int, limit: int) -> list[dict[str, Any]]:
        self.ensure_started()
        with self.session_factory() as session:
            jobs = session.scalars(owned(Job, _owner(user_id)).order_by(Job.created_at.desc()).limit(limit))
            return [describe(job) for job in jobs]

    def mark_interrupted(self, stale_after_s: float = STALE_AFTER_S) -> list[str]:
        cutoff = utcnow() - timedelta(seconds=stale_after_s)
        statuses = self.runner.orphan_statuses
        stale = or_(Job.heartbeat_at < cutoff, Job.heartbeat_at.is_(None) & (Job.created_at < cutoff))
        with self.session_factory() as session:
            ids = list(session.scalars(select(Job.id).where(Job.status.in_(statuses), stale)))
            marked = []
            for job_id in ids:
                # Conditional again: a job that beat or finished since the SELECT is left alone.
                if session.execute(update(Job).where(Job.id == job_id, Job.status.in_(statuses), stale)
                                   .values(status="interrupted", error=INTERRUPTED_NOTE)).rowcount:
                    marked.append(job_id)
            session.commit()
            for job_id in marked:
                log_line(session, job_id, INTERRUPTED_NOTE)
        if marked:
            log.info("marked %d job(s) interrupted: %s", len(marked), ", ".join(marked))
        return marked

    def close(self, wait: bool) -> None:
        self.runner.close(wait)

    def _dispatch(self, job_id: str) -> None:
        try:
            self.runner.dispatch(job_id)
        except Exception:  # noqa: BLE001  (broker down: say so on the job instead of a 500 page)
            log.exception("job=%s could not be queued", job_id)
            _fail(self.session_factory, job_id, QUEUE_DOWN)


def _service() -> JobService:
    return current_app.extensions[EXTENSION]


def _owner(user_id: Any) -> int:
    # Jobs started from the web always have an owner; the ownership helpers refuse anything but an int too.
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise TypeError(f"a job's owner must be a user id (int), got {user_id!r}")
    return user_id


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
