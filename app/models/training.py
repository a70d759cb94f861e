"""The training procedure: grouped grid search, out-of-fold cutoffs, held-out check, final refit."""

from __future__ import annotations

import time
import warnings
from contextlib import contextmanager

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from app.models.calibration import Calibrator, cross_calibrate, reliability_curve
from app.models.cutoffs import (
    DEFAULT_CONFIDENCE, DEFAULT_MIN_POSITIVES, DEFAULT_TARGET_PRECISION,
)
from app.models.dataset import ContextDataset
from app.models.model import ContextModel
from app.models.pipeline import (
    DEFAULT_GRID, DEFAULT_MIN_FREQUENCY, SCORING, grid_search, grid_table, make_pipeline,
    out_of_fold_proba, readable_grid, readable_params,
)
from app.models.report import TrainingReport, confusion_tables, context_sections, holdout_metrics
from app.models.splits import holdout_split, playlist_folds

#: Folds of the grouped cross-validation.
DEFAULT_FOLDS = 4
#: What the report says the folds hold out, per grouping.
GROUPING_WORDS = {
    "playlist": "whole source playlists are held out: a track is scored only by a model that saw "
                "none of its playlists, so scores measure unseen playlists",
    "artist": "whole artists are held out: a track is scored only by a model that saw none of its "
              "artist's tracks (no playlist was known), so scores measure unseen artists",
    "track": "tracks are held out one by one (neither playlist nor artist was known): scores may "
             "flatter the model on songs like the ones it was trained on",
}
#: Two contexts genuinely co-occur when at least this share of the smaller one's tracks are in both;
#: only then may a track go to both (unless multi-context is on).
CO_OCCURRENCE_SHARE = 0.3


def co_occurring(labels: np.ndarray, contexts: list[str],
                 share: float = CO_OCCURRENCE_SHARE) -> dict[str, list[str]]:
    """Per context, the contexts sharing at least ``share`` of the smaller one's tracks."""
    labels = np.asarray(labels, dtype=int)
    both = labels.T @ labels
    sizes = np.diag(both)
    partners: dict[str, list[str]] = {}
    for a in range(len(contexts)):
        for b in range(len(contexts)):
            smaller = min(sizes[a], sizes[b])
            if a != b and smaller and both[a, b] / smaller >= share:
                partners.setdefault(contexts[a], []).append(contexts[b])
    return partners

@contextmanager
def _quiet_missing_contexts():
    """Silence OneVsRestClassifier's warning for a context without tracks in a training fold.

    Folds hold out whole playlists, so a context from one or two playlists is often absent; the
    cutoff step reports the consequence (no promise for that context) in words instead.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Label not .* is present in all training",
                                category=UserWarning)
        yield


#: Share of each context's tracks (as whole playlists) held out to check the promises.
DEFAULT_TEST_SIZE = 0.2


def fit_context_model(
    pipeline: Pipeline,
    dataset: ContextDataset,
    folds,
    *,
    id_col: str,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    context_targets: dict[str, float] | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    min_positives: int = DEFAULT_MIN_POSITIVES,
    best_effort: bool = False,
    multi_context: bool = False,
    grouping: str = "playlist",
    open_world: bool = False,
    n_jobs: int = 2,
) -> ContextModel:
    """Calibrate and choose cutoffs on out-of-fold probabilities, then fit ``pipeline`` on all.

    The one-vs-rest probabilities of each fold are calibrated (with a "none of these" class for
    tracks in no context) by a calibrator fitted on the other folds, so the cutoffs are chosen on
    probabilities no step has seen the labels of; the calibrator kept is fitted on all folds.

    Parameters
    ----------
    pipeline : Pipeline
        Unfitted pipeline with the chosen hyper-parameters.
    dataset : ContextDataset
    folds : list of (train, test)
        Grouped folds (:func:`app.models.splits.playlist_folds`); tracks in no test fold do not
        take part in choosing cutoffs.
    id_col : str
    target_precision : float
        Default target for every context.
    context_targets : dict, optional
        Targets of particular contexts.
    confidence, min_positives : float, int
        See :func:`app.models.cutoffs.choose_cutoff` (via :meth:`ContextModel.retarget`).
    best_effort, multi_context : bool
        See :class:`ContextModel`.
    grouping : str
        What the folds hold out together (for the report).
    open_world : bool
        See :class:`ContextModel` (a model for a library).
    n_jobs : int
    """
    X, Y = dataset.features, dataset.labels
    with _quiet_missing_contexts():
        proba, fold_models = out_of_fold_proba(pipeline, X, Y, folds, n_jobs=n_jobs,
                                               return_models=True)
    scored = ~np.isnan(proba).any(axis=1)
    fold_of = np.full(len(Y), -1)
    for k, (_, test) in enumerate(folds):
        fold_of[test] = k
    raw, oof_truth = proba[scored], Y[scored]
    calibrated = cross_calibrate(raw, oof_truth, fold_of[scored])
    calibrator = Calibrator.fit(raw, oof_truth)
    n_contexts = Y.shape[1]
    oof_proba = calibrated[:, :n_contexts].astype(np.float32)
    # A track's first source playlist stands for its cluster when bounding the precision.
    clusters = [p[0] if p else f"track:{i}" for i, p in zip(X.index, dataset.playlists)]
    oof_groups = pd.factorize(pd.Series(clusters)[scored])[0]
    with threadpool_limits(limits=1):  # BLAS threads only contend with the fold workers
        fitted = clone(pipeline).fit(X, Y)
    scaled = fitted.named_steps["preprocess"].transform(X)
    centroids = np.vstack([scaled[Y[:, j]].mean(axis=0) for j in range(n_contexts)])
    train_distance = np.array([
        np.linalg.norm(scaled[Y[:, j]] - centroids[j], axis=1).mean() for j in range(Y.shape[1])])
    model = ContextModel(
        pipeline=fitted, contexts=list(dataset.contexts), spec=dataset.spec, id_col=id_col,
        cutoffs={}, oof_proba=oof_proba, oof_truth=oof_truth, oof_groups=oof_groups,
        confidence=confidence,
        min_positives=min_positives, centroids=centroids, train_distance=train_distance,
        calibrator=calibrator, oof_background=calibrated[:, n_contexts].astype(np.float32),
        partners=co_occurring(Y, list(dataset.contexts)), multi_context=multi_context,
        best_effort=best_effort, grouping=grouping, fold_pipelines=fold_models,
        oof_folds=fold_of[scored].astype(np.int8), open_world=open_world,
    )
    return model.retarget(target_precision, context_targets)


def train_context_model(
    dataset: ContextDataset,
    *,
    id_col: str,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    context_targets: dict[str, float] | None = None,
    grid: dict | None = None,
    n_splits: int = DEFAULT_FOLDS,
    test_size: float = DEFAULT_TEST_SIZE,
    confidence: float = DEFAULT_CONFIDENCE,
    min_positives: int = DEFAULT_MIN_POSITIVES,
    min_frequency: float | int = DEFAULT_MIN_FREQUENCY,
    random_state: int = 0,
    best_effort: bool = False,
    multi_context: bool = False,
    open_world: bool = False,
    n_jobs: int = 2,
) -> tuple[ContextModel, TrainingReport]:
    """Train a context model and report on it.

    1. Hold out whole playlists (``test_size`` of each context's tracks; 0 skips this).
    2. Grid-search the rest with folds grouped by playlist, scoring average precision.
    3. With the best parameters, choose cutoffs on out-of-fold probabilities, fit, and measure the
       realised precision on the held-out playlists.
    4. Repeat 3 on all tracks for the model that is returned (same parameters, new cutoffs); the
       held-out numbers describe this procedure on playlists it has not seen.

    Returns
    -------
    model : ContextModel
    report : TrainingReport
    """
    started = time.perf_counter()
    if not 0 < target_precision < 1:
        raise ValueError(f"a target precision is between 0 and 1 (exclusive), not {target_precision}")
    settings = dict(id_col=id_col, target_precision=target_precision,
                    context_targets=context_targets, confidence=confidence,
                    min_positives=min_positives, best_effort=best_effort,
                    multi_context=multi_context, grouping=dataset.grouping, open_world=open_world,
                    n_jobs=n_jobs)
    if test_size:
        train_rows, test_rows = holdout_split(dataset, test_size, random_state)
    else:
        train_rows, test_rows = np.arange(len(dataset)), np.array([], dtype=int)
    development = dataset.subset(train_rows)
    folds = playlist_folds(development, n_splits, random_state)
    pipeline = make_pipeline(dataset.spec, min_frequency)
    with _quiet_missing_contexts():
        search = grid_search(pipeline, development.features, development.labels, folds, grid,
                             n_jobs)
    best = clone(pipeline).set_params(**search.best_params_)
    test = {}
    if test_rows.size:
        checked = fit_context_model(best, development, folds, **settings)
        test = holdout_metrics(checked, dataset.subset(test_rows))
    all_folds = playlist_folds(dataset, n_splits, random_state)
    model = fit_context_model(best, dataset, all_folds, **settings)
    confusion, co_assignment = confusion_tables(model)
    scored = len(np.unique(np.concatenate([t for _, t in all_folds])))
    report = TrainingReport(
        data={
            "tracks": len(dataset), "contexts": model.contexts,
            "class_sizes": dataset.class_sizes(), "features": dataset.spec.to_dict(),
            "messages": [*dataset.messages, *(c.message for c in model.cutoffs.values())],
            "grouping": GROUPING_WORDS[dataset.grouping],
            "grouped_by": dataset.grouping,
            "background_tracks": dataset.background_tracks,
            "co_occurring": model.partners,
            "co_occurrence_share": CO_OCCURRENCE_SHARE,
            "training_mix": dict(zip([*model.contexts, "none of these"],
                                     map(float, model.train_prior))),
            "reliability": reliability_curve(
                np.column_stack([model.oof_proba, model._oof_background()]), model.oof_truth),
            "held_out_tracks": int(test_rows.size), "development_tracks": int(train_rows.size),
            "straddling_tracks_skipped": int(len(dataset) - train_rows.size - test_rows.size)
            if test_rows.size else 0,
            "out_of_fold_tracks": scored,
        },
        grid={
            "grid": readable_grid(grid or DEFAULT_GRID),
            "folds": n_splits, "scoring": SCORING,
            "best": readable_params(search.best_params_), "best_score": float(search.best_score_),
            "candidates": grid_table(search),
        },
        contexts=context_sections(model),
        test=test,
        confusion=confusion,
        co_assignment=co_assignment,
        target_precision=target_precision,
        seconds=time.perf_counter() - started,
    )
    return model, report
