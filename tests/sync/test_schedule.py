"""When syncs run: one per user and period however many processes tick, a missed period once after a restart."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from app.extensions import db
from app.jobs.sync_schedule import due, init_app, tick
from app.services.sync import period_start, run_key, set_sync
from app.storage.tables import SyncRun
from tests.auth.helpers import add_user

MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
WEDNESDAY = datetime(2026, 12, 2, 23, 59, tzinfo=UTC)
NEXT_MONDAY = datetime(2026, 12, 7, 0, 1, tzinfo=UTC)


def test_period_keys_are_the_day_or_the_monday_of_the_week():
    assert period_start("daily", WEDNESDAY) == "2026-12-02"
    assert period_start("weekly", WEDNESDAY) == "2026-11-30" == period_start("weekly", MONDAY)
    assert run_key(7, "weekly", NEXT_MONDAY) == "7:weekly:2026-12-07"


def users_with_sync(app, n: int, period: str = "daily") -> list[int]:
    ids = [add_user(app, f"user{i}") for i in range(n)]
    with app.app_context():
        for user_id in ids:
            set_sync(db.session, user_id, enabled=True, period=period, mode="auto")
    return ids


def test_many_ticking_at_once_start_one_sync_per_user(app):
    ids = users_with_sync(app, 5)
    started: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def submit(kind, params, user_id):  # noqa: ANN001,ANN202
        with lock:
            started.append((user_id, params))
        return f"job-{user_id}-{params['sync_run_id']}"

    with app.app_context():
        factory = sessionmaker(bind=db.engine, expire_on_commit=False)
    gate = threading.Barrier(6)

    def one_process() -> None:
        gate.wait()
        for _ in range(3):
            tick(factory, submit, MONDAY)

    threads = [threading.Thread(target=one_process) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(user_id for user_id, _ in started) == sorted(ids), "each user's sync started exactly once"
    with app.app_context():
        assert db.session.scalar(select(func.count(SyncRun.id))) == 5


def test_a_missed_period_runs_once_after_a_restart_and_a_paused_or_disabled_sync_never(app):
    ids = users_with_sync(app, 3, period="weekly")
    with app.app_context():
        set_sync(db.session, ids[1], enabled=False, period="weekly", mode="auto")
        from app.services.sync import pause

        pause(db.session, ids[2], "login withdrawn")
        factory = sessionmaker(bind=db.engine, expire_on_commit=False)
        assert [u for u, _ in due(db.session, MONDAY)] == [ids[0]]
    calls: list[int] = []
    assert len(tick(factory, lambda kind, params, user_id: calls.append(user_id) or "j", MONDAY)) == 1
    assert tick(factory, lambda *a: calls.append(a) or "j", WEDNESDAY) == [], "same week: nothing due"
    # The app was down for two weeks: the first tick after the restart runs the current week's sync, once.
    later = datetime(2026, 12, 16, 12, 0, tzinfo=UTC)
    assert len(tick(factory, lambda kind, params, user_id: calls.append(user_id) or "j", later)) == 1
    assert tick(factory, lambda *a: calls.append(a) or "j", later) == []
    assert calls == [ids[0], ids[0]]


def test_the_in_process_scheduler_is_off_in_tests_and_with_a_broker_unless_asked(app):
    assert init_app(app) is None  # TESTING
    app.config.update(TESTING=False, CELERY_BROKER_URL="redis://127.0.0.1:1/0")
    assert init_app(app) is None  # Celery beat's job then
    app.config.update(CONTEXTIFY_SYNC_SCHEDULER="on", CONTEXTIFY_SYNC_CHECK_SECONDS=3600)
    scheduler = init_app(app)
    try:
        assert scheduler is not None
    finally:
        scheduler.stop()
