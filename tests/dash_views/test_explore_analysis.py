"""Explore's numbers and sentences on small constructed stores and frames whose answers are known."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from app.analysis import explore
from app.analysis.cache import TTLCache
from app.extensions import db

def test_context_frame_has_one_row_per_track_and_context_with_features(store):
    with store.app_context():
        frame = explore.context_frame(db.session, ["WORKOUT", "study", "sleep"])
        harvested = explore.harvested_contexts(db.session)
    assert len(frame) == 8
    assert {"track_id", "context", "preview_tempo", "preview_energy"} <= set(frame.columns)
    assert frame.loc[frame["track_id"] == 1, "preview_tempo"].item() == 150
    assert set(frame["context"]) == {"Workout", "Study", "Sleep"}, "display names, whatever case was asked"
    assert dict(harvested) == {"Study": 3, "Sleep": 3, "Workout": 2}


def test_context_frame_of_unknown_contexts_is_empty(store):
    with store.app_context():
        assert explore.context_frame(db.session, ["jazz"]).empty


def test_class_sizes_jaccard_and_multi_context_share(store):
    with store.app_context():
        frame = explore.context_frame(db.session, ["workout", "study", "sleep"])
    sizes = explore.class_sizes(frame)
    assert sizes.to_dict() == {"Study": 3, "Sleep": 3, "Workout": 2}
    jaccard = explore.jaccard_matrix(frame)
    assert jaccard.loc["Study", "Sleep"] == pytest.approx(2 / 4)
    assert jaccard.loc["Workout", "Study"] == 0 and jaccard.loc["Sleep", "Sleep"] == 1
    assert explore.multi_context_share(frame) == pytest.approx(2 / 6)
    text = explore.overlap_sentence(jaccard, explore.multi_context_share(frame))
    assert re.match(r"(Study and Sleep|Sleep and Study) overlap heavily \(Jaccard 0\.50\)", text) and "33%" in text


def test_feature_means_are_standardised_and_name_the_clearest_signature(store):
    with store.app_context():
        frame = explore.context_frame(db.session, ["workout", "study", "sleep"])
    columns = explore.feature_columns(frame)
    assert columns == ["preview_energy", "preview_tempo"]
    means = explore.feature_means(frame, columns)
    tempo = pd.Series([150, 140, 80, 70, 90, 60], dtype=float)
    expected = (145 - tempo.mean()) / tempo.std(ddof=0)
    assert means.loc["Workout", "preview_tempo"] == pytest.approx(expected)
    assert "Workout has a much higher" in explore.means_sentence(means)


def frame_of(columns: dict[str, np.ndarray], contexts: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"track_id": np.arange(len(contexts)), "context": contexts, **columns})


def test_vif_finds_the_collinear_column():
    rng = np.random.default_rng(0)
    a, b, noise = rng.normal(size=500), rng.normal(size=500), rng.normal(scale=0.05, size=500)
    frame = frame_of({"x_a": a, "x_b": b, "x_sum": a + b + noise, "x_free": rng.normal(size=500)},
                     np.where(a > 0, "up", "down"))
    vif = explore.vif_table(frame, ["x_a", "x_b", "x_sum", "x_free"]).set_index("feature")["vif"]
    assert vif["x_sum"] > 100 and vif["x_a"] > 100, vif
    assert vif["x_free"] == pytest.approx(1.0, abs=0.05)
    # A column the others predict exactly has infinite VIF.
    exact = frame_of({"x_a": a, "x_b": b, "x_sum": a + b}, np.full(500, "c"))
    assert math.isinf(explore.vif_table(exact, ["x_a", "x_b", "x_sum"])["vif"].iloc[0])
    assert "sum (x) most" in explore.vif_sentence(explore.vif_table(frame, ["x_a", "x_b", "x_sum", "x_free"]))


def test_correlation_sentence_names_the_strongest_pair():
    rng = np.random.default_rng(1)
    tempo = rng.normal(size=300)
    frame = frame_of({"preview_tempo": tempo, "preview_energy": tempo + rng.normal(scale=0.5, size=300),
                      "deezer_gain": rng.normal(size=300)}, np.full(300, "x"))
    corr = explore.correlation(frame, ["preview_tempo", "preview_energy", "deezer_gain"])
    text = explore.correlation_sentence(corr)
    assert text.startswith("tempo (preview) and energy (preview) are strongly correlated (r = 0.8")


def test_pca_map_has_a_point_per_track_and_context_and_names_the_close_pair():
    rng = np.random.default_rng(2)
    centres = {"edm": 5.0, "study": 0.0, "sleep": 0.3}
    contexts = np.repeat(list(centres), 100)
    base = np.array([centres[c] for c in contexts])
    frame = frame_of({f"f_{i}": base + rng.normal(scale=0.5, size=300) for i in range(4)}, contexts)
    points = explore.pca_map(frame, [f"f_{i}" for i in range(4)])
    assert points.shape == (300, 4) and list(points.columns) == ["track_id", "context", "x", "y"]
    assert len(points.attrs["explained"]) == 2 and points.attrs["explained"][0] > 0.8
    text = explore.map_sentence(points)
    assert re.search(r"(study and sleep|sleep and study) sit closest", text)
    assert "edm" in text.split("sit furthest")[0]


def test_tsne_runs_on_a_sample_only():
    rng = np.random.default_rng(3)
    frame = frame_of({"f_a": rng.normal(size=400), "f_b": rng.normal(size=400)}, np.repeat(["a", "b"], 200))
    points = explore.tsne_map(frame, ["f_a", "f_b"], sample=100)
    assert len(points) == 100 and points.attrs["sampled"] == 100


def test_distribution_stats_and_sentence():
    frame = frame_of({"preview_tempo": np.array([60, 62, 64, 66, 140, 150, 160, 170], dtype=float)},
                     np.repeat(["sleep", "workout"], 4))
    stats = explore.distribution_stats(frame, "preview_tempo")
    assert stats.loc["sleep", "median"] == 63 and stats.loc["workout", "n"] == 4
    text = explore.distribution_sentence(stats, "preview_tempo")
    assert text.startswith("workout has the highest median tempo (preview) (155)") and "barely overlap" in text


def test_empty_frames_give_plain_sentences():
    empty = pd.DataFrame(columns=["track_id", "context"])
    assert explore.class_sizes(empty).empty and explore.jaccard_matrix(empty).empty
    assert explore.sizes_sentence(explore.class_sizes(empty)) == "No tracks are labelled for these contexts yet."
    assert explore.vif_table(empty, []).empty and explore.pca_map(empty, []).empty
    assert explore.overlap_sentence(explore.jaccard_matrix(empty), 0.0) == "Overlap needs at least two contexts."


def test_imbalance_is_called_out():
    sizes = pd.Series({"party": 900, "study": 100})
    assert "9× imbalance: harvest more playlists for study" in explore.sizes_sentence(sizes)


def test_fifty_thousand_tracks_are_summarised_with_a_bounded_map():
    # How fast this is belongs to `make bench` (area 5 times the Explore page on a 50,000-track store), not here.
    rng = np.random.default_rng(4)
    n = 50_000
    contexts = rng.choice([f"c{i}" for i in range(10)], size=n)
    frame = frame_of({f"p_f{i}": rng.normal(size=n) for i in range(12)}, contexts)
    columns = explore.feature_columns(frame)
    explore.feature_means(frame, columns)
    explore.jaccard_matrix(frame)
    explore.correlation(frame, columns)
    explore.vif_table(frame, columns)
    points = explore.map_sample(explore.pca_map(frame, columns))
    explore.distribution_stats(frame, columns[0])
    assert len(points) <= explore.MAP_POINTS and set(points["context"]) == set(contexts)


def test_the_cache_keeps_a_value_for_its_ttl_and_evicts_the_oldest():
    now = [0.0]
    cache = TTLCache(maxsize=2, ttl_s=10, clock=lambda: now[0])
    builds = []

    def build(value):
        return lambda: builds.append(value) or value

    assert cache.get("a", build(1)) == 1 and cache.get("a", build(2)) == 1
    now[0] = 11
    assert cache.get("a", build(3)) == 3, "stale after its ttl"
    cache.get("b", build(4))
    cache.get("c", build(5))
    assert cache.get("a", build(6)) == 6, "evicted as the least recently used"
    assert builds == [1, 3, 4, 5, 6]
