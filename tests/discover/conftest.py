"""Discover fixtures: a constructed store (saved tracks, a catalog with Deezer features) whose taste is known."""

from __future__ import annotations

import numpy as np
import pytest

from app.extensions import db
from app.storage.tables import LibraryItem, Track, TrackFeatures
from tests.auth.helpers import add_user

GENRES = ("Dance", "Rock", "Jazz", "Pop")


def add_track(track_id: int, title: str, artist: str, *, genre: str | None = None, bpm: float | None = None,
              rank: float | None = None, **columns) -> Track:
    """A catalog row, with a `deezer` features row when a genre is given."""
    track = Track(id=track_id, title=title, artist=artist, **columns)
    db.session.add(track)
    if genre is not None:
        db.session.add(TrackFeatures(track=track, provider="deezer", provider_version="1", status="ok",
                                     values={"genre": genre, "bpm": bpm, "rank": rank, "duration_s": 200}))
    return track


@pytest.fixture
def taste(app):
    """Owner `mira.s` saved 60 fast Dance tracks; the catalog holds 150 other tracks of every genre.

    Returns (app, owner id, stranger id). Track ids: 1-60 saved, 100-249 catalog.
    """
    return build_taste(app)


@pytest.fixture
def pg_taste(app_config, postgres_url):
    """The same store on PostgreSQL (skipped without TEST_DATABASE_URL)."""
    from flask_migrate import upgrade

    from app import create_app

    app = create_app({**app_config, "DATABASE_URL": postgres_url})
    with app.app_context():
        upgrade()
    yield build_taste(app)
    with app.app_context():
        db.engine.dispose()


def build_taste(app):
    owner = add_user(app, "mira.s")
    stranger = add_user(app, "jonas.b")
    rng = np.random.default_rng(1)
    with app.app_context():
        for i in range(1, 61):
            add_track(i, f"Saved song {i}", f"Artist {i % 20}", genre="Dance" if i % 6 else "Pop",
                      bpm=float(rng.normal(128, 6)), rank=float(rng.normal(6e5, 1e5)),
                      spotify_id=f"{i:022d}", isrc=f"SAVED{i:07d}")
            db.session.flush()
            db.session.add(LibraryItem(user_id=owner, collection="liked", track_id=i))
        for i in range(100, 250):
            genre = GENRES[i % 4]
            add_track(i, f"Catalog song {i}", f"Band {i % 40}", genre=genre,
                      bpm=float(rng.normal(128 if genre == "Dance" else 95, 10)), rank=float(rng.normal(4e5, 2e5)),
                      deezer_id=10_000 + i)
        db.session.commit()
    return app, owner, stranger
