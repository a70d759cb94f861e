"""/account shows what is stored about the user and deletes all of it (and nothing of anyone else's)."""

from __future__ import annotations

from sqlalchemy import func, select

from app.auth.spotify import token_store
from app.extensions import db
from app.storage.tables import USER_OWNED_MODELS, Job, LibraryImport, User
from tests.auth.helpers import add_user, session_login


def _seed(app, user_id: int) -> None:
    with app.app_context():
        token_store().save(user_id, {"access_token": f"BQsecret-access-{user_id}",
                                     "refresh_token": f"AQsecret-refresh-{user_id}",
                                     "expires_at": 2_000_000_000, "scope": "user-library-read playlist-read-private"})
        db.session.add_all([Job(kind="harvest", user_id=user_id, status="succeeded"),
                            Job(kind="enrich", user_id=user_id, status="failed"),
                            LibraryImport(user_id=user_id, kind="file", status="done")])
        db.session.commit()


def _counts(app, user_id: int) -> dict[str, int]:
    with app.app_context():
        return {model.__tablename__: db.session.scalar(
            select(func.count()).select_from(model).where(model.user_id == user_id)) for model in USER_OWNED_MODELS}


def _csrf(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def test_account_needs_login(client):
    response = client.get("/account")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=/account")


def test_account_shows_counts_scope_and_expiry_but_never_the_token(app, client):
    me, other = add_user(app, "mira.s"), add_user(app, "ana.k")
    _seed(app, me)
    _seed(app, other)
    session_login(client, me)
    page = client.get("/account").get_data(as_text=True)
    assert '<td id="count-jobs">2</td>' in page and '<td id="count-library_imports">1</td>' in page
    assert '<td id="count-oauth_tokens">1</td>' in page and '<td id="count-library_items">0</td>' in page
    assert "user-library-read, playlist-read-private" in page and "2033-05-18" in page
    assert "secret" not in page


def test_delete_all_my_data_needs_the_form_token(app, client):
    me = add_user(app, "mira.s")
    _seed(app, me)
    session_login(client, me)
    client.get("/account")
    assert client.post("/account/delete", data={"csrf_token": "forged"}).status_code == 400
    assert _counts(app, me)["jobs"] == 2


def test_delete_all_my_data_empties_every_owned_table_and_logs_out(app, client):
    me, other = add_user(app, "mira.s"), add_user(app, "ana.k")
    _seed(app, me)
    _seed(app, other)
    others_before = _counts(app, other)
    session_login(client, me)
    token = _csrf(client.get("/account").get_data(as_text=True))
    response = client.post("/account/delete", data={"csrf_token": token})
    assert response.status_code == 200 and "Your data is deleted" in response.get_data(as_text=True)
    assert set(_counts(app, me).values()) == {0}
    assert _counts(app, other) == others_before and others_before["jobs"] == 2
    with app.app_context():
        assert db.session.get(User, me) is None and db.session.get(User, other) is not None
    assert client.get("/app/").status_code == 302
