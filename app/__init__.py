"""contextify: sorts a Spotify user's Liked Songs into playlists by context, learned from public playlists."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from app import logs  # at import: a Celery worker must see its logging hook before it sets up logging
from config import load_settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the contextify app from the environment; `test_config` entries override environment variables.

    Nothing heavy happens here: no network, no model loading, no data reads.
    """
    environ = None if test_config is None else {**os.environ, **test_config}
    settings = load_settings(environ)
    app = Flask(__name__, instance_path=settings["INSTANCE_DIR"])
    app.config.from_mapping(settings)

    configure_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_template_context(app)
    register_auth(app)
    dash_app = register_dash(app)
    register_security(app, dash_app)
    register_jobs(app)
    register_commands(app)
    return app


def configure_logging(app: Flask) -> None:
    """One JSON line per event on stdout, where containers and Elastic Beanstalk collect it, with secrets redacted
    and each request's X-Request-ID (and each job's id) on every line logged while it runs."""
    logs.install(logging.getLogger("contextify"), app.config["LOG_LEVEL"])
    # Before `app.logger` is first used, so Flask sees a handler and does not add its own stderr one.
    logs.install(logging.getLogger(app.name), app.config["LOG_LEVEL"])
    logs.init_request_ids(app)
    logs.redact_server_logs()


def register_extensions(app: Flask) -> None:
    from app.extensions import db, migrate
    from app.storage.engine import configure_engine

    os.makedirs(app.instance_path, exist_ok=True)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    with app.app_context():
        configure_engine(db.engine)


def register_blueprints(app: Flask) -> None:
    from app.health import bp as health_bp
    from app.web import bp as web_bp
    from app.web.invites import bp as invites_bp
    from app.web.login import bp as auth_bp
    from app.web.sync_account import bp as sync_account_bp

    app.register_blueprint(web_bp)
    app.register_blueprint(invites_bp)
    app.register_blueprint(sync_account_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(health_bp)


def register_template_context(app: Flask) -> None:
    """Every page says whether it talks to the sandbox or to real Spotify."""

    @app.context_processor
    def inject_mode() -> dict[str, Any]:
        return {"sandbox_mode": app.config["SANDBOX_MODE"], "sandbox_url": app.config["CONTEXTIFY_SANDBOX_URL"]}


def register_auth(app: Flask) -> None:
    """Login is required under the Dash mount; errors around login and outside services get plain-words pages."""
    from app.auth.session import current_user
    from app.dash_views import URL_BASE
    from app.web.csrf import csrf_token
    from app.web.errors import register_error_pages
    from app.web.guard import require_login_under

    register_error_pages(app)
    require_login_under(app, URL_BASE)
    login_label = "Log in with the sandbox" if app.config["SANDBOX_MODE"] else "Log in with Spotify"

    @app.context_processor
    def inject_user() -> dict[str, Any]:
        return {"current_user": current_user(), "csrf_token": csrf_token, "login_label": login_label}


def register_jobs(app: Flask) -> None:
    """The job runner: Celery when CELERY_BROKER_URL is set, else an in-process pool (started on first use); and
    the sync scheduler, started by the first request a web process serves (never by a command)."""
    from app.jobs.runner import init_app
    from app.jobs.sync_schedule import start_on_first_request

    init_app(app)
    start_on_first_request(app)


def register_dash(app: Flask) -> Any:
    from app.dash_views import init_dash

    return init_dash(app)


def register_security(app: Flask, dash_app: Any) -> None:
    """Security headers and CSP (with the hashes of Dash's inline scripts), CSRF for forms and Dash callbacks,
    request size and rate limits, and their plain-words 413/429 pages."""
    from app.web.security import register_security as install

    install(app, dash_app)


def register_commands(app: Flask) -> None:
    """Every pipeline step is also a `flask` command; only commands that work are registered."""
    from app.commands import commands

    for command in commands():
        app.cli.add_command(command)
