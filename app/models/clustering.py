"""Clustering the catalog (affinity propagation or k-means) and describing each cluster by its genres and features."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import AffinityPropagation, KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.metrics import euclidean_distances, silhouette_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from app.analysis.explore import feature_label

#: Affinity propagation keeps an n x n similarity matrix and iterates over it (time and memory O(n^2)):
#: 2,000 tracks are 4 million similarities, a few seconds; larger catalogs use k-means or a sample.
AP_MAX_TRACKS = 2000
#: Tracks the preference sweep (number of clusters against preference) runs on.
SWEEP_SAMPLE = 300
#: Percentiles of the pairwise similarities tried as preferences in the sweep; 50 is scikit-learn's default.
SWEEP_PERCENTILES = (0, 5, 10, 25, 50, 75, 90, 95)
DEFAULT_PERCENTILE = 50.0
DEFAULT_K = 8
MAX_K = 50
SILHOUETTE_SAMPLE = 2000  # the silhouette is O(n^2) too: scored on a sample
#: A genre is "distinctive" of a cluster when its share there is this many times its overall share.
MIN_GENRE_LIFT = 1.3
MIN_GENRE_SHARE = 0.15
#: A feature is named when the cluster's mean is this many standard deviations from the catalog's.
MIN_FEATURE_SD = 0.5
NO_GENRE = "no genre"


class ClusteringError(ValueError):
    """The clustering cannot run as asked; the message is plain words for the user."""


@dataclass
class Clustering:
    """One clustering of the catalog: a label per track and how it was reached."""

    method: str                      # "affinity propagation" | "k-means"
    track_ids: list[int]
    labels: list[int]
    params: dict[str, Any]
    metrics: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def n_clusters(self) -> int:
        return len(set(self.labels) - {-1})


def preprocessing() -> Pipeline:
    """Median-impute then standardise: every feature counts in standard deviations, whatever its unit."""
    return Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                     ("scale", StandardScaler())])


def similarities(data: np.ndarray) -> np.ndarray:
    """Negative squared Euclidean distances: the similarity affinity propagation uses by default."""
    return -euclidean_distances(data, squared=True)


def preference_at(similarity: np.ndarray, percentile: float) -> float:
    """The `percentile`-th percentile of the off-diagonal similarities (50 = scikit-learn's median default)."""
    n = len(similarity)
    off = similarity[~np.eye(n, dtype=bool)] if n > 1 else np.array([0.0])
    return float(np.percentile(off, percentile))


def _ap(similarity: np.ndarray, preference: float, seed: int = 0) -> tuple[np.ndarray, bool]:
    model = AffinityPropagation(affinity="precomputed", preference=preference, damping=0.9, max_iter=400,
                                convergence_iter=20, random_state=seed)
    with warnings.catch_warnings():
        # Not converging is reported to the user through `converged`, not as a log warning.
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = model.fit_predict(similarity)
    converged = model.n_iter_ < model.max_iter and len(model.cluster_centers_indices_) > 0
    return np.asarray(labels), bool(converged)


def affinity_propagation(features: pd.DataFrame, percentile: float = DEFAULT_PERCENTILE,
                         max_tracks: int = AP_MAX_TRACKS, sample: bool = False, seed: int = 0) -> Clustering:
    """Affinity propagation on the numeric `features` (index track_id), preference at a similarity percentile.

    Above `max_tracks` it refuses, or with `sample` runs on a random `max_tracks` of them (said in `notes`).
    """
    _check_features(features)
    if not 0 <= percentile <= 100:
        raise ClusteringError("The preference is a percentile of the similarities, between 0 and 100.")
    notes = []
    sampled = len(features) > max_tracks
    if sampled:
        if not sample:
            raise ClusteringError(
                f"Affinity propagation compares every pair of tracks, so contextify runs it on at most "
                f"{max_tracks:,} tracks; this catalog has {len(features):,}. Use k-means, or let affinity "
                f"propagation run on a random sample of {max_tracks:,} tracks.")
        features = features.sample(n=max_tracks, random_state=seed)
        notes.append(f"Affinity propagation ran on a random sample of {max_tracks:,} tracks of the catalog.")
    data = preprocessing().fit_transform(features.to_numpy(dtype=float))
    similarity = similarities(data)
    preference = preference_at(similarity, percentile)
    labels, converged = _ap(similarity, preference, seed)
    if not (labels >= 0).any():
        raise ClusteringError("Affinity propagation did not settle on any clusters at this preference; try a lower "
                              "preference, or k-means.")
    if not converged:
        notes.append("Affinity propagation did not settle within 400 rounds; try another preference.")
    return Clustering("affinity propagation", [int(t) for t in features.index], [int(v) for v in labels],
                      {"preference_percentile": percentile, "preference": round(preference, 4),
                       "sampled": sampled, "features": list(features.columns)},
                      {"converged": converged, **_quality(data, labels, seed)}, notes)


def kmeans(features: pd.DataFrame, k: int = DEFAULT_K, seed: int = 0) -> Clustering:
    """k-means on the numeric `features`: linear in the number of tracks, so it takes the whole catalog."""
    _check_features(features)
    if not 2 <= k <= MAX_K:
        raise ClusteringError(f"Choose between 2 and {MAX_K} clusters for k-means.")
    if k > len(features):
        raise ClusteringError(f"k-means cannot make {k} clusters from {len(features)} tracks; choose fewer.")
    pipeline = Pipeline([*preprocessing().steps, ("kmeans", KMeans(n_clusters=k, n_init=4, random_state=seed))])
    labels = pipeline.fit_predict(features.to_numpy(dtype=float))
    data = pipeline[:-1].transform(features.to_numpy(dtype=float))
    return Clustering("k-means", [int(t) for t in features.index], [int(v) for v in labels],
                      {"k": k, "features": list(features.columns)},
                      {"inertia": round(float(pipeline[-1].inertia_), 3), **_quality(data, labels, seed)})


def preference_sweep(features: pd.DataFrame, percentiles: Sequence[float] = SWEEP_PERCENTILES,
                     sample: int = SWEEP_SAMPLE, seed: int = 0) -> list[dict[str, Any]]:
    """How many clusters affinity propagation finds at each preference, on a sample of `sample` tracks."""
    _check_features(features)
    if len(features) > sample:
        features = features.sample(n=sample, random_state=seed)
    data = preprocessing().fit_transform(features.to_numpy(dtype=float))
    similarity = similarities(data)
    rows = []
    for percentile in percentiles:
        preference = preference_at(similarity, percentile)
        labels, converged = _ap(similarity, preference, seed)
        rows.append({"percentile": float(percentile), "preference": round(preference, 4),
                     "n_clusters": int(len(set(labels.tolist()) - {-1})), "converged": converged,
                     "tracks": len(features)})
    return rows


def _check_features(features: pd.DataFrame) -> None:
    if features.empty or len(features) < 3:
        raise ClusteringError("The catalog has too few tracks with features to cluster; harvest some contexts "
                              "on the Contexts page first.")
    if features.shape[1] < 1:
        raise ClusteringError("No feature has values for enough tracks to cluster on.")


def _quality(data: np.ndarray, labels: np.ndarray, seed: int) -> dict[str, Any]:
    found = len(set(labels.tolist()) - {-1})
    if not 2 <= found < len(labels):
        return {"n_clusters": found, "silhouette": None}
    score = silhouette_score(data, labels, sample_size=min(SILHOUETTE_SAMPLE, len(labels)), random_state=seed)
    return {"n_clusters": found, "silhouette": round(float(score), 3)}


# ------------------------------------------------------------------------------ describing clusters


def genre_composition(labels: pd.Series, genres: pd.Series) -> pd.DataFrame:
    """Tracks per (cluster x genre), clusters as rows in label order; a missing genre counts as "no genre"."""
    frame = pd.DataFrame({"cluster": labels, "genre": genres.reindex(labels.index).fillna(NO_GENRE)})
    table = pd.crosstab(frame["cluster"], frame["genre"])
    order = table.sum().sort_values(ascending=False, kind="stable").index
    return table[order]


def feature_deviation(labels: pd.Series, features: pd.DataFrame) -> pd.DataFrame:
    """Each cluster's mean of each feature, in standard deviations from the catalog's mean (cluster x feature)."""
    data = features.reindex(labels.index).astype(float)
    spread = data.std(ddof=0).replace(0, np.nan)
    standardised = (data - data.mean()) / spread
    return standardised.groupby(labels).mean()


def cluster_sentences(labels: pd.Series, genres: pd.Series, features: pd.DataFrame,
                      top: int = 2) -> dict[int, str]:
    """One sentence per cluster: its size, its most over-represented genres (share there vs overall) and the
    features whose mean differs most from the catalog's, in standard deviations."""
    composition = genre_composition(labels, genres)
    overall = composition.sum() / composition.to_numpy().sum()
    deviation = feature_deviation(labels, features)
    # Yes/no features (explicit lyrics) read as "more often explicit", not "higher explicit".
    binary = {c for c in features.columns if features[c].dropna().isin([0, 1]).all()}
    sentences = {}
    for cluster, counts in composition.iterrows():
        size = int(counts.sum())
        share = counts / size
        lift = (share / overall).where(share >= MIN_GENRE_SHARE)
        distinct = [g for g in lift.dropna().sort_values(ascending=False).index
                    if lift[g] >= MIN_GENRE_LIFT and g != NO_GENRE][:top]
        parts = [f"Cluster {cluster} ({size:,} track{'s' if size != 1 else ''})"]
        if distinct:
            parts.append("is rich in " + _and([f"{g} ({share[g]:.0%} of it, {overall[g]:.0%} overall)"
                                                for g in distinct]))
        else:
            named = share.drop(NO_GENRE, errors="ignore")
            main = named.idxmax() if named.any() else None
            parts.append(f"mixes genres like the catalog does{f' (mostly {main}, {share[main]:.0%})' if main else ''}")
        row = deviation.loc[cluster].dropna() if cluster in deviation.index else pd.Series(dtype=float)
        strong = row[row.abs() >= MIN_FEATURE_SD].reindex(row.abs().sort_values(ascending=False).index).dropna()[:3]
        if len(strong):
            parts.append("with " + _and([f"{_direction(v, c in binary)} {feature_label(c)} ({v:+.1f} SD)"
                                         for c, v in strong.items()]))
        else:
            parts.append("with features close to the catalog's average")
        sentences[int(cluster)] = f"{parts[0]} {parts[1]}, {parts[2]}."
    return sentences


def _direction(deviation: float, binary: bool) -> str:
    if binary:
        return "more often" if deviation > 0 else "less often"
    return "higher" if deviation > 0 else "lower"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
