"""The ownership helpers can only ever return the named user's rows."""

from __future__ import annotations

import ast
from pathlib import Path

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


def _direct_owned_reads(path: Path) -> list[str]:
    """`select(<owned table>...)` and `session.get(<owned table>, ...)` calls in one module, as "line: text"."""
    owned_names = {model.__name__ for model in m.USER_OWNED_MODELS}
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
        first = node.args[0]
        root = first.value if isinstance(first, ast.Attribute) else first
        if name in ("select", "get") and isinstance(root, ast.Name) and root.id in owned_names:
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_import_and_pages_read_owned_rows_only_through_the_helpers():
    # The import writes many owned rows; every read of them names the owner through owned()/get_owned().
    root = Path(__file__).resolve().parents[1] / "app"
    for module in ("library.py", "library_file.py"):
        assert _direct_owned_reads(root / "pipeline" / module) == [], module
    # Pages read through services: no page module builds a query or reaches for the ownership helpers itself.
    for page in sorted((root / "dash_views").glob("*.py")):
        source = page.read_text()
        assert _direct_owned_reads(page) == [], page.name
        assert "from sqlalchemy import" not in source and "app.storage.ownership" not in source, page.name


def test_the_owned_reads_check_finds_a_direct_read(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("rows = session.scalars(select(LibraryItem).where(LibraryItem.user_id == 1))\n"
                      "job = session.get(LibraryImport, 3)\n"
                      "ids = session.scalars(select(LibraryItem.track_id))\n"
                      "tracks = session.scalars(select(Track))\n")
    assert sorted(line.split(":")[1] for line in _direct_owned_reads(sample)) == ["1", "2", "3"]
