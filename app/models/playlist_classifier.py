"""Enhance's machine learning on plain data frames: which of a user's own playlists a liked song belongs in.

The problem is multi-class: each row is a track with one label, the playlist it is in, or NONE for liked
songs in none of the user's playlists (a track in two playlists is two rows, one per playlist: copies that
grouped splits keep together). The playlists are small next to NONE, so classes are imbalanced; the study
compares class weights with random oversampling, scored by cross-validation grouped by artist, so copies,
reissues and an artist's look-alike songs never sit on both sides of a split. It also runs the known trap
(oversampling the whole set before splitting) to show how its scores are inflated.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from imblearn.over_sampling import RandomOverSampler
from imblearn.pipeline import Pipeline as ImbPipeline
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold, StratifiedKFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from app.models.features import FeatureSpec
from app.models.pipeline import make_pipeline

#: The label of liked songs that are in none of the user's playlists.
NONE = "none"
#: A playlist needs this many tracks with features before Enhance learns what it sounds like.
MIN_PLAYLIST_TRACKS = 10
#: Most folds the grouped cross-validation uses (fewer when a playlist has few artists).
MAX_FOLDS = 5
#: Estimator the imbalance study is run with: a forest remembers single rows, so copies leak clearly.
STUDY_ESTIMATOR = "random forest"
#: Cutoffs tried for "suggest when P(playlist) is at least this".
CUTOFFS = tuple(np.round(np.arange(0.1, 0.951, 0.05), 2))
#: The cutoff is the one with the best F-beta on out-of-fold suggestions; beta < 1 favours precision.
CUTOFF_BETA = 0.5
SEED = 0

Balance = str  # "weights" | "oversample-in-folds" | "oversample-before-split" | "none"


class EnhanceDataError(ValueError):
    """The playlists cannot be learned (too few tracks, a single class); plain words."""


@dataclass
class EnhanceData:
    """Rows to learn from: features, one label per row, the row's group, and every label the track has.

    Attributes
    ----------
    features : DataFrame
        One row per (track, label), columns ``spec.columns``; the index is positional.
    labels : ndarray of str
        The row's playlist key, or :data:`NONE`.
    track_ids : ndarray of int
    groups : ndarray of str
        What may not be split apart (the track's main artist).
    member : DataFrame of bool
        Rows x classes: whether the row's track is in each playlist (all its playlists, not just the label).
    spec : FeatureSpec
    classes : list of str
        Playlist keys first (in the order given), then NONE when present.
    """

    features: pd.DataFrame
    labels: np.ndarray
    track_ids: np.ndarray
    groups: np.ndarray
    member: pd.DataFrame
    spec: FeatureSpec
    classes: list[str]
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> dict[str, int]:
        return {c: int((self.labels == c).sum()) for c in self.classes}


def assemble(frame: pd.DataFrame, memberships: dict[int, Sequence[str]], artists: dict[int, str],
             spec: FeatureSpec, playlists: Sequence[str], names: dict[str, str] | None = None,
             min_tracks: int = MIN_PLAYLIST_TRACKS) -> EnhanceData:
    """Rows for every track of ``frame`` (indexed by track id) from which playlists hold it.

    Tracks without any feature value are left out (nothing to learn from); playlists with fewer than
    ``min_tracks`` tracks left, or whose songs are all by one artist, are dropped with a note naming them.

    Raises
    ------
    EnhanceDataError
        No playlist can be kept, or only one class is left.
    """
    names = names or {}
    frame = frame.reindex(columns=spec.columns)
    frame = frame[frame.notna().any(axis=1)]
    inside = {p: [int(t) for t in frame.index if p in memberships.get(int(t), ())] for p in playlists}
    sizes = {p: len(tracks) for p, tracks in inside.items()}
    voices = {p: len({artists.get(t) or f"track:{t}" for t in tracks}) for p, tracks in inside.items()}
    kept = [p for p in playlists if sizes[p] >= min_tracks and voices[p] >= 2]
    notes = [f"“{names.get(p, p)}” is left out: it has {sizes[p]} track{'s' if sizes[p] != 1 else ''} "
             f"contextify has features for, and Enhance needs at least {min_tracks} to learn what it sounds like."
             for p in playlists if sizes[p] < min_tracks]
    # Scores are measured on artists held out; a one-artist playlist could never be tested that way.
    notes += [f"“{names.get(p, p)}” is left out: all its songs are by one artist, so Enhance could not test it on "
              "songs by artists it has not seen." for p in playlists if sizes[p] >= min_tracks and voices[p] < 2]
    if not kept and any(sizes[p] >= min_tracks for p in playlists):
        raise EnhanceDataError("None of your playlists can be learned. " + " ".join(notes))
    if not kept:
        listed = ", ".join(f"“{names.get(p, p)}” ({sizes[p]})" for p in playlists)
        raise EnhanceDataError(f"None of your playlists has enough tracks to learn from: {listed}. Enhance needs "
                               f"at least {min_tracks} tracks with features in a playlist.")
    rows, labels, track_ids = [], [], []
    for tid in frame.index:
        held = [p for p in kept if p in memberships.get(int(tid), ())]
        for label in held or [NONE]:
            rows.append(tid)
            labels.append(label)
            track_ids.append(int(tid))
    labels_arr = np.asarray(labels, dtype=object)
    classes = [*kept, *([NONE] if (labels_arr == NONE).any() else [])]
    if len(classes) < 2:
        raise EnhanceDataError(f"There is only one thing to learn (“{names.get(classes[0], classes[0])}”) and every "
                               "liked song is in it; Enhance needs a second playlist, or liked songs outside it.")
    features = frame.loc[rows].reset_index(drop=True)
    member = pd.DataFrame({c: [c in memberships.get(t, ()) if c != NONE else not any(
        p in memberships.get(t, ()) for p in kept) for t in track_ids] for c in classes})
    groups = np.asarray([artists.get(t) or f"track:{t}" for t in track_ids], dtype=object)
    return EnhanceData(features, labels_arr, np.asarray(track_ids), groups, member, spec, classes, notes)


# ------------------------------------------------------------------------------------------ estimators


def _estimators() -> dict[str, tuple[Any, bool]]:
    """Name -> (estimator, whether it takes class weights); the others balance by oversampling in folds."""
    return {
        "logistic regression": (LogisticRegression(max_iter=2000, C=1.0), True),
        "k-nearest neighbours": (KNeighborsClassifier(n_neighbors=15, weights="distance"), False),
        "random forest": (RandomForestClassifier(n_estimators=100, min_samples_leaf=2, random_state=SEED,
                                                 n_jobs=1), True),
        "histogram gradient boosting": (HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1,
                                                                       random_state=SEED), True),
        "multi-layer perceptron": (MLPClassifier(hidden_layer_sizes=(32,), alpha=1e-2, solver="lbfgs", max_iter=300,
                                                 random_state=SEED), False),
    }


ESTIMATOR_NAMES = tuple(_estimators())


def make_model(name: str, spec: FeatureSpec, balance: Balance) -> Pipeline | ImbPipeline:
    """Preprocessing (the product's ColumnTransformer) and the named estimator, balanced as asked.

    ``weights`` sets ``class_weight="balanced"``; ``oversample-in-folds`` puts a RandomOverSampler between
    preprocessing and the estimator in an imblearn Pipeline, so it only ever copies training rows.
    """
    estimator, _ = _estimators()[name]
    estimator = clone(estimator)
    preprocess = make_pipeline(spec)["preprocess"]
    if balance == "weights":
        estimator.set_params(class_weight="balanced")
    if balance == "oversample-in-folds":
        return ImbPipeline([("preprocess", preprocess), ("oversample", RandomOverSampler(random_state=SEED)),
                            ("classifier", estimator)])
    return Pipeline([("preprocess", preprocess), ("classifier", estimator)])


def default_balance(name: str) -> Balance:
    """Class weights where the estimator takes them, else oversampling inside each training fold."""
    return "weights" if _estimators()[name][1] else "oversample-in-folds"


def estimator_params(name: str) -> dict[str, Any]:
    """The estimator's own settings that differ from scikit-learn's defaults, for the run record."""
    estimator, _ = _estimators()[name]
    defaults = type(estimator)().get_params()
    return {k: v for k, v in estimator.get_params().items() if defaults.get(k) != v}


# ------------------------------------------------------------------------------------------ evaluation


def n_folds(data: EnhanceData) -> int:
    """Folds for grouped CV: at most MAX_FOLDS, and no more than the fewest artists any class has."""
    artists = pd.Series(data.groups).groupby(data.labels).nunique()
    return int(max(2, min(MAX_FOLDS, artists.min())))


def grouped_folds(data: EnhanceData, n_splits: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds that keep every artist (so every copy of a track) on one side."""
    splitter = StratifiedGroupKFold(n_splits=n_splits or n_folds(data), shuffle=True, random_state=SEED)
    return list(splitter.split(data.features, data.labels, data.groups))


@dataclass
class RunResult:
    """One evaluated run: what was run, its scores, and its out-of-fold predictions."""

    name: str
    params: dict[str, Any]
    metrics: dict[str, float]
    seconds: float
    proba: np.ndarray = field(repr=False)
    truth: np.ndarray = field(repr=False)
    member: np.ndarray = field(repr=False)
    track_ids: np.ndarray = field(repr=False)

    def predicted(self, classes: Sequence[str]) -> np.ndarray:
        return np.asarray(classes, dtype=object)[self.proba.argmax(axis=1)]


def choose_cutoff(proba: np.ndarray, member: np.ndarray, playlist_columns: Sequence[int],
                  beta: float = CUTOFF_BETA) -> tuple[float, float, float, int]:
    """The cutoff with the best F-beta for "suggest track t for playlist p when P(p | t) >= cutoff".

    Counted over unique (track, playlist) pairs of the playlists' columns; returns (cutoff, precision,
    recall, suggested). A cutoff that suggests nothing scores zero.
    """
    p = proba[:, playlist_columns]
    y = member[:, playlist_columns].astype(bool)
    best = (float(CUTOFFS[-1]), 0.0, 0.0, 0, -1.0)
    positives = max(int(y.sum()), 1)
    for cutoff in CUTOFFS:
        picked = p >= cutoff
        n = int(picked.sum())
        if not n:
            continue
        precision = float((picked & y).sum() / n)
        recall = float((picked & y).sum() / positives)
        score = 0.0 if precision + recall == 0 else \
            (1 + beta ** 2) * precision * recall / (beta ** 2 * precision + recall)
        if score > best[4]:
            best = (float(cutoff), precision, recall, n, score)
    return best[:4]


def _scores(classes: Sequence[str], proba: np.ndarray, truth: np.ndarray, member: np.ndarray,
            track_ids: np.ndarray) -> dict[str, float]:
    predicted = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    # Precision is counted once per track: a track's copies carry the same features and predictions.
    first = ~pd.Series(track_ids).duplicated().to_numpy()
    playlist_columns = [j for j, c in enumerate(classes) if c != NONE]
    cutoff, precision, recall, suggested = choose_cutoff(proba[first], member[first], playlist_columns)
    return {"accuracy": float(accuracy_score(truth, predicted)),
            "macro_f1": float(f1_score(truth, predicted, labels=list(classes), average="macro", zero_division=0)),
            "cutoff": cutoff, "precision_at_cutoff": precision, "recall_at_cutoff": recall,
            "suggested_at_cutoff": suggested}


def evaluate(data: EnhanceData, name: str, balance: Balance, folds: list | None = None,
             label: str | None = None) -> RunResult:
    """Out-of-fold scores of the named estimator balanced as asked, on grouped folds (default).

    ``balance="oversample-before-split"`` is the trap: every minority row is copied first, then the copies
    are split with ordinary stratified folds, and scored on the copied set as such studies did.
    """
    started = time.perf_counter()
    X, y, member, track_ids = data.features, data.labels, data.member.to_numpy(), data.track_ids
    cv_name = "grouped by artist"
    if balance == "oversample-before-split":
        sampler = RandomOverSampler(random_state=SEED)
        X, y = sampler.fit_resample(X, y)
        index = sampler.sample_indices_
        member, track_ids = member[index], track_ids[index]
        # The copies get new identities: a trap study does not know they are copies.
        track_ids = np.arange(len(y))
        folds = list(StratifiedKFold(n_splits=n_folds(data), shuffle=True, random_state=SEED).split(X, y))
        cv_name = "ordinary (not grouped), after oversampling"
        model = make_model(name, data.spec, "none")
    elif balance == "weights-ungrouped":
        folds = list(StratifiedKFold(n_splits=n_folds(data), shuffle=True, random_state=SEED).split(X, y))
        cv_name = "ordinary (not grouped)"
        model = make_model(name, data.spec, "weights")
    else:
        folds = folds if folds is not None else grouped_folds(data)
        model = make_model(name, data.spec, balance)
    # One native thread: OpenMP-parallel estimators (gradient boosting) slow to a crawl on a busy small machine.
    with threadpool_limits(limits=1):
        proba = cross_val_predict(model, X, y, cv=folds, method="predict_proba")
    # cross_val_predict orders columns by sorted class; put them in data.classes' order.
    order = [sorted(data.classes).index(c) for c in data.classes]
    proba = proba[:, order]
    seconds = time.perf_counter() - started
    params = {"estimator": name, "balance": balance, "cv": cv_name, "folds": len(folds),
              "rows": int(len(y)), **estimator_params(name)}
    return RunResult(label or name, params, _scores(data.classes, proba, np.asarray(y), member, track_ids),
                     seconds, proba, np.asarray(y), member, track_ids)


#: The imbalance study's runs: (label, balance), honest ones first, the trap last.
STUDY_RUNS = (
    ("class weights, grouped CV", "weights"),
    ("oversampling inside each training fold, grouped CV", "oversample-in-folds"),
    ("class weights, ordinary CV (not grouped)", "weights-ungrouped"),
    ("oversampled before splitting, ordinary CV (the trap)", "oversample-before-split"),
)


def imbalance_study(data: EnhanceData, estimator: str = STUDY_ESTIMATOR,
                    after_each: Callable[[RunResult], None] | None = None) -> list[RunResult]:
    """Class weights versus random oversampling, honestly (grouped, oversampling in folds) and the trap."""
    folds = grouped_folds(data)
    results = []
    for label, balance in STUDY_RUNS:
        result = evaluate(data, estimator, balance, folds=folds, label=f"{estimator}: {label}")
        result.params["study"] = "imbalance"
        results.append(result)
        if after_each is not None:
            after_each(result)
    return results


def compare_models(data: EnhanceData, names: Sequence[str] = ESTIMATOR_NAMES,
                   after_each: Callable[[RunResult], None] | None = None,
                   done: Sequence[RunResult] = ()) -> list[RunResult]:
    """Each estimator on the same grouped folds, balanced by class weights where it takes them.

    A run in ``done`` with the same estimator and balance on grouped folds (the study's class-weighted run)
    is reused rather than fitted again: same folds and seed, so the same numbers.
    """
    folds = grouped_folds(data)
    results = []
    for name in names:
        same = [r for r in done if r.params["estimator"] == name and r.params["balance"] == default_balance(name)
                and r.params["cv"] == "grouped by artist"]
        if same:
            result = replace(same[0], name=name, params={**same[0].params, "reused_from": same[0].name})
        else:
            result = evaluate(data, name, default_balance(name), folds=folds)
        result.params["study"] = "comparison"
        results.append(result)
        if after_each is not None:
            after_each(result)
    return results


def choose(results: Sequence[RunResult]) -> RunResult:
    """The best macro-F1 on grouped CV; ties go to the better precision at its cutoff."""
    return max(results, key=lambda r: (round(r.metrics["macro_f1"], 4), r.metrics["precision_at_cutoff"]))


def confusion(result: RunResult, classes: Sequence[str]) -> list[list[int]]:
    """Out-of-fold confusion matrix (rows: true label, columns: predicted), in ``classes`` order."""
    return confusion_matrix(result.truth, result.predicted(classes), labels=list(classes)).tolist()


def feature_importance(data: EnhanceData, name: str, balance: Balance, n_repeats: int = 5,
                       test_size: float = 0.3) -> list[dict[str, float]]:
    """Permutation importance of each input column on a held-out share of artists (macro-F1 lost when shuffled)."""
    train, test = next(GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=SEED)
                       .split(data.features, data.labels, data.groups))
    model = make_model(name, data.spec, balance).fit(data.features.iloc[train], data.labels[train])
    found = permutation_importance(model, data.features.iloc[test], data.labels[test], scoring="f1_macro",
                                   n_repeats=n_repeats, random_state=SEED, n_jobs=1)
    rows = [{"feature": column, "importance": float(mean), "spread": float(std)}
            for column, mean, std in zip(data.features.columns, found.importances_mean, found.importances_std)]
    return sorted(rows, key=lambda r: -r["importance"])


def fit_final(data: EnhanceData, name: str, balance: Balance) -> Pipeline | ImbPipeline:
    """The chosen estimator fitted on every row."""
    return make_model(name, data.spec, balance).fit(data.features, data.labels)


def class_probabilities(model, frame: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """P(class | track) for each row of ``frame`` (its index kept), columns in ``classes`` order."""
    proba = model.predict_proba(frame)
    fitted = list(model.classes_)
    return pd.DataFrame(proba[:, [fitted.index(c) for c in classes]], index=frame.index, columns=list(classes))
