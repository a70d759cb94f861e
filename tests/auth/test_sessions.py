"""Sessions the server can end: a cookie saved before a log out, a deletion or a withdrawn refresh token opens
nothing afterwards, on pages or Dash callbacks, on SQLite and PostgreSQL; and no later account gets an old id."""

from __future__ import annotations

import pytest

from app.auth.spotify import token_store
from app.dash_views import ids
from app.extensions import db
from app.jobs import runner
from app.storage.tables import User
from tests.auth.helpers import login, sandbox_app
from tests.dash_views.helpers import UPDATE, dependencies, find_callback, payload
from tests.jobs.conftest import wait_for

CALLBACK = f"{ids.LIBRARY_STATUS}.children"  # the Library page's job poll: reads only the caller's own jobs


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def site(request, app_config, sandbox):
    overrides = {}
    if request.param == "postgresql":
        overrides["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    app = sandbox_app(app_config, sandbox, **overrides)
    yield app
    runner.shutdown(app)
    with app.app_context():
        db.engine.dispose()


def _cookie(client) -> str:
    return client.get_cookie("session").value


def _replay(app, cookie: str):
    """A fresh browser holding only the saved cookie."""
    client = app.test_client()
    client.set_cookie("session", cookie, domain="localhost")
    return client


def _callback_body(client) -> dict:
    return payload(find_callback(dependencies(client), CALLBACK), {f"{ids.LIBRARY_JOB_STORE}.data": None})


def _opens(client, body: dict) -> dict[str, int]:
    """What the cookie opens: the Dash page, the account page and one callback (status codes)."""
    return {"page": client.get("/app/").status_code, "account": client.get("/account").status_code,
            "callback": client.post(UPDATE, json=body).status_code}


REFUSED = {"page": 302, "account": 302, "callback": 401}
OPEN = {"page": 200, "account": 200, "callback": 200}


def _csrf(client) -> str:
    client.get("/logout")
    with client.session_transaction() as session:
        return session["csrf_token"]


def test_a_cookie_saved_before_logging_out_opens_nothing_afterwards(site):
    browser = site.test_client()
    login(browser, "mira.s")
    body = _callback_body(browser)
    saved = _cookie(browser)
    assert _opens(_replay(site, saved), body) == OPEN, "the saved cookie works while the session lasts"
    assert browser.post("/logout", data={"csrf_token": _csrf(browser)}).status_code == 302
    assert _opens(_replay(site, saved), body) == REFUSED
    # Logging in again gives a new cookie that works; the old one stays dead.
    login(browser, "mira.s")
    assert _opens(browser, body) == OPEN
    assert _opens(_replay(site, saved), body) == REFUSED


def test_a_deleted_accounts_cookie_never_opens_the_next_new_account(site):
    """The finding: SQLite gave the deleted user's id to the next new user, whose account the old cookie opened."""
    first = site.test_client()
    login(first, "mira.s")
    body = _callback_body(first)
    with site.app_context():
        deleted_id = db.session.query(User).filter_by(spotify_id="mira.s").one().id
    saved = _cookie(first)
    answer = first.post("/account/delete", data={"csrf_token": _csrf(first)})
    assert answer.status_code == 200 and "deleted" in answer.get_data(as_text=True).lower()
    assert _opens(_replay(site, saved), body) == REFUSED

    second = site.test_client()
    login(second, "ana.k")
    with site.app_context():
        new_id = db.session.query(User).filter_by(spotify_id="ana.k").one().id
    assert new_id != deleted_id and new_id > deleted_id, "a new account never gets a deleted account's id"
    old = _replay(site, saved)
    assert _opens(old, body) == REFUSED
    assert "Ana" not in old.get("/").get_data(as_text=True)
    assert _opens(second, body) == OPEN


def test_ids_are_never_reused_even_for_the_highest_deleted_id(site):
    with site.app_context():
        users = [User(spotify_id=f"user{n}") for n in range(3)]
        db.session.add_all(users)
        db.session.commit()
        highest = users[-1].id
        db.session.delete(users[-1])
        db.session.commit()
        db.session.add(User(spotify_id="newcomer"))
        db.session.commit()
        assert db.session.query(User).filter_by(spotify_id="newcomer").one().id > highest


def test_a_refresh_token_spotify_withdrew_ends_every_session_of_that_user(site):
    browser = site.test_client()
    login(browser, "ana.k")
    body = _callback_body(browser)
    saved = _cookie(browser)
    with site.app_context():
        user = db.session.query(User).filter_by(spotify_id="ana.k").one()
        store = token_store()
        store.save(user.id, {**store.load(user.id), "refresh_token": "AQrevoked", "expires_at": 1})
        job_id = runner.submit("import-library", {"enrich": False}, user.id)
    job = wait_for(site, job_id, user.id)
    assert job["status"] == "failed" and "log in again" in (job["error"] or "").lower()
    assert _opens(_replay(site, saved), body) == REFUSED
    with site.app_context():
        assert token_store().load(user.id) is None, "the useless token is gone"


def test_a_cookie_from_before_session_keys_works_until_the_user_logs_out_or_in(site):
    """Rows made before migration 0004 have no key: their cookies (user id only) last until the first log out."""
    with site.app_context():
        user = User(spotify_id="legacy")
        db.session.add(user)
        db.session.commit()
        user_id = user.id
    client = site.test_client()
    with client.session_transaction() as session:
        session["user_id"] = user_id
    assert client.get("/account").status_code == 200
    saved = _cookie(client)
    client.post("/logout", data={"csrf_token": _csrf(client)})
    assert _replay(site, saved).get("/account").status_code == 302


def test_one_person_logging_in_from_several_tabs_at_once_keeps_every_session(site):
    """Each first login sets the key only if none is set (one conditional UPDATE), so no tab ends another's
    session (the 50-session load test saw 401s before)."""
    import threading

    clients = [site.test_client() for _ in range(6)]
    barrier = threading.Barrier(len(clients))

    def log_in(client) -> None:
        barrier.wait()
        login(client, "jonas.b")

    threads = [threading.Thread(target=log_in, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [client.get("/account").status_code for client in clients] == [200] * len(clients)
