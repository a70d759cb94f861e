"""Helpers shared by the auth and jobs tests: an app pointed at a sandbox, and logging in through it."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app
from sandbox.runner import SandboxServer, consent
from app.storage.tables import User


def sandbox_app(app_config: dict[str, str], sandbox: SandboxServer, **overrides: str) -> Flask:
    """An app on a fresh migrated database whose every service URL points at `sandbox`."""
    from flask_migrate import upgrade

    from tests.conftest import seed_migrated_database

    settings = {**app_config, "CONTEXTIFY_SANDBOX_URL": sandbox.url, **overrides}
    seed_migrated_database(settings["DATABASE_URL"])
    app = create_app(settings)
    with app.app_context():
        upgrade()
    return app


def login(client: FlaskClient, user: str = "mira.s", approve: bool = True, next_url: str | None = None
          ) -> TestResponse:
    """The browser's round trip: /login, the sandbox consent page, then /callback; returns the callback answer."""
    start = client.get("/login", query_string={"next": next_url} if next_url else None)
    assert start.status_code == 302, start.get_data(as_text=True)
    return client.get(callback_path(consent(start.headers["Location"], user, approve=approve)))


def callback_path(redirect_url: str) -> str:
    """The sandbox redirects to http://127.0.0.1:5000/callback?...: the test client wants the path and query."""
    parts = urlsplit(redirect_url)
    return f"{parts.path}?{parts.query}"


def add_user(app: Flask, spotify_id: str) -> int:
    from app.extensions import db

    with app.app_context():
        user = User(spotify_id=spotify_id, display_name=spotify_id.title())
        db.session.add(user)
        db.session.commit()
        return user.id


def session_login(client: FlaskClient, user_id: int) -> None:
    """Log a client in without Spotify, as /callback would: the user id and the user's session key (made now when
    the user has none yet)."""
    from app.auth.session import new_session_key
    from app.extensions import db

    with client.application.app_context():
        user = db.session.get(User, user_id)
        key = None
        if user is not None:
            user.session_key = key = user.session_key or new_session_key()
            db.session.commit()
    with client.session_transaction() as session:
        session["user_id"] = user_id
        if key is not None:
            session["session_key"] = key
