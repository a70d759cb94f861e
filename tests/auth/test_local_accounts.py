"""Listeners without Spotify: a local account with a one-time key, its own rows, revocable sessions, delete-my-data."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.services.local_accounts import SpotifyTaken, connect_spotify, create_local_account, user_for_key
from app.storage.tables import LibraryImport, User
from tests.auth.helpers import add_user


def _csrf(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def _make_account(client) -> str:
    """Walk /start as a browser does; returns the key the page shows once."""
    page = client.get("/start").get_data(as_text=True)
    answer = client.post("/start", data={"csrf_token": _csrf(page), "name": "Ana"})
    assert answer.status_code == 200
    return answer.get_data(as_text=True).split('id="local-key" class="key">')[1].split("<")[0]


def test_start_makes_an_account_that_reaches_the_app_without_spotify(app, client):
    key = _make_account(client)
    assert key.startswith("ctx-") and len(key) > 40
    assert client.get("/app/library").status_code == 200
    with app.app_context():
        user = db.session.scalar(select(User).where(User.display_name == "Ana"))
        assert user.spotify_id is None and user.local_key_hash and key not in user.local_key_hash


def test_the_key_signs_back_in_and_a_wrong_key_does_not(app, client):
    key = _make_account(client)
    page = client.get("/logout").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": _csrf(page)})
    assert client.get("/app/library").status_code == 302
    page = client.get("/start").get_data(as_text=True)
    wrong = client.post("/login/key", data={"csrf_token": _csrf(page), "key": key + "x"})
    assert wrong.status_code == 401 and "does not open any account" in wrong.get_data(as_text=True)
    right = client.post("/login/key", data={"csrf_token": _csrf(page), "key": f"  {key} "})
    assert right.status_code == 302 and right.headers["Location"] == "/app/library"
    assert client.get("/app/library").status_code == 200


def test_log_out_ends_every_session_of_a_local_account(app):
    first, second = app.test_client(), app.test_client()
    key = _make_account(first)
    page = second.get("/start").get_data(as_text=True)
    second.post("/login/key", data={"csrf_token": _csrf(page), "key": key})
    assert second.get("/app/library").status_code == 200
    page = first.get("/logout").get_data(as_text=True)
    first.post("/logout", data={"csrf_token": _csrf(page)})
    assert second.get("/app/library").status_code == 302


def test_delete_my_data_removes_a_local_account_and_its_key_stops_working(app, client):
    key = _make_account(client)
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.display_name == "Ana"))
        db.session.add(LibraryImport(user_id=user_id, kind="file", status="done"))
        db.session.commit()
    page = client.get("/account").get_data(as_text=True)
    assert "not connected" in page
    assert client.post("/account/delete", data={"csrf_token": _csrf(page)}).status_code == 200
    with app.app_context():
        assert db.session.get(User, user_id) is None
        assert db.session.scalar(select(LibraryImport).where(LibraryImport.user_id == user_id)) is None
        assert user_for_key(db.session, key) is None


def test_save_page_offers_export_and_a_way_to_connect_spotify(app, client):
    _make_account(client)
    layout = client.get("/app/_dash-layout")
    assert layout.status_code == 200
    from app.dash_views import save
    with app.test_request_context():
        from flask import session as flask_session
        with client.session_transaction() as stored:
            flask_session.update(stored)
        text = str(save.layout())
    assert "Connect Spotify to save there; export now" in text and "hidden=True" in text
    assert "save-export-csv" in text or "Download CSV" in text


def test_connecting_spotify_keeps_the_local_account_unless_another_holds_that_spotify_user(app):
    other = add_user(app, "mira.s")
    with app.app_context():
        user, key = create_local_account(db.session, "Ana")
        assert user_for_key(db.session, key) is not None
        session_key = db.session.get(User, user.id).session_key
        connect_spotify(db.session, user, "ana.k")
        connected = db.session.get(User, user.id)
        assert connected.spotify_id == "ana.k"
        # The one-time key no longer opens an account that now holds Spotify tokens, nor do its old sessions.
        assert user_for_key(db.session, key) is None and connected.session_key != session_key
        late, _ = create_local_account(db.session)
        try:
            connect_spotify(db.session, late, "mira.s")
            raise AssertionError("took another account's Spotify user")
        except SpotifyTaken:
            pass
        assert db.session.get(User, late.id).spotify_id is None and db.session.get(User, other).spotify_id == "mira.s"
