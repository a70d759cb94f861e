"""Cutoffs meet a target precision on out-of-fold scores, or give no playlist (best effort on request)."""

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
    choice = choose_cutoff(proba, truth, context="gym", target_precision=0.8, confidence=0.9)
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
    # Ten playlists of the context, however many tracks, cannot show 0.8: no playlist (or a stricter cutoff).
    assert clustered.cutoff is None or clustered.cutoff >= plain.cutoff
    assert clustered.promised_precision <= plain.expected_precision


def test_unreachable_target_gives_no_playlist_and_says_what_would_help():
    proba, truth = _scores(separation=1.0)
    choice = choose_cutoff(proba, truth, context="study", target_precision=0.99)
    assert not choice.reached and choice.cutoff is None and not choice.best_effort
    assert choice.message.startswith("'study': no playlist, because no cutoff reaches precision 0.99")
    assert "harvest more playlists" in choice.message and "lower the target" in choice.message


def test_best_effort_is_an_opt_in_labelled_as_such_and_measured_on_the_allowed_tracks():
    proba, truth = _scores(separation=1.0)
    top = np.random.default_rng(1).random(proba.size) < 0.5
    choice = choose_cutoff(proba, truth, top=top, context="study", target_precision=0.99,
                           best_effort=True)
    assert not choice.reached and choice.best_effort and choice.top_only
    taken = top & (proba >= choice.cutoff)
    assert choice.assigned == taken.sum()
    assert choice.expected_precision == pytest.approx(truth[taken].mean())
    assert choice.recall == pytest.approx(truth[taken].sum() / truth.sum())
    assert choice.message.startswith("'study': BEST EFFORT, not promised")
    curve = cutoff_curve(proba[top], truth[top], cutoffs=[choice.cutoff])
    assert curve[0]["precision"] == pytest.approx(choice.expected_precision)


def test_a_higher_target_never_loosens_a_cutoff():
    proba, truth = _scores(separation=2.0)
    previous = -1.0
    for target in (0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99):
        choice = choose_cutoff(proba, truth, target_precision=target)
        cutoff = np.inf if choice.cutoff is None else choice.cutoff
        assert cutoff >= previous
        previous = cutoff


def test_weights_choose_the_cutoff_for_another_mix_of_tracks():
    # The same scores, but a library where the negatives are four times as common: the cutoff
    # must rise to keep the promise, and the promise is the weighted precision's bound.
    proba, truth = _scores()
    plain = choose_cutoff(proba, truth, target_precision=0.8)
    weights = np.where(truth, 1.0, 4.0)
    shifted = choose_cutoff(proba, truth, weights=weights, target_precision=0.8)
    assert shifted.cutoff > plain.cutoff
    above = proba >= shifted.cutoff
    weighted = (weights * truth)[above].sum() / weights[above].sum()
    assert weighted == pytest.approx(shifted.expected_precision)
    assert shifted.promised_precision >= 0.8


@pytest.mark.parametrize("target", [0.0, 1.0, 1.5, -0.1])
def test_a_target_outside_zero_one_is_refused(target):
    proba, truth = _scores()
    with pytest.raises(ValueError, match="between 0 and 1"):
        choose_cutoff(proba, truth, target_precision=target)


def test_best_fit_marks_each_tracks_most_likely_context():
    proba = np.array([[0.2, 0.7, 0.1], [0.5, 0.5, 0.0]])
    np.testing.assert_array_equal(best_fit(proba), [[False, True, False], [True, True, False]])


def test_a_hand_set_cutoff_is_measured_on_the_tracks_the_rule_allows():
    proba, truth = _scores(separation=1.0)
    top = np.random.default_rng(1).random(proba.size) < 0.5
    choice = manual_cutoff(proba, truth, 0.5, top=top, context="study")
    taken = top & (proba >= 0.5)
    assert choice.top_only and choice.assigned == taken.sum()
    assert choice.expected_precision == pytest.approx(truth[taken].mean())


def test_no_signal_means_never_assigned():
    truth = np.arange(200) % 4 == 0
    choice = choose_cutoff(np.zeros(200), truth, context="neo-soul", best_effort=True)
    assert choice.cutoff is None and not choice.reached
    assert "no better than chance" in choice.message


def test_curve_reports_precision_recall_f1_at_each_cutoff():
    proba = np.array([0.9, 0.8, 0.6, 0.3, 0.1])
    truth = np.array([True, False, True, True, False])
    rows = cutoff_curve(proba, truth, cutoffs=[0.5])
    assert rows == [{"cutoff": 0.5, "precision": pytest.approx(2 / 3),
                     "recall": pytest.approx(2 / 3), "f1": pytest.approx(2 / 3), "assigned": 3}]


def _harvest(playlists=10, tracks=40, seed=0, wrong_playlists=0):
    """Scores of a context harvested from ``playlists`` playlists among as many of other contexts;
    in ``wrong_playlists`` of its own the high-scoring tracks do not belong to it."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(2 * playlists), tracks)
    truth = groups < playlists
    shift = rng.normal(0, 0.3, 2 * playlists)[groups]  # playlists differ a little, as real ones do
    proba = 1 / (1 + np.exp(-(rng.normal(0, 1, groups.size) + shift + 3.0 * truth - 1.5)))
    spoiled = truth & (groups < wrong_playlists) & (rng.random(groups.size) < 0.7)
    return proba, truth & ~spoiled, groups


def test_a_harvest_of_enough_consistent_playlists_earns_a_promise():
    # Thirty playlists of 40 tracks: no fixed count of playlists stands in the way.
    proba, truth, groups = _harvest(playlists=30)
    choice = choose_cutoff(proba, truth, groups=groups, target_precision=0.8)
    assert choice.reached and choice.promised_precision >= 0.8
    assert truth[proba >= choice.cutoff].mean() >= 0.8


def test_the_evidence_is_the_playlists_not_the_tracks():
    # Four playlists of 300 tracks, every high-scoring track right: the playlists agree, yet a fifth
    # (another context's that sounds like this one) could be all wrong, so four cannot show 0.8.
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(8), 300)
    truth = groups < 4
    proba = 1 / (1 + np.exp(-(rng.normal(0, 1, groups.size) + 6.0 * truth - 3.0)))
    choice = choose_cutoff(proba, truth, groups=groups, target_precision=0.8)
    assert not choice.reached and choice.cutoff is None
    assert choose_cutoff(proba, truth, target_precision=0.8).reached  # counted as tracks, it would
    # Four effective playlists, all right, bound the precision at 4 / (4 + z^2), about 0.6.
    assert manual_cutoff(proba, truth, 0.9, groups=groups).promised_precision <= wilson_lower_bound(4, 4, 0.95)


def test_playlists_that_disagree_widen_the_bound_beyond_the_track_count():
    # Three of ten playlists are mostly wrong: tracks fail together, so the clustered bound is
    # lower than a bound that counts every track as independent evidence.
    proba, truth, groups = _harvest(wrong_playlists=3)
    plain = choose_cutoff(proba, truth, target_precision=0.6)
    clustered = choose_cutoff(proba, truth, groups=groups, target_precision=0.6)
    assert plain.reached
    assert clustered.cutoff is None or clustered.cutoff >= plain.cutoff
    n = (proba >= plain.cutoff).sum()
    independent = wilson_lower_bound(truth[proba >= plain.cutoff].sum(), n, 0.95)
    bound = manual_cutoff(proba, truth, plain.cutoff, groups=groups).promised_precision
    assert bound < independent


def test_few_playlists_promise_less_than_many_with_the_same_tracks():
    proba, truth, groups = _harvest(playlists=12)
    few = np.where(truth, groups % 3, 100 + groups % 3)
    wide = manual_cutoff(proba, truth, 0.5, groups=few).promised_precision
    tight = manual_cutoff(proba, truth, 0.5, groups=groups).promised_precision
    assert wide < tight


def test_a_promise_needs_correct_tracks_from_several_groups():
    proba, truth = _scores()
    one_group = np.zeros(proba.size, dtype=int)
    many = np.arange(proba.size) % 50
    assert choose_cutoff(proba, truth, groups=many, target_precision=0.8).reached
    # Every correct track from one playlist: the clustered bound cannot be estimated, nothing promised.
    assert not choose_cutoff(proba, truth, groups=one_group, target_precision=0.8).reached
