"""Clustering the catalog: affinity propagation follows its preference, k-means gives k, and each cluster is named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.models import clustering
from tests.catalog_map.conftest import GENRES


def test_more_preference_gives_more_clusters(plain_catalog):
    features, _ = plain_catalog
    sweep = clustering.preference_sweep(features, percentiles=(0, 10, 25, 50, 75, 90))
    counts = [row["n_clusters"] for row in sweep]
    assert all(row["converged"] for row in sweep), sweep
    # Monotone-ish: never more than one cluster fewer than at a lower preference, and clearly more at the top.
    assert all(later >= earlier - 1 for earlier, later in zip(counts, counts[1:])), counts
    assert counts[-1] >= 3 * counts[0], counts
    assert [row["preference"] for row in sweep] == sorted(row["preference"] for row in sweep)


def test_affinity_propagation_at_the_lowest_preference_finds_the_three_genres(plain_catalog):
    features, genres = plain_catalog
    result = clustering.affinity_propagation(features, percentile=0)
    labels = pd.Series(result.labels, index=result.track_ids)
    assert 2 <= result.n_clusters <= 6, result.n_clusters
    assert result.metrics["converged"]
    # Each genre lives mostly in one cluster: the clusters are about the music, not noise.
    purity = pd.crosstab(labels, genres).max(axis=1).sum() / len(labels)
    assert purity > 0.9, purity
    many = clustering.affinity_propagation(features, percentile=90)
    assert many.n_clusters > result.n_clusters


def test_kmeans_gives_k_clusters(plain_catalog):
    features, _ = plain_catalog
    for k in (2, 3, 7):
        result = clustering.kmeans(features, k=k)
        assert result.n_clusters == k
        assert sorted(set(result.labels)) == list(range(k))
        assert len(result.labels) == len(features)


def test_cluster_sentences_name_the_genres_present_and_the_features(plain_catalog):
    features, genres = plain_catalog
    result = clustering.kmeans(features, k=3)
    labels = pd.Series(result.labels, index=result.track_ids)
    sentences = clustering.cluster_sentences(labels, genres, features)
    assert len(sentences) == 3
    named = set()
    for cluster, sentence in sentences.items():
        main = genres[labels[labels == cluster].index].value_counts().index[0]
        assert main in sentence, sentence
        assert "SD" in sentence
        named.add(main)
    assert named == set(GENRES)
    classical = next(s for s in sentences.values() if "Classical" in s)
    assert "lower energy (preview)" in classical and "lower tempo (preview)" in classical, classical


def test_composition_counts_every_track_once(plain_catalog):
    features, genres = plain_catalog
    result = clustering.kmeans(features, k=3)
    labels = pd.Series(result.labels, index=result.track_ids)
    table = clustering.genre_composition(labels, genres.drop(index=[1, 2]))
    assert table.to_numpy().sum() == len(features)
    assert table[clustering.NO_GENRE].sum() == 2


def test_affinity_propagation_refuses_a_large_catalog_in_plain_words_or_samples_it():
    rng = np.random.default_rng(0)
    big = pd.DataFrame(rng.normal(size=(clustering.AP_MAX_TRACKS + 1, 2)), columns=["preview_tempo", "deezer_gain"])
    with pytest.raises(clustering.ClusteringError, match=r"at most 2,000 tracks; this catalog has 2,001\. Use k-means"):
        clustering.affinity_propagation(big)
    small_limit = clustering.affinity_propagation(big.iloc[:400], max_tracks=150, sample=True, percentile=0)
    assert len(small_limit.labels) == 150
    assert small_limit.params["sampled"] and "random sample of 150 tracks" in small_limit.notes[0]


@pytest.mark.parametrize("frame, message", [
    (pd.DataFrame(columns=["preview_tempo"]), "too few tracks"),
    (pd.DataFrame({"a": [1.0, 2.0]}), "too few tracks"),
])
def test_an_empty_catalog_is_refused(frame, message):
    with pytest.raises(clustering.ClusteringError, match=message):
        clustering.kmeans(frame, k=2)


def test_kmeans_refuses_impossible_k(plain_catalog):
    features, _ = plain_catalog
    with pytest.raises(clustering.ClusteringError, match="between 2 and 50"):
        clustering.kmeans(features, k=1)
    with pytest.raises(clustering.ClusteringError, match="from 5 tracks"):
        clustering.kmeans(features.iloc[:5], k=6)


def test_yes_no_features_read_as_more_or_less_often(plain_catalog):
    features, genres = plain_catalog
    features = features.assign(deezer_explicit=(genres == "Rap/Hip Hop").astype(float))
    labels = pd.Series(clustering.kmeans(features, k=3).labels, index=features.index)
    rap = next(s for s in clustering.cluster_sentences(labels, genres, features).values() if "Rap/Hip Hop (" in s)
    assert "more often explicit (deezer)" in rap, rap
