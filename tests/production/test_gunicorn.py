"""The Procfile's `web` command, run as it is written: gunicorn with two workers serving /healthz from PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

from app import create_app
from tests.production.conftest import BIN, ROOT, app_env, free_port, wait_for_http

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def procfile_command(process: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            return command.strip()
    raise AssertionError(f"the Procfile has no {process!r} process")


def start_web(processes, app_config, database_url: str, log_name: str):  # noqa: ANN001, ANN201
    """gunicorn exactly as the Procfile says, through a shell (as Elastic Beanstalk runs it), on a free port."""
    port = free_port()
    env = app_env(**{**app_config, "DATABASE_URL": database_url}, PORT=str(port), WEB_CONCURRENCY="2",
                  PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    process = processes(["bash", "-c", "exec " + procfile_command("web")], env,
                        Path(app_config["CONTEXTIFY_INSTANCE_DIR"]) / log_name)
    return process, f"http://127.0.0.1:{port}"


def _migrate(app_config, database_url: str) -> None:  # noqa: ANN001
    from flask_migrate import upgrade

    from app.extensions import db

    app = create_app({**app_config, "DATABASE_URL": database_url})
    with app.app_context():
        upgrade()
        db.engine.dispose()


def test_gunicorn_from_the_procfile_serves_a_healthy_healthz_and_stops_cleanly(app_config, postgres_url, processes):
    _migrate(app_config, postgres_url)
    web, url = start_web(processes, app_config, postgres_url, "web.log")
    answer = wait_for_http(f"{url}/healthz", web)
    assert answer.status_code == 200, answer.text
    assert answer.json()["checks"]["migrations"]["ok"] is True
    assert answer.headers["X-Request-ID"]

    # Both workers booted, and what they logged is one JSON object per line.
    os.killpg(web.popen.pid, signal.SIGTERM)
    assert web.popen.wait(timeout=30) == 0, web.log()
    lines = [json.loads(line) for line in web.log().splitlines() if line.strip()]
    booted = [line for line in lines if line["msg"].startswith("Booting worker")]
    assert len(booted) == 2, lines


def test_gunicorn_answers_503_when_the_database_is_unreachable(app_config, processes):
    closed = free_port()  # bound and released at once: nothing listens there, so connecting is refused
    web, url = start_web(processes, app_config, f"postgresql://postgres@127.0.0.1:{closed}/test", "web-down.log")
    answer = wait_for_http(f"{url}/healthz", web)
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["database"] == {"ok": False, "error": "unreachable (OperationalError)"}
    assert web.stop() == 0


def test_the_wsgi_entry_point_is_the_factorys_app():
    import wsgi

    assert wsgi.application.name == "app" and callable(wsgi.application.wsgi_app)
    assert sys.modules["wsgi"].__file__ == str(ROOT / "wsgi.py")
