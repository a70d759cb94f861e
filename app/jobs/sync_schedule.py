"""When syncs run: a tick finds the users whose period has no sync yet and starts one each, exactly once.

Every process may tick (the web processes' in-process scheduler, Celery beat's `contextify.sync_due`, several of
each): the run key "<user>:<period>:<first day of the period>" is unique in the database, so the first process
to insert it runs that sync and every other one skips it. A period missed while nothing ran (the app was down)
is caught by the first tick after the restart, once, because the key of the current period is still free.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.storage.tables import SyncRun, SyncSetting

log = logging.getLogger("contextify.sync")

SYNC_DUE = "contextify.sync_due"


def due(session: Session, now: datetime | None = None) -> list[tuple[int, str]]:
    """(user id, run key) of every enabled, unpaused sync whose current period has no run yet."""
    from app.services.sync import run_key

    settings = session.execute(select(SyncSetting.user_id, SyncSetting.period)
                               .where(SyncSetting.enabled.is_(True), SyncSetting.paused_reason.is_(None))).all()
    keys = [(user_id, run_key(user_id, period, now)) for user_id, period in settings]
    taken = set(session.scalars(select(SyncRun.run_key).where(SyncRun.run_key.in_([k for _, k in keys]))))
    return [(user_id, key) for user_id, key in keys if key not in taken]


def tick(session_factory: Callable[[], Session], submit: Callable[[str, dict, int], str],
         now: datetime | None = None) -> list[str]:
    """Claim and start every due sync; returns the ids of the jobs this process started."""
    from app.services.sync import claim

    started = []
    with session_factory() as session:
        for user_id, key in due(session, now):
            run = claim(session, user_id, key, "schedule")
            if run is None:
                continue  # another process claimed it between our look and our insert
            started.append(submit("sync", {"sync_run_id": run.id}, user_id))
            log.info("sync started", extra={"user_id": user_id, "run_key": key})
    return started


def app_tick(app: Flask, now: datetime | None = None) -> list[str]:
    """One tick inside `app`'s context, submitting through its job runner."""
    from app.extensions import db
    from app.jobs import runner

    with app.app_context():
        from sqlalchemy.orm import sessionmaker

        return tick(sessionmaker(bind=db.engine, expire_on_commit=False), runner.submit, now)


class InProcessScheduler:
    """A daemon thread that ticks every `interval_s` seconds, for deployments without a broker (no beat)."""

    def __init__(self, app: Flask, interval_s: float) -> None:
        self.app, self.interval_s = app, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="contextify-sync-scheduler", daemon=True)

    def start(self) -> InProcessScheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                app_tick(self.app)
            except Exception:  # noqa: BLE001  (the next tick tries again; the log says why this one failed)
                log.exception("sync tick failed")
            self._stop.wait(self.interval_s)


_start_lock = threading.Lock()


def start_on_first_request(app: Flask) -> None:
    """Start the scheduler (see `init_app`) when the web process serves its first request; commands never do."""

    @app.before_request
    def _start_sync_scheduler() -> None:
        if "sync_scheduler" not in app.extensions:
            with _start_lock:
                if "sync_scheduler" not in app.extensions:
                    app.extensions["sync_scheduler"] = init_app(app)


def stop(app: Flask) -> None:
    scheduler = app.extensions.get("sync_scheduler")
    if scheduler is not None:
        scheduler.stop()


def init_app(app: Flask) -> InProcessScheduler | None:
    """Start the in-process scheduler when there is no broker (with one, Celery beat ticks) and it is not off."""
    mode = str(app.config.get("CONTEXTIFY_SYNC_SCHEDULER", "auto")).lower()
    if mode == "off" or app.config.get("TESTING") and mode != "on":
        return None
    if app.config.get("CELERY_BROKER_URL") and mode != "on":
        return None
    return InProcessScheduler(app, float(app.config.get("CONTEXTIFY_SYNC_CHECK_SECONDS", 300))).start()


def beat_schedule(config: dict[str, Any]) -> dict[str, Any]:
    """Celery beat's entry: tick every SYNC_CHECK_SECONDS on a worker."""
    return {"sync-due": {"task": SYNC_DUE, "schedule": float(config.get("CONTEXTIFY_SYNC_CHECK_SECONDS", 300))}}
