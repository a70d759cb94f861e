"""What every benchmark area shares: running the real CLI against a sandbox, medians, machine facts, tables."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FLASK = [sys.executable, "-m", "flask"]


@dataclass
class Table:
    """One table of BENCHMARKS.md: a title, a sentence on how to read it, and rows of cells."""

    title: str
    note: str
    header: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", self.note, "", "| " + " | ".join(self.header) + " |",
                 "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in self.rows]
        return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, float) and value != value:
        return "-"  # NaN: nothing was measured
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def fresh_instance() -> dict[str, str]:
    """Environment for a CLI run with its own empty SQLite database (so every track is new)."""
    folder = tempfile.mkdtemp(prefix="contextify-bench-")
    return {"CONTEXTIFY_INSTANCE_DIR": folder, "DATABASE_URL": f"sqlite:///{folder}/bench.db",
            "SECRET_KEY": "bench-only-secret"}


def run_cli(args: list[str], env: dict[str, str], timeout_s: float = 900) -> dict[str, Any]:
    """Run `flask ARGS` from the repo root; return the JSON object it printed last (every command's --json)."""
    full_env = {**os.environ, "FLASK_APP": "app:create_app", **env}
    for name in ("SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET", "CELERY_BROKER_URL"):
        full_env.pop(name, None)
    done = subprocess.run([*FLASK, *args], cwd=ROOT, env=full_env, capture_output=True, text=True,
                          timeout=timeout_s)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"flask {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n"
                           f"{done.stderr[-2000:]}")
    return json.loads(lines[-1])


def run_cli_in_process(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """`run_cli` without a new process: the same command through Flask's CLI runner, on an app made from `env`.

    Each `flask` process loads the whole app again (about 4.5 CPU-seconds); where the figures only show that the
    harness works (the tiny scale), that start-up is not worth paying per command.
    """
    from app import create_app
    from app.extensions import db

    app = create_app({**env, "LOG_LEVEL": "WARNING"})
    try:
        result = app.test_cli_runner().invoke(args=args, env=env)
    finally:
        with app.app_context():
            db.engine.dispose()  # the next command, or the area itself, opens the database next
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.exit_code != 0 or not lines:
        raise RuntimeError(f"flask {' '.join(args)} failed in process ({result.exit_code}, {result.exception!r}):\n"
                           f"{result.output[-2000:]}")
    return json.loads(lines[-1])


def migrate(env: dict[str, str]) -> None:
    """Bring the database `env` names to the migrations' head: what `flask db upgrade` runs, in this process.

    Not a `flask` subprocess: each would load the whole app again (about 4.5 CPU-seconds) for a step no area times.
    """
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db

    app = create_app({**env, "LOG_LEVEL": "WARNING"})
    with app.app_context():
        upgrade()
        db.engine.dispose()  # the area's own processes open the database next


def machine() -> dict[str, str]:
    """The facts a reader needs to compare figures across machines."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": memory,
            "python": platform.python_version(), "platform": platform.platform(),
            "commit": commit + (" (with uncommitted changes)" if dirty.strip() else "")}
