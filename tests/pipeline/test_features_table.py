"""The feature table: one row per track with provider-prefixed columns, and the both-sides coverage rule."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from app.pipeline.features_table import common_feature_columns, feature_frame
from app.storage.base import Base
from app.storage.tables import Track, TrackFeatures


def test_the_frame_has_provider_columns_categoricals_and_shares_canonical_features(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'ft.db'}")
    Base.metadata.create_all(engine)
    with sessionmaker(bind=engine)() as session:
        a = Track(id=1, deezer_id=10, title="a", artist="x", release_date="1987-05-01")
        b = Track(id=2, spotify_id="B" * 22, title="b", artist="x", canonical_id=1)
        c = Track(id=3, title="c", artist="x", release_date="2019")
        session.add_all([a, b, c])
        session.add_all([
            TrackFeatures(track_id=1, provider="deezer", provider_version="1", status="ok",
                          values={"bpm": 120.5, "explicit": True, "genre": "Pop", "genres": ["Pop"], "album_id": 9,
                                  "release_year": None}),
            TrackFeatures(track_id=1, provider="preview", provider_version="1", status="ok",
                          values={"tempo": 121.0, "key": 4.0, "mode": 0.0}),
            TrackFeatures(track_id=1, provider="reccobeats", provider_version="1", status="ok",
                          values={"energy": 0.7, "key": 5, "mode": 1}),
            TrackFeatures(track_id=3, provider="reccobeats", provider_version="1", status="failed", error="x"),
        ])
        session.commit()
        frame = feature_frame(session, [3, 1, 2])
        only_deezer = feature_frame(session, [1], providers=["deezer"])
    assert list(frame.index) == [3, 1, 2]
    assert list(frame.columns) == ["deezer_bpm", "deezer_explicit", "preview_tempo",
                                   "reccobeats_energy", "genre", "key", "mode", "decade"]
    assert frame.loc[1, "deezer_explicit"] == 1.0 and frame.loc[1, "genre"] == "Pop"
    assert (frame.loc[1, "key"], frame.loc[1, "mode"]) == (4, 0), "the preview's key comes first"
    assert frame.loc[1, "decade"] == "1980s" and frame.loc[3, "decade"] == "2010s"
    assert frame.loc[2].equals(frame.loc[1].rename(2)), "a canonical link shares features"
    assert frame.loc[3, ["deezer_bpm", "reccobeats_energy"]].isna().all(), "failed rows give no values"
    assert "preview_tempo" not in only_deezer or only_deezer["preview_tempo"].isna().all()


def test_a_column_is_used_only_when_both_sides_have_it_for_enough_tracks():
    train = pd.DataFrame({"deezer_bpm": [1, 2, 3, 4, 5], "reccobeats_energy": [1, None, None, None, 5],
                          "preview_tempo": [1, 2, 3, 4, None], "genre": ["a", "b", "c", "d", "e"],
                          "only_train": [1, 2, 3, 4, 5]})
    library = pd.DataFrame({"deezer_bpm": [1, 2, 3, 4, 5], "reccobeats_energy": [1, 2, 3, 4, 5],
                            "preview_tempo": [1, 2, 3, None, None], "genre": ["a", "b", "c", "d", None]})
    assert common_feature_columns(train, library) == ["deezer_bpm", "genre"]
    assert common_feature_columns(train, library, min_coverage=0.6) == ["deezer_bpm", "preview_tempo", "genre"]
    assert common_feature_columns(train, library.iloc[:0]) == []


def test_numpy_integer_ids_find_their_rows(app):
    """SQLite matches no integer id against a numpy integer parameter; the frame must not come back empty."""
    import numpy as np

    from app.extensions import db
    from app.pipeline.features_table import feature_frame
    from app.storage.tables import Track, TrackFeatures

    with app.app_context():
        track = Track(title="t", artist="a", deezer_id=1)
        db.session.add(track)
        db.session.flush()
        db.session.add(TrackFeatures(track_id=track.id, provider="deezer", provider_version="1", status="ok",
                                     values={"bpm": 120.0}))
        db.session.commit()
        frame = feature_frame(db.session, np.array([track.id], dtype=np.int64))
        assert frame.notna().any(axis=None), "features were found for a numpy id"
