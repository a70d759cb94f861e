"""Catalog upserts are idempotent, fill blanks without erasing, and behave alike on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from app.pipeline.catalog import replace_playlist_labels, upsert_deezer_tracks, upsert_spotify_tracks
from app.storage.base import Base
from app.storage.engine import configure_engine
from app.storage.tables import Context, Label, SourcePlaylist, Track


@pytest.fixture(params=["sqlite", "postgresql"])
def session_factory(request, tmp_path):
    url = f"sqlite:///{tmp_path}/catalog.db" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    configure_engine(engine)
    Base.metadata.create_all(engine)
    yield sessionmaker(bind=engine, expire_on_commit=False)
    engine.dispose()


def _deezer(track_id: int, **extra) -> dict:
    return {"id": track_id, "title": f"Song {track_id}", "duration": 200, "explicit_lyrics": False,
            "artist": {"id": 7, "name": "Luma Vale"}, "album": {"id": 55, "title": "Afterglow"}, **extra}


def _spotify(track_id: str, **extra) -> dict:
    """A Spotify track object; ids are padded to the 22 base-62 characters real ones have."""
    return {"id": _sid(track_id), "name": f"Song {track_id}", "type": "track", "duration_ms": 214360, "explicit": True,
            "artists": [{"name": "Luma Vale"}, {"name": "Guest"}],
            "album": {"name": "Afterglow", "release_date": "2024-05-10"}, **extra}


def test_deezer_upsert_maps_ids_and_is_idempotent(session_factory):
    with session_factory() as session, session.begin():
        first = upsert_deezer_tracks(session, [_deezer(1), _deezer(2), _deezer(1)])
    with session_factory() as session, session.begin():
        again = upsert_deezer_tracks(session, [_deezer(2), _deezer(1)])
    assert first == again and set(first) == {1, 2}
    with session_factory() as session:
        track = session.scalar(select(Track).where(Track.deezer_id == 1))
        assert session.query(Track).count() == 2
    assert (track.title, track.artist, track.album, track.deezer_album_id, track.duration_ms, track.explicit,
            track.match_method) == ("Song 1", "Luma Vale", "Afterglow", 55, 200_000, False, "source")


def test_deezer_upsert_fills_blanks_but_never_erases(session_factory):
    with session_factory() as session, session.begin():
        upsert_deezer_tracks(session, [_deezer(1)])
    with session_factory() as session, session.begin():  # a full /track answer: ISRC and release date
        upsert_deezer_tracks(session, [_deezer(1, isrc="gbxyz2400123", release_date="2024-05-10")])
    with session_factory() as session, session.begin():  # a playlist page again: no ISRC there
        upsert_deezer_tracks(session, [_deezer(1)])
    with session_factory() as session:
        track = session.scalar(select(Track).where(Track.deezer_id == 1))
    assert (track.isrc, track.release_date) == ("GBXYZ2400123", "2024-05-10")


def test_deezer_upsert_skips_broken_entries_and_keeps_other_matches(session_factory):
    with session_factory() as session, session.begin():
        session.add(Track(deezer_id=3, title="Matched", artist="A", match_method="isrc", spotify_id="sp3"))
    with session_factory() as session, session.begin():
        ids = upsert_deezer_tracks(session, [{"title": "no id"}, {"id": 9}, {"id": True, "title": "bool"},
                                             _deezer(3)])
    with session_factory() as session:
        track = session.scalar(select(Track).where(Track.deezer_id == 3))
    assert set(ids) == {3}
    assert (track.title, track.match_method, track.spotify_id) == ("Matched", "isrc", "sp3")


def _sid(short: str) -> str:
    return short.ljust(22, "0")


def test_spotify_upsert_by_spotify_id(session_factory):
    items = [_spotify("a", external_ids={"isrc": "gbxyz2400123"}), _spotify("b"), {"id": _sid("c"), "name": "local",
             "is_local": True}, {"id": _sid("d"), "name": "ep", "type": "episode"}, {"id": "short", "name": "bad"}]
    with session_factory() as session, session.begin():
        first = upsert_spotify_tracks(session, [*items, None])
    with session_factory() as session, session.begin():
        again = upsert_spotify_tracks(session, items)
    assert first == again and set(first) == {_sid("a"), _sid("b")}
    with session_factory() as session:
        track = session.scalar(select(Track).where(Track.spotify_id == _sid("a")))
    assert (track.isrc, track.artists, track.album, track.duration_ms, track.release_date, track.deezer_id) == (
        "GBXYZ2400123", ["Luma Vale", "Guest"], "Afterglow", 214360, "2024-05-10", None)


def test_labels_are_replaced_exactly(session_factory):
    with session_factory() as session, session.begin():
        ids = upsert_deezer_tracks(session, [_deezer(n) for n in range(1, 5)])
        context = Context(key="sleep", name="sleep")
        playlist = SourcePlaylist(service="deezer", external_id="42", name="Sleep")
        session.add_all([context, playlist])
        session.flush()
        context_id, playlist_id = context.id, playlist.id
        replace_playlist_labels(session, context_id, playlist_id, {ids[1]: 0, ids[2]: 1, ids[3]: 2})
    with session_factory() as session, session.begin():
        assert replace_playlist_labels(session, context_id, playlist_id, {ids[2]: 0, ids[4]: 1}) == 2
    with session_factory() as session:
        labels = [tuple(row) for row in session.execute(select(Label.track_id, Label.position))]
    assert sorted(labels) == sorted([(ids[2], 0), (ids[4], 1)])
