"""`GET /healthz` for load balancers and orchestrators: database reachable, migrations current, broker reachable."""

from __future__ import annotations

import functools
from typing import Any

import redis
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

bp = Blueprint("health", __name__)

BROKER_TIMEOUT_S = 1.0  # load balancers give up after a few seconds; a slower broker is as good as down

Check = dict[str, Any]


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 with every check when healthy, 503 naming the failing one otherwise. No login: probes carry no session."""
    checks = run_checks()
    healthy = all(check["ok"] for check in checks.values())
    response = jsonify(status="ok" if healthy else "unhealthy", checks=checks)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def run_checks() -> dict[str, Check]:
    """database, migrations and (when CELERY_BROKER_URL is set) broker; each {"ok": bool, ...}."""
    from app import MIGRATIONS_DIR
    from app.extensions import db

    checks: dict[str, Check] = {}
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            checks["database"] = {"ok": True}
            checks["migrations"] = migrations_check(connection, code_heads(str(MIGRATIONS_DIR)))
    except Exception as exc:  # noqa: BLE001  (any failure to talk to the database is "unreachable")
        checks["database"] = _failed("unreachable", exc)
        checks["migrations"] = {"ok": False, "error": "unknown: the database is unreachable"}
    broker = current_app.config.get("CELERY_BROKER_URL")
    if broker:
        checks["broker"] = broker_check(broker)
    return checks


def migrations_check(connection, heads: tuple[str, ...]) -> Check:  # noqa: ANN001
    """Current when the database's Alembic revisions are exactly the migration scripts' heads."""
    applied = tuple(sorted(MigrationContext.configure(connection).get_current_heads()))
    check: Check = {"ok": applied == heads, "database": list(applied), "code": list(heads)}
    if not check["ok"]:
        check["error"] = "the database is not at the code's migration head: run `flask db upgrade`"
    return check


@functools.cache
def code_heads(directory: str) -> tuple[str, ...]:
    """The migration scripts' heads; read once per process, since the code does not change under it."""
    return tuple(sorted(ScriptDirectory(directory).get_heads()))


def broker_check(url: str) -> Check:
    try:
        _broker(url).ping()
    except Exception as exc:  # noqa: BLE001  (refused, timed out, auth failed: all mean jobs cannot queue)
        return _failed("unreachable", exc)
    return {"ok": True}


@functools.cache
def _broker(url: str) -> redis.Redis:
    # One client (and connection pool) per process: a probe every few seconds reuses its connection.
    return redis.Redis.from_url(url, socket_connect_timeout=BROKER_TIMEOUT_S, socket_timeout=BROKER_TIMEOUT_S)


def _failed(what: str, exc: Exception) -> Check:
    # The exception's type only: its message can name hosts, users or a URL with a password.
    return {"ok": False, "error": f"{what} ({type(exc).__name__})"}
