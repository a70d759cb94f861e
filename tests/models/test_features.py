"""Choosing feature columns: numbers and categories in, identifiers and playlist facts out."""

import pandas as pd
import pytest

from app.models.features import FeatureError, _playlist_level_share, derive_columns, infer_feature_spec


def test_decade_is_derived_from_the_release_date():
    frame = pd.DataFrame({"release_date": ["2019-06-14", "1987", "soon", None]})
    assert derive_columns(frame)["decade"].tolist() == ["2010s", "1980s", None, None]


def test_numbers_and_known_categories_are_features_identifiers_and_text_are_not(rows):
    rows = derive_columns(rows.assign(index=range(len(rows)), album_id=1, title="x"))
    spec, messages = infer_feature_spec(rows, exclude=("track_id", "context", "playlist_id"),
                                        group_col="playlist_id")
    assert spec.numeric == ("energy", "tempo", "acousticness")
    assert spec.categorical == ("key", "mode", "decade")
    assert messages == []


def test_a_playlist_level_column_is_left_out_with_a_message(rows):
    rows = rows.assign(followers=rows.playlist_id.str.len() * 1000 + rows.playlist_id.str[-1]
                       .astype(int))
    spec, messages = infer_feature_spec(rows, exclude=("track_id", "context", "playlist_id"),
                                        group_col="playlist_id")
    assert "followers" not in spec.columns
    assert messages == ["column 'followers' is constant within 100% of playlists (playlist_id): "
                        "it describes the playlist, not the track, and would leak the label; "
                        "left out"]


@pytest.mark.parametrize("options, message", [
    ({"features": "energy,loudness"}, "--features: column 'loudness' is not in the CSV"),
    ({"categorical": "context"}, "--categorical: column 'context' is the id, label or group "
                                 "column"),
    ({"features": "energy,release_date"}, "column 'release_date' is not numeric; pass it with "
                                          "--categorical"),
    ({"features": "energy", "categorical": "genre"},
     "column 'genre' is constant within 100% of playlists (playlist_id): it describes the "
     "playlist, not the track, and would leak the label; leave it out of the features"),
])
def test_explicit_columns_are_validated(rows, options, message):
    rows = rows.assign(genre=rows.context)
    with pytest.raises(FeatureError) as error:
        infer_feature_spec(rows, exclude=("track_id", "context", "playlist_id"),
                           group_col="playlist_id", **options)
    assert str(error.value) == message


def test_the_playlist_level_share_counts_only_sizeable_playlists_where_the_column_is_constant():
    """Constant in 4 of 5 playlists of 6 rows (a blank does not count as a value); the 2-row playlist, which varies,
    is too small to judge. Other columns beside it change nothing."""
    playlists = [f"p{i}" for i in range(5) for _ in range(6)] + ["tiny", "tiny"]
    followers = [10.0] * 6 + [20.0] * 5 + [None] + [30.0] * 6 + [40.0] * 6 + [1.0, 2.0, 3.0, 4.0, 5.0, 6.0] + [7, 8]
    frame = pd.DataFrame({"playlist_id": playlists, "followers": followers,
                          **{f"other_{i}": range(len(playlists)) for i in range(20)}})
    assert _playlist_level_share(frame, "followers", "playlist_id") == 0.8
    assert _playlist_level_share(frame.drop(columns=[f"other_{i}" for i in range(20)]), "followers",
                                 "playlist_id") == 0.8
    assert _playlist_level_share(frame, "playlist_id", "playlist_id") == 1.0
