"""Calibrated context probabilities with a "none of these" class, and a library's own mix of contexts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

#: Name of the class of tracks that fit none of the contexts.
BACKGROUND = "none of these"
#: Probabilities are clipped to this distance from 0 and 1 before taking log-odds.
EPSILON = 1e-6
#: Rounds of the EM prior adjustment, and the change in a share at which it stops.
EM_ITERATIONS = 300
EM_TOLERANCE = 1e-6
#: Weight of the training mix in the EM estimate, as a share of the tracks (see estimate_prior).
EM_PRIOR_WEIGHT = 0.1
#: ... and at least this many tracks' worth, so a few dozen tracks cannot move the mix far.
EM_PRIOR_TRACKS = 100
#: A share whose standard error (see share_standard_errors) is at most this is stated as "about N songs" (a 95%
#: interval of about +-10 points); up to SHARE_RANGE_LIMIT as a range; beyond it the tracks' sound cannot tell it.
SHARE_SE_LIMIT = 0.05
SHARE_RANGE_LIMIT = 0.125
#: Bins of the reliability curve.
RELIABILITY_BINS = 10


def _log_odds(raw: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(raw, dtype=float), EPSILON, 1 - EPSILON)
    return np.log(p) - np.log1p(-p)


def calibration_rows(truth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row per (track, context) with weight 1/number of its contexts; a track in none is background.

    Returns positions, classes (``n_contexts`` is the background) and weights.
    """
    truth = np.asarray(truth, dtype=bool)
    n_contexts = truth.shape[1]
    counts = truth.sum(axis=1)
    rows, classes = np.nonzero(truth)
    background = np.flatnonzero(counts == 0)
    return (np.r_[rows, background], np.r_[classes, np.full(background.size, n_contexts)],
            np.r_[1.0 / counts[rows], np.ones(background.size)])


def class_weights(truth: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Per track, the mean of ``ratio`` over its classes (the background's for a track in none)."""
    truth = np.asarray(truth, dtype=bool)
    counts = truth.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (truth * ratio[:-1]).sum(axis=1) / counts
    return np.where(counts > 0, mean, ratio[-1])


#: Ridge penalty on the calibrator's slopes, so a fold where the scores separate perfectly does not
#: send them to infinity.
CALIBRATION_RIDGE = 1e-3


def _logits(params: np.ndarray, z: np.ndarray, background: bool) -> np.ndarray:
    """Context logits ``a * z_k + b_k``; the background's ``c0 + c1 * max_k z_k`` (or -inf)."""
    k = z.shape[1]
    contexts = params[0] * z + params[1:k + 1]
    if not background:
        return np.column_stack([contexts, np.full(len(z), -np.inf)])
    return np.column_stack([contexts, params[k + 1] + params[k + 2] * z.max(axis=1)])


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def _loss(params, z, classes, weights, background):
    """Weighted negative log-likelihood of the calibration rows (ridge-penalised), and its gradient."""
    proba = _softmax(_logits(params, z, background))
    picked = np.clip(proba[np.arange(len(classes)), classes], 1e-300, None)
    total = weights.sum()
    loss = -(weights * np.log(picked)).sum() / total
    # d(-log p_y)/d logit_j = p_j - [j == y]
    residual = proba.copy()
    residual[np.arange(len(classes)), classes] -= 1.0
    residual *= weights[:, None] / total
    k = z.shape[1]
    grad = [[(residual[:, :k] * z).sum()], residual[:, :k].sum(axis=0)]
    if background:
        grad.append([residual[:, k].sum(), (residual[:, k] * z.max(axis=1)).sum()])
    grad = np.concatenate(grad)
    # Every parameter but the temperature is pulled to 0: an intercept moves only as far as
    # the rows ask, so a context's order against another changes only where the data says.
    shrunk = params.copy()
    shrunk[0] -= 1.0
    loss += CALIBRATION_RIDGE * (shrunk ** 2).sum()
    grad += 2 * CALIBRATION_RIDGE * shrunk
    return loss, grad


@dataclass
class Calibrator:
    """Temperature scaling of the one-vs-rest log-odds with per-context shifts and "none of these".

    It turns the K one-vs-rest probabilities into K + 1 probabilities that sum to one (the last is
    "none of these"): context k gets the logit ``a * logodds_k + b_k`` (one temperature shared by
    every context, and a small shift per context that the ridge keeps at 0 unless the
    out-of-fold rows ask for it, so a track's order of contexts stays the classifier's nearly
    everywhere; a full matrix of weights reordered them and cost accuracy) and the background
    ``c0 + c1 * max_k logodds_k``. Fitted on out-of-fold predictions by weighted maximum
    likelihood, so the probabilities mean what they say on unseen playlists.

    Attributes
    ----------
    params : ndarray
        ``[a, b_1 .. b_K]``, then ``[c0, c1]`` when background tracks were seen.
    classes : ndarray of int
        The classes seen when fitting (``n_contexts`` is the background).
    n_contexts : int
    prior : ndarray of shape (n_contexts + 1,)
        Class shares of the rows it was fitted on (the training mix).
    """

    params: np.ndarray
    classes: np.ndarray
    n_contexts: int
    prior: np.ndarray

    @property
    def background(self) -> bool:
        return len(self.params) == self.n_contexts + 3

    @classmethod
    def fit(cls, raw: np.ndarray, truth: np.ndarray) -> Calibrator:
        rows, classes, weights = calibration_rows(truth)
        n_contexts = truth.shape[1]
        prior = np.bincount(classes, weights=weights, minlength=n_contexts + 1)
        prior = prior / prior.sum()
        present = np.unique(classes)
        background = bool((classes == n_contexts).any()) and present.size > 1
        if not rows.size:
            return cls(np.r_[1.0, np.zeros(n_contexts)], present, n_contexts, prior)
        z = _log_odds(raw[rows])
        start = np.r_[1.0, np.zeros(n_contexts + (2 if background else 0))]
        bounds = [(1e-3, None)] + [(None, None)] * (len(start) - 1)
        fitted = minimize(_loss, start, args=(z, classes, weights, background), jac=True,
                          method="L-BFGS-B", bounds=bounds)
        return cls(fitted.x, present, n_contexts, prior)

    def predict(self, raw: np.ndarray) -> np.ndarray:
        """Probabilities of shape (n, n_contexts + 1), the training mix assumed."""
        if not len(raw):
            return np.zeros((0, self.n_contexts + 1))
        return _softmax(_logits(self.params, _log_odds(raw), self.background))


def cross_calibrate(raw: np.ndarray, truth: np.ndarray, fold_of: np.ndarray) -> np.ndarray:
    """Calibrated out-of-fold probabilities: each fold by a calibrator fitted on the other folds."""
    out = np.zeros((len(raw), truth.shape[1] + 1))
    for fold in np.unique(fold_of):
        test = fold_of == fold
        out[test] = Calibrator.fit(raw[~test], truth[~test]).predict(raw[test])
    return out


def adjust(posterior: np.ndarray, train_prior: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Posteriors under another class mix (Bayes' rule with the ratio of the priors)."""
    ratio = np.divide(prior, train_prior, out=np.zeros_like(prior, dtype=float),
                      where=train_prior > 0)
    scaled = posterior * ratio
    total = scaled.sum(axis=1, keepdims=True)
    return np.divide(scaled, total, out=np.zeros_like(scaled), where=total > 0)


def estimate_prior(posterior: np.ndarray, train_prior: np.ndarray) -> np.ndarray:
    """The class mix of a set of tracks by EM prior adjustment (Saerens, Latinne & Decaestecker 2002).

    Starting from the training mix, the mix is re-estimated as the mean adjusted posterior until it
    stops moving. The update is the maximum a posteriori one under a Dirichlet prior centred on the
    training mix and worth :data:`EM_PRIOR_WEIGHT` of the tracks, and never less than
    :data:`EM_PRIOR_TRACKS` tracks: where the posteriors carry little information the likelihood
    is nearly flat, and plain EM drifts to a corner (every track one rare context); the prior
    keeps the estimate near the training mix unless the tracks say otherwise, and a few dozen
    tracks (a small import, one fold of 40 clips) cannot say much (on emotify_dev's folds of 40
    clips a share-only weight cost 4 points of mood AUC). Classes absent from training stay at zero.
    """
    train_prior = np.asarray(train_prior, dtype=float)
    prior = train_prior.copy()
    if not len(posterior):
        return prior
    n = len(posterior)
    weight = max(EM_PRIOR_WEIGHT * n, EM_PRIOR_TRACKS)
    for _ in range(EM_ITERATIONS):
        new = (adjust(posterior, train_prior, prior).sum(axis=0)
               + weight * train_prior) / (n + weight)
        if np.abs(new - prior).max() < EM_TOLERANCE:
            return new
        prior = new
    return prior


def share_standard_errors(posterior: np.ndarray, train_prior: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """The standard error of each share of an estimated class mix, from the observed information of the mix.

    The tracks' likelihood under a mix ``prior`` is the product over tracks of sum_k p_ik prior_k / train_k
    (``posterior`` p under the training mix). Its observed information, taken on the simplex (the shares sum
    to one), inverted and mapped back to the shares, gives their covariance. Where the posteriors barely
    differ between classes (contexts that sound alike) the information is nearly singular and the errors are
    large: the estimate may then sit anywhere, and saying "about 71% of your songs" would be a guess. A share
    a class cannot have (absent from training) has error 0.
    """
    train_prior = np.asarray(train_prior, dtype=float)
    errors = np.zeros(len(train_prior))
    live = np.flatnonzero(train_prior > 0)
    if len(posterior) == 0:
        return np.full(len(train_prior), np.inf)
    if len(live) < 2:
        return errors
    ratio = np.asarray(posterior, dtype=float)[:, live] / train_prior[live]
    density = ratio @ np.asarray(prior, dtype=float)[live]
    scores = np.divide(ratio, density[:, None], out=np.zeros_like(ratio), where=density[:, None] > 0)
    information = scores.T @ scores
    # Free parameters: every share but the last, which is one minus their sum.
    free = np.vstack([np.eye(len(live) - 1), -np.ones(len(live) - 1)])
    values, vectors = np.linalg.eigh(free.T @ information @ free)
    loadings = (free @ vectors) ** 2  # (share, direction): how much of each direction a share moves with
    # A direction the tracks carry no information on leaves every share moving with it unknown, not certain.
    blind = values <= 1e-9 * max(values.max(), 1.0)
    variance = loadings[:, ~blind] @ (1.0 / values[~blind])
    variance[(loadings[:, blind] > 1e-12).any(axis=1)] = np.inf
    errors[live] = np.sqrt(np.clip(variance, 0.0, None))
    return errors


def reliability_curve(proba: np.ndarray, truth: np.ndarray, bins: int = RELIABILITY_BINS) -> dict:
    """Mean predicted probability against the observed share, per probability bin.

    Pools every (track, context) pair, the background included, so it shows whether "0.8" means
    eight in ten.
    """
    truth = np.asarray(truth, dtype=bool)
    full = np.column_stack([truth, ~truth.any(axis=1)])[:, :proba.shape[1]]
    p, y = proba.ravel(), full.ravel().astype(float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            rows.append({"low": float(edges[b]), "high": float(edges[b + 1]),
                         "predicted": float(p[mask].mean()), "observed": float(y[mask].mean()),
                         "pairs": int(mask.sum())})
    return {"bins": rows,
            "max_gap": max((abs(r["predicted"] - r["observed"]) for r in rows if r["pairs"] >= 30),
                           default=None)}
