"""Matching while another job merges the same tracks: the lost race of issue 19 (StaleDataError), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import sessionmaker

from app import create_app
from app.extensions import db
from app.runs.progress import Progress
from app.pipeline.matching import Match, Wanted, _store
from app.runs.summary import RunSummary
from app.storage.tables import LibraryItem, Track, User


@pytest.fixture(params=["sqlite", "postgresql"])
def factory(request, app_config):
    from flask_migrate import upgrade

    url = app_config["DATABASE_URL"] if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    app = create_app({**app_config, "DATABASE_URL": url})
    with app.app_context():
        upgrade()
        yield sessionmaker(bind=db.engine, expire_on_commit=False)
        db.engine.dispose()


def _catalog(factory) -> dict[str, int]:
    """A harvested Deezer row H, a liked Spotify track X that is the same recording, and another liked track Z."""
    with factory() as session:
        user = User(spotify_id="ana.k", display_name="Ana")
        harvested = Track(deezer_id=555, title="Night Drive", artist="Luma Vale", match_method="source",
                          match_confidence=1.0)
        liked = Track(spotify_id="S" * 22, isrc="GBXYZ2400123", title="Night Drive", artist="Luma Vale")
        other = Track(spotify_id="Z" * 22, isrc="GBXYZ2400999", title="Afterglow", artist="Luma Vale")
        session.add_all([user, harvested, liked, other])
        session.flush()
        session.add_all([LibraryItem(user_id=user.id, collection="liked", track_id=liked.id),
                         LibraryItem(user_id=user.id, collection="liked", track_id=other.id)])
        session.commit()
        return {"user": user.id, "H": harvested.id, "X": liked.id, "Z": other.id}


def _wanted(ids: dict[str, int], key: str, spotify_id: str) -> Wanted:
    return Wanted(ids[key], "Night Drive", "Luma Vale", (), None, 214_000, spotify_id)


def test_a_track_merged_away_by_another_job_mid_write_keeps_both_jobs_work(factory):
    ids = _catalog(factory)
    by_isrc = Match(555, "isrc", 1.0, album_id=42)
    other_job_merged: dict[int, int] = {}

    def other_job_merges_first(session, *_args) -> None:
        # Between this job's read of X and its UPDATE, the other job matches X too and merges it into H.
        _store(factory, [(_wanted(ids, "X", "S" * 22), by_isrc)], other_job_merged, RunSummary("other"),
               Progress(None, factory))

    calls = {"n": 0}

    def racing_factory():
        session = factory()
        calls["n"] += 1
        if calls["n"] == 1:
            event.listen(session, "before_flush", other_job_merges_first, once=True)
        return session

    merged: dict[int, int] = {}
    summary = RunSummary("import")
    pending = [(_wanted(ids, "X", "S" * 22), by_isrc),
               (Wanted(ids["Z"], "Afterglow", "Luma Vale", (), None, 200_000, "Z" * 22), Match(777, "isrc", 1.0))]
    _store(racing_factory, pending, merged, summary, Progress(None, factory))

    assert other_job_merged == {ids["X"]: ids["H"]}
    assert merged == {ids["X"]: ids["H"]}, "this job learns where its track went"
    with factory() as session:
        assert session.get(Track, ids["X"]) is None
        survivor = session.get(Track, ids["H"])
        assert survivor.spotify_id == "S" * 22 and survivor.deezer_id == 555 and survivor.isrc == "GBXYZ2400123"
        assert session.get(Track, ids["Z"]).deezer_id == 777, "the rest of the batch is kept"
        liked = set(session.scalars(select(LibraryItem.track_id).where(LibraryItem.user_id == ids["user"])))
        assert liked == {ids["H"], ids["Z"]}
    assert not summary.failures, summary.failures


class _NoDeezer:
    """A Deezer client that must not be asked: counting calls, failing the test if it is."""

    calls = 0

    def track_by_isrc(self, isrc):
        raise AssertionError(f"asked Deezer for ISRC {isrc} that the catalog already had")

    def search_tracks(self, query, limit=10):
        raise AssertionError(f"searched Deezer for {query}")


class _Clients:
    def __init__(self):
        self.deezer = _NoDeezer()


def test_a_library_track_whose_isrc_the_catalog_knows_is_matched_without_a_call(factory):
    """Playlist pages carry no ISRC; a full-track answer stored it on the harvested row, for every user after."""
    from app.pipeline.matching import match_tracks

    ids = _catalog(factory)
    with factory() as session:
        session.get(Track, ids["H"]).isrc = "GBXYZ2400123"
        session.get(Track, ids["H"]).duration_ms = 214_000
        session.commit()
    summary = RunSummary("import")
    merged = match_tracks(factory, [ids["X"]], _Clients(), summary, Progress(None, factory))
    assert merged == {ids["X"]: ids["H"]} and summary.api_calls.get("deezer", 0) == 0
    assert summary.stages["matched by ISRC from the catalog (no call)"] == 1
    with factory() as session:
        assert session.get(Track, ids["H"]).spotify_id == "S" * 22
