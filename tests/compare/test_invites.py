"""Invite links: only a hash is stored; expired, withdrawn, wrong, used and own links are refused in plain words."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.services import compare
from app.storage.tables import TasteInvite, User, utcnow
from app.storage.ownership import delete_all_user_data
from tests.auth.helpers import add_user, session_login


@pytest.fixture
def people(app):
    return {name: add_user(app, name) for name in ("jonas.b", "ana.k", "mira.s")}


def invite(app, owner: int, **changes) -> str:
    with app.app_context():
        row, token = compare.create_invite(db.session, owner)
        for key, value in changes.items():
            setattr(row, key, value)
        db.session.commit()
        return token


def csrf(client) -> str:
    with client.session_transaction() as session:
        session.setdefault("csrf_token", "test-csrf")
        return session["csrf_token"]


def test_only_the_tokens_hash_is_stored(app, people):
    token = invite(app, people["jonas.b"])
    with app.app_context():
        row = db.session.scalar(select(TasteInvite))
        assert row.token_hash == compare.hash_token(token) and token not in row.token_hash
        assert len(row.token_hash) == 64 and row.expires_at is not None


def test_anonymous_visitor_logs_in_first_and_comes_back_to_the_link(client, app, people):
    token = invite(app, people["jonas.b"])
    answer = client.get(f"/invite/{token}")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/login?next=/invite/")
    assert token in answer.headers["Location"]


def test_guest_sees_the_consent_page_and_accepts_with_the_form(client, app, people):
    token = invite(app, people["jonas.b"])
    session_login(client, people["ana.k"])
    page = client.get(f"/invite/{token}").get_data(as_text=True)
    assert "Jonas.B wants to compare your liked songs with theirs; they will see track names from your\n  library, " \
           "nothing else." in page
    assert client.post(f"/invite/{token}").status_code == 400  # no CSRF token: refused
    with app.app_context():
        assert db.session.scalar(select(TasteInvite)).accepted_at is None
    done = client.post(f"/invite/{token}", data={"csrf_token": csrf(client)})
    assert done.status_code == 200 and "Jonas.B can now compare" in done.get_data(as_text=True)
    with app.app_context():
        row = db.session.scalar(select(TasteInvite))
        assert row.guest_user_id == people["ana.k"] and row.accepted_at is not None
        assert [o.key for o in compare.choices(db.session, people["jonas.b"])] == [f"invite:{row.id}"]
        assert compare.choices(db.session, people["mira.s"]) == []


@pytest.mark.parametrize("case, words", [
    ("wrong", "This invite link is not valid."),
    ("expired", "This invite link has expired."),
    ("revoked", "This invite link was withdrawn by the person who sent it."),
    ("own", "This is your own invite link"),
    ("used", "This invite link was already used by someone else."),
])
def test_unusable_links_are_refused_in_plain_words(client, app, people, case, words):
    owner, guest = people["jonas.b"], people["ana.k"]
    changes = {"expired": {"expires_at": utcnow() - timedelta(minutes=1)}, "revoked": {"revoked": True},
               "used": {"guest_user_id": people["mira.s"], "accepted_at": utcnow()}}.get(case, {})
    token = invite(app, owner, **changes)
    if case == "wrong":
        token = token[:-3] + "xyz"
    session_login(client, owner if case == "own" else guest)
    for answer in (client.get(f"/invite/{token}"), client.post(f"/invite/{token}", data={"csrf_token": csrf(client)})):
        assert answer.status_code == 403
        assert words in answer.get_data(as_text=True)
    with app.app_context():
        row = db.session.scalar(select(TasteInvite))
        assert row.guest_user_id in (None, people["mira.s"])  # nobody became the guest


def test_owner_revokes_and_the_library_is_no_longer_comparable(app, people):
    owner, guest = people["jonas.b"], people["ana.k"]
    token = invite(app, owner)
    with app.app_context():
        row = compare.accept_invite(db.session, token, guest)
        assert compare.resolve_other(db.session, owner, f"invite:{row.id}").guest_id == guest
        assert not compare.revoke_invite(db.session, people["mira.s"], row.id)  # not hers to revoke
        assert compare.revoke_invite(db.session, owner, row.id)
        with pytest.raises(compare.CompareError, match="You withdrew that invite"):
            compare.resolve_other(db.session, owner, f"invite:{row.id}")


def test_a_third_user_cannot_name_someone_elses_invite(app, people):
    token = invite(app, people["jonas.b"])
    with app.app_context():
        row = compare.accept_invite(db.session, token, people["ana.k"])
        with pytest.raises(compare.CompareError, match="not one of yours"):
            compare.resolve_other(db.session, people["mira.s"], f"invite:{row.id}")
        with pytest.raises(compare.CompareError, match="Choose whose library"):
            compare.resolve_other(db.session, people["mira.s"], f"user:{people['ana.k']}")


def test_the_invite_stops_working_when_the_guest_deletes_all_their_data(client, app, people):
    owner, guest = people["jonas.b"], people["ana.k"]
    token = invite(app, owner)
    with app.app_context():
        row_id = compare.accept_invite(db.session, token, guest).id
        deleted = delete_all_user_data(db.session, guest)
        db.session.delete(db.session.get(User, guest))
        db.session.commit()
        assert deleted["taste_invites"] == 1
        assert db.session.get(TasteInvite, row_id) is None
        assert compare.choices(db.session, owner) == []
        with pytest.raises(compare.CompareError):
            compare.resolve_other(db.session, owner, f"invite:{row_id}")
    session_login(client, people["mira.s"])
    answer = client.get(f"/invite/{token}")
    assert answer.status_code == 403 and re.search("not valid", answer.get_data(as_text=True))


def test_invites_and_their_expiry_on_postgresql(app_config, postgres_url):
    """PostgreSQL hands back aware datetimes (SQLite naive ones): expiry must read both."""
    from flask_migrate import upgrade

    from app import create_app

    app = create_app({**app_config, "DATABASE_URL": postgres_url})
    with app.app_context():
        upgrade()
    try:
        owner, guest = add_user(app, "jonas.b"), add_user(app, "ana.k")
        fresh, old = invite(app, owner), invite(app, owner, expires_at=utcnow() - timedelta(seconds=1))
        with app.app_context():
            with pytest.raises(compare.InviteError, match="expired"):
                compare.accept_invite(db.session, old, guest)
            assert compare.accept_invite(db.session, fresh, guest).guest_user_id == guest
            assert [row.status for row in compare.invite_rows(db.session, owner)] == ["expired", "accepted"]
            assert delete_all_user_data(db.session, guest)["taste_invites"] == 1
            db.session.commit()
            assert [row.status for row in compare.invite_rows(db.session, owner)] == ["expired"]
    finally:
        with app.app_context():
            db.engine.dispose()
