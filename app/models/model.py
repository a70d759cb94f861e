"""A trained context model: the fitted pipeline, its cutoffs, and sorting a library with reasons."""
# Over 400 lines: the decision rule, the library-mix adaptation and the sort that uses both read as one.

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from app.models.calibration import (
    SHARE_RANGE_LIMIT, SHARE_SE_LIMIT, Calibrator, adjust, class_weights, estimate_prior, share_standard_errors,
)
from app.models.cutoffs import NO_BACKGROUND, CutoffChoice, best_fit, choose_cutoff
from app.models.explain import (
    ReasonColumns, RowValues, assignment_reasons, coefficient_words, parse_feature_names,
)
from app.models.features import FeatureSpec, derive_columns
from app.models.library_reading import library_counts, library_reading

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
        One row per input track: the id column, ``contexts`` (``;``-joined promised assignments,
        empty when unsorted), ``best_effort`` (contexts the user opted in to without a promise) and
        ``p_<context>`` for each context (calibrated, under the estimated mix of the tracks sorted).
    assignments : list of dict
        ``{"track_id", "context", "probability", "assigned", "reasons"}`` for each (track, context)
        assigned, and for the near misses asked for with ``explain_floor``.
    contexts : dict
        Per context: cutoff, promised precision, number assigned, estimated share and number of
        the sorted tracks that fit it (``share``, ``expected``), ``best_effort``, ``message``,
        distance ratio, ``looks_off``.
    coverage : float
        Share of tracks assigned to at least one context.
    messages : list of str
    """

    table: pd.DataFrame
    assignments: list[dict]
    contexts: dict[str, dict]
    coverage: float
    messages: list[str] = field(default_factory=list)
    background_share: float | None = None
    choices: dict[str, CutoffChoice] = field(default_factory=dict)
    prior: list[float] = field(default_factory=list)
    #: Per context, the sorted songs it would take at each cutoff of the library grid (what a hand-set cutoff reads).
    counts: list[list[int]] | None = None

    def to_dict(self) -> dict:
        """Summary without the per-track table: coverage and per-context promise and counts."""
        return {"tracks": len(self.table), "coverage": self.coverage, "contexts": self.contexts,
                "background_share": self.background_share, "messages": self.messages}


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
        Out-of-fold calibrated probabilities (training mix), labels (a row with none is
        background) and group codes the cutoffs are chosen on (kept so a different target or
        library mix needs no retraining).
    confidence : float
    min_positives : int
    centroids : ndarray of shape (n_contexts, n_features)
        Each context's training tracks' mean in the preprocessed (scaled) space.
    train_distance : ndarray of shape (n_contexts,)
        Mean distance of those tracks to their centroid.
    calibrator : Calibrator
        Maps the one-vs-rest probabilities to calibrated ones with a "none of these" class.
    oof_background : ndarray
        Out-of-fold calibrated P(none of these).
    partners : dict
        Per context, the contexts it genuinely co-occurs with in the training data: a track whose
        most likely context is a partner may take this one too.
    multi_context : bool
        Whether any context may take any track (else the exclusive rule above).
    best_effort : bool
        Whether a context that cannot keep its target gets a labelled best-effort playlist.
    library_prior : ndarray or None
        The estimated class mix of the tracks last adapted to (see :meth:`for_library`).
    library_share_se : ndarray or None
        The standard error of each share of ``library_prior`` (see
        :func:`app.models.calibration.share_standard_errors`); the promise states a share only as far as they
        allow (:func:`how_many`).
    library_counts : ndarray or None
        Per context, how many of those tracks it would take at each cutoff of
        :data:`app.models.library_reading.LIBRARY_GRID` (see :meth:`library_reading`).
    grouping : str
        What the folds hold out together: "playlist", "artist" or "track".
    open_world : bool
        Whether it sorts a library, where songs of none of its contexts are expected (see
        :attr:`unpromisable`); a model checked on labelled tracks alone is not.
    fold_pipelines : list of Pipeline
        The models of the cross-validation folds. New tracks are scored by each, calibrated and
        averaged, so they are scored by the same kind of model the cutoffs were chosen on (a model
        refitted on all tracks is sharper, and let more tracks past a cutoff than its promise
        allowed for). ``pipeline`` (the refit) explains the assignments.
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
    calibrator: Calibrator | None = None
    oof_background: np.ndarray | None = None
    partners: dict[str, list[str]] = field(default_factory=dict)
    multi_context: bool = False
    best_effort: bool = False
    library_prior: np.ndarray | None = None
    library_share_se: np.ndarray | None = None
    library_counts: np.ndarray | None = None
    grouping: str = "playlist"
    fold_pipelines: list[Pipeline] = field(default_factory=list)
    oof_folds: np.ndarray | None = None
    open_world: bool = False

    @property
    def unpromisable(self) -> str | None:
        """Why no precision may be promised on a library, or None.

        A model that saw no song of none of its contexts has no "none of these" class: its calibration and the
        library's estimated mix then assume every song of the library fits one of the contexts, and a cutoff's
        precision counts none of the others that would pass it.
        """
        return NO_BACKGROUND if self.open_world and self.train_prior[-1] <= 0 else None

    @property
    def train_prior(self) -> np.ndarray:
        """Class shares (contexts, then "none of these") of the calibration rows."""
        if self.calibrator is None:
            return np.r_[np.full(len(self.contexts), 1 / len(self.contexts)), 0.0]
        return self.calibrator.prior

    @property
    def prior(self) -> np.ndarray:
        """The class mix the cutoffs are chosen for: the library's, else the training mix."""
        return self.train_prior if self.library_prior is None else self.library_prior

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

    def eligible(self, proba: np.ndarray) -> np.ndarray:
        """Boolean (n_tracks, n_contexts): the contexts the decision rule lets each track go to.

        Exclusive by default: a track's most likely context, plus the contexts that genuinely
        co-occur with it; any context when ``multi_context`` is on.
        """
        top = best_fit(proba)
        if self.multi_context:
            return np.ones_like(top)
        allowed = top.copy()
        for j, context in enumerate(self.contexts):
            for partner in self.partners.get(context, ()):
                allowed[:, j] |= top[:, self.contexts.index(partner)]
        return allowed

    def _oof_view(self) -> tuple[np.ndarray, np.ndarray]:
        """Out-of-fold probabilities and track weights under :attr:`prior`."""
        posterior = np.column_stack([self.oof_proba, self._oof_background()])
        adjusted = adjust(posterior, self.train_prior, self.prior)[:, :len(self.contexts)]
        ratio = np.divide(self.prior, self.train_prior, out=np.zeros(len(self.prior)),
                          where=self.train_prior > 0)
        return adjusted, class_weights(self.oof_truth, ratio)

    def _oof_background(self) -> np.ndarray:
        if self.oof_background is None:
            return np.clip(1 - self.oof_proba.sum(axis=1), 0, 1)
        return self.oof_background

    def retarget(self, target_precision: float | None = None,
                 context_targets: dict[str, float] | None = None, *,
                 best_effort: bool | None = None, multi_context: bool | None = None) -> ContextModel:
        """A copy whose cutoffs meet other target precisions (run-wide and/or per context).

        Cutoffs are chosen on the out-of-fold tracks the decision rule lets each context take,
        weighted to the mix of :attr:`prior`. A context that cannot reach its target gets no
        playlist unless ``best_effort`` (see :func:`app.models.cutoffs.choose_cutoff`).

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
        model = replace(self, best_effort=self.best_effort if best_effort is None else best_effort,
                        multi_context=self.multi_context if multi_context is None
                        else multi_context)
        proba, weights = model._oof_view()
        allowed = model.eligible(proba)
        ratio = np.divide(model.prior, model.train_prior, out=np.zeros(len(model.prior)),
                          where=model.train_prior > 0)
        cutoffs = {}
        for j, context in enumerate(self.contexts):
            if ratio[j] > 1:
                # An estimated share above the training one is not trusted for the context's own
                # promise: tracks unlike the training ones inflate it (the estimate assumes each
                # context sounds in the library as it did in training).
                capped = ratio.copy()
                capped[j] = 1.0
                weights_j = class_weights(self.oof_truth, capped)
            else:
                weights_j = weights
            target = context_targets.get(
                context, target_precision if target_precision is not None
                else self.cutoffs[context].target_precision)
            cutoffs[context] = choose_cutoff(
                proba[:, j], self.oof_truth[:, j], groups=self.oof_groups, top=allowed[:, j],
                weights=weights_j, context=context, target_precision=target,
                confidence=self.confidence, min_positives=self.min_positives,
                best_effort=model.best_effort, unpromisable=model.unpromisable,
                library=model.library_reading(j, proba, allowed))
        return replace(model, cutoffs=cutoffs)

    def library_reading(self, j: int, proba: np.ndarray, allowed: np.ndarray | None):
        """The precision the adapted-to tracks read for context ``j`` at any cutoff, or None.

        ``proba`` and ``allowed`` are :meth:`_oof_view`'s probabilities and the decision rule's mask on them
        (None: the context takes any track). See :func:`app.models.library_reading.library_reading`.
        """
        if self.library_counts is None:
            return None
        return library_reading(proba[:, j], self.oof_truth[:, j], None if allowed is None else allowed[:, j],
                               self.library_counts[j], self.min_positives, self.confidence)

    def for_library(self, posterior: np.ndarray) -> ContextModel:
        """A copy adapted to a library: its class mix estimated by EM, its songs counted at each cutoff, and the
        cutoffs re-chosen under both (a cutoff promises no more than the library's own songs read).

        ``posterior`` is :meth:`posterior` of the library's tracks (training mix). The targets
        stay those of the current cutoffs.
        """
        prior = estimate_prior(posterior, self.train_prior)
        targets = {c: choice.target_precision for c, choice in self.cutoffs.items()}
        model = replace(self, library_prior=prior,
                        library_share_se=share_standard_errors(posterior, self.train_prior, prior))
        proba = model.adjusted(posterior)
        return replace(model, library_counts=library_counts(proba, model.eligible(proba))
                       ).retarget(context_targets=targets)

    def _inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame = derive_columns(frame)
        missing = [c for c in self.spec.columns if c not in frame.columns]
        if missing:
            raise ModelInputError(f"missing feature column(s) the model needs: {', '.join(missing)}")
        return frame[self.spec.columns]

    def _calibrate(self, raw: np.ndarray) -> np.ndarray:
        if self.calibrator is None:  # an artifact from before calibration: one-vs-rest as it is
            return np.column_stack([raw, np.clip(1 - raw.sum(axis=1), 0, 1)])
        return self.calibrator.predict(raw)

    def _posterior(self, inputs: pd.DataFrame) -> np.ndarray:
        if not self.fold_pipelines:
            return self._calibrate(self.pipeline.predict_proba(inputs))
        return np.mean([self._calibrate(p.predict_proba(inputs)) for p in self.fold_pipelines],
                       axis=0)

    def posterior(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities (contexts, then "none of these") under the training mix."""
        return self._posterior(self._inputs(frame))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated P(context) per track under :attr:`prior`, shape (n_tracks, n_contexts)."""
        return self.adjusted(self.posterior(frame))

    def adjusted(self, posterior: np.ndarray) -> np.ndarray:
        """The context columns of a training-mix ``posterior`` under :attr:`prior`."""
        return adjust(posterior, self.train_prior, self.prior)[:, :len(self.contexts)]

    def assign(self, proba: np.ndarray, *, promised_only: bool = False) -> np.ndarray:
        """Boolean (n_tracks, n_contexts): probability at or above the context's cutoff, for a
        context the decision rule lets the track go to (see :meth:`eligible`)."""
        cutoffs = np.array([np.inf if self.cutoffs[c].cutoff is None
                            or (promised_only and self.cutoffs[c].best_effort)
                            else self.cutoffs[c].cutoff for c in self.contexts])
        top_only = np.array([self.cutoffs[c].top_only for c in self.contexts])
        return (proba >= cutoffs) & (~top_only | self.eligible(proba))

    def decide(self, frame: pd.DataFrame, *, adapt: bool = True
               ) -> tuple[ContextModel, np.ndarray, np.ndarray]:
        """The model adapted to ``frame``'s mix (when ``adapt``), its probabilities and assignments."""
        posterior = self.posterior(frame)
        model = self.for_library(posterior) if adapt else self
        proba = model.adjusted(posterior)
        return model, proba, model.assign(proba)

    def sort(self, frame: pd.DataFrame, *, id_col: str | None = None, explain: bool = True,
             top_reasons: int = 3, explain_floor: float | None = None,
             adapt: bool = True) -> SortResult:
        """Assign tracks to contexts, explain each assignment and check each playlist's shape.

        With ``adapt`` (the default) the tracks' own mix of contexts and "none of these" is
        estimated first and the cutoffs re-chosen so each promise holds under that mix; the
        adapted cutoffs are in the result's ``contexts``.

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
        posterior = self._posterior(inputs)
        model = self.for_library(posterior) if adapt and len(frame) else self
        return model._sorted(ids, id_col, inputs, scaled, model.adjusted(posterior), explain,
                             top_reasons, explain_floor)

    def _sorted(self, ids, id_col, inputs, scaled, proba, explain, top_reasons, explain_floor):
        assigned = self.assign(proba)
        promised = self.assign(proba, promised_only=True)
        table = pd.DataFrame({id_col: ids, "contexts": [
            ";".join(c for c, a in zip(self.contexts, row) if a) for row in promised],
            "best_effort": [";".join(c for c, a, p in zip(self.contexts, row, kept) if a and not p)
                            for row, kept in zip(assigned, promised)]})
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
            share = float(self.prior[j])
            share_se = None if self.library_share_se is None else float(self.library_share_se[j])
            summary[context] = {
                "assigned": int(rows.size), "cutoff": choice.cutoff,
                "promised_precision": choice.promised_precision,
                "target_precision": choice.target_precision, "reached": choice.reached,
                "best_effort": choice.best_effort, "top_only": choice.top_only,
                "share": share, "share_se": share_se, "expected": share * len(proba), "message": choice.message,
                # Without a "none of these" class every song counts as some context's: no count is said then.
                "words": promise_words(context, "" if self.unpromisable else how_many(share, share_se, len(proba)),
                                       int(rows.size), choice, unpromisable=self.unpromisable is not None),
                "distance_ratio": ratio, "looks_off": looks_off,
            }
            if choice.cutoff is None or choice.best_effort:
                messages.append(choice.message)
        coverage = float(assigned.any(axis=1).mean()) if len(assigned) else 0.0
        return SortResult(table, assignments, summary, coverage, messages,
                          float(self.prior[-1]) if len(self.prior) > len(self.contexts) else None,
                          dict(self.cutoffs), [float(v) for v in self.prior],
                          None if self.library_counts is None else self.library_counts.tolist())

    def _explain(self, ids, inputs, scaled, proba, explained, assigned, top):
        refs = self.feature_refs
        columns = ReasonColumns.of(refs)
        coefficients = self.coefficients()
        # Each column's values as they are: a reason reads two or three of a track's hundreds of values, so
        # copying every row into a dict (pandas' to_dict) cost more than finding the reasons.
        numeric = {c: inputs[c].to_numpy() for c in self.spec.numeric}
        assignments = []
        for j, context in enumerate(self.contexts):
            rows = np.flatnonzero(explained[:, j])
            contributions = scaled[rows] * coefficients[j]
            for k, i in enumerate(rows):
                assignments.append({
                    "track_id": ids[i], "context": context, "probability": float(proba[i, j]),
                    "assigned": bool(assigned[i, j]),
                    "best_effort": bool(assigned[i, j] and self.cutoffs[context].best_effort),
                    "reasons": assignment_reasons(contributions[k], scaled[i], RowValues(numeric, i), refs, top,
                                                  columns),
                })
        return assignments



def how_many(share: float, share_se: float | None, tracks: int) -> str:
    """How many of ``tracks`` songs have a context, as far as the estimate's standard error lets us say.

    "about 1,300" within :data:`SHARE_SE_LIMIT`; a 95% range ("between 11 and 25") up to
    :data:`SHARE_RANGE_LIMIT`; beyond that, that the songs' sound cannot tell.
    """
    if share_se is None or share_se <= SHARE_SE_LIMIT:
        return f"about {_rounded(share * tracks):,}"
    if share_se <= SHARE_RANGE_LIMIT:
        low, high = max(share - 1.96 * share_se, 0.0), min(share + 1.96 * share_se, 1.0)
        return f"between {_rounded(low * tracks):,} and {_rounded(high * tracks):,}"
    return ""


def promise_words(context: str, how_many_words: str, assigned: int, choice: CutoffChoice,
                  unpromisable: bool = False) -> str:
    """The promise in plain words, e.g. "about 1,300 of these songs sound like Study; ...".

    ``how_many_words`` is :func:`how_many`'s answer; empty when the songs' sound cannot tell. ``unpromisable``:
    the model may promise nothing yet (:attr:`ContextModel.unpromisable`; the cutoff's message says why).
    """
    name = context.title()
    if unpromisable:
        about = f"how many of these songs are {name} cannot be told yet"
        if choice.cutoff is None:
            return f"{about}; no playlist, because nothing can be promised yet (see why below)"
        return f"{about}; BEST EFFORT, not promised: the playlist holds {assigned:,} (see why below)"
    about = (f"{how_many_words} of these songs sound like {name}" if how_many_words
             else f"how many of these songs are {name} cannot be told from their sound")
    if choice.cutoff is None:
        return f"{about}; no playlist, because it cannot reach {choice.target_precision:.0%} " \
               "(see why below)"
    if choice.best_effort:
        return (f"{about}; BEST EFFORT, not promised: the playlist holds {assigned:,}, expected "
                f"{choice.expected_precision:.0%} right (target {choice.target_precision:.0%} "
                "not reached)")
    return (f"{about}; the playlist holds the {assigned:,} we are at least "
            f"{choice.promised_precision:.0%} sure of")


def _rounded(value: float) -> int:
    """A count to two significant figures: an estimate should not look exact."""
    if value < 100:
        return int(round(value))
    digits = len(str(int(value))) - 2
    return int(round(value, -digits))
