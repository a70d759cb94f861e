"""Races the load test found: one person's first login in two tabs at once, and Dash's first-request setup."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

import app.auth.tokens as tokens
from app.auth.spotify import token_store
from app.web.login import upsert_user
from app.extensions import db
from app.storage.tables import OAuthToken, User
from tests.auth.helpers import add_user


def test_a_first_login_that_loses_the_race_for_the_user_row_uses_the_winners_row(app, monkeypatch):
    with app.app_context():
        winner = add_user(app, "mira.s")  # the other tab's request created the row after this one looked
        real_scalar = db.session.scalar
        calls = []

        def stale_first_look(statement, *args, **kwargs):
            calls.append(statement)
            return None if len(calls) == 1 else real_scalar(statement, *args, **kwargs)

        monkeypatch.setattr(db.session, "scalar", stale_first_look)
        user = upsert_user({"id": "mira.s", "display_name": "Mira S."})
        monkeypatch.undo()
        assert user.id == winner and user.display_name == "Mira S."
        assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_a_token_save_that_loses_the_race_for_the_row_updates_the_winners_row(app, monkeypatch):
    with app.app_context():
        user_id = add_user(app, "mira.s")
        store = token_store(app.config)
        store.save(user_id, {"access_token": "first", "expires_at": time.time() + 3600, "refresh_token": "r1"})
        real_row = tokens._row
        looks = []

        def stale_first_look(session, owner):
            looks.append(owner)
            return None if len(looks) == 1 else real_row(session, owner)

        monkeypatch.setattr(tokens, "_row", stale_first_look)
        store.save(user_id, {"access_token": "second", "expires_at": time.time() + 3600, "refresh_token": "r2"})
        monkeypatch.undo()
        assert db.session.scalar(select(func.count()).select_from(OAuthToken)) == 1
        assert store.load(user_id)["access_token"] == "second"


def test_dash_first_requests_arriving_together_all_succeed(app):
    """Eight threads make the app's very first Dash requests at once; Dash's setup runs once, under a lock."""
    user_id = add_user(app, "mira.s")
    wrapped = [hook for hook in app.before_request_funcs[None] if getattr(hook, "__qualname__", "").startswith("Dash.")]
    assert wrapped and all(hasattr(hook, "__wrapped__") for hook in wrapped)

    barrier, statuses = threading.Barrier(8), []

    def first_request() -> None:
        client = app.test_client()
        with client.session_transaction() as session:
            session["user_id"] = user_id
        barrier.wait()
        statuses.append(client.get("/app/_dash-dependencies").status_code)

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * 8
