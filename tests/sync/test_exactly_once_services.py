"""Two web processes' schedulers and two Celery workers (handed beat's tick three times) on PostgreSQL and Redis:
one sync per user per period, each run by a worker to its end."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from app.extensions import db
from app.jobs import runner
from app.jobs.celery_app import make_celery
from app.jobs.sync_schedule import SYNC_DUE
from app.services.sync import run_key, set_sync
from app.storage.tables import Job, SyncRun
from tests.auth.helpers import add_user, sandbox_app
from tests.jobs.conftest import dispose
from tests.production.conftest import app_env, processes, redis_url  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

USERS = 6


def test_two_web_schedulers_and_beat_on_two_workers_start_one_sync_per_user(app_config, postgres_url, redis_url,
                                                                          sandbox, processes):  # noqa: F811
    settings = {**app_config, "DATABASE_URL": postgres_url, "CELERY_BROKER_URL": redis_url}
    app = sandbox_app(settings, sandbox)
    try:
        ids = [add_user(app, f"listener{i}") for i in range(USERS)]
        with app.app_context():
            for n, user_id in enumerate(ids):
                set_sync(db.session, user_id, enabled=True, period="daily" if n % 2 else "weekly", mode="auto")
        env = app_env(**settings, CONTEXTIFY_SANDBOX_URL=sandbox.url)
        folder = Path(app_config["CONTEXTIFY_INSTANCE_DIR"])
        for n in (1, 2):
            processes([sys.executable, "-m", "celery", "-A", "app.jobs.celery_app", "worker", "--pool=solo",
                       "--concurrency=1", f"--hostname=sync{n}@%h", "--loglevel=INFO", "--without-gossip",
                       "--without-mingle", "--without-heartbeat"], env, folder / f"worker{n}.log")
        webs = [processes([sys.executable, "-m", "tests.sync.tick_process", "6"], env, folder / f"web{n}.log")
                for n in (1, 2)]
        beat = make_celery(redis_url)
        for _ in range(3):
            beat.send_task(SYNC_DUE)
        for web in webs:
            assert web.popen.wait(120) == 0, web.log()

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with app.app_context():
                runs = db.session.scalars(select(SyncRun)).all()
                jobs = db.session.scalars(select(Job).where(Job.kind == "sync")).all()
                if len(runs) >= USERS and all(r.status not in ("queued", "running") for r in runs) \
                        and all(j.status == "succeeded" for j in jobs) and len(jobs) >= USERS:
                    break
            time.sleep(0.5)
        with app.app_context():
            runs = db.session.scalars(select(SyncRun)).all()
            jobs = db.session.scalars(select(Job).where(Job.kind == "sync")).all()
            periods = {user_id: "daily" if n % 2 else "weekly" for n, user_id in enumerate(ids)}
            assert sorted(r.run_key for r in runs) == sorted(run_key(u, periods[u]) for u in ids), \
                "exactly one sync per user and period"
            assert sorted(j.user_id for j in jobs) == sorted(ids), "exactly one sync job per user"
            assert all(j.status == "succeeded" for j in jobs), [(j.status, j.error) for j in jobs]
            assert all(r.status == "done" for r in runs), [(r.status, r.message) for r in runs]
        started = [job for web in webs for job in json.loads(web.log().strip().splitlines()[-1])]
        assert len(started) == len(set(started)) <= USERS
    finally:
        runner.shutdown(app)
        dispose(app)
