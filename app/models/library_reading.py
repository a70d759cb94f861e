"""What a library's own songs read of a cutoff's precision: how many pass it against how many of the context's do."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import norm

from app.models.cutoffs import DEFAULT_CONFIDENCE, DEFAULT_MIN_POSITIVES

#: The cutoffs at which a library's own songs are counted (see :func:`library_counts`): a hundredth apart, so a
#: stored sort keeps them in a few hundred numbers. A cutoff between two is read with the lower one's count,
#: which can only lower the library's reading.
LIBRARY_GRID = np.round(np.linspace(0.0, 1.0, 101), 2)
#: A library's reading (see :func:`library_reading`) is taken only at cutoffs that at least this share of the
#: context's held-out training songs pass. Above them lies the far tail of the scores, where held-out playlists
#: differ most from the training folds (TidyTuesday's held-out edm songs reach the top 7% of the training folds'
#: scores a fifth less often than those do): there a smaller share of the library passing says more about chance
#: than about the library, and would read the library's share too low.
READING_MIN_RECALL = 0.1


def library_counts(proba: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Per context, how many of a library's songs it would take at each cutoff of :data:`LIBRARY_GRID`.

    ``proba`` and ``eligible`` are (n_songs, n_contexts): the library's probabilities and the decision rule's
    mask (:meth:`app.models.model.ContextModel.eligible`). Returns ints of shape (n_contexts, len(grid)).
    """
    proba = np.asarray(proba, dtype=float)
    eligible = np.asarray(eligible, dtype=bool)
    counts = np.zeros((proba.shape[1], len(LIBRARY_GRID)), dtype=int)
    for j in range(proba.shape[1]):
        taken = np.sort(proba[eligible[:, j], j])
        counts[j] = len(taken) - np.searchsorted(taken, LIBRARY_GRID, side="left")
    return counts


def library_reading(proba: np.ndarray, truth: np.ndarray, top: np.ndarray | None, counts: np.ndarray,
                    min_positives: int = DEFAULT_MIN_POSITIVES, confidence: float = DEFAULT_CONFIDENCE
                    ) -> Callable[[np.ndarray], np.ndarray] | None:
    """The precision a library's own songs read at each cutoff (a lower confidence bound), or None when too few.

    The library is a mix: a share ``s`` of its songs fit the context, and they pass a cutoff ``t`` as often
    as the context's held-out training songs do (the recall ``R(t)``); the rest are songs of any other kind.
    Of the ``L(t)`` share of the library above the cutoff, ``s * R(t)`` then fit, a precision of
    ``s * R(t) / L(t)``. No song can fit more often than it passes, so ``s`` is at most ``L(t) / R(t)`` at
    every cutoff, and at a high one, where nearly every song that passes fits, about that (mixture proportion
    estimation: Blanchard, Lee & Scott 2010; Scott 2015). It is read at the highest cutoff that at least
    ``min_positives`` training songs and library songs pass, and at least :data:`READING_MIN_RECALL` of the
    context's. Unlike the library's mix by EM, this assumes nothing of how the library's other songs sound (the
    EM takes them to sound like the harvest's songs of no context; a listener's other songs are nearer their
    taste, and pass a cutoff more often), only that the library's songs above that cutoff are nearly all the
    context's; where that is false it reads too high, and only the EM's bound is left to hold the promise. A
    promise is the lower of the two (see :func:`app.models.cutoffs.choose_cutoff`'s ``library``).

    The precision at ``t`` is then ``(R(t) / R(u)) / (L(t) / L(u))`` for the reading cutoff ``u``: two ratios of
    counts of nested sets (training songs, library songs), each binomial. The reading is the lower confidence
    bound of their quotient (the delta method on its logarithm, at ``confidence``), so a reading resting on a
    few dozen songs says less.

    ``proba``, ``truth``, ``top``: the context's out-of-fold probabilities, labels and decision-rule mask;
    ``counts``: the library's row of :func:`library_counts` for the context. The training ratio is binomial over
    songs, not playlists: its bound is narrower than the cluster-robust ones of the training songs' own promise.
    """
    proba = np.asarray(proba, dtype=float)
    truth = np.asarray(truth, dtype=bool)
    passing = truth if top is None else truth & np.asarray(top, dtype=bool)
    positives = int(truth.sum())
    counts = np.asarray(counts, dtype=float)
    if not positives:
        return None
    scores = np.sort(proba[passing])

    def trained_above(cutoffs: np.ndarray) -> np.ndarray:
        return (len(scores) - np.searchsorted(scores, np.asarray(cutoffs, dtype=float), side="left")).astype(float)

    grid_trained = trained_above(LIBRARY_GRID)
    read = ((grid_trained >= min_positives) & (grid_trained >= READING_MIN_RECALL * positives)
            & (counts >= min_positives))
    if not read.any():
        return None
    u = np.flatnonzero(read)[-1]
    z = norm.ppf(confidence)

    def reading(cutoffs: np.ndarray) -> np.ndarray:
        cutoffs = np.asarray(cutoffs, dtype=float)
        # The grid point at or below each cutoff (its count is at least the cutoff's own); a cutoff within 1e-9 under
        # a grid point is read at it, as a stored 0.57 may come back a hair below.
        at = np.clip(np.searchsorted(LIBRARY_GRID, cutoffs + 1e-9, side="right") - 1, 0, len(LIBRARY_GRID) - 1)
        library, trained = counts[at], trained_above(cutoffs)
        with np.errstate(invalid="ignore", divide="ignore"):
            point = (trained / grid_trained[u]) / (library / counts[u])
            # var(log(x / y)) of a count x nested in y (or y in x) is |1/x - 1/y|.
            spread = np.sqrt(np.abs(1 / trained - 1 / grid_trained[u]) + np.abs(1 / library - 1 / counts[u]))
            bound = point * np.exp(-z * spread)
        # No library song passing: nothing is taken, so nothing is promised wrongly.
        value = np.where(library == 0, 1.0, np.where(trained == 0, 0.0, bound))
        return np.clip(value, 0.0, 1.0)

    return reading
