"""Assembling the training set: binarised multi-labels, normalised names, small contexts dropped."""

import numpy as np
import pandas as pd
import pytest

from app.models.dataset import (
    DatasetError, binarise_labels, build_dataset, drop_small_contexts, normalise_context,
)
from app.models.features import FeatureSpec

SPEC = FeatureSpec(numeric=("energy",), categorical=())


def test_repeated_ids_become_several_labels():
    frame = pd.DataFrame({"id": ["a", "b", "a", "c", "a"],
                          "label": ["gym", "sleep", "party", "gym", "gym"],
                          "playlist": ["p1", "p2", "p3", "p1", "p4"]})
    ids, labels, contexts, playlists = binarise_labels(frame, "id", "label", "playlist")
    assert list(ids) == ["a", "b", "c"]
    assert contexts == ["gym", "party", "sleep"]
    np.testing.assert_array_equal(labels, [[1, 1, 0], [0, 0, 1], [1, 0, 0]])
    assert playlists == [("p1", "p3", "p4"), ("p2",), ("p1",)]


@pytest.mark.parametrize("raw, expected", [
    ("Workout", "workout"), ("  Deep   Focus ", "deep focus"), ("rock;pop", "rock,pop"),
    ("", None), (None, None), (float("nan"), None),
])
def test_context_names_are_normalised(raw, expected):
    assert normalise_context(raw) == expected


def test_small_contexts_are_dropped_with_a_message():
    labels = np.array([[1, 0, 0], [1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 0]], dtype=bool)
    kept, contexts, tracks, messages = drop_small_contexts(labels, ["gym", "party", "sleep"], 2)
    assert contexts == ["gym", "party"]
    assert tracks.tolist() == [0, 1, 2, 4]
    assert messages == [
        "dropped 1 context(s) with fewer than 2 tracks (--min-tracks): 'sleep' (1)",
        "dropped 1 track(s) whose only contexts were dropped",
    ]
    assert kept.shape == (4, 2)


def test_build_dataset_keeps_one_row_per_track(rows):
    dataset = build_dataset(rows, id_col="track_id", label_col="context", spec=SPEC,
                            group_col="playlist_id", min_tracks=10)
    assert len(dataset) == rows.track_id.nunique()
    assert dataset.features.index.is_unique
    shared = dataset.features.index.get_loc("workout-0-0")
    assert dataset.labels[shared].sum() == 2
    assert dataset.playlists[shared] == ("study-pl0", "workout-pl0")
    assert dataset.class_sizes()["study"] == {"tracks": 135, "playlists": 5}


@pytest.mark.parametrize("labels, message", [
    ([None, None], "label column 'label' has no values"),
    (["gym", " GYM"], "label column 'label' has a single context ('gym'); need at least two"),
    (["gym", "sleep"], "fewer than two contexts in 'label' have at least 2 tracks "
                       "(--min-tracks); kept: none"),
])
def test_unusable_labels_are_refused(labels, message):
    frame = pd.DataFrame({"id": ["a", "b"], "label": labels, "energy": [0.1, 0.2]})
    with pytest.raises(DatasetError) as error:
        build_dataset(frame, id_col="id", label_col="label", spec=SPEC, min_tracks=2)
    assert str(error.value) == message
