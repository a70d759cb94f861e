"""The library-mix estimate (EM prior adjustment): it follows a large library, a few tracks barely move it, and its
standard errors say when the tracks' sound cannot tell a share."""

import numpy as np

from app.models.calibration import EM_PRIOR_TRACKS, SHARE_SE_LIMIT, adjust, estimate_prior, share_standard_errors

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


def test_distinct_sounds_give_the_binomial_error_of_each_share():
    rng = np.random.default_rng(1)
    true_mix = np.array([0.5, 0.2, 0.3])
    classes = rng.choice(3, size=2000, p=true_mix)
    sure = adjust(np.eye(3)[classes] * 0.97 + 0.01, np.full(3, 1 / 3), TRAIN_PRIOR)  # each track all but certain
    estimate = estimate_prior(sure, TRAIN_PRIOR)
    errors = share_standard_errors(sure, TRAIN_PRIOR, estimate)
    binomial = np.sqrt(estimate * (1 - estimate) / len(sure))
    assert np.allclose(errors, binomial, rtol=0.15), (errors, binomial)
    assert (errors < SHARE_SE_LIMIT).all()


def test_alike_sounds_leave_the_shares_unknown():
    # Every track's posterior is the training mix: nothing in the sound tells the contexts apart.
    flat = np.tile(TRAIN_PRIOR, (5000, 1))
    assert np.isinf(share_standard_errors(flat, TRAIN_PRIOR, TRAIN_PRIOR)).all()
    # Nearly alike: the estimate may drift far, and its errors say it is a guess.
    rng = np.random.default_rng(2)
    nearly = adjust(flat * (1 + 0.02 * rng.standard_normal(flat.shape)), TRAIN_PRIOR, TRAIN_PRIOR)
    errors = share_standard_errors(nearly, TRAIN_PRIOR, estimate_prior(nearly, TRAIN_PRIOR))
    assert (errors > SHARE_SE_LIMIT).all(), errors


def test_a_class_absent_from_training_has_no_error():
    train = np.array([0.4, 0.0, 0.6])
    errors = share_standard_errors(np.tile([0.7, 0.0, 0.3], (100, 1)), train, train)
    assert errors[1] == 0 and np.isfinite(errors).all()
