"""Deleting all my data empties every user-owned table for that user, tokens and files included, and nobody else's."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from app.extensions import db
from app.jobs.tasks import upload_dir
from app.storage.tables import USER_OWNED_MODELS, TasteInvite, User
from tests.auth.helpers import session_login
from tests.security.owned import add_user_with_id, counts, fill, snapshot


def _csrf(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def test_delete_all_my_data_counts_rows_per_table_before_and_after(app, client):
    with app.app_context():
        me = add_user_with_id(db.session, 7, "mira.s")
        other = add_user_with_id(db.session, 8, "ana.k")
        fill(db.session, me, "zq-mira", app.config["SECRET_KEY"])
        fill(db.session, other, "zq-ana", app.config["SECRET_KEY"])
        before_mine, before_other = counts(db.session, me), counts(db.session, other)
        others_rows = snapshot(db.session, other)
    assert set(before_mine) == {model.__tablename__ for model in USER_OWNED_MODELS}
    assert all(n >= 1 for n in before_mine.values()), f"the fixture must fill every owned table: {before_mine}"
    assert all(n >= 1 for n in before_other.values())

    uploads = upload_dir(app.config, me)
    uploads.mkdir(parents=True)
    (uploads / "YourLibrary.json").write_text("[]")
    models = Path(app.config["INSTANCE_DIR"]) / "models" / str(me)
    (models / "scores").mkdir(parents=True)
    (models / "3.joblib").write_bytes(b"artifact")
    session_login(client, me)
    response = client.post("/account/delete", data={"csrf_token": _csrf(client.get("/account").get_data(as_text=True))})
    assert response.status_code == 200 and "Your data is deleted" in response.get_data(as_text=True)

    with app.app_context():
        after_mine, after_other = counts(db.session, me), counts(db.session, other)
        assert db.session.get(User, me) is None and db.session.get(User, other) is not None
        assert snapshot(db.session, other) == others_rows, "the other user's rows are untouched, column for column"
    print("\nrows per table before -> after deleting (user 7; user 8 untouched):")
    for table in before_mine:
        print(f"  {table:20} {before_mine[table]} -> {after_mine[table]}   (other: {before_other[table]} -> "
              f"{after_other[table]})")
    assert set(after_mine.values()) == {0}, after_mine
    assert not uploads.exists(), "their uploaded library files are deleted too"
    assert not models.exists(), "their model artifacts and cached library scores too"
    assert after_other == before_other
    with client.session_transaction() as session:
        assert "user_id" not in session


def test_an_invite_naming_the_deleted_user_as_guest_goes_with_them(app, client):
    """The guest's consent is personal data too: another owner's invite to the deleted user disappears."""
    with app.app_context():
        me = add_user_with_id(db.session, 7, "mira.s")
        other = add_user_with_id(db.session, 8, "ana.k")
        fill(db.session, other, "zq-ana", app.config["SECRET_KEY"], guest_id=me)
    session_login(client, me)
    client.post("/account/delete", data={"csrf_token": _csrf(client.get("/account").get_data(as_text=True))})
    with app.app_context():
        assert db.session.scalars(select(TasteInvite).where(TasteInvite.guest_user_id == me)).all() == []
        assert counts(db.session, other)["jobs"] == 1
