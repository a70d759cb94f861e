"""Following one kind of job from a page: start it once at a time, show its progress, and say when it is done."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dash import Input, Output, dcc, html, no_update

from app.auth.session import require_user_id
from app.dash_views.components import job_log, stage_progress
from app.dash_views.harvests import duration_s, format_duration, format_when, is_active, stage_rows
# Pages take the whole job kit from this module, so these two are imported here to be passed on.
from app.dash_views.harvests import current_job as current_job
from app.jobs import runner
from app.jobs.runner import JobRefused as JobRefused

POLL_MS = 1000


@dataclass(frozen=True)
class JobIds:
    """The component ids of one page's job card."""

    store: str
    done: str
    interval: str
    status: str
    progress: str
    log: str


def start_job(user_id: int, kind: str, params: Mapping[str, Any], what: str, busy: str | None = None,
              bucket: str | None = None) -> str:
    """Ask the job service to start the job; JobRefused (plain words) when its rules say not now."""
    return runner.start(kind, params, user_id, what, busy, bucket)


def job_sentence(job: Mapping[str, Any] | None, what: str, none: str) -> str:
    """One sentence on the job: waiting, running, finished in how long, failed with why."""
    if job is None:
        return none
    status = job["status"]
    if status == "queued":
        return f"{what} is waiting for a free worker."
    if status == "running":
        return f"{what} is running…"
    if status == "succeeded":
        return f"{what} finished in {format_duration(duration_s(job))}."
    # An ending that is not a success is dated, so one from earlier is read as history, not as what happens now.
    when = f" on {format_when(job['finished_at'])}" if job.get("finished_at") else ""
    if status == "failed":
        return f"{what} failed{when}: {job.get('error') or 'no reason was recorded.'}"
    if status == "cancelled":
        return f"{what} was cancelled{when}."
    return f"{what} was interrupted{when} (contextify stopped while it ran). Start it again."


def job_card(title: str, names: JobIds, job: Mapping[str, Any] | None) -> html.Section:
    return html.Section([html.H2(title), *job_follow(names, job)], className="card")


def job_follow(names: JobIds, job: Mapping[str, Any] | None) -> list:
    """The components `register_follow` fills: a status line, bars, the log, and the stores and poll timer."""
    return [
        html.P(id=names.status, className="job-status", **{"aria-live": "polite"}),
        html.Div(id=names.progress),
        html.Div(id=names.log),
        dcc.Store(id=names.store, data=job["id"] if job else None),
        dcc.Store(id=names.done, data=None),
        dcc.Interval(id=names.interval, interval=POLL_MS, disabled=not is_active(job)),
    ]


def register_follow(dash_app, names: JobIds, sentence: Callable[[Mapping[str, Any] | None], str]) -> None:
    """The poll callback: status, bars and log while the job runs; `done` gets the job when it has ended."""

    @dash_app.callback(
        Output(names.status, "children"), Output(names.progress, "children"), Output(names.log, "children"),
        Output(names.interval, "disabled"), Output(names.done, "data"),
        Input(names.interval, "n_intervals"), Input(names.store, "data"))
    def poll(_tick, job_id):
        user_id = require_user_id()
        job = runner.job_status(job_id, user_id) if job_id else None
        active = is_active(job)
        progress = stage_progress(stage_rows(job["progress"], finished=not active,
                                             succeeded=job["status"] == "succeeded")) if job else None
        done = {"id": job["id"], "status": job["status"], "result": job["result"]} \
            if job and not active else no_update
        return sentence(job), progress, job_log(job["log"] if job else []), not active, done
