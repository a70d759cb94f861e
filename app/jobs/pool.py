"""Where queued jobs run: a pool of threads in the web process, or Celery workers through a broker."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

from flask import Flask
from sqlalchemy.orm import Session

from app.jobs.execution import execute
from app.jobs.heartbeat import Heartbeat

log = logging.getLogger("contextify.jobs")

SessionFactory = Callable[[], Session]


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
