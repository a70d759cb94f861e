"""Area 6, the whole wait: from login to the first reviewable playlists and to everything done, as a user lives it.

A new user logs in on an empty store, types new contexts and starts the harvest and the library import at
once (the product allows both), then trains and sorts when both have finished. The jobs run in this process
on the in-process pool against the sandbox at the real services' limits, exactly as the web app runs them;
the page's polling is imitated by reading each job's progress once a second, so the ETA it showed can be
set against the time each stage really took.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any
from urllib.parse import urlsplit

from app.pipeline.clients.spotify import SPOTIFY_MAX_CALLS, SPOTIFY_WINDOW_S
from sandbox.runner import SandboxServer, consent
from benchmarks.common import Table

DEEZER_PER_S = 50 / 5  # Deezer's documented quota: 50 requests per 5 s
SPOTIFY_PER_S = SPOTIFY_MAX_CALLS / SPOTIFY_WINDOW_S
FLOORS = {"deezer": DEEZER_PER_S, "spotify": SPOTIFY_PER_S}
POLL_S = 1.0


def whole_wait(sandbox: SandboxServer, user: str, contexts: list[str], playlists: int, tracks: int,
               providers: list[str] | None, checks: list[list], timeout_s: float = 3 * 3600) -> list[Table]:
    """Run the scenario once; returns the per-stage table and the ETA table, and adds the targets to `checks`."""
    from flask_migrate import upgrade
    from sqlalchemy import select

    from app import create_app
    from app.extensions import db
    from app.jobs import runner
    from app.storage.tables import User

    folder = tempfile.mkdtemp(prefix="contextify-wait-")
    app = create_app({"CONTEXTIFY_INSTANCE_DIR": folder, "DATABASE_URL": f"sqlite:///{folder}/wait.db",
                      "SECRET_KEY": "bench-only-secret", "CONTEXTIFY_SANDBOX_URL": sandbox.url,
                      "CONTEXTIFY_JOB_WORKERS": "2"})
    with app.app_context():
        upgrade()
    started = time.monotonic()
    client = app.test_client()
    redirect = consent(client.get("/login").headers["Location"], user)
    parts = urlsplit(redirect)
    client.get(f"{parts.path}?{parts.query}")
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.spotify_id == user))
    extra = {"providers": providers} if providers else {}
    stages: list[dict[str, Any]] = []
    try:
        first = _run_jobs(app, runner, user_id, [
            ("harvest", {"contexts": contexts, "playlists_per_context": playlists, "tracks_per_playlist": tracks,
                         **extra}),
            ("import-library", dict(extra)),
        ], started, timeout_s)
        stages += first
        trained = _run_jobs(app, runner, user_id, [("train", {"contexts": contexts, **extra})], started, timeout_s)
        stages += trained
        model_id = (trained[0]["result"] or {}).get("model_id")
        if model_id:
            stages += _run_jobs(app, runner, user_id, [("sort", {"model_id": model_id})], started, timeout_s)
    finally:
        runner.shutdown(app)
        with app.app_context():
            db.engine.dispose()
    return _tables(stages, started, user, contexts, checks)


def _run_jobs(app, runner, user_id: int, jobs: list[tuple[str, dict]], started: float,
              timeout_s: float) -> list[dict[str, Any]]:
    """Start `jobs` together and poll them as the page does until all end; one record per job."""
    with app.app_context():
        ids = [(kind, runner.submit(kind, params, user_id)) for kind, params in jobs]
    records = {job_id: {"kind": kind, "start_s": time.monotonic() - started, "polls": []} for kind, job_id in ids}
    deadline = time.monotonic() + timeout_s
    while True:
        now = time.monotonic() - started
        open_jobs = 0
        for _kind, job_id in ids:
            record = records[job_id]
            if "end_s" in record:
                continue
            with app.app_context():
                status = runner.job_status(job_id, user_id)
            record["polls"].append((now, status["progress"]))
            if status["status"] in ("succeeded", "failed", "cancelled"):
                record.update(end_s=now, status=status["status"], result=status["result"], error=status["error"])
            else:
                open_jobs += 1
        if not open_jobs or time.monotonic() > deadline:
            break
        time.sleep(POLL_S)
    return list(records.values())


def _calls(record: dict[str, Any]) -> dict[str, int]:
    result = record.get("result") or {}
    calls = result.get("api_calls") or {}
    return {k: int(v) for k, v in calls.items() if isinstance(v, (int, float))}


def _floor(calls: dict[str, int]) -> tuple[float, str]:
    floors = {service: calls.get(service, 0) / rate for service, rate in FLOORS.items()}
    service = max(floors, key=floors.get)
    return floors[service], service if floors[service] > 0 else "local work (no outside calls)"


def _tables(stages: list[dict[str, Any]], started: float, user: str, contexts: list[str],
            checks: list[list]) -> list[Table]:
    per_stage = Table(
        f"The whole wait: {user}, {len(contexts)} new contexts ({', '.join(contexts)}), empty store",
        "Each row is one job as the user starts it (harvest and library import together, then training, then "
        "the sort). Calls come from each job's own summary; the floor is the calls divided by the binding "
        "service's limit (Deezer 10/s, Spotify 5/s), i.e. the least time the real services allow. Times are "
        "seconds from login.",
        ["stage", "status", "started s", "ended s", "wall s", "deezer calls", "spotify calls",
         "reccobeats calls", "preview downloads", "floor s", "binding floor", "new tracks",
         "deezer calls per new track"])
    for record in stages:
        calls = _calls(record)
        floor_s, binding = _floor(calls)
        result = record.get("result") or {}
        new = result.get("new_tracks") or result.get("tracks", {}).get("new") if isinstance(result, dict) else None
        new = new if isinstance(new, int) else None
        per_new = round(calls.get("deezer", 0) / new, 2) if new else "-"
        per_stage.rows.append([record["kind"], record.get("status", "timed out") if not record.get("error")
                               else f"{record.get('status')}: {record['error'][:120]}",
                               round(record["start_s"], 1), round(record.get("end_s", float("nan")), 1),
                               round(record.get("end_s", float("nan")) - record["start_s"], 1),
                               calls.get("deezer", 0), calls.get("spotify", 0), calls.get("reccobeats", 0),
                               calls.get("previews", 0), round(floor_s, 1), binding, new if new else "-", per_new])
    eta = Table(
        "The ETA the page showed against the time it took",
        "For each stage of each job: the estimate shown when the stage was first about 10% done (the page's "
        "`eta_s`, a rate extrapolation), and the time the stage then really took to finish.",
        ["job", "stage", "shown at s", "done/total then", "ETA shown s", "really took s", "error"])
    for record in stages:
        for name, (at, entry, finished_at) in _first_estimates(record).items():
            took = finished_at - at if finished_at is not None else float("nan")
            shown = entry.get("eta_s")
            error = f"{(shown - took) / took:+.0%}" if shown and took and took == took else "-"
            eta.rows.append([record["kind"], name, round(at, 1), f"{entry['done']}/{entry['total']}",
                             shown if shown is not None else "-", round(took, 1), error])
    ends = [r.get("end_s") for r in stages if r.get("end_s") is not None]
    sort_done = next((r.get("end_s") for r in stages if r["kind"] == "sort" and r.get("status") == "succeeded"), None)
    everything = max(ends) if ends else float("nan")
    first = sort_done if sort_done is not None else float("nan")
    checks.append(["whole wait: first reviewable playlists <= 5 minutes after login",
                   f"{first / 60:.1f} min" if first == first else "not reached", first == first and first <= 300])
    checks.append(["whole wait: everything done <= 30 minutes after login", f"{everything / 60:.1f} min",
                   everything == everything and everything <= 1800])
    return [per_stage, eta]


def _first_estimates(record: dict[str, Any]) -> dict[str, tuple[float, dict, float | None]]:
    """Per stage: (poll time, progress entry) of the first poll at >= 10% done with an ETA, and when it finished."""
    found: dict[str, tuple[float, dict, float | None]] = {}
    finished: dict[str, float] = {}
    for at, progress in record["polls"]:
        for name, entry in (progress or {}).items():
            total, done = entry.get("total") or 0, entry.get("done") or 0
            if name not in found and total and done >= 0.1 * total and entry.get("eta_s"):
                found[name] = (at, entry, None)
            if total and done >= total and name not in finished:
                finished[name] = at
    end = record.get("end_s")
    return {name: (at, entry, finished.get(name, end)) for name, (at, entry, _none) in found.items()}
