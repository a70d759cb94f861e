"""The library-mix estimate (EM prior adjustment): it follows a large library, and a few tracks barely move it."""

import numpy as np

from app.models.calibration import EM_PRIOR_TRACKS, adjust, estimate_prior

TRAIN_PRIOR = np.array([0.25, 0.25, 0.5])  # two contexts and "none of these"


def _posteriors(true_mix: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Posteriors under the training mix of ``n`` tracks drawn from ``true_mix``, each fairly confident."""
    classes = rng.choice(len(true_mix), size=n, p=true_mix)
    likelihood = np.full((n, len(true_mix)), 0.1)
    likelihood[np.arange(n), classes] = 0.8
    return adjust(likelihood, np.full(len(true_mix), 1 / len(true_mix)), TRAIN_PRIOR)


def test_a_large_library_moves_the_mix_to_its_own():
    rng = np.random.default_rng(0)
    true_mix = np.array([0.8, 0.05, 0.15])
    estimate = estimate_prior(_posteriors(true_mix, 5000, rng), TRAIN_PRIOR)
    assert abs(estimate[0] - 0.8) < 0.05
    assert abs(estimate.sum() - 1) < 1e-9


def test_a_few_tracks_barely_move_it():
    rng = np.random.default_rng(0)
    true_mix = np.array([0.8, 0.05, 0.15])
    few = estimate_prior(_posteriors(true_mix, EM_PRIOR_TRACKS // 4, rng), TRAIN_PRIOR)
    # 25 tracks against the training mix worth 100: the estimate moves at most a fifth of the way.
    assert few[0] < TRAIN_PRIOR[0] + 0.2 * (1 - TRAIN_PRIOR[0]) + 1e-9
    assert few[0] > TRAIN_PRIOR[0]
