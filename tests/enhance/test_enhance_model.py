"""The Enhance learning rows, grouped folds, the imbalance study and the reasons, on small synthetic frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.models import playlist_classifier
from app.models.enhance_reasons import PlaylistProfile, bare_name
from app.models.features import FeatureSpec

SPEC = FeatureSpec(numeric=("reccobeats_energy", "reccobeats_tempo"), categorical=("decade",))


def library(n: int = 240, seed: int = 0):
    """Two playlists (energetic, slow) over n songs of 40 artists; most songs are in neither."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n + 1)
    energy, tempo = rng.random(n), 70 + 80 * rng.random(n)
    decade = rng.choice(["1980s", "2010s"], n)
    frame = pd.DataFrame({"reccobeats_energy": energy, "reccobeats_tempo": tempo, "decade": decade}, index=ids)
    memberships: dict[int, list[str]] = {}
    for tid, e, t in zip(ids, energy, tempo):
        if e > 0.75 and rng.random() < 0.6:
            memberships.setdefault(int(tid), []).append("playlist:1")
        if t < 90 and rng.random() < 0.6:
            memberships.setdefault(int(tid), []).append("playlist:2")
    artists = {int(t): f"artist {t % 40}" for t in ids}
    return frame, memberships, artists


def test_rows_copy_a_track_per_playlist_and_keep_all_its_memberships():
    frame, memberships, artists = library()
    data = playlist_classifier.assemble(frame, memberships, artists, SPEC, ["playlist:1", "playlist:2"])
    both = [t for t, held in memberships.items() if len(held) == 2]
    assert both, "the synthetic library has songs in both playlists"
    rows = np.flatnonzero(data.track_ids == both[0])
    assert sorted(data.labels[rows]) == ["playlist:1", "playlist:2"]
    assert data.member.iloc[rows][["playlist:1", "playlist:2"]].all().all()
    assert data.classes == ["playlist:1", "playlist:2", "none"]


def test_grouped_folds_never_put_one_artist_on_both_sides():
    frame, memberships, artists = library()
    data = playlist_classifier.assemble(frame, memberships, artists, SPEC, ["playlist:1", "playlist:2"])
    for train, test in playlist_classifier.grouped_folds(data):
        assert not set(data.groups[train]) & set(data.groups[test])


@pytest.fixture(scope="module")
def studied():
    frame, memberships, artists = library()
    data = playlist_classifier.assemble(frame, memberships, artists, SPEC, ["playlist:1", "playlist:2"])
    return data, playlist_classifier.imbalance_study(data)


def test_oversampling_before_the_split_scores_higher_than_honest_runs(studied):
    data, runs = studied
    study = {r.params["balance"]: r for r in runs}
    trap = study["oversample-before-split"].metrics["macro_f1"]
    assert trap > study["weights"].metrics["macro_f1"]
    assert trap > study["oversample-in-folds"].metrics["macro_f1"]
    assert study["oversample-before-split"].params["rows"] > len(data), "the trap scores copies"


def test_the_comparison_reuses_the_study_run_and_the_choice_is_the_best_macro_f1(studied):
    data, study = studied
    compared = playlist_classifier.compare_models(data, ("logistic regression", "random forest"), done=study)
    forest = next(r for r in compared if r.name == "random forest")
    assert forest.metrics == study[0].metrics and forest.params["study"] == "comparison"
    assert study[0].params["study"] == "imbalance"
    assert playlist_classifier.choose(compared).metrics["macro_f1"] == max(r.metrics["macro_f1"] for r in compared)


def test_a_playlist_too_small_or_of_one_artist_is_left_out_and_one_class_is_refused():
    frame, memberships, artists = library()
    memberships = {t: [p for p in held if p == "playlist:1"] for t, held in memberships.items()}
    memberships[1] = ["playlist:9"]
    data = playlist_classifier.assemble(frame, memberships, artists, SPEC, ["playlist:1", "playlist:9"], {"playlist:9": "Tiny"})
    assert "playlist:9" not in data.classes and "“Tiny” is left out" in data.notes[0]
    solo = {int(t): "The Solo Artist" for t in frame.index[:12]}
    solo_data = playlist_classifier.assemble(frame, {**memberships, **{t: ["playlist:3"] for t in solo}}, {**artists, **solo}, SPEC,
                            ["playlist:1", "playlist:3"], {"playlist:3": "Solo"})
    assert "playlist:3" not in solo_data.classes
    assert any("“Solo” is left out: all its songs are by one artist" in note for note in solo_data.notes)
    everything = {int(t): ["playlist:1"] for t in frame.index}
    with pytest.raises(playlist_classifier.EnhanceDataError, match="only one thing to learn"):
        playlist_classifier.assemble(frame, everything, artists, SPEC, ["playlist:1"])


@pytest.mark.parametrize("cutoffs, expected", [((0.9, 0.8), 0.8), ((0.2, 0.1), 0.1)])
def test_the_cutoff_favours_precision(cutoffs, expected):
    # Two right suggestions at high probability, many wrong ones below: the cutoff stops above the wrong ones.
    proba = np.array([[cutoffs[0]], [cutoffs[0]], [cutoffs[1] - 0.05], [cutoffs[1] - 0.05], [cutoffs[1] - 0.05]])
    member = np.array([[True], [True], [False], [False], [False]])
    cutoff, precision, _, suggested = playlist_classifier.choose_cutoff(proba, member, [0])
    assert precision == 1.0 and suggested == 2 and cutoff <= cutoffs[0]


def test_reasons_name_what_a_song_shares_with_the_playlist():
    reference = pd.DataFrame({"reccobeats_energy": np.linspace(0, 1, 50), "reccobeats_tempo": 120.0,
                              "decade": ["2010s"] * 40 + ["1980s"] * 10})
    members = pd.DataFrame({"reccobeats_energy": [0.9, 0.95, 0.85], "reccobeats_tempo": 120.0,
                            "decade": ["1980s"] * 3})
    profile = PlaylistProfile(reference, members, SPEC, {"reccobeats_energy": 0.2, "decade": 0.1})
    song = pd.Series({"reccobeats_energy": 0.97, "reccobeats_tempo": 120.0, "decade": "1980s"})
    reasons = profile.reasons(song)
    assert "high energy, like the playlist" in reasons
    assert "from the 1980s, like 100% of the playlist" in reasons
    assert profile.reasons(pd.Series({"reccobeats_energy": 0.1, "reccobeats_tempo": 120.0, "decade": "2010s"})) \
        == ["close to the playlist's overall sound"]
    assert bare_name("reccobeats_tempo") == "tempo" and bare_name("decade") == "decade"
