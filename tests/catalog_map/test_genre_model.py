"""The genre model: learns genres from features only, is checked on unseen albums, stores and loads, predicts."""

from __future__ import annotations

import pandas as pd
import pytest

from app.models import genre_model
from app.models.persistence import library_versions
from tests.catalog_map.conftest import GENRES, catalog_rows


def frame(rows) -> pd.DataFrame:
    """The catalog frame as `catalog_frame` builds it: metadata, features and the genre."""
    return pd.DataFrame({
        "title": [r["title"] for r in rows], "artist": [r["artist"] for r in rows],
        "deezer_id": [r["deezer_id"] for r in rows], "album_key": [f"album:{r['deezer_album_id']}" for r in rows],
        "context": [r["context"] for r in rows],
        "deezer_gain": [r["deezer"]["gain"] for r in rows], "preview_tempo": [r["preview"]["tempo"] for r in rows],
        "preview_energy": [r["preview"]["energy"] for r in rows], "genre": [r["genre"] for r in rows],
        "key": [None] * len(rows), "mode": [None] * len(rows), "decade": ["2010s"] * len(rows),
    }, index=pd.Index([r["id"] for r in rows], name="track_id"))


def test_the_genre_is_never_a_feature_and_albums_are_the_groups():
    data = genre_model.genre_data(frame(catalog_rows()))
    assert "genre" not in data.spec.columns
    assert set(data.spec.numeric) == {"deezer_gain", "preview_tempo", "preview_energy"}
    assert data.spec.categorical == ("decade",)  # key and mode have no values
    assert data.groups.nunique() == 3 * 10  # 40 tracks a genre, 4 a album
    assert set(data.y) == set(GENRES)


def test_it_learns_separable_genres_checked_on_unseen_albums_and_predicts():
    data = genre_model.genre_data(frame(catalog_rows()))
    metrics = genre_model.evaluate(data)
    assert metrics["folds"] == 5 and metrics["accuracy"] > 0.9 and metrics["macro_f1"] > 0.9, metrics
    assert metrics["majority_share"] == pytest.approx(1 / 3, abs=0.01)
    pipeline, _seconds = genre_model.fit(data)
    loaded = genre_model.from_bytes(genre_model.to_bytes(pipeline), library_versions())
    track = pd.DataFrame({"preview_tempo": [127.0], "preview_energy": [0.9], "deezer_gain": [-6.5]})
    ranked = genre_model.predict(loaded, track, data.spec.columns)
    assert ranked[0]["genre"] == "Dance" and ranked[0]["probability"] > 0.5
    assert sum(row["probability"] for row in ranked) == pytest.approx(1.0, abs=1e-3)
    assert [row["probability"] for row in ranked] == sorted((row["probability"] for row in ranked), reverse=True)


def test_rare_genres_are_left_out_and_said_so():
    rows = catalog_rows()
    for row in rows[:3]:
        row["genre"] = "Jazz"
    data = genre_model.genre_data(frame(rows))
    assert "Jazz" not in set(data.y)
    assert "Left out 1 genre with fewer than 8 tracks: Jazz." in data.notes


def test_one_genre_or_an_empty_catalog_is_refused_in_plain_words():
    rows = [r for r in catalog_rows() if r["genre"] == "Dance"]
    with pytest.raises(genre_model.GenreModelError, match="at least two genres with 8 or more tracks"):
        genre_model.genre_data(frame(rows))
    with pytest.raises(genre_model.GenreModelError, match="catalog is empty"):
        genre_model.genre_data(pd.DataFrame())


def test_a_model_from_other_library_versions_is_refused():
    data = genre_model.genre_data(frame(catalog_rows()))
    blob = genre_model.to_bytes(genre_model.fit(data)[0])
    with pytest.raises(genre_model.GenreModelError, match="other versions of scikit-learn"):
        genre_model.from_bytes(blob, {**library_versions(), "scikit-learn": "0.1.0"})
