"""The Celery app for running jobs on workers: `celery -A app.jobs.celery_app worker` from the repository root.

The worker reads the same environment as the web app (CELERY_BROKER_URL, DATABASE_URL, SECRET_KEY, ...),
builds the Flask app once, and runs each job through the same code as the in-process runner.
"""

from __future__ import annotations

import functools
import os

from celery import Celery, signals
from dotenv import load_dotenv
from flask import Flask

from app.jobs.sync_schedule import SYNC_DUE, beat_schedule
from config import ROOT

RUN_JOB = "contextify.run_job"
VISIBILITY_TIMEOUT_S = 600  # well past runner.STALE_AFTER_S, so a redelivered job of a dead worker is stale


def make_celery(broker_url: str | None) -> Celery:
    """A Celery app on `broker_url` (Redis). Results are not kept: job state lives in the database."""
    celery = Celery("contextify", broker=broker_url, set_as_current=False)
    celery.conf.update(
        task_ignore_result=True,
        worker_prefetch_multiplier=1,  # jobs are long: a worker takes one at a time, the rest wait in Redis
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,  # keep the app's one-line log format
        # A job is acknowledged when it ends, not when it starts: if its worker is killed (OOM, kill -9, a
        # lost machine) the message goes back to Redis, and a worker delivered it again takes the job over
        # once its heartbeat is stale (runner.run_job). Without this the message died with the worker.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # Redis hands an unacknowledged message out again after this long; a job still alive on another
        # worker is left alone (runner._claim), one whose heartbeat stopped is taken over.
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
    )
    celery.task(name=RUN_JOB, ignore_result=True)(_run_job)
    celery.task(name=SYNC_DUE, ignore_result=True)(_sync_due)
    # Celery beat (the Procfile's `beat`) sends `sync_due` on this schedule; any worker ticks, exactly-once
    # per user and period is the database's unique run key (app/jobs/sync_schedule.py).
    celery.conf.beat_schedule = beat_schedule(os.environ)
    return celery


def _sync_due() -> list[str]:
    from app.jobs.sync_schedule import app_tick

    return app_tick(flask_app())


def _run_job(job_id: str) -> str | None:
    from app.jobs.runner import run_job

    with flask_app().app_context():
        return run_job(job_id)


@functools.cache
def flask_app() -> Flask:
    """The worker's Flask app, built on first use from the environment, like `flask run` builds it."""
    from app import create_app

    return create_app()


@signals.worker_init.connect
def _require_broker(**_kwargs: object) -> None:
    # SystemExit, not an exception: Celery logs and ignores exceptions raised by signal handlers, then
    # would try its default AMQP broker on localhost.
    if not os.environ.get("CELERY_BROKER_URL"):
        raise SystemExit("CELERY_BROKER_URL is not set: point it at the Redis the web app uses, "
                         "e.g. redis://127.0.0.1:6379/0.")


load_dotenv(ROOT / ".env", override=False)  # the same `.env` the web app reads, before the broker is chosen
celery = make_celery(os.environ.get("CELERY_BROKER_URL"))
