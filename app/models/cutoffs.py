"""Per-context probability cutoffs chosen on out-of-fold predictions to keep a precision promise."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

#: Share of sorted tracks that should fit the context they were put in.
DEFAULT_TARGET_PRECISION = 0.8
#: One-sided confidence that the precision on unseen playlists is at least the target.
DEFAULT_CONFIDENCE = 0.9
#: A cutoff is only trusted when at least this many correct out-of-fold tracks are above it.
DEFAULT_MIN_POSITIVES = 20
#: The cutoffs the evaluation report tabulates.
REPORT_CUTOFFS = tuple(np.round(np.arange(0.05, 0.951, 0.05), 2))


@dataclass(frozen=True)
class CutoffChoice:
    """The cutoff of one context and what it promises.

    Attributes
    ----------
    context : str
    cutoff : float or None
        Tracks with P(context) >= cutoff are assigned; None means the context is never assigned.
    target_precision : float
    promised_precision : float
        Lower confidence bound of the out-of-fold precision at the cutoff: what the sorted
        playlist is promised to reach on tracks from unseen playlists.
    expected_precision : float
        Out-of-fold precision at the cutoff (the point estimate).
    recall : float
        Out-of-fold share of the context's tracks above the cutoff.
    assigned : int
        Out-of-fold tracks above the cutoff.
    reached : bool
        Whether the target was met; if not the cutoff is the best-F0.5 fallback.
    message : str
    top_only : bool
        Whether the context only takes tracks it is the most likely context of (see
        :func:`best_fit`); the precision figures are then measured on those tracks alone.
    """

    context: str
    cutoff: float | None
    target_precision: float
    promised_precision: float
    expected_precision: float
    recall: float
    assigned: int
    reached: bool
    message: str
    # Defaulted so cutoffs stored before the rule existed (sort runs' params) still load.
    top_only: bool = False

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        return asdict(self)


def wilson_lower_bound(successes: np.ndarray, trials: np.ndarray, confidence: float) -> np.ndarray:
    """One-sided Wilson score lower bound of a binomial proportion (0 where there are no trials)."""
    successes = np.asarray(successes, dtype=float)
    trials = np.asarray(trials, dtype=float)
    z = norm.ppf(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = successes / trials
        centre = p + z * z / (2 * trials)
        spread = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
        bound = (centre - spread) / (1 + z * z / trials)
    return np.where(trials > 0, bound, 0.0)


def best_fit(proba: np.ndarray) -> np.ndarray:
    """Boolean (n_tracks, n_contexts): whether each context is the track's most likely one.

    Ties count for every tied context; the stored-sort update in :mod:`app.models.service`
    compares probabilities the same way.
    """
    return proba >= proba.max(axis=1, keepdims=True)


def _ranked_counts(proba: np.ndarray, truth: np.ndarray, groups: np.ndarray | None, confidence):
    """Candidate cutoffs (distinct probabilities, high to low) with counts and a lower bound.

    The bound is the smaller of the Wilson bound and a normal bound whose variance is clustered by
    source playlist: tracks of one playlist succeed or fail together, so a promise resting on a few
    playlists is less certain than its track count suggests.
    """
    if not proba.size:
        return (np.empty(0),) * 4
    order = np.argsort(-proba, kind="stable")
    p, y = proba[order], truth[order].astype(float)
    last_of_value = np.r_[p[1:] != p[:-1], True]
    assigned = np.arange(1, p.size + 1, dtype=float)
    correct = np.cumsum(y)
    bound = wilson_lower_bound(correct, assigned, confidence)
    if groups is not None:
        g = pd.Series(np.asarray(groups)[order])
        seen = g.groupby(g).cumcount().to_numpy().astype(float)  # same-playlist tracks before
        hits_before = pd.Series(y).groupby(g).cumsum().to_numpy() - y
        # Running sums over playlists of a^2, a*c and c^2 (a assigned, c correct per playlist).
        s_aa = np.cumsum(2 * seen + 1)
        s_ac = np.cumsum(hits_before + y * (seen + 1))
        s_cc = np.cumsum(y * (2 * hits_before + y))
        clusters = np.cumsum(seen == 0)
        precision = correct / assigned
        spread = np.maximum(s_cc - 2 * precision * s_ac + precision ** 2 * s_aa, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            variance = np.where(clusters > 1, spread / assigned ** 2 * clusters / (clusters - 1),
                                np.inf)
        bound = np.minimum(bound, precision - norm.ppf(confidence) * np.sqrt(variance))
    keep = last_of_value
    return p[keep], assigned[keep].astype(int), correct[keep], bound[keep]


def choose_cutoff(
    proba: np.ndarray,
    truth: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    top: np.ndarray | None = None,
    context: str = "",
    target_precision: float = DEFAULT_TARGET_PRECISION,
    confidence: float = DEFAULT_CONFIDENCE,
    min_positives: int = DEFAULT_MIN_POSITIVES,
) -> CutoffChoice:
    """Lowest cutoff whose precision is at least the target with the given confidence.

    The cutoff keeps as many tracks as possible while the lower confidence bound of the out-of-fold
    precision is at least ``target_precision`` and at least ``min_positives`` correct tracks lie
    above it, so the promise does not rest on a handful of lucky tracks. The promised precision is
    that lower bound. When no cutoff qualifies the best-F0.5 cutoff is used instead, promising its
    own lower bound, and the message says so. Given ``top``, that fallback is chosen among the
    tracks the context is the most likely one for, and the context takes only such tracks
    (``top_only``): a context too vague to keep a promise then stops taking tracks that fit
    another context better.

    Parameters
    ----------
    proba : ndarray of shape (n,)
        Out-of-fold P(context).
    truth : ndarray of bool, shape (n,)
        Whether each track belongs to the context.
    groups : ndarray of shape (n,), optional
        Source playlist of each track, to widen the bound for playlist-to-playlist variation.
    top : ndarray of bool, shape (n,), optional
        Whether the context is each track's most likely one (a column of :func:`best_fit`).
    context : str
        Name used in the message.
    target_precision, confidence, min_positives : float, float, int
        See the module constants.

    Returns
    -------
    CutoffChoice
    """
    proba, truth = np.asarray(proba, dtype=float), np.asarray(truth, dtype=bool)
    thresholds, assigned, correct, bound = _ranked_counts(proba, truth, groups, confidence)
    positives = max(int(truth.sum()), 1)
    precision = correct / assigned
    recall = correct / positives
    ok = np.flatnonzero((bound >= target_precision) & (correct >= min_positives))
    if ok.size:
        k = ok[-1]  # thresholds run high to low: the last qualifying one keeps the most tracks
        return CutoffChoice(
            context, float(thresholds[k]), target_precision, float(bound[k]),
            float(precision[k]), float(recall[k]), int(assigned[k]), True,
            f"'{context}': cutoff {thresholds[k]:.3f} keeps {recall[k]:.0%} of its tracks at "
            f"precision {precision[k]:.2f}, at least {bound[k]:.2f} with {confidence:.0%} "
            f"confidence (target {target_precision:.2f})",
        )
    best_bound = float(bound[correct >= min_positives].max(initial=0.0))
    chance = truth.mean() if truth.size else 0.0
    if top is not None:
        top = np.asarray(top, dtype=bool)
        thresholds, assigned, correct, bound = _ranked_counts(
            proba[top], truth[top], None if groups is None else np.asarray(groups)[top],
            confidence)
        precision, recall = correct / assigned, correct / positives  # recall of all its tracks
    beta2 = 0.25
    with np.errstate(invalid="ignore", divide="ignore"):
        f05 = np.nan_to_num((1 + beta2) * precision * recall / (beta2 * precision + recall))
    # A cutoff not surely more precise than picking tracks at random (e.g. a context whose only
    # playlist was never predicted by a model that had seen the context) is no fallback at all.
    f05[bound <= chance] = 0.0
    if f05.size == 0 or f05.max() <= 0:
        return CutoffChoice(
            context, None, target_precision, 0.0, 0.0, 0.0, 0, False,
            f"'{context}': cannot reach precision {target_precision:.2f} and no cutoff picks its "
            "tracks from unseen playlists better than chance (does it come from a single "
            "playlist?); it will not be assigned", top is not None,
        )
    k = int(f05.argmax())
    promised = float(max(bound[k], 0.0))
    if top is not None:
        message = (f"'{context}': could not reach {target_precision:.2f} (best lower bound "
                   f"{best_bound:.2f} with at least {min_positives} correct tracks); takes only "
                   f"tracks it fits best, cutoff {thresholds[k]:.2f}, expected precision "
                   f"{precision[k]:.2f} (at least {promised:.2f}; recall {recall[k]:.2f})")
    else:
        message = (f"'{context}': cannot reach precision {target_precision:.2f} (best lower bound "
                   f"{best_bound:.2f} with at least {min_positives} correct tracks); falling back "
                   f"to its best F0.5 cutoff {thresholds[k]:.3f} (precision {precision[k]:.2f}, "
                   f"at least {promised:.2f}; recall {recall[k]:.2f})")
    return CutoffChoice(context, float(thresholds[k]), target_precision, promised,
                        float(precision[k]), float(recall[k]), int(assigned[k]), False, message,
                        top is not None)


def cutoff_curve(proba: np.ndarray, truth: np.ndarray, cutoffs=REPORT_CUTOFFS) -> list[dict]:
    """Precision, recall, F1 and number assigned at each of ``cutoffs``."""
    truth = np.asarray(truth, dtype=bool)
    positives = max(int(truth.sum()), 1)
    rows = []
    for cutoff in cutoffs:
        above = proba >= cutoff
        assigned = int(above.sum())
        correct = int((above & truth).sum())
        precision = correct / assigned if assigned else 0.0
        recall = correct / positives
        f1 = 2 * precision * recall / (precision + recall) if correct else 0.0
        rows.append({"cutoff": float(cutoff), "precision": precision, "recall": recall,
                     "f1": f1, "assigned": assigned})
    return rows


def manual_cutoff(
    proba: np.ndarray,
    truth: np.ndarray,
    cutoff: float,
    *,
    groups: np.ndarray | None = None,
    top: np.ndarray | None = None,
    context: str = "",
    target_precision: float = DEFAULT_TARGET_PRECISION,
    confidence: float = DEFAULT_CONFIDENCE,
) -> CutoffChoice:
    """What a cutoff the user picked by hand promises, measured like :func:`choose_cutoff` does.

    The promise is the lower confidence bound of the out-of-fold precision of the tracks at or above
    ``cutoff`` (0 when none is), so a slider shows the same kind of number the trained cutoffs do.
    Given ``top`` (see :func:`choose_cutoff`) the context keeps taking only the tracks it fits
    best, and is measured on those.
    """
    proba, truth = np.asarray(proba, dtype=float), np.asarray(truth, dtype=bool)
    positives = max(int(truth.sum()), 1)
    if top is not None:
        top = np.asarray(top, dtype=bool)
        proba, truth = proba[top], truth[top]
        groups = None if groups is None else np.asarray(groups)[top]
    thresholds, assigned, correct, bound = _ranked_counts(proba, truth, groups, confidence)
    above = np.flatnonzero(thresholds >= cutoff)
    if not above.size:
        return CutoffChoice(context, float(cutoff), target_precision, 0.0, 0.0, 0.0, 0, False,
                            f"'{context}': no training track scores {cutoff:.3f} or more, so this "
                            "cutoff promises nothing", top is not None)
    k = above[-1]
    precision, promised = correct[k] / assigned[k], max(float(bound[k]), 0.0)
    recall = correct[k] / positives
    only = " (only tracks it fits best)" if top is not None else ""
    return CutoffChoice(
        context, float(cutoff), target_precision, promised, float(precision), float(recall),
        int(assigned[k]), promised >= target_precision,
        f"'{context}': cutoff {cutoff:.3f} set by hand keeps {recall:.0%} of its tracks{only} at "
        f"precision {precision:.2f}, at least {promised:.2f} with {confidence:.0%} confidence",
        top is not None,
    )
