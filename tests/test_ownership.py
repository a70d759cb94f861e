"""The ownership helpers can only ever return the named user's rows."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.storage import tables as m
from app.storage.ownership import OwnershipError, delete_all_user_data, get_owned, owned


@pytest.fixture
def two_users(app):
    with app.app_context():
        ana, ben = m.User(spotify_id="ana"), m.User(spotify_id="ben")
        db.session.add_all([ana, ben])
        db.session.flush()
        for user in (ana, ben):
            db.session.add_all([m.Job(user_id=user.id, kind="harvest"), m.Job(user_id=user.id, kind="train")])
            db.session.add(m.Dataset(user_id=user.id, name=f"{user.spotify_id}'s data"))
        db.session.add(m.Job(user_id=None, kind="harvest"))  # a command-line job, owned by nobody
        db.session.commit()
        yield ana.id, ben.id


def test_owned_returns_only_the_owners_rows(app, two_users):
    ana, ben = two_users
    with app.app_context():
        jobs = db.session.scalars(owned(m.Job, ana)).all()
        assert len(jobs) == 2 and {j.user_id for j in jobs} == {ana}
        refined = db.session.scalars(owned(m.Job, ana).where(m.Job.kind == "train")).all()
        assert [j.user_id for j in refined] == [ana]


def test_get_owned_refuses_another_users_row(app, two_users):
    ana, ben = two_users
    with app.app_context():
        bens_dataset = db.session.scalar(select(m.Dataset).where(m.Dataset.user_id == ben))
        assert get_owned(db.session, m.Dataset, ben, bens_dataset.id) is bens_dataset
        assert get_owned(db.session, m.Dataset, ana, bens_dataset.id) is None


@pytest.mark.parametrize("bad_owner", [None, "1", 1.0, True])
def test_owner_must_be_an_int(app, two_users, bad_owner):
    with pytest.raises(OwnershipError, match="must be an int"):
        owned(m.Job, bad_owner)


def test_global_tables_are_not_queried_through_ownership():
    with pytest.raises(OwnershipError, match="not a user-owned table"):
        owned(m.Track, 1)


def test_delete_all_user_data_leaves_other_users_alone(app, two_users):
    ana, ben = two_users
    with app.app_context():
        deleted = delete_all_user_data(db.session, ana)
        db.session.commit()
        assert deleted["jobs"] == 2 and deleted["datasets"] == 1
        assert db.session.scalar(select(func.count()).select_from(m.Job).where(m.Job.user_id == ben)) == 2
        assert db.session.scalar(select(func.count()).select_from(m.Job).where(m.Job.user_id.is_(None))) == 1
        assert db.session.scalar(select(func.count()).select_from(m.Job).where(m.Job.user_id == ana)) == 0
