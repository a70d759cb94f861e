"""Checks that the precision promised per context holds on held-out playlists and beats a baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binom
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline as sk_make_pipeline
from sklearn.preprocessing import StandardScaler

from app.models.cutoffs import DEFAULT_TARGET_PRECISION
from app.models.dataset import (
    DEFAULT_MIN_TRACKS, ContextDataset, build_dataset, normalise_context,
)
from app.models.features import derive_columns, infer_feature_spec
from app.models.report import holdout_metrics
from app.models.splits import holdout_split
from app.models.training import train_context_model

#: How far below its promise a context's realised precision may fall.
PROMISE_TOLERANCE = 0.05
#: Contexts promising at least this much are held to their promise.
CHECKED_PROMISE = 0.7
#: Fewer held-out assignments than this cannot pin a precision down to +-0.05; such contexts are
#: only checked for a significant shortfall.
MIN_ASSIGNED_TO_JUDGE = 30


def largest_contexts(frame: pd.DataFrame, id_col: str, label_col: str, n: int) -> list[str]:
    """The ``n`` labels with the most distinct tracks (after :func:`normalise_context`)."""
    names = frame[label_col].map(normalise_context)
    counts = frame.assign(_context=names).dropna(subset=["_context"]).groupby(
        "_context")[id_col].nunique()
    return counts.sort_values(ascending=False, kind="stable").index[:n].tolist()


def baseline_precision(train: ContextDataset, test: ContextDataset, coverage: float,
                       counts: dict[str, int]) -> dict:
    """A plain multinomial logistic regression (StandardScaler, argmax) at a given coverage.

    The baseline sees the numeric columns of the features (keys and modes as plain numbers), learns
    from one row per (track, context), and assigns each test track its most probable context; it
    keeps the ``coverage`` share of tracks it is most confident about.

    Returns
    -------
    dict
        ``precision`` at that coverage, and per context the precision of its ``counts[c]`` most
        probable test tracks (the same number the model assigned).
    """
    columns = [c for c in train.features.columns
               if pd.api.types.is_numeric_dtype(train.features[c])]
    rows, contexts = np.nonzero(train.labels)
    X = train.features[columns].iloc[rows].fillna(train.features[columns].median())
    baseline = sk_make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    baseline.fit(X, contexts)
    proba_known = baseline.predict_proba(
        test.features[columns].fillna(train.features[columns].median()))
    proba = np.zeros((len(test), len(train.contexts)))
    proba[:, baseline.classes_] = proba_known
    best = proba.argmax(axis=1)
    keep = int(round(coverage * len(test)))
    confident = np.argsort(-proba.max(axis=1), kind="stable")[:keep]
    hits = test.labels[confident, best[confident]]
    per_context = {}
    for j, context in enumerate(train.contexts):
        n = counts.get(context, 0)
        top = np.argsort(-proba[:, j], kind="stable")[:n]
        per_context[context] = float(test.labels[top, j].mean()) if n else None
    return {"precision": float(hits.mean()) if keep else None, "contexts": per_context}


def _restricted_comparison(model, proba: np.ndarray, train: ContextDataset, test: ContextDataset,
                           keep: np.ndarray) -> dict:
    """Precision of the assignments of the `keep` contexts only, beside the baseline at their coverage."""
    assigned = model.assign(proba)[:, keep]
    coverage = float(assigned.any(axis=1).mean()) if assigned.size else 0.0
    precision = (float((assigned & test.labels[:, keep]).sum() / assigned.sum())
                 if assigned.any() else None)
    baseline = baseline_precision(train, test, coverage, {})["precision"] if coverage else None
    return {"contexts": [c for c, k in zip(model.contexts, keep) if k], "coverage": coverage,
            "precision": precision, "baseline_precision": baseline,
            "beats_baseline": precision is not None and (precision or 0) > (baseline or 0)}


def promise_check(
    frame: pd.DataFrame,
    label: str,
    *,
    id_col: str = "track_id",
    group_col: str = "playlist_id",
    top_n: int | None = None,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    test_size: float = 0.25,
    min_tracks: int = DEFAULT_MIN_TRACKS,
    grid=None,
    random_state: int = 0,
    n_jobs: int = 2,
) -> dict:
    """Train on some playlists, sort the held-out ones, and compare realised with promised precision.

    Parameters
    ----------
    frame : DataFrame
        Labelled rows, one per (track, label), e.g. the TidyTuesday songs.
    label : str
        Label column (``playlist_genre``, ``playlist_name``).
    id_col, group_col : str
        Track id and source playlist columns; whole playlists are held out.
    top_n : int, optional
        Keep only the ``top_n`` contexts with the most tracks.
    target_precision, test_size, min_tracks, grid, random_state, n_jobs
        Passed to the dataset, split and training steps.

    Returns
    -------
    dict
        ``contexts``: per context promised, expected (out-of-fold) and realised precision, whether
        it reached the target or takes only the tracks it fits best (``top_only``), assigned
        and correct counts, the baseline's precision on as many tracks, ``within_tolerance``
        (realised at least promised minus :data:`PROMISE_TOLERANCE`) and ``refuted`` (significantly
        below that); ``coverage``, ``precision`` (all assignments) and ``baseline_precision`` at the
        same coverage; ``promises_kept`` over the contexts promising at least
        :data:`CHECKED_PROMISE` (the tolerance is judged when a context has at least
        :data:`MIN_ASSIGNED_TO_JUDGE` held-out assignments, ``refuted`` always); ``beats_baseline``
        (all assignments, fallbacks included); ``target_reached`` and ``promised``: the same
        comparison over the contexts that met the target, and over those promising at least
        :data:`CHECKED_PROMISE` (the assignments that carry a promise to the user).
    """
    frame = derive_columns(frame)
    spec, messages = infer_feature_spec(frame, exclude=(id_col, label, group_col),
                                        group_col=group_col)
    contexts = largest_contexts(frame, id_col, label, top_n) if top_n else None
    dataset = build_dataset(frame, id_col=id_col, label_col=label, spec=spec,
                            group_col=group_col, min_tracks=min_tracks, contexts=contexts)
    train_rows, test_rows = holdout_split(dataset, test_size, random_state)
    train, test = dataset.subset(train_rows), dataset.subset(test_rows)
    model, report = train_context_model(train, id_col=id_col, target_precision=target_precision,
                                        grid=grid, test_size=0, random_state=random_state,
                                        n_jobs=n_jobs)
    held_out = holdout_metrics(model, test)
    counts = {c: m["assigned"] for c, m in held_out["contexts"].items()}
    baseline = baseline_precision(train, test, held_out["coverage"], counts)
    # The same comparison restricted to the contexts that met their target (no F0.5 fallbacks), and
    # to the contexts whose promise is checked: the assignments that carry a promise to the user.
    proba = model.predict_proba(test.features)
    reached = np.array([model.cutoffs[c].reached for c in model.contexts])
    promised = np.array([model.cutoffs[c].promised_precision >= CHECKED_PROMISE for c in model.contexts])
    reached_block = _restricted_comparison(model, proba, train, test, reached)
    promised_block = _restricted_comparison(model, proba, train, test, promised)
    rows = {}
    for context, m in held_out["contexts"].items():
        choice = model.cutoffs[context]
        realised = m["precision"]
        rows[context] = {
            "promised": choice.promised_precision, "expected": choice.expected_precision,
            "reached_target": choice.reached, "top_only": choice.top_only, "realised": realised,
            "assigned": m["assigned"], "correct": m["correct"], "test_tracks": m["test_tracks"],
            "baseline_same_count": baseline["contexts"][context],
            "within_tolerance": None if realised is None else
            realised >= choice.promised_precision - PROMISE_TOLERANCE,
            # One-sided binomial test: is the realised precision significantly below the promise?
            "refuted": bool(m["assigned"]) and bool(binom.cdf(
                m["correct"], m["assigned"], choice.promised_precision - PROMISE_TOLERANCE) < 0.05),
        }
    checked = {c: r for c, r in rows.items() if r["promised"] >= CHECKED_PROMISE}
    return {
        "label": label, "target_precision": target_precision, "contexts": rows,
        "tracks": {"train": len(train), "test": len(test),
                   "straddling_skipped": len(dataset) - len(train) - len(test)},
        "coverage": held_out["coverage"], "precision": held_out["precision"],
        "baseline_precision": baseline["precision"],
        "beats_baseline": (held_out["precision"] or 0) > (baseline["precision"] or 0),
        "target_reached": reached_block,
        "promised": promised_block,
        "checked_contexts": sorted(checked),
        "promises_kept": all(
            not r["refuted"] and (r["assigned"] < MIN_ASSIGNED_TO_JUDGE or r["within_tolerance"])
            for r in checked.values()),
        "best_params": report.grid["best"], "messages": [*messages, *report.data["messages"]],
    }
