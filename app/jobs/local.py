"""A registered job run to its end in this process, for a `flask` command: the same task, row and rules as a page's."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import current_app
from sqlalchemy.orm import sessionmaker

from app.jobs.execution import UNEXPECTED_FAILURE, execute, fail
from app.jobs.heartbeat import Heartbeat
from app.runs.progress import terminal_stream
from app.jobs.service import create_job, describe
from app.storage.tables import Job


def run_here(kind: str, params: Mapping[str, Any], user_id: int | None = None,
             local: dict[str, Any] | None = None, on_note: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Create a job row of `kind` (owner `user_id`, None for catalog-wide work), run its registered task here with
    a terminal progress bar and a heartbeat, and return the finished row as plain data (see `describe`).

    `local` is handed to the task as `JobContext.local` (what only an operator may give: a file anywhere, a
    checked client, a summary to fill) and holds what the task leaves there afterwards. An interrupt (Ctrl-C)
    closes the row as failed with what stopped it, then goes on up.
    """
    from app.extensions import db

    factory = sessionmaker(bind=db.engine, expire_on_commit=False)
    job_id = create_job(factory, kind, dict(params), user_id)
    heartbeat = Heartbeat(factory)
    heartbeat.hold(job_id)
    heartbeat.start()
    try:
        execute(job_id, current_app.config, factory, stream=terminal_stream(), on_note=on_note, local=local)
    except BaseException as exc:  # an interrupt, or a bug the run let through: the row must not stay "running"
        # The row says it in plain words; the terminal still shows the interrupt or the traceback.
        fail(factory, job_id, "Stopped from the terminal (Ctrl-C); the work it finished is kept."
             if isinstance(exc, KeyboardInterrupt) else UNEXPECTED_FAILURE)
        raise
    finally:
        heartbeat.stop()
    with factory() as session:
        return describe(session.get(Job, job_id))
