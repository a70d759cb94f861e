"""Serving contextify as production does for the web benchmarks: a database of its own, gunicorn from the Procfile, locust.

Each run creates its own PostgreSQL database (`contextify_bench_<pid>_<n>`) and drops it afterwards, because
other people's tests use the same server; without PostgreSQL it falls back to a SQLite file.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from benchmarks.common import ROOT

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
BIN = Path(sys.executable).parent
_COUNTER = iter(range(1_000_000))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_base() -> str | None:
    """The PostgreSQL server to create benchmark databases on (TEST_DATABASE_URL, else the local default), if up."""
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL") or DEFAULT_POSTGRES
    try:
        engine = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception:  # noqa: BLE001  (unreachable, wrong driver, refused: no PostgreSQL for us)
        return None
    return url


@contextlib.contextmanager
def own_database(kind: str = "auto", prefix: str = "contextify_bench") -> Iterator[tuple[str, str]]:
    """(SQLAlchemy URL, "PostgreSQL"/"SQLite") of a new empty database, dropped on exit.

    `kind`: "postgresql" (required), "sqlite", or "auto" (PostgreSQL when reachable).
    """
    base = postgres_base() if kind in ("auto", "postgresql") else None
    if kind == "postgresql" and base is None:
        raise RuntimeError("PostgreSQL is unreachable (set TEST_DATABASE_URL, e.g. "
                           "postgresql://postgres@127.0.0.1:5432/test)")
    if base is None:
        folder = tempfile.mkdtemp(prefix=f"{prefix}-")
        yield f"sqlite:///{folder}/bench.db", "SQLite"
        return
    url = make_url(base)
    name = f"{prefix}_{os.getpid()}_{next(_COUNTER)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False), "PostgreSQL"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def procfile_web(port: int, environ: dict[str, str] | None = None) -> list[str]:
    """The Procfile's `web` command with its ${VAR:-default}s filled in from `environ` (default: this process's
    environment), bound to loopback only."""
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    command = line.split(":", 1)[1].strip()
    environ = os.environ if environ is None else environ
    env = {"PORT": str(port), **{k: v for k, v in environ.items() if k in ("WEB_CONCURRENCY", "GUNICORN_THREADS",
                                                                          "GUNICORN_TIMEOUT")}}
    expanded = subprocess.run(["bash", "-c", f"echo {command}"], env={"PATH": os.environ.get("PATH", ""), **env},
                              capture_output=True, text=True, check=True).stdout.strip()
    args = shlex.split(expanded.replace("0.0.0.0:", "127.0.0.1:"))
    args[0] = str(BIN / args[0])
    return args


def app_environment(database_url: str, sandbox_url: str, port: int, instance_dir: str) -> dict[str, str]:
    """What the benchmark's server runs with: the sandbox, its own database, no Celery (the in-process runner)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET", "CELERY_BROKER_URL", "RATE_LIMIT_REDIS_URL",
                        "FLASK_DEBUG", "TESTING")}
    env.update({
        "DATABASE_URL": database_url, "CONTEXTIFY_SANDBOX_URL": sandbox_url, "SECRET_KEY": "bench-only-secret",
        "CONTEXTIFY_INSTANCE_DIR": instance_dir, "SPOTIFY_REDIRECT_URI": f"http://127.0.0.1:{port}/callback",
        "LOG_LEVEL": "WARNING", "FLASK_APP": "app:create_app",
        # Every simulated session logs in and starts jobs from one loopback address: production's per-address
        # limits on logins and job creation would refuse them and measure the limiter, not the pages.
        "CONTEXTIFY_LOGIN_RATE_LIMIT": "100000 per minute", "CONTEXTIFY_JOB_RATE_LIMIT": "100000 per minute",
    })
    return env


@contextlib.contextmanager
def gunicorn(env: dict[str, str], port: int, log_path: Path, timeout_s: float = 60) -> Iterator[str]:
    """Start the Procfile's web process (its variables from `env`); yields its base URL once /healthz answers;
    stops it on exit."""
    log = open(log_path, "w")  # noqa: SIM115  (closed below, after the process)
    process = subprocess.Popen(procfile_web(port, env), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({process.returncode}):\n{log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not become healthy:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=35)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def run_locust(locustfile: str, host: str, users: int, seconds: float, env: dict[str, str],
               folder: Path) -> dict[str, Any]:
    """Run locust headless as a subprocess for `seconds`; returns its per-name stats and the locustfile's JSON."""
    prefix = folder / "locust"
    extra_path = folder / "locust-extra.json"
    command = [str(BIN / "locust"), "-f", str(ROOT / "benchmarks" / locustfile), "--headless", "--host", host,
               "-u", str(users), "-r", str(max(users, 1)), "-t", f"{max(int(seconds), 1)}s", "--csv", str(prefix),
               "--only-summary", "--stop-timeout", "10", "--loglevel", "WARNING"]
    full_env = {**os.environ, **env, "BENCH_LOCUST_OUT": str(extra_path)}
    done = subprocess.run(command, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=seconds + 180)
    stats_path = Path(f"{prefix}_stats.csv")
    if not stats_path.exists():
        raise RuntimeError(f"locust wrote no stats ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    with stats_path.open() as handle:
        rows = list(csv.DictReader(handle))
    extra = json.loads(extra_path.read_text()) if extra_path.exists() else {}
    return {"stats": {row["Name"]: row for row in rows}, "extra": extra, "returncode": done.returncode,
            "stderr": done.stderr[-3000:]}
