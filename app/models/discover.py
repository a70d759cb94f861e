"""The Discover "like" model: a grid-searched random forest against a logistic regression, and reasons in words."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, GroupShuffleSplit, StratifiedGroupKFold, cross_val_predict
from sklearn.pipeline import Pipeline

from app.models.explain import FeatureRef, ReasonColumns, assignment_reasons, parse_feature_names
from app.models.features import FeatureSpec
from app.models.pipeline import make_pipeline
from app.pipeline.features_table import CATEGORICAL

RANDOM_FOREST = "random forest"
LOGISTIC_REGRESSION = "logistic regression"

#: The random forest's grid: how many trees, how many tracks a leaf must hold (larger smooths), and how many
#: features each split may look at.
DEFAULT_RF_GRID: dict[str, list] = {"n_estimators": [100, 300], "min_samples_leaf": [1, 5, 20],
                                    "max_features": ["sqrt", 0.5]}
#: The logistic regression's regularisation strengths, searched the same way so the comparison is fair.
DEFAULT_LR_GRID: dict[str, list] = {"C": [0.01, 0.1, 1.0, 10.0]}
RF_PARAMETERS = frozenset(DEFAULT_RF_GRID)
#: Tracks by one artist sound alike: they stay on one side of every split, or the scores would flatter.
DEFAULT_FOLDS = 3
TEST_SIZE = 0.25
SCORING = "roc_auc"


class DiscoverModelError(ValueError):
    """The data cannot train a like model (one class, too few tracks); plain words."""


@dataclass
class CandidateRun:
    """One estimator's grid search: its best parameters, cross-validated and held-out scores, and time."""

    name: str
    params: dict[str, Any]
    grid: dict[str, list]
    cv_score: float
    cv_std: float
    metrics: dict[str, float]
    seconds: float
    table: list[dict[str, Any]]
    estimator: Pipeline = field(repr=False)


@dataclass
class DiscoverFit:
    """The chosen model refitted on every track, the runs it was chosen from, and what its reasons need.

    ``oof_proba`` holds out-of-fold P(like) for each training row, so a track the model learned as a
    negative is never ranked by a model that saw its label.
    """

    pipeline: Pipeline
    chosen: str
    runs: list[CandidateRun]
    spec: FeatureSpec
    weights: np.ndarray
    refs: list[FeatureRef]
    oof_proba: np.ndarray
    messages: list[str] = field(default_factory=list)

    def proba(self, frame: pd.DataFrame) -> np.ndarray:
        """P(the user likes the track) for each row of ``frame`` (feature columns of ``spec``)."""
        return self.pipeline.predict_proba(frame[self.spec.columns])[:, 1]

    def reasons(self, frame: pd.DataFrame, top: int = 3) -> list[list[str]]:
        """For each row, the features that pushed it most towards the user's taste, in words."""
        preprocess = self.pipeline.named_steps["preprocess"]
        scaled = np.asarray(preprocess.transform(frame[self.spec.columns]), dtype=float)
        columns = ReasonColumns.of(self.refs)
        out = []
        for i in range(len(frame)):
            raw = {c: _raw(frame.iloc[i][c]) for c in self.spec.numeric}
            out.append(assignment_reasons(self.weights * scaled[i], scaled[i], raw, self.refs, top=top,
                                          columns=columns))
        return out


def feature_spec(columns: Sequence[str]) -> FeatureSpec:
    """Numeric provider columns and the categorical ones of the feature table, as the model's input."""
    return FeatureSpec(numeric=tuple(c for c in columns if c not in CATEGORICAL),
                       categorical=tuple(c for c in columns if c in CATEGORICAL))


def rf_pipeline(spec: FeatureSpec, random_state: int = 0) -> Pipeline:
    """The shared preprocessing (app.models.pipeline) in front of a random forest."""
    return _with(spec, RandomForestClassifier(random_state=random_state, n_jobs=1))


def lr_pipeline(spec: FeatureSpec) -> Pipeline:
    """The shared preprocessing (app.models.pipeline) in front of a logistic regression."""
    return _with(spec, LogisticRegression(max_iter=2000))


def _with(spec: FeatureSpec, estimator) -> Pipeline:
    preprocess = make_pipeline(spec).named_steps["preprocess"]
    return Pipeline([("preprocess", preprocess), ("classifier", estimator)])


def check_grid(grid: Mapping[str, Sequence], allowed: frozenset[str]) -> dict[str, list]:
    """A grid of the allowed parameter names with non-empty value lists; raises DiscoverModelError otherwise."""
    unknown = sorted(set(grid) - allowed)
    if unknown:
        raise DiscoverModelError(f"Unknown model setting(s): {', '.join(unknown)}. "
                                 f"Choose from {', '.join(sorted(allowed))}.")
    checked = {name: list(values) for name, values in grid.items()}
    if any(not values for values in checked.values()):
        raise DiscoverModelError("Every model setting needs at least one value to try.")
    return checked


def fit_discover(
    X: pd.DataFrame, y: np.ndarray, groups: np.ndarray, spec: FeatureSpec, *,
    rf_grid: Mapping[str, Sequence] | None = None, lr_grid: Mapping[str, Sequence] | None = None,
    folds: int = DEFAULT_FOLDS, random_state: int = 0, n_jobs: int = 1,
    on_step: Callable[[str], None] | None = None,
) -> DiscoverFit:
    """Grid-search a random forest and a logistic regression on artist-grouped folds, keep the better, refit it.

    Parameters
    ----------
    X : DataFrame
        One row per track with the columns of ``spec``.
    y : ndarray
        1 for a track the user saved, 0 for a sampled catalog track.
    groups : ndarray
        The artist of each row: no artist is on both sides of a split.
    spec : FeatureSpec
    rf_grid, lr_grid : dict, optional
        Values to try, by estimator parameter name (defaults :data:`DEFAULT_RF_GRID`, :data:`DEFAULT_LR_GRID`).
    folds : int
        Cross-validation folds inside the training part.
    on_step : callable, optional
        Called with each estimator's name after its search (for job progress).

    The held-out quarter (grouped by artist) is scored once per estimator; the choice is made on the
    cross-validated ROC AUC alone, so the held-out numbers stay an honest estimate. A tie goes to the
    logistic regression, the simpler model.
    """
    y = np.asarray(y, dtype=int)
    groups = np.asarray(groups)
    if len(np.unique(y)) < 2 or min(np.bincount(y)) < 2 * folds:
        raise DiscoverModelError(f"Too few tracks to learn your taste: {int(y.sum())} saved and "
                                 f"{int((1 - y).sum())} other tracks; each needs at least {2 * folds}.")
    rf_grid = check_grid(rf_grid or DEFAULT_RF_GRID, RF_PARAMETERS)
    lr_grid = check_grid(lr_grid or DEFAULT_LR_GRID, frozenset({"C"}))
    messages = []
    train, test = _holdout(y, groups, random_state)
    cv = _folds(y[train], groups[train], folds, random_state, messages)
    runs = []
    for name, pipeline, grid in ((RANDOM_FOREST, rf_pipeline(spec, random_state), rf_grid),
                                 (LOGISTIC_REGRESSION, lr_pipeline(spec), lr_grid)):
        runs.append(_search(name, pipeline, grid, X, y, groups, train, test, cv, n_jobs))
        if on_step is not None:
            on_step(name)
    best = max(runs, key=lambda r: (round(r.cv_score, 4), r.name == LOGISTIC_REGRESSION))
    final = clone(best.estimator).fit(X[spec.columns], y)
    all_folds = _folds(y, groups, folds, random_state, [])
    oof = cross_val_predict(clone(best.estimator), X[spec.columns], y, groups=groups, cv=all_folds,
                            method="predict_proba", n_jobs=n_jobs)[:, 1]
    weights, refs = _liking_weights(final, spec, X, y)
    return DiscoverFit(final, best.name, runs, spec, weights, refs, oof, messages)


def _holdout(y: np.ndarray, groups: np.ndarray, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """A quarter of the artists held out; retried a few seeds until both classes are on both sides."""
    for attempt in range(20):
        split = GroupShuffleSplit(n_splits=1, test_size=TEST_SIZE, random_state=random_state + attempt)
        train, test = next(split.split(np.zeros(len(y)), y, groups))
        if len(np.unique(y[train])) == 2 and len(np.unique(y[test])) == 2:
            return train, test
    raise DiscoverModelError("Your saved songs come from too few artists to test a model on artists it has not seen.")


def _folds(y: np.ndarray, groups: np.ndarray, folds: int, random_state: int, messages: list[str]) -> list:
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=random_state)
    out = [(tr, te) for tr, te in splitter.split(np.zeros(len(y)), y, groups)
           if len(np.unique(y[te])) == 2 and len(np.unique(y[tr])) == 2]
    if len(out) < 2:
        raise DiscoverModelError("Your saved songs come from too few artists to cross-validate a model.")
    if len(out) < folds:
        messages.append(f"Only {len(out)} of {folds} cross-validation folds held both kinds of track.")
    return out


def _search(name: str, pipeline: Pipeline, grid: dict[str, list], X: pd.DataFrame, y: np.ndarray,
            groups: np.ndarray, train: np.ndarray, test: np.ndarray, cv: list, n_jobs: int) -> CandidateRun:
    started = time.perf_counter()
    search = GridSearchCV(pipeline, {f"classifier__{k}": v for k, v in grid.items()}, scoring=SCORING, cv=cv,
                          n_jobs=n_jobs, refit=True, error_score="raise")
    X_train = X.iloc[train]
    search.fit(X_train, y[train])
    proba = search.predict_proba(X.iloc[test])[:, 1]
    truth = y[test]
    metrics = {"roc_auc": float(roc_auc_score(truth, proba)),
               "average_precision": float(average_precision_score(truth, proba)),
               "accuracy": float(accuracy_score(truth, proba >= 0.5)),
               "f1": float(f1_score(truth, proba >= 0.5)),
               "train_tracks": int(len(train)), "test_tracks": int(len(test))}
    results = search.cv_results_
    table = [{**_plain(params), "cv_roc_auc": float(mean), "cv_std": float(std)}
             for params, mean, std in zip(results["params"], results["mean_test_score"], results["std_test_score"])]
    return CandidateRun(name=name, params=_plain(search.best_params_), grid=grid,
                        cv_score=float(search.best_score_), cv_std=float(results["std_test_score"][search.best_index_]),
                        metrics=metrics, seconds=round(time.perf_counter() - started, 3), table=table,
                        estimator=clone(search.best_estimator_))


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    return {key.removeprefix("classifier__"): (value.item() if hasattr(value, "item") else value)
            for key, value in params.items()}


def _liking_weights(pipeline: Pipeline, spec: FeatureSpec, X: pd.DataFrame, y: np.ndarray
                    ) -> tuple[np.ndarray, list[FeatureRef]]:
    """Per preprocessed column, how much and in which direction it points towards "liked".

    The logistic regression's coefficients say so directly. A forest's importances say how much, not
    which way, so the direction is taken from where liked tracks sit against the others on that column.
    """
    preprocess = pipeline.named_steps["preprocess"]
    refs = parse_feature_names(preprocess.get_feature_names_out(), spec)
    estimator = pipeline.named_steps["classifier"]
    if isinstance(estimator, LogisticRegression):
        weights = estimator.coef_[0].astype(float)
    else:
        scaled = np.asarray(preprocess.transform(X[spec.columns]), dtype=float)
        direction = np.sign(scaled[y == 1].mean(axis=0) - scaled[y == 0].mean(axis=0))
        weights = estimator.feature_importances_ * direction
    # "Its tempo is unknown" is no reason to like a song, however the model used the gap.
    missing = np.array([ref.kind == "missing" for ref in refs])
    return np.where(missing, 0.0, weights), refs


def _raw(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)
