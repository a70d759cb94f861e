"""Fixtures for the Map tests: a constructed catalog whose genres differ in known features, and its helpers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert

from app.extensions import db
from app.storage.tables import Context, Label, SourcePlaylist, Track, TrackFeatures

# genre -> (context, tempo mean, energy mean, gain mean): three genres far apart in these features.
GENRES = {"Dance": ("party", 128.0, 0.85, -6.0), "Classical": ("study", 70.0, 0.15, -18.0),
          "Rap/Hip Hop": ("workout", 95.0, 0.6, -8.0)}
PER_ALBUM = 4


def catalog_rows(per_genre: int = 40, seed: int = 7) -> list[dict]:
    """One dict per track: id, title, artist, deezer ids, context, genre and feature values."""
    rng = np.random.default_rng(seed)
    rows, track_id = [], 0
    for g, (genre, (context, tempo, energy, gain)) in enumerate(GENRES.items()):
        for i in range(per_genre):
            track_id += 1
            rows.append({"id": track_id, "title": f"{genre} song {i}", "artist": f"{genre} artist {i % 5}",
                         "deezer_id": None if i == 0 else 1000 + track_id,
                         "deezer_album_id": 50_000 + g * 1000 + i // PER_ALBUM,
                         "context": context, "genre": genre,
                         "preview": {"tempo": float(rng.normal(tempo, 6)), "energy": float(rng.normal(energy, 0.06))},
                         "deezer": {"gain": float(rng.normal(gain, 1.0)), "genre": genre,
                                    "genres": [genre], "album_id": 50_000 + g * 1000 + i // PER_ALBUM}})
    return rows


def store_catalog(app, rows: list[dict]) -> None:
    """Write tracks, their preview and deezer features, and labels for their context (bulk inserts)."""
    with app.app_context():
        playlist = SourcePlaylist(service="deezer", external_id="map-p1", name="mixed")
        names = sorted({row["context"] for row in rows})
        contexts = {name: Context(key=name, name=name) for name in names}
        db.session.add_all([playlist, *contexts.values()])
        db.session.flush()
        db.session.execute(insert(Track), [
            {"id": r["id"], "title": r["title"], "artist": r["artist"], "artists": [r["artist"]],
             "deezer_id": r["deezer_id"], "deezer_album_id": r["deezer_album_id"]} for r in rows])
        db.session.execute(insert(TrackFeatures), [
            {"track_id": r["id"], "provider": provider, "provider_version": "1", "status": "ok",
             "values": r[provider]} for r in rows for provider in ("preview", "deezer")])
        db.session.execute(insert(Label), [
            {"context_id": contexts[r["context"]].id, "track_id": r["id"], "source_playlist_id": playlist.id}
            for r in rows])
        db.session.commit()


@pytest.fixture
def catalog_app(app):
    """The app with a 120-track catalog: 40 tracks each of Dance (party), Classical (study), Rap/Hip Hop (workout)."""
    store_catalog(app, catalog_rows())
    return app


@pytest.fixture
def plain_catalog() -> tuple[pd.DataFrame, pd.Series]:
    """The same catalog without a database: a feature frame (index track id) and the genres."""
    rows = catalog_rows()
    index = [r["id"] for r in rows]
    frame = pd.DataFrame({"preview_tempo": [r["preview"]["tempo"] for r in rows],
                          "preview_energy": [r["preview"]["energy"] for r in rows],
                          "deezer_gain": [r["deezer"]["gain"] for r in rows]}, index=index)
    return frame, pd.Series([r["genre"] for r in rows], index=index)
