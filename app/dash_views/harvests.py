"""Jobs as display data, for every page: the current job of a kind, stages as rows, durations, status sentences."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.jobs import runner
from app.services.contexts import SOURCE_NAMES

KIND = "harvest"
STATUS_WORDS = {"queued": "Waiting to start", "running": "Running", "succeeded": "Finished", "failed": "Failed",
                "cancelled": "Cancelled", "interrupted": "Interrupted"}
KIND_NAMES = {"harvest": "Harvest", "import-library": "Library import", "enrich": "Enrichment"}
FINISHED = ("succeeded", "failed", "cancelled")


# -------------------------------------------------------------------------------------------- jobs


def recent_jobs(user_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The user's recent jobs of every kind, newest first (the past-runs table)."""
    return runner.list_jobs(user_id, limit=limit)


def current_job(user_id: int, kind: str) -> dict[str, Any] | None:
    """This user's job of `kind` still going, else their latest one (what a page follows on load)."""
    jobs = runner.list_jobs(user_id, limit=50, kind=kind)
    return next((job for job in jobs if job["status"] not in FINISHED), jobs[0] if jobs else None)


def current_harvest(user_id: int) -> dict[str, Any] | None:
    return current_job(user_id, KIND)


def is_active(job: Mapping[str, Any] | None) -> bool:
    """Whether the page should keep polling this job."""
    return job is not None and job["status"] in ("queued", "running")


# ---------------------------------------------------------------------------------- display data


@dataclass(frozen=True)
class StageRow:
    name: str
    done: int
    total: int | None
    fraction: float | None   # None: the total is not known yet
    detail: str


def stage_rows(progress: Mapping[str, Mapping[str, Any]] | None, finished: bool = False,
               succeeded: bool | None = None) -> list[StageRow]:
    """One row per stage the job reported, in the order it reported them.

    A bar counts what is done of what is known, including work announced but not yet counted (`pending`), so it
    is full only when everything is done. A stage whose total was never known is drawn full only for a job that
    `succeeded` (a finished job whose outcome is not given counts as succeeded); a failed or cancelled one keeps
    the moving stripe's place empty rather than claim work it did not do.
    """
    rows = []
    complete = finished and (succeeded is None or succeeded)
    for name, entry in (progress or {}).items():
        done, total, pending = int(entry.get("done") or 0), entry.get("total"), int(entry.get("pending") or 0)
        if total == 0 and not pending:  # the stage had nothing to do (every track already enriched, say)
            rows.append(StageRow(name=name, done=0, total=0, fraction=1.0, detail="nothing to do"))
            continue
        known = None if total is None else total + pending
        if known is None:
            fraction = 1.0 if complete else (0.0 if finished else None)
        else:
            fraction = min(done / known, 1.0) if known else 1.0
        counts = f"{done:,} of {known:,}" if known else f"{done:,}"
        if pending:
            counts += f" (at most: {pending:,} not reached yet)"
        eta = "" if finished else format_eta(remaining_s(entry))
        rows.append(StageRow(name=name, done=done, total=known, fraction=fraction,
                             detail=f"{counts} · {eta}" if eta else counts))
    return rows


def remaining_s(entry: Mapping[str, Any], now: float | None = None) -> float | None:
    """The stage's estimate counted down from when it was made (`as_of`); rows written before it was dated keep
    their estimate as it was."""
    eta, as_of = entry.get("eta_s"), entry.get("as_of")
    if eta is None or as_of is None:
        return eta
    return eta - max((time.time() if now is None else now) - as_of, 0.0)


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds <= 0:
        # The measured rate said it would be done by now: say so rather than promise seconds that keep not passing.
        return "taking longer than its rate so far suggested"
    if seconds < 60:
        return f"about {max(round(seconds), 1)} s left"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min left"
    return f"about {int(seconds // 3600)} h {round(seconds % 3600 / 60)} min left"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def duration_s(job: Mapping[str, Any], now: datetime | None = None) -> float | None:
    """Seconds from start to finish (or to now, for a job still running)."""
    started = _parse(job.get("started_at"))
    if started is None:
        return None
    ended = _parse(job.get("finished_at")) or now or datetime.now(UTC)
    return max((ended - started).total_seconds(), 0.0)


def result_counts(job: Mapping[str, Any]) -> str:
    """What a finished harvest produced, in a few words: playlists, labelled tracks, enriched tracks, failures."""
    result = job.get("result") or {}
    stages = result.get("stages") or {}
    parts = []
    for stage, words in (("playlists found", "playlists"), ("tracks labelled", "labels"),
                         ("tracks needing enrichment", "tracks enriched")):
        if stage in stages:
            parts.append(f"{stages[stage]:,} {words}")
    failures = sum((result.get("failures") or {}).values())
    if failures:
        parts.append(f"{failures:,} skipped or failed")
    return " · ".join(parts) or "–"


def status_text(job: Mapping[str, Any] | None) -> str:
    """One sentence about the job the page follows."""
    if job is None:
        return "No harvest yet. Add a few contexts and start one."
    contexts = ", ".join(job["params"].get("contexts") or [])
    status = job["status"]
    if status == "queued":
        return f"Harvest of {contexts} is waiting for a free worker."
    if status == "running":
        if job.get("cancel_requested"):
            return f"Cancelling the harvest of {contexts} after its current step…"
        return f"Harvesting {contexts}…"
    if status == "succeeded":
        return f"Harvest of {contexts} finished in {format_duration(duration_s(job))}: {result_counts(job)}."
    if status == "failed":
        # Dated, as job_sentence does: a failure from earlier reads as history, not as what is happening now.
        when = f" on {format_when(job['finished_at'])}" if job.get("finished_at") else ""
        return f"Harvest of {contexts} failed{when}: {job.get('error') or 'no reason was recorded.'}"
    if status == "cancelled":
        return f"Harvest of {contexts} was cancelled; labels already stored are kept."
    return (f"Harvest of {contexts} was interrupted (contextify stopped while it ran). Resume it to continue; "
            "work already finished is kept.")


def run_rows(jobs: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Past runs as table rows: what, how it ended, when, how long, what it produced."""
    return [{"kind": KIND_NAMES.get(job["kind"], job["kind"]),
             "contexts": ", ".join(job["params"].get("contexts") or []) or "–",
             "source": SOURCE_NAMES.get(job["params"].get("source", "deezer"), "Deezer") if job["kind"] == KIND else "–",
             "status": STATUS_WORDS.get(job["status"], job["status"]),
             "when": format_when(job.get("created_at")),
             "duration": format_duration(duration_s(job)) if job["status"] != "queued" else "–",
             "results": result_counts(job) if job["status"] == "succeeded" else (job.get("error") or "–")}
            for job in jobs]


def format_when(iso: str | None) -> str:
    moment = _parse(iso)
    return "–" if moment is None else moment.strftime("%d %b %Y, %H:%M UTC")


def _parse(iso: str | None) -> datetime | None:
    if not iso:
        return None
    moment = datetime.fromisoformat(iso)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def latest_harvest_contexts(user_id: int) -> list[str]:
    """The contexts of the user's latest harvest that finished (else of their latest at all): Explore's default."""
    jobs = runner.list_jobs(user_id, limit=50, kind=KIND)
    chosen = next((job for job in jobs if job["status"] == "succeeded"), jobs[0] if jobs else None)
    return list(chosen["params"].get("contexts") or []) if chosen else []
