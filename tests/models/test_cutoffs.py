"""Cutoffs meet a target precision on out-of-fold scores, or fall back and say so."""

import numpy as np
import pytest

from app.models.cutoffs import (
    best_fit, choose_cutoff, cutoff_curve, manual_cutoff, wilson_lower_bound,
)


def _scores(n=1000, seed=0, separation=3.0):
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < 0.3
    proba = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + separation * truth - separation / 2)))
    return proba, truth


def test_wilson_lower_bound_matches_the_formula():
    # 80 of 100 at 90% one-sided confidence (z = 1.2816).
    assert wilson_lower_bound(np.array([80]), np.array([100]), 0.9)[0] == pytest.approx(
        0.7441, abs=1e-4)
    assert wilson_lower_bound(np.array([0]), np.array([0]), 0.9)[0] == 0


def test_cutoff_meets_the_target_and_keeps_the_most_tracks():
    proba, truth = _scores()
    choice = choose_cutoff(proba, truth, context="gym", target_precision=0.8)
    above = proba >= choice.cutoff
    assert choice.reached
    assert choice.promised_precision >= 0.8
    assert truth[above].mean() == pytest.approx(choice.expected_precision)
    assert choice.assigned == above.sum()
    # One step lower the confidence bound no longer meets the target.
    lower = proba[proba < choice.cutoff].max()
    n, hits = (proba >= lower).sum(), truth[proba >= lower].sum()
    assert wilson_lower_bound(np.array([hits]), np.array([n]), 0.9)[0] < 0.8
    assert choice.message.startswith("'gym': cutoff ")


def test_playlist_clustering_makes_the_cutoff_more_cautious():
    proba, truth = _scores()
    plain = choose_cutoff(proba, truth, target_precision=0.8)
    # Ten big "playlists" whose tracks succeed or fail together.
    groups = np.where(truth, np.arange(len(truth)) % 10, 10 + np.arange(len(truth)) % 5)
    clustered = choose_cutoff(proba, truth, groups=groups, target_precision=0.8)
    assert clustered.cutoff >= plain.cutoff
    assert clustered.promised_precision <= plain.expected_precision


def test_unreachable_target_falls_back_to_best_f05_with_a_message():
    proba, truth = _scores(separation=1.0)
    choice = choose_cutoff(proba, truth, context="study", target_precision=0.99)
    assert not choice.reached
    assert choice.cutoff is not None
    assert choice.message.startswith(
        "'study': cannot reach precision 0.99 (best lower bound ")
    assert "falling back to its best F0.5 cutoff" in choice.message
    curve = cutoff_curve(proba, truth, cutoffs=[choice.cutoff])
    assert curve[0]["precision"] == pytest.approx(choice.expected_precision)


def test_a_fallback_given_best_fits_is_chosen_and_measured_on_those_tracks_only():
    proba, truth = _scores(separation=1.0)
    top = np.random.default_rng(1).random(proba.size) < 0.5
    choice = choose_cutoff(proba, truth, top=top, context="study", target_precision=0.99)
    assert not choice.reached and choice.top_only
    taken = top & (proba >= choice.cutoff)
    assert choice.assigned == taken.sum()
    assert choice.expected_precision == pytest.approx(truth[taken].mean())
    assert choice.recall == pytest.approx(truth[taken].sum() / truth.sum())
    assert choice.message.startswith("'study': could not reach 0.99 (best lower bound ")
    assert "takes only tracks it fits best, cutoff " in choice.message
    # Meeting the target needs no restriction: such a context may share tracks with others.
    reached = choose_cutoff(proba, truth, top=top, target_precision=0.5)
    assert reached.reached and not reached.top_only


def test_best_fit_marks_each_tracks_most_likely_context():
    proba = np.array([[0.2, 0.7, 0.1], [0.5, 0.5, 0.0]])
    np.testing.assert_array_equal(best_fit(proba), [[False, True, False], [True, True, False]])


def test_a_hand_set_cutoff_of_a_fallback_is_measured_on_the_tracks_it_fits_best():
    proba, truth = _scores(separation=1.0)
    top = np.random.default_rng(1).random(proba.size) < 0.5
    choice = manual_cutoff(proba, truth, 0.5, top=top, context="study")
    taken = top & (proba >= 0.5)
    assert choice.top_only and choice.assigned == taken.sum()
    assert choice.expected_precision == pytest.approx(truth[taken].mean())


def test_no_signal_means_never_assigned():
    truth = np.arange(200) % 4 == 0
    choice = choose_cutoff(np.zeros(200), truth, context="neo-soul")
    assert choice.cutoff is None and not choice.reached
    assert "better than chance" in choice.message


def test_curve_reports_precision_recall_f1_at_each_cutoff():
    proba = np.array([0.9, 0.8, 0.6, 0.3, 0.1])
    truth = np.array([True, False, True, True, False])
    rows = cutoff_curve(proba, truth, cutoffs=[0.5])
    assert rows == [{"cutoff": 0.5, "precision": pytest.approx(2 / 3),
                     "recall": pytest.approx(2 / 3), "f1": pytest.approx(2 / 3), "assigned": 3}]
