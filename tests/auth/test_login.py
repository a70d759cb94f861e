"""Login with Spotify against the sandbox: state, denial, allow-list, quota, token storage and refresh, logout."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.auth.errors import NeedsLogin
from app.auth.spotify import spotify_for_user, token_store
from app.extensions import db
from sandbox.runner import consent
from app.storage.encryption import TokenCipher
from app.storage.tables import OAuthToken, User
from tests.auth.helpers import callback_path, login, sandbox_app


@pytest.fixture
def app(app_config, sandbox):
    app = sandbox_app(app_config, sandbox)
    yield app
    with app.app_context():
        db.engine.dispose()


def _stored(app, spotify_id: str) -> tuple[User | None, OAuthToken | None]:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.spotify_id == spotify_id))
        token = None if user is None else db.session.scalar(select(OAuthToken).where(OAuthToken.user_id == user.id))
        return user, token


def test_good_state_logs_in_and_stores_only_encrypted_tokens(app, client):
    response = login(client, "mira.s", next_url="/app/")
    assert response.status_code == 302 and response.headers["Location"] == "/app/"
    user, row = _stored(app, "mira.s")
    assert user is not None and user.last_login_at is not None and row is not None
    cipher = TokenCipher(app.config["SECRET_KEY"])
    access, refresh = cipher.decrypt(row.access_token), cipher.decrypt(row.refresh_token)
    assert access.startswith("BQ") and refresh.startswith("AQ")
    assert access.encode() not in row.access_token and refresh.encode() not in row.refresh_token
    assert set(row.scope.split()) == {"user-library-read", "playlist-read-private", "playlist-modify-private",
                                      "playlist-modify-public"}
    with client.session_transaction() as session:
        assert dict(session) == {"user_id": user.id, "session_key": user.session_key}
    cookie = client.get_cookie("session").value
    assert access not in cookie and refresh not in cookie
    assert client.get("/app/").status_code == 200
    assert "Mira" in client.get("/").get_data(as_text=True) or "mira.s" in client.get("/").get_data(as_text=True)


def test_a_second_login_updates_the_same_user_row(app, client):
    login(client, "ana.k")
    first, _ = _stored(app, "ana.k")
    login(app.test_client(), "ana.k")
    second, _ = _stored(app, "ana.k")
    assert first.id == second.id


def test_a_tampered_state_is_refused_with_a_plain_page(app, client):
    start = client.get("/login")
    redirect = consent(start.headers["Location"], "mira.s").replace("state=", "state=x")
    response = client.get(callback_path(redirect))
    assert response.status_code == 400
    assert "not valid any more" in response.get_data(as_text=True)
    assert _stored(app, "mira.s") == (None, None)


def test_a_callback_without_a_login_started_is_refused(app, client):
    response = client.get("/callback?code=AQxyz&state=anything")
    assert response.status_code == 400 and "not valid any more" in response.get_data(as_text=True)


def test_state_is_single_use(app, client):
    start = client.get("/login")
    path = callback_path(consent(start.headers["Location"], "mira.s"))
    assert client.get(path).status_code == 302
    replay = client.get(path)
    assert replay.status_code == 400


def test_denied_consent_shows_a_plain_page_and_stores_nothing(app, client):
    response = login(client, "mira.s", approve=False)
    assert response.status_code == 403
    assert "did not allow contextify" in response.get_data(as_text=True)
    assert _stored(app, "mira.s") == (None, None)


def test_a_user_not_on_the_allow_list_gets_the_five_user_page(app, client):
    response = login(client, "leo.p")
    body = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "at most 5 people" in body and "YourLibrary.json" in body and "Exportify" in body
    assert _stored(app, "leo.p") == (None, None)
    with client.session_transaction() as session:
        assert "user_id" not in session


def test_spotify_quota_shows_when_to_retry(app, client, sandbox):
    start = client.get("/login")
    path = callback_path(consent(start.headers["Location"], "mira.s"))
    sandbox.set_profile("quota")
    response = client.get(path)
    body = response.get_data(as_text=True)
    assert response.status_code == 429 and response.headers["Retry-After"] == "48925"
    assert "13 hours 35 minutes" in body and re.search(r'<strong id="retry-at">\d\d:\d\d UTC', body)
    assert "48925" not in body and "http" not in body.split("retry-wait")[1].split("</p>")[0]


def test_spotify_down_shows_the_service_page(app_config, start_sandbox):
    sandbox = start_sandbox()
    app = sandbox_app(app_config, sandbox)
    client = app.test_client()
    start = client.get("/login")
    path = callback_path(consent(start.headers["Location"], "mira.s"))
    sandbox.stop()
    response = client.get(path)
    assert response.status_code == 503 and "Spotify is not answering" in response.get_data(as_text=True)


def test_an_expired_token_is_refreshed_on_401_and_stored(app, client, sandbox):
    login(client, "jonas.b")
    user, before = _stored(app, "jonas.b")
    assert sandbox.expire_tokens("jonas.b") == 1
    with app.app_context():
        assert spotify_for_user(user.id).me()["id"] == "jonas.b"
    _, after = _stored(app, "jonas.b")
    cipher = TokenCipher(app.config["SECRET_KEY"])
    assert cipher.decrypt(after.access_token) != cipher.decrypt(before.access_token)


def test_a_token_near_expiry_is_refreshed_before_the_call(app, client, sandbox):
    login(client, "jonas.b")
    user, _ = _stored(app, "jonas.b")
    with app.app_context():
        store = token_store()
        stale = store.load(user.id)
        store.save(user.id, {**stale, "expires_at": stale["expires_at"] - 3600})  # "expires" within a minute
        sandbox.reset_counters()
        client_for_user = spotify_for_user(user.id)
        assert store.load(user.id)["access_token"] != stale["access_token"]
        assert client_for_user.me()["id"] == "jonas.b"
    assert sandbox.counters()["spotify"]["total"] == 1  # no 401 round trip


def test_a_dead_refresh_token_means_log_in_again(app, client, sandbox):
    login(client, "ana.k")
    user, _ = _stored(app, "ana.k")
    with app.app_context():
        store = token_store()
        store.save(user.id, {**store.load(user.id), "refresh_token": "AQrevoked"})
        sandbox.expire_tokens("ana.k")
        with pytest.raises(NeedsLogin):
            spotify_for_user(user.id).me()


def test_logout_needs_the_form_token_and_clears_the_session(app, client):
    login(client, "mira.s")
    assert client.post("/logout").status_code == 400
    page = client.get("/logout").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    with client.session_transaction() as session:
        assert dict(session) == {}
    assert client.get("/app/").status_code == 302


def test_landing_page_offers_the_sandbox_login(client):
    body = client.get("/").get_data(as_text=True)
    assert "Log in with the sandbox" in body and 'href="/login"' in body
