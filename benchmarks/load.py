"""Load test: N concurrent sessions browse every page and start jobs for S seconds against gunicorn on PostgreSQL."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, func, select

from benchmarks.common import ROOT, migrate
from benchmarks.dash_client import login
from benchmarks.server import app_environment, free_port, gunicorn, own_database, run_locust
from benchmarks.web import page_paths

USERS = ("mira.s", "jonas.b", "ana.k")


def run(sessions: int, seconds: float, seed_tracks: int = 4_000, world_scale: str = "small",
        database_url: str | None = None) -> dict[str, Any]:
    """Run the load test; returns the summary (see `markdown`).

    `database_url`: an empty PostgreSQL database to use (a test's fresh one); by default one is created on
    the server of TEST_DATABASE_URL (else 127.0.0.1:5432) and dropped afterwards.
    """
    from sandbox.runner import SandboxServer, cached_world

    world = cached_world(42, world_scale)
    folder = Path(tempfile.mkdtemp(prefix="contextify-load-"))
    started = time.monotonic()
    database = nullcontext((database_url, "PostgreSQL")) if database_url else \
        own_database("postgresql", prefix="contextify_load")
    with database as (database_url, database_kind):
        migrate({"DATABASE_URL": database_url, "CONTEXTIFY_INSTANCE_DIR": str(folder),
                 "SECRET_KEY": "bench-only-secret"})
        if seed_tracks:
            _seed(world, database_url, folder, seed_tracks)
        with SandboxServer(world=world, scale=world_scale, clip_seconds=2.0) as sandbox:
            port = free_port()
            env = app_environment(database_url, sandbox.url, port, str(folder))
            with gunicorn(env, port, folder / "gunicorn.log") as base:
                http = requests.Session()
                login(http, base, USERS[0])
                pages = page_paths(http, base)
                crowd = run_locust("locustfile_load.py", base, sessions, seconds,
                                   {"PYTHONPATH": str(ROOT), "BENCH_USERS": ",".join(USERS),
                                    "BENCH_PAGES": ",".join(pages)}, folder)
        jobs = _jobs(database_url)
    summary = _summary(sessions, seconds, database_kind, pages, crowd, jobs, folder, time.monotonic() - started)
    if summary["server_errors_5xx"] or summary["tracebacks_in_server_log"]:
        print(f"server log kept for reading: {summary['server_log']}", file=sys.stderr)
    else:
        shutil.rmtree(folder, ignore_errors=True)
        summary["server_log"] = None
    return summary


def _seed(world, database_url: str, folder: Path, tracks: int) -> None:
    """Give mira.s a trained model and a sort (a small version of area 5's store), so every page has content."""
    from app import create_app
    from app.extensions import db
    from benchmarks import web_data

    app = create_app({"DATABASE_URL": database_url, "CONTEXTIFY_INSTANCE_DIR": str(folder),
                      "SECRET_KEY": "bench-only-secret", "CONTEXTIFY_SANDBOX_URL": "http://127.0.0.1:9",
                      "LOG_LEVEL": "WARNING"})
    with app.app_context():
        web_data.build(db.session, world, USERS[0], tracks, ["workout", "edm", "running"], str(folder))
        db.session.remove()
        db.engine.dispose()


def _jobs(database_url: str) -> dict[str, int]:
    """Jobs the run left in the database, by "kind status"."""
    from app.storage.tables import Job

    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(select(Job.kind, Job.status, func.count()).where(Job.user_id.is_not(None))
                            .group_by(Job.kind, Job.status)).all()
    engine.dispose()
    return {f"{kind} {status}": n for kind, status, n in rows}


def _summary(sessions: int, seconds: float, database_kind: str, pages: list[str], crowd: dict[str, Any],
             jobs: dict[str, int], folder: Path, wall_s: float) -> dict[str, Any]:
    stats, extra = crowd["stats"], crowd["extra"]
    total = stats.get("Aggregated", {})
    statuses = extra.get("statuses", {})
    server_errors = sum(n for code, n in statuses.items() if code.isdigit() and int(code) >= 500)
    no_answer = sum(n for code, n in statuses.items() if not code.isdigit())
    log = (folder / "gunicorn.log").read_text(errors="replace") if (folder / "gunicorn.log").exists() else ""
    # After the stop signal, in-process jobs still running are cut off: their errors are not the load's.
    during, _, after = log.partition("Handling signal: term")
    slowest = sorted(((float(row["95%"]), name) for name, row in stats.items()
                      if name != "Aggregated" and int(row["Request Count"] or 0) >= 5), reverse=True)[:5]
    return {
        "sessions": sessions, "seconds": seconds, "database": database_kind, "server": "gunicorn (Procfile web)",
        "pages": len(pages), "requests": int(total.get("Request Count", 0) or 0),
        "requests_per_s": float(total.get("Requests/s", 0) or 0),
        "p50_ms": float(total.get("50%", "nan") or "nan"), "p95_ms": float(total.get("95%", "nan") or "nan"),
        "p99_ms": float(total.get("99%", "nan") or "nan"), "max_ms": float(total.get("Max Response Time", "nan")),
        "failures": int(total.get("Failure Count", 0) or 0), "server_errors_5xx": server_errors,
        "no_answer": no_answer, "statuses": statuses,
        "sessions_logged_in": extra.get("sessions_logged_in", 0), "page_visits": extra.get("page_visits", 0),
        "jobs_started": {k.removesuffix("_started"): v for k, v in extra.items() if k.endswith("_started")},
        "jobs_refused_while_one_ran": {k.removesuffix("_refused"): v for k, v in extra.items()
                                       if k.endswith("_refused")},
        "jobs_in_database": jobs, "slowest_p95_ms": {name: p95 for p95, name in slowest},
        "tracebacks_in_server_log": during.count("Traceback"), "tracebacks_at_shutdown": after.count("Traceback"),
        "server_log": str(folder / "gunicorn.log"), "wall_s": round(wall_s, 1),
    }


def markdown(summary: dict[str, Any]) -> str:
    """The summary as the table SECURITY.md quotes."""
    rows = [
        ("concurrent sessions, duration", f"{summary['sessions']} for {summary['seconds']:.0f} s "
                                          f"({summary['sessions_logged_in']} logged in through OAuth)"),
        ("server", f"{summary['server']} on 127.0.0.1, {summary['database']}, in-process job runner, sandbox"),
        ("requests (per second)", f"{summary['requests']:,} ({summary['requests_per_s']:.1f}/s), "
                                  f"{summary['page_visits']:,} page visits over {summary['pages']} pages"),
        ("latency p50 / p95 / p99 / max", f"{summary['p50_ms']:.0f} / {summary['p95_ms']:.0f} / "
                                          f"{summary['p99_ms']:.0f} / {summary['max_ms']:.0f} ms"),
        ("5xx answers", f"{summary['server_errors_5xx']} (no answer at all: {summary['no_answer']}; "
                        f"tracebacks in the server log while serving: {summary['tracebacks_in_server_log']}, "
                        f"from jobs cut off by the stop: {summary['tracebacks_at_shutdown']})"),
        ("answers by status", ", ".join(f"{k}: {v:,}" for k, v in sorted(summary["statuses"].items()))),
        ("jobs started from the pages", ", ".join(f"{k} {v}" for k, v in summary["jobs_started"].items()) or "none"),
        ("refused (one of that kind already running)",
         ", ".join(f"{k} {v}" for k, v in summary["jobs_refused_while_one_ran"].items()) or "none"),
        ("jobs in the database afterwards", ", ".join(f"{k}: {v}" for k, v in sorted(summary["jobs_in_database"]
                                                                                      .items())) or "none"),
        ("slowest requests (p95 ms)", ", ".join(f"{k} {v:.0f}" for k, v in summary["slowest_p95_ms"].items())),
    ]
    return "\n".join(["| load test | result |", "|---|---|", *[f"| {a} | {b} |" for a, b in rows]])


USAGE = """
    python -m benchmarks.load --sessions 50 --seconds 60 [--seed-tracks 4000] [--json-out PATH]

Production's shape on loopback: the Procfile's gunicorn command with the in-process job runner, a PostgreSQL
database of its own (created, then dropped), and the sandbox for Spotify, Deezer and ReccoBeats. Sessions log
in through the sandbox's OAuth consent as mira.s, jonas.b and ana.k (round-robin), then browse pages as a
browser does (page render and the callbacks it fires) and now and then start a harvest, a library import or
a sort from the pages' buttons. Prints a markdown summary and one JSON line; exits 1 on any 5xx answer.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, epilog=USAGE,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed-tracks", type=int, default=4_000,
                        help="tracks of the store built for mira.s first (model and sort included); 0: start empty")
    parser.add_argument("--json-out", type=Path, help="also write the JSON summary to this file")
    args = parser.parse_args(argv)
    summary = run(args.sessions, args.seconds, args.seed_tracks)
    print(markdown(summary))
    print(json.dumps(summary))
    if args.json_out:
        args.json_out.write_text(json.dumps(summary, indent=2))
    return 1 if summary["server_errors_5xx"] or not summary["requests"] else 0


if __name__ == "__main__":
    sys.exit(main())
