"""Grouped splits never put a playlist or a track on both sides."""

import numpy as np
import pytest

from app.models.dataset import build_dataset
from app.models.features import FeatureSpec
from app.models.splits import holdout_split, playlist_folds

from tests.models.conftest import make_rows


@pytest.fixture
def dataset():
    return build_dataset(make_rows(shared=6), id_col="track_id", label_col="context",
                         spec=FeatureSpec(("energy",), ()), group_col="playlist_id", min_tracks=5)


def _sides(dataset, train, test):
    def playlists(rows):
        return {p for i in rows for p in dataset.playlists[i]}
    tracks = dataset.features.index
    return set(tracks[train]), set(tracks[test]), playlists(train), playlists(test)


def test_folds_never_share_a_track_or_a_playlist(dataset):
    folds = playlist_folds(dataset, n_splits=4)
    tested = np.concatenate([test for _, test in folds])
    assert len(tested) == len(set(tested))
    for train, test in folds:
        train_tracks, test_tracks, train_playlists, test_playlists = _sides(dataset, train, test)
        assert not train_tracks & test_tracks
        assert not train_playlists & test_playlists
        assert len(test) > 0


def test_folds_spread_each_context_over_several_folds(dataset):
    folds = playlist_folds(dataset, n_splits=4)
    for j in range(len(dataset.contexts)):
        assert sum(dataset.labels[test, j].any() for _, test in folds) >= 3


def test_tracks_in_playlists_of_two_folds_are_never_tested(dataset):
    folds = playlist_folds(dataset, n_splits=4)
    tested = set(np.concatenate([test for _, test in folds]))
    shared = [i for i, p in enumerate(dataset.playlists) if len(p) > 1]
    assert shared
    fold_of = {}
    for f, (_, test) in enumerate(folds):
        for i in test:
            for p in dataset.playlists[i]:
                fold_of[p] = f
    for i in shared:
        folds_of_track = {fold_of.get(p) for p in dataset.playlists[i]}
        assert (i in tested) == (len(folds_of_track) == 1 and None not in folds_of_track)


def test_holdout_keeps_a_training_playlist_per_context_and_never_leaks(dataset):
    train, test = holdout_split(dataset, test_size=0.3)
    train_tracks, test_tracks, train_playlists, test_playlists = _sides(dataset, train, test)
    assert not train_tracks & test_tracks
    assert not train_playlists & test_playlists
    for j in range(len(dataset.contexts)):
        assert dataset.labels[train, j].any() and dataset.labels[test, j].any()
