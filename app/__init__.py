"""contextify: sorts a Spotify user's Liked Songs into playlists by context, learned from public playlists."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

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
    register_dash(app)
    register_jobs(app)
    register_commands(app)
    return app


def configure_logging(app: Flask) -> None:
    """One line per event on stdout, where containers and Elastic Beanstalk collect it."""
    logger = logging.getLogger("contextify")
    logger.setLevel(app.config["LOG_LEVEL"])
    if not logger.handlers:
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"))
        logger.addHandler(handler)
    app.logger.setLevel(app.config["LOG_LEVEL"])


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever `sys.stdout` is at the time of each record, not the one it was created with
    (test runners and daemonisers swap it; a handler holding the old one writes to a closed stream)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self):  # noqa: ANN201
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:  # noqa: ANN001
        pass


def register_extensions(app: Flask) -> None:
    from app.extensions import db, migrate
    from app.storage.engine import configure_engine

    os.makedirs(app.instance_path, exist_ok=True)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    with app.app_context():
        configure_engine(db.engine)


def register_blueprints(app: Flask) -> None:
    from app.auth import bp as auth_bp
    from app.web import bp as web_bp

    app.register_blueprint(web_bp)
    app.register_blueprint(auth_bp)


def register_template_context(app: Flask) -> None:
    """Every page says whether it talks to the sandbox or to real Spotify."""

    @app.context_processor
    def inject_mode() -> dict[str, Any]:
        return {"sandbox_mode": app.config["SANDBOX_MODE"], "sandbox_url": app.config["CONTEXTIFY_SANDBOX_URL"]}


def register_auth(app: Flask) -> None:
    """Login is required under the Dash mount; errors around login and outside services get plain-words pages."""
    from app.auth.csrf import csrf_token
    from app.auth.errors import register_error_pages
    from app.auth.guard import require_login_under
    from app.auth.session import current_user
    from app.dash_views import URL_BASE

    register_error_pages(app)
    require_login_under(app, URL_BASE)
    login_label = "Log in with the sandbox" if app.config["SANDBOX_MODE"] else "Log in with Spotify"

    @app.context_processor
    def inject_user() -> dict[str, Any]:
        return {"current_user": current_user(), "csrf_token": csrf_token, "login_label": login_label}


def register_jobs(app: Flask) -> None:
    """The job runner: Celery when CELERY_BROKER_URL is set, else an in-process pool (started on first use)."""
    from app.jobs.runner import init_app

    init_app(app)


def register_dash(app: Flask) -> None:
    from app.dash_views import init_dash

    init_dash(app)


def register_commands(app: Flask) -> None:
    """Every pipeline step is also a `flask` command; only commands that work are registered."""
    from app.cli import COMMANDS

    for command in COMMANDS:
        app.cli.add_command(command)
