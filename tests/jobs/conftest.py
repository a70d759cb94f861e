"""Job tests: apps whose runner threads are stopped afterwards, a few tiny registered tasks, and a waiter."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from app.extensions import db
from app.jobs import runner
from app.jobs.registry import JobContext, TaskError, task

# Set by tests to let a `test-wait` job finish; it otherwise waits for a cancel.
RELEASE = threading.Event()


@task("test-echo")
def echo(ctx: JobContext) -> dict[str, Any]:
    ctx.progress.stage("steps", total=2)
    ctx.progress.advance("steps", 2)
    ctx.note("echoed")
    return {"params": ctx.params, "user_id": ctx.user_id}


@task("test-wait")
def wait(ctx: JobContext) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while not RELEASE.is_set() and time.monotonic() < deadline:
        ctx.check_cancelled()
        time.sleep(0.05)
    return {"released": RELEASE.is_set()}


@task("test-boom")
def boom(ctx: JobContext) -> None:
    raise KeyError("BQsecret-token-in-a-message")


@task("test-refuse")
def refuse(ctx: JobContext) -> None:
    raise TaskError("That playlist is private, so it cannot be read.")


@pytest.fixture
def app(app):
    """The shared app fixture, with its job runner stopped at the end of the test."""
    RELEASE.clear()
    yield app
    RELEASE.set()
    runner.shutdown(app)


def wait_for(app, job_id: str, user_id: int, statuses: tuple[str, ...] = ("succeeded", "failed", "cancelled"),
             timeout: float = 30.0, seen: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Poll job_status (as the UI does) until the job reaches one of `statuses`; `seen` collects each poll."""
    deadline = time.monotonic() + timeout
    while True:
        with app.app_context():
            status = runner.job_status(job_id, user_id)
        if seen is not None:
            seen.append(status)
        if status["status"] in statuses:
            return status
        assert time.monotonic() < deadline, f"job still {status['status']} after {timeout} s: {status}"
        time.sleep(0.1)


def dispose(app) -> None:
    with app.app_context():
        db.engine.dispose()
