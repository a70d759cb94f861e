"""Per-context probability cutoffs chosen on out-of-fold predictions to keep a precision promise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm, t as student_t

#: Share of sorted tracks that should fit the context they were put in.
DEFAULT_TARGET_PRECISION = 0.8
#: One-sided confidence that the precision on unseen playlists is at least the target.
DEFAULT_CONFIDENCE = 0.95
#: A cutoff is only trusted when at least this many correct out-of-fold tracks are above it.
DEFAULT_MIN_POSITIVES = 20
#: A library is taken to draw on this share of the groups (playlists, artists) the harvest did, as
#: one of four cross-validation folds does: its own group-to-group variation is part of the promise.
LIBRARY_GROUP_SHARE = 0.25
#: Why a model for a library promises nothing when it never saw a song of none of its contexts (see
#: :attr:`app.models.model.ContextModel.unpromisable`).
NO_BACKGROUND = ("has seen no song that fits none of its contexts yet, so it cannot tell how many of your other "
                 "songs would pass a cutoff; the harvest adds songs of every kind from Deezer's charts: wait until "
                 "they are analysed, or harvest again if Deezer could not be reached")
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
        Whether the target was met (a cutoff that did not is None, or best effort).
    message : str
    top_only : bool
        Whether the context only takes the tracks the decision rule lets it take (those it is the
        most likely context of, or a genuinely co-occurring context's); the precision figures are
        then measured on those tracks alone.
    best_effort : bool
        The user opted in to a playlist that does not keep the target; labelled wherever shown.
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
    best_effort: bool = False

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        return asdict(self)


def wilson_lower_bound(successes: np.ndarray, trials: np.ndarray, confidence: float,
                       z: np.ndarray | float | None = None) -> np.ndarray:
    """One-sided Wilson score lower bound of a binomial proportion (0 where there are no trials).

    ``z`` replaces the normal quantile of ``confidence`` (e.g. a Student t quantile when the
    trials are clustered).
    """
    successes = np.asarray(successes, dtype=float)
    trials = np.asarray(trials, dtype=float)
    z = norm.ppf(confidence) if z is None else np.asarray(z, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = successes / trials
        centre = p + z * z / (2 * trials)
        spread = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
        bound = (centre - spread) / (1 + z * z / trials)
    return np.where(trials > 0, np.nan_to_num(bound, nan=0.0), 0.0)


def best_fit(proba: np.ndarray) -> np.ndarray:
    """Boolean (n_tracks, n_contexts): whether each context is the track's most likely one.

    Ties count for every tied context; the stored-sort update in :mod:`app.models.service`
    compares probabilities the same way.
    """
    return proba >= proba.max(axis=1, keepdims=True)


def _ranked_counts(proba: np.ndarray, truth: np.ndarray, groups: np.ndarray | None, confidence,
                   weights: np.ndarray | None = None):
    """Candidate cutoffs (distinct probabilities, high to low) with counts and a lower bound.

    ``weights`` re-weight tracks to another class mix (see :mod:`app.models.calibration`); the
    counts returned are then weighted, and the last value is the evidence: the unweighted number
    of correct tracks.

    The bound is a Wilson lower bound on the precision of the effective number of (weighted)
    tracks. With ``groups`` (the source playlist, or artist, of each track) the evidence is the
    groups, not the tracks, and the bound is also at most:

    - a Wilson bound on the effective number of groups above the cutoff (Kish: the squared total
      weight over the sum of squared group weights), the uncertainty when a whole playlist can be
      right or wrong together (the largest variance a share in [0, 1] can have). Agreement among
      the playlists seen does not narrow it: a playlist unlike every training one (another
      context's that sounds like this one) is not in the data to be seen. Even with every one
      right, a 0.8 promise needs about a dozen effective playlists above the cutoff;
    - a prediction bound for a new library: the pooled precision minus Student's t (one degree of
      freedom fewer than the groups above the cutoff) times the standard deviation of the
      precision of a library drawing on :data:`LIBRARY_GROUP_SHARE` as many groups, i.e. the
      cluster-robust variance of the pooled estimate plus that library's own, so playlists that
      disagree widen it further.

    No fixed number of groups is required. Student's t also widens the track-level Wilson bound.
    """
    if not proba.size:
        return (np.empty(0),) * 5
    order = np.argsort(-proba, kind="stable")
    p, y = proba[order], truth[order].astype(float)
    w = np.ones_like(p) if weights is None else np.asarray(weights, dtype=float)[order]
    last_of_value = np.r_[p[1:] != p[:-1], True]
    assigned = np.cumsum(w)
    correct = np.cumsum(w * y)
    raw_correct = np.cumsum(y)
    with np.errstate(invalid="ignore", divide="ignore"):
        effective = assigned ** 2 / np.cumsum(w * w)
        precision = np.where(assigned > 0, correct / assigned, 0.0)
    if groups is None:
        bound = wilson_lower_bound(precision * effective, effective, confidence)
    else:
        g = pd.Series(np.asarray(groups)[order])
        # Per group, its weight and weighted hits before this track.
        a_before = pd.Series(w).groupby(g).cumsum().to_numpy() - w
        c_before = pd.Series(w * y).groupby(g).cumsum().to_numpy() - w * y
        # Running sums over groups of a^2, a*c and c^2 (a weight assigned, c weight correct).
        s_aa = np.cumsum(2 * a_before * w + w * w)
        s_ac = np.cumsum(a_before * w * y + c_before * w + w * w * y)
        s_cc = np.cumsum(2 * c_before * w * y + w * w * y)
        clusters = np.cumsum(g.groupby(g).cumcount().to_numpy() == 0)
        spread = np.maximum(s_cc - 2 * precision * s_ac + precision ** 2 * s_aa, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            robust = spread / assigned ** 2 * clusters / (clusters - 1)
            z = np.where(clusters > 1, student_t.ppf(confidence, np.maximum(clusters - 1, 1)),
                         np.inf)
            predicted = precision - z * np.sqrt(robust * (1 + 1 / LIBRARY_GROUP_SHARE))
        wilson = wilson_lower_bound(precision * effective, effective, confidence, z)
        with np.errstate(invalid="ignore", divide="ignore"):
            effective_groups = assigned ** 2 / s_aa
        by_group = wilson_lower_bound(precision * effective_groups, effective_groups, confidence)
        bound = np.where(clusters > 1, np.minimum(np.minimum(wilson, predicted), by_group), 0.0)
    keep = last_of_value
    return p[keep], assigned[keep], correct[keep], bound[keep], raw_correct[keep]


def _restrict(proba, truth, groups, top, weights):
    proba, truth = np.asarray(proba, dtype=float), np.asarray(truth, dtype=bool)
    if top is None:
        return proba, truth, groups, weights
    top = np.asarray(top, dtype=bool)
    return (proba[top], truth[top], None if groups is None else np.asarray(groups)[top],
            None if weights is None else np.asarray(weights)[top])


def choose_cutoff(
    proba: np.ndarray,
    truth: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    top: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    context: str = "",
    target_precision: float = DEFAULT_TARGET_PRECISION,
    confidence: float = DEFAULT_CONFIDENCE,
    min_positives: int = DEFAULT_MIN_POSITIVES,
    best_effort: bool = False,
    unpromisable: str | None = None,
    library: Callable[[np.ndarray], np.ndarray] | None = None,
) -> CutoffChoice:
    """Lowest cutoff whose precision is at least the target with the given confidence.

    The cutoff keeps as many tracks as possible while the lower confidence bound of the out-of-fold
    precision is at least ``target_precision`` and at least ``min_positives`` correct tracks lie
    above it, so the promise does not rest on a handful of lucky tracks. The promised precision is
    that lower bound. Given ``top`` (the tracks the context may take under the decision rule, e.g.
    those it is the most likely context of), only those tracks are ranked. Given ``weights``, the
    precision is that of another mix of classes (a user's library).

    A context that cannot reach the target gets no cutoff (no playlist), and the message says why
    and what would help, unless ``best_effort`` is on: then its best-F0.5 cutoff is used, promising
    only its own lower bound, and the choice is marked ``best_effort``.

    Parameters
    ----------
    proba : ndarray of shape (n,)
        Out-of-fold P(context).
    truth : ndarray of bool, shape (n,)
        Whether each track belongs to the context.
    groups : ndarray of shape (n,), optional
        Source playlist of each track, to widen the bound for playlist-to-playlist variation.
    top : ndarray of bool, shape (n,), optional
        Whether the decision rule lets the context take each track.
    weights : ndarray of shape (n,), optional
        Per-track weight (library share / training share of its class).
    context : str
        Name used in the message.
    target_precision, confidence, min_positives : float, float, int
        See the module constants.
    best_effort : bool
        Give a context that cannot reach the target a labelled best-effort cutoff.
    unpromisable : str, optional
        Why nothing may be promised (e.g. :data:`NO_BACKGROUND`): no cutoff qualifies, and a best-effort
        one promises 0.
    library : callable, optional
        The precision the library's own songs read at given cutoffs
        (:func:`app.models.library_reading.library_reading`); a cutoff promises at most that.

    Returns
    -------
    CutoffChoice
    """
    if not 0 < target_precision < 1:
        raise ValueError(f"a target precision is between 0 and 1 (exclusive), not {target_precision}")
    positives = max(float(np.asarray(truth, dtype=float) @ (np.ones(len(truth)) if weights is None
                                                           else np.asarray(weights, float))), 1e-12)
    top_only = top is not None
    # Picking tracks at random among all of them realises the context's share.
    chance = positives / max(float(len(truth) if weights is None else np.sum(weights)), 1e-12)
    proba, truth, groups, weights = _restrict(proba, truth, groups, top, weights)
    thresholds, assigned, correct, bound, evidence = _ranked_counts(
        proba, truth, groups, confidence, weights)
    read = None if library is None else library(thresholds)
    trained = bound
    if read is not None:
        bound = np.minimum(bound, read)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(assigned > 0, correct / assigned, 0.0)
    recall = correct / positives
    ok = np.flatnonzero((bound >= target_precision) & (evidence >= min_positives) & (unpromisable is None))
    if ok.size:
        k = ok[-1]  # thresholds run high to low: the last qualifying one keeps the most tracks
        return CutoffChoice(
            context, float(thresholds[k]), target_precision, float(bound[k]),
            float(precision[k]), float(min(recall[k], 1.0)), int(round(assigned[k])), True,
            f"'{context}': cutoff {thresholds[k]:.3f} keeps {min(recall[k], 1):.0%} of its tracks "
            f"at precision {precision[k]:.2f}, at least {trained[k]:.2f} with {confidence:.0%} "
            f"confidence (target {target_precision:.2f}){_library_words(read, k)}", top_only,
        )
    enough = evidence >= min_positives
    best_bound = float(bound[enough].max(initial=0.0))
    why = (f"'{context}': no playlist, because no cutoff reaches precision {target_precision:.2f} "
           f"(best lower bound {best_bound:.2f} with at least {min_positives} correct tracks). "
           "What would help: harvest more playlists of it, merge it with the context it overlaps, "
           "or lower the target") if unpromisable is None else (
           f"'{context}': no promised playlist, because the model {unpromisable}")
    if not best_effort:
        return CutoffChoice(context, None, target_precision, 0.0, 0.0, 0.0, 0, False, why,
                            top_only)
    beta2 = 0.25
    with np.errstate(invalid="ignore", divide="ignore"):
        f05 = np.nan_to_num((1 + beta2) * precision * recall / (beta2 * precision + recall))
    # A cutoff not surely more precise than picking tracks at random is no fallback. Surely on the
    # tracks seen: best effort promises nothing for unseen playlists (its label says so), it only
    # must not be a coin toss.
    tracks_bound = wilson_lower_bound(correct, assigned, confidence)
    f05[(tracks_bound <= chance) | (evidence < 1)] = 0.0
    if f05.size == 0 or f05.max() <= 0:
        return CutoffChoice(context, None, target_precision, 0.0, 0.0, 0.0, 0, False,
                            why + "; even best effort picks its tracks no better than chance",
                            top_only)
    k = int(f05.argmax())
    promised = float(max(bound[k], 0.0)) if unpromisable is None else 0.0
    reason = (f"could not reach {target_precision:.2f} (best lower bound {best_bound:.2f})" if unpromisable is None
              else f"the model {unpromisable}")
    message = (f"'{context}': BEST EFFORT, not promised: {reason}; cutoff {thresholds[k]:.2f}, expected "
               f"precision {precision[k]:.2f} on the training songs (at least {promised:.2f}; recall "
               f"{min(recall[k], 1):.2f})")
    return CutoffChoice(context, float(thresholds[k]), target_precision, promised,
                        float(precision[k]), float(min(recall[k], 1.0)), int(round(assigned[k])),
                        False, message, top_only, True)


def _library_words(read: np.ndarray | None, k: int) -> str:
    """What the library's own songs read at the chosen cutoff, for a cutoff's message ("" without a reading)."""
    return "" if read is None else (f"; your library's own songs above it read a precision of at least {read[k]:.2f}, "
                                    "and the cutoff promises the lower of the two")


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
    weights: np.ndarray | None = None,
    context: str = "",
    target_precision: float = DEFAULT_TARGET_PRECISION,
    confidence: float = DEFAULT_CONFIDENCE,
    unpromisable: str | None = None,
    library: Callable[[np.ndarray], np.ndarray] | None = None,
) -> CutoffChoice:
    """What a cutoff the user picked by hand promises, measured like :func:`choose_cutoff` does.

    The promise is the lower confidence bound of the out-of-fold precision of the tracks at or above
    ``cutoff`` (0 when none is), so a slider shows the same kind of number the trained cutoffs do.
    ``top``, ``weights``, ``unpromisable`` and ``library`` are as in :func:`choose_cutoff`. A hand-set cutoff below
    the target is labelled best effort.
    """
    positives = max(float(np.asarray(truth, dtype=float) @ (np.ones(len(truth)) if weights is None
                                                           else np.asarray(weights, float))), 1e-12)
    proba, truth, groups, weights = _restrict(proba, truth, groups, top, weights)
    thresholds, assigned, correct, bound, _ = _ranked_counts(proba, truth, groups, confidence,
                                                             weights)
    above = np.flatnonzero(thresholds >= cutoff)
    if not above.size:
        return CutoffChoice(context, float(cutoff), target_precision, 0.0, 0.0, 0.0, 0, False,
                            f"'{context}': no training track scores {cutoff:.3f} or more, so this "
                            "cutoff promises nothing", top is not None, True)
    k = above[-1]
    read = None if library is None else library(np.array([cutoff]))
    trained = max(float(bound[k]), 0.0) if unpromisable is None else 0.0
    precision = correct[k] / assigned[k]
    promised = trained if read is None else min(trained, float(read[0]))
    recall = min(correct[k] / positives, 1.0)
    reached = promised >= target_precision
    label = "" if reached else (" (best effort: below the target)" if unpromisable is None
                                else f" (best effort: nothing is promised, because the model {unpromisable})")
    return CutoffChoice(
        context, float(cutoff), target_precision, promised, float(precision), float(recall),
        int(round(assigned[k])), reached,
        f"'{context}': cutoff {cutoff:.3f} set by hand keeps {recall:.0%} of its tracks at "
        f"precision {precision:.2f}, at least {trained:.2f} with {confidence:.0%} confidence"
        + _library_words(read, 0) + label, top is not None, not reached,
    )
