"""A trained context model: the fitted pipeline, its cutoffs, and sorting a library with reasons."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from app.models.cutoffs import CutoffChoice, best_fit, choose_cutoff
from app.models.explain import assignment_reasons, coefficient_words, parse_feature_names
from app.models.features import FeatureSpec, derive_columns

#: A context whose assigned tracks sit this many times farther from its training centroid than its
#: own training tracks do is flagged as looking off.
DISTANCE_RATIO_LIMIT = 1.5
#: Fewer assigned tracks than this say too little about a playlist's shape to flag it.
MIN_TRACKS_FOR_DISTANCE = 5


class ModelInputError(ValueError):
    """The tracks to sort lack columns the model needs; the message names them."""


@dataclass
class SortResult:
    """A sorted library.

    Attributes
    ----------
    table : DataFrame
        One row per input track: the id column, ``contexts`` (``;``-joined, empty when unsorted) and
        ``p_<context>`` for each context.
    assignments : list of dict
        ``{"track_id", "context", "probability", "assigned", "reasons"}`` for each (track, context)
        assigned, and for the near misses asked for with ``explain_floor``.
    contexts : dict
        Per context: cutoff, promised precision, number assigned, distance ratio, ``looks_off``.
    coverage : float
        Share of tracks assigned to at least one context.
    messages : list of str
    """

    table: pd.DataFrame
    assignments: list[dict]
    contexts: dict[str, dict]
    coverage: float
    messages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Summary without the per-track table: coverage and per-context promise and counts."""
        return {"tracks": len(self.table), "coverage": self.coverage, "contexts": self.contexts,
                "messages": self.messages}


@dataclass
class ContextModel:
    """A fitted pipeline with per-context cutoffs and what is needed to re-choose or check them.

    Attributes
    ----------
    pipeline : Pipeline
        Fitted preprocessing + one-vs-rest logistic regression.
    contexts : list of str
    spec : FeatureSpec
    id_col : str
        Id column of the training CSV, reused for sorted output.
    cutoffs : dict of str to CutoffChoice
    oof_proba, oof_truth, oof_groups : ndarray
        Out-of-fold probabilities, labels and source-playlist codes the cutoffs were chosen on (kept
        so a different target precision needs no retraining).
    confidence : float
    min_positives : int
    centroids : ndarray of shape (n_contexts, n_features)
        Each context's training tracks' mean in the preprocessed (scaled) space.
    train_distance : ndarray of shape (n_contexts,)
        Mean distance of those tracks to their centroid.
    """

    pipeline: Pipeline
    contexts: list[str]
    spec: FeatureSpec
    id_col: str
    cutoffs: dict[str, CutoffChoice]
    oof_proba: np.ndarray
    oof_truth: np.ndarray
    oof_groups: np.ndarray
    confidence: float
    min_positives: int
    centroids: np.ndarray
    train_distance: np.ndarray

    @property
    def feature_refs(self):
        """What each preprocessed column means (see :func:`app.models.explain.parse_feature_names`)."""
        names = self.pipeline.named_steps["preprocess"].get_feature_names_out()
        return parse_feature_names(names, self.spec)

    def coefficients(self) -> np.ndarray:
        """Coefficients, shape (n_contexts, n_features); zero for a context never seen positive."""
        estimators = self.pipeline.named_steps["classifier"].estimators_
        width = len(self.feature_refs)
        return np.vstack([getattr(e, "coef_", np.zeros((1, width)))[0] for e in estimators])

    def strongest_coefficients(self, top: int = 5) -> dict[str, dict]:
        """Per context, the strongest coefficients in plain words."""
        refs = self.feature_refs
        return {c: coefficient_words(coef, refs, top)
                for c, coef in zip(self.contexts, self.coefficients())}

    def retarget(self, target_precision: float | None = None,
                 context_targets: dict[str, float] | None = None) -> ContextModel:
        """A copy whose cutoffs meet other target precisions (run-wide and/or per context).

        A context that cannot reach its target takes only the tracks it fits best (see
        :func:`app.models.cutoffs.choose_cutoff`).

        Raises
        ------
        KeyError
            When ``context_targets`` names an unknown context.
        """
        context_targets = context_targets or {}
        unknown = sorted(set(context_targets) - set(self.contexts))
        if unknown:
            raise KeyError(f"unknown context(s): {', '.join(unknown)}; "
                           f"the model knows {', '.join(self.contexts)}")
        cutoffs = {}
        top = best_fit(self.oof_proba)
        for j, context in enumerate(self.contexts):
            target = context_targets.get(
                context, target_precision if target_precision is not None
                else self.cutoffs[context].target_precision)
            cutoffs[context] = choose_cutoff(
                self.oof_proba[:, j], self.oof_truth[:, j], groups=self.oof_groups, top=top[:, j],
                context=context, target_precision=target, confidence=self.confidence,
                min_positives=self.min_positives)
        return replace(self, cutoffs=cutoffs)

    def _inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame = derive_columns(frame)
        missing = [c for c in self.spec.columns if c not in frame.columns]
        if missing:
            raise ModelInputError(f"missing feature column(s) the model needs: {', '.join(missing)}")
        return frame[self.spec.columns]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """P(context) per track, shape (n_tracks, n_contexts)."""
        return self.pipeline.predict_proba(self._inputs(frame))

    def assign(self, proba: np.ndarray) -> np.ndarray:
        """Boolean (n_tracks, n_contexts): probability at or above the context's cutoff, and for a
        ``top_only`` context also the track's most likely context."""
        cutoffs = np.array([np.inf if self.cutoffs[c].cutoff is None else self.cutoffs[c].cutoff
                            for c in self.contexts])
        top_only = np.array([self.cutoffs[c].top_only for c in self.contexts])
        return (proba >= cutoffs) & (~top_only | best_fit(proba))

    def sort(self, frame: pd.DataFrame, *, id_col: str | None = None, explain: bool = True,
             top_reasons: int = 3, explain_floor: float | None = None) -> SortResult:
        """Assign tracks to contexts, explain each assignment and check each playlist's shape.

        Parameters
        ----------
        frame : DataFrame
            One row per track with the model's feature columns (a release date is enough for
            ``decade``).
        id_col : str, optional
            Id column of ``frame``; defaults to the training id column, else the row position.
        explain : bool
            Whether to compute the reasons for each assignment.
        top_reasons : int
            Reasons per assignment.
        explain_floor : float, optional
            Also explain (track, context) pairs below the cutoff whose probability is at least this,
            so a reviewer who lowers a cutoff sees why the newly admitted tracks fit.
        """
        id_col = id_col or self.id_col
        ids = frame[id_col].astype(str).to_numpy() if id_col in frame.columns else \
            np.arange(len(frame)).astype(str)
        inputs = self._inputs(frame)
        preprocess = self.pipeline.named_steps["preprocess"]
        scaled = preprocess.transform(inputs)
        proba = self.pipeline.named_steps["classifier"].predict_proba(scaled)
        assigned = self.assign(proba)
        table = pd.DataFrame({id_col: ids, "contexts": [
            ";".join(c for c, a in zip(self.contexts, row) if a) for row in assigned]})
        for j, context in enumerate(self.contexts):
            table[f"p_{context}"] = proba[:, j]
        explained = assigned if explain_floor is None else assigned | (proba >= explain_floor)
        assignments = self._explain(ids, inputs, scaled, proba, explained, assigned, top_reasons) \
            if explain else []
        summary, messages = {}, []
        for j, context in enumerate(self.contexts):
            rows = np.flatnonzero(assigned[:, j])
            choice = self.cutoffs[context]
            ratio = None
            if rows.size:
                distance = np.linalg.norm(scaled[rows] - self.centroids[j], axis=1).mean()
                ratio = float(distance / self.train_distance[j])
            looks_off = bool(ratio is not None and rows.size >= MIN_TRACKS_FOR_DISTANCE
                             and ratio > DISTANCE_RATIO_LIMIT)
            if looks_off:
                messages.append(
                    f"'{context}' looks off: its {rows.size} tracks are {ratio:.1f}x as far from "
                    "the context's training tracks as those are from each other; check it by ear")
            summary[context] = {
                "assigned": int(rows.size), "cutoff": choice.cutoff,
                "promised_precision": choice.promised_precision,
                "target_precision": choice.target_precision, "reached": choice.reached,
                "top_only": choice.top_only, "distance_ratio": ratio, "looks_off": looks_off,
            }
        coverage = float(assigned.any(axis=1).mean()) if len(assigned) else 0.0
        return SortResult(table, assignments, summary, coverage, messages)

    def _explain(self, ids, inputs, scaled, proba, explained, assigned, top):
        refs = self.feature_refs
        coefficients = self.coefficients()
        numeric = inputs[list(self.spec.numeric)]
        assignments = []
        for j, context in enumerate(self.contexts):
            rows = np.flatnonzero(explained[:, j])
            contributions = scaled[rows] * coefficients[j]
            raws = numeric.iloc[rows].to_dict("records")
            for k, i in enumerate(rows):
                assignments.append({
                    "track_id": ids[i], "context": context, "probability": float(proba[i, j]),
                    "assigned": bool(assigned[i, j]),
                    "reasons": assignment_reasons(contributions[k], scaled[i], raws[k], refs, top),
                })
        return assignments
