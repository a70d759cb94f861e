"""Whose song is it: a configurable multi-layer perceptron on two libraries, its scores, hidden-layer map and doubts."""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning
from sklearn.manifold import TSNE
from sklearn.metrics import confusion_matrix, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from app.models.features import FeatureSpec
from app.models.pipeline import make_pipeline
from app.pipeline.features_table import CATEGORICAL, common_feature_columns

ACTIVATIONS = ("relu", "tanh", "logistic")
LAYERS = (1, 4)      # bounds of the form's "hidden layers"
UNITS = (2, 256)     # bounds of "units per layer"
DEFAULTS = {"layers": 2, "units": 32, "activation": "relu"}
TEST_SHARE = 0.25
FOLDS = 4
MAX_ITER = 400
#: t-SNE is quadratic-ish in points; beyond this many the map shows an even sample of each side.
MAX_MAP_POINTS = 1500
OWNER, OTHER = 1, 0  # the label: 1 = the logged-in user's song

# The hidden layers' non-linearities as MLPClassifier applies them (its own table is private API).
_ACTIVATE = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh, "logistic": expit, "identity": lambda z: z}


class CompareInputError(ValueError):
    """The form's network settings or the two libraries cannot be used; plain words."""


@dataclass(frozen=True)
class NetworkSettings:
    """The perceptron the user asked for: how many hidden layers, units in each, and their activation."""

    layers: int
    units: int
    activation: str

    @property
    def hidden_layer_sizes(self) -> tuple[int, ...]:
        return (self.units,) * self.layers

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def network_settings(form: Mapping[str, Any]) -> NetworkSettings:
    """Validate the form's values against the bounds; CompareInputError names every bad field."""
    problems = []

    def whole(name: str, label: str, bounds: tuple[int, int]) -> int:
        value = form.get(name, DEFAULTS[name])
        try:
            number = int(value)
            if number != float(value):
                raise ValueError
        except (TypeError, ValueError):
            problems.append(f"{label} must be a whole number from {bounds[0]} to {bounds[1]}")
            return bounds[0]
        if not bounds[0] <= number <= bounds[1]:
            problems.append(f"{label} must be from {bounds[0]} to {bounds[1]}, not {number}")
        return number

    layers = whole("layers", "Hidden layers", LAYERS)
    units = whole("units", "Units per layer", UNITS)
    activation = str(form.get("activation", DEFAULTS["activation"]) or "")
    if activation not in ACTIVATIONS:
        problems.append(f"Activation must be one of {', '.join(ACTIVATIONS)}")
    if problems:
        raise CompareInputError("; ".join(problems) + ".")
    return NetworkSettings(layers, units, activation)


@dataclass
class TwoLibraries:
    """The labelled tracks (shared ones left out of training), and the shared ones, reported apart."""

    frame: pd.DataFrame          # features of the tracks in exactly one library
    y: np.ndarray                # OWNER or OTHER per row of `frame`
    shared: list[int]            # tracks in both libraries
    spec: FeatureSpec


def two_libraries(features: pd.DataFrame, owner_ids: list[int], other_ids: list[int]) -> TwoLibraries:
    """Label each track by whose library holds it. A track in both cannot teach whose it is: it is kept out of
    training and reported. Feature columns follow the coverage rule on both libraries alike."""
    owner, other = set(owner_ids), set(other_ids)
    shared = sorted(owner & other)
    only_owner, only_other = sorted(owner - other), sorted(other - owner)
    columns = common_feature_columns(features.loc[sorted(owner)], features.loc[sorted(other)])
    if not columns:
        raise CompareInputError("No feature is known for most tracks of both libraries yet, so there is nothing to "
                                "learn from. Let the comparison fetch features (keep 'fetch missing features' on).")
    spec = FeatureSpec(numeric=tuple(c for c in columns if c not in CATEGORICAL),
                       categorical=tuple(c for c in columns if c in CATEGORICAL))
    ids = only_owner + only_other
    y = np.array([OWNER] * len(only_owner) + [OTHER] * len(only_other))
    return TwoLibraries(features.loc[ids, spec.columns], y, shared, spec)


def make_network(spec: FeatureSpec, settings: NetworkSettings, seed: int = 0) -> Pipeline:
    """The shared preprocessing (imputation, scaling, one-hot) with the perceptron as the classifier."""
    pipeline = make_pipeline(spec)
    # Balanced classes matter more than a bigger net here: MLPClassifier has no class_weight, so the
    # held-out metrics below are read with the imbalance stated beside them.
    return pipeline.set_params(classifier=MLPClassifier(
        hidden_layer_sizes=settings.hidden_layer_sizes, activation=settings.activation, max_iter=MAX_ITER,
        early_stopping=False, random_state=seed))


def last_hidden_layer(pipeline: Pipeline, X: pd.DataFrame) -> np.ndarray:
    """The fitted network's last hidden layer for each row: the forward pass through coefs_ and intercepts_."""
    network: MLPClassifier = pipeline.named_steps["classifier"]
    activate = _ACTIVATE[network.activation]
    values = np.asarray(pipeline.named_steps["preprocess"].transform(X), dtype=float)
    for weights, bias in zip(network.coefs_[:-1], network.intercepts_[:-1]):
        values = activate(values @ weights + bias)
    return values


@dataclass
class CompareResult:
    metrics: dict[str, Any]
    points: list[dict[str, Any]]          # the t-SNE map: x, y, owner (OWNER/OTHER/"both"), track_id
    probabilities: pd.Series              # out-of-fold P(owner's song) per labelled track id
    seconds: float


def compare(data: TwoLibraries, settings: NetworkSettings, seed: int = 0,
            max_map_points: int = MAX_MAP_POINTS, shared_features: pd.DataFrame | None = None) -> CompareResult:
    """Fit on a stratified split, score the held-out part, map the last hidden layer with t-SNE, and give every
    labelled track an out-of-fold probability (a track never judged by a network that saw it)."""
    started = time.perf_counter()
    counts = {"owner": int((data.y == OWNER).sum()), "other": int((data.y == OTHER).sum())}
    if min(counts.values()) < FOLDS:
        raise CompareInputError("Each library needs a few tracks of its own (not shared with the other) to compare.")
    X_train, X_test, y_train, y_test = train_test_split(data.frame, data.y, test_size=TEST_SHARE,
                                                        stratify=data.y, random_state=seed)
    with warnings.catch_warnings():
        # Not converging within MAX_ITER is reported in the metrics ("converged") instead of a log warning.
        warnings.simplefilter("ignore", ConvergenceWarning)
        network = make_network(data.spec, settings, seed).fit(X_train, y_train)
        folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
        out_of_fold = cross_val_predict(make_network(data.spec, settings, seed), data.frame, data.y, cv=folds,
                                        method="predict_proba")[:, OWNER]  # classes_ sort as [0, 1]
    p_test = network.predict_proba(X_test)[:, list(network.classes_).index(OWNER)]
    predicted = (p_test >= 0.5).astype(int)
    matrix = confusion_matrix(y_test, predicted, labels=[OWNER, OTHER])
    metrics = {
        "roc_auc": float(roc_auc_score(y_test, p_test)),
        "f1": float(f1_score(y_test, predicted, pos_label=OWNER)),
        # rows: true owner, true other; columns: predicted owner, predicted other
        "confusion": matrix.tolist(),
        "n_train": int(len(y_train)), "n_test": int(len(y_test)), "counts": counts,
        "n_shared": len(data.shared), "features": data.spec.to_dict(),
        "iterations": int(network.named_steps["classifier"].n_iter_),
        "converged": int(network.named_steps["classifier"].n_iter_) < MAX_ITER,
    }
    points = _map(network, data, shared_features, max_map_points, seed)
    return CompareResult(metrics, points, pd.Series(out_of_fold, index=data.frame.index),
                         time.perf_counter() - started)


def _map(network: Pipeline, data: TwoLibraries, shared_features: pd.DataFrame | None, max_points: int,
         seed: int) -> list[dict[str, Any]]:
    owners: list[Any] = list(data.y)
    frame = data.frame
    if shared_features is not None and not shared_features.empty:
        frame = pd.concat([frame, shared_features[data.spec.columns]])
        owners += ["both"] * len(shared_features)
    labels = pd.Series(owners, index=frame.index)
    if len(frame) > max_points:
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(frame), size=max_points, replace=False))
        frame, labels = frame.iloc[keep], labels.iloc[keep]
    hidden = last_hidden_layer(network, frame)
    perplexity = float(min(30.0, max(2.0, (len(frame) - 1) / 3)))
    # One thread: jobs share the worker's cores, and t-SNE's OpenMP threads spinning against other busy
    # processes ran 8 times slower than one thread on a loaded 2-core machine (112 s against 14 s, 960 songs).
    with threadpool_limits(limits=1):
        xy = TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(hidden)
    return [{"track_id": int(tid), "x": float(x), "y": float(y), "owner": owner if owner == "both" else int(owner)}
            for tid, (x, y), owner in zip(frame.index, xy, labels)]


def least_sure(probabilities: pd.Series, n: int) -> pd.Series:
    """The `n` tracks whose probability is nearest 0.5: the ones the network cannot place in either taste."""
    distance = (probabilities - 0.5).abs()
    order = distance.sort_values(kind="mergesort").index[:n]
    return probabilities.loc[order]
