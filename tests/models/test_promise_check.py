"""On real playlists held out from training, every playlist keeps its promise and beats a plain model.

TidyTuesday: playlist_genre and the 12 largest playlist_name (the other playlists' tracks serve as
"none of these"), held out by playlist, at targets 0.85 and 0.95 (the issue's) and 0.7, which some
genres keep, so the comparison with the plain model and the prior shifts are not vacuous (a promise
rests on the playlists above the cutoff: few genres have the twenty or so effective playlists 0.85
needs). One model per label; each target re-chooses its cutoffs on it. Each check adapts the model to the held-out tracks' own mix first, as it
would to a user's library, so the promises checked are the ones a user would be shown.
"""

from pathlib import Path

import pandas as pd
import pytest

from app.models.evaluation import MIN_ASSIGNED_TO_JUDGE, PROMISE_TOLERANCE

from tests.models.conftest import TIDYTUESDAY

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(TIDYTUESDAY).exists(), reason=f"{TIDYTUESDAY} is absent"),
]

#: One grid point keeps the two trainings on 30,000 tracks within a few minutes on two cores.
GRID = [{"classifier__estimator__C": [0.1], "classifier__estimator__class_weight": [None]}]
LABELS = {"playlist_genre": None, "playlist_name": 12}
TARGETS = (0.7, 0.85, 0.95)
SHIFT_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def checks(promise_checks_once):
    """promise_checks' answers (made once per run: `make bench`'s area 4b asks for the same, see tests/conftest.py)."""
    frame = pd.read_csv(TIDYTUESDAY)
    return {(label, target): check for label, top in LABELS.items()
            for target, check in promise_checks_once(frame, label, top_n=top, targets=TARGETS, grid=GRID,
                                                     prior_shifts=True, n_jobs=1).items()}


def _judge(rows: dict, tolerance: float) -> dict:
    """Contexts whose realised precision falls short: beyond tolerance on enough tracks, or significantly."""
    return {c: r for c, r in rows.items() if r["assigned"] and (
        r.get("refuted") or (r["assigned"] >= MIN_ASSIGNED_TO_JUDGE
                             and r["realised"] < r["promised"] - tolerance))}


@pytest.mark.parametrize("label", list(LABELS))
@pytest.mark.parametrize("target", TARGETS)
def test_every_playlist_keeps_its_promise_on_held_out_playlists(checks, label, target):
    check = checks[(label, target)]
    print(label, target, {c: (round(r["promised"], 3), r["realised"], r["assigned"])
                          for c, r in check["contexts"].items()}, "coverage", check["coverage"])
    assert check["coverage"] is not None  # reported, even when no context can keep the target
    assert not _judge(check["contexts"], PROMISE_TOLERANCE), check["contexts"]


@pytest.mark.parametrize("label", list(LABELS))
@pytest.mark.parametrize("target", TARGETS)
def test_overall_precision_is_at_least_the_plain_model_at_the_same_coverage(checks, label, target):
    check = checks[(label, target)]
    if not check["coverage"]:
        pytest.skip(f"no context of {label} keeps {target}: nothing to compare")
    assert check["precision"] >= check["baseline_precision"], check


@pytest.mark.parametrize("label", list(LABELS))
@pytest.mark.parametrize("lower, higher", list(zip(TARGETS, TARGETS[1:])))
def test_a_higher_target_never_realises_less(checks, label, lower, higher):
    low, high = checks[(label, lower)], checks[(label, higher)]
    for context, row in high["contexts"].items():
        # A context keeps a stricter cutoff or gets no playlist.
        before = low["contexts"][context]["cutoff"]
        assert row["cutoff"] is None or (before is not None and row["cutoff"] >= before), context
    if high["precision"] is not None:
        assert high["precision"] >= (low["precision"] or 0) - PROMISE_TOLERANCE, (high, low)


@pytest.mark.parametrize("label", list(LABELS))
def test_promises_hold_when_the_library_is_mostly_one_class(checks, label):
    shifts = checks[(label, TARGETS[0])]["prior_shift"]
    assert shifts
    for shift in shifts:
        rows = {c: {**r, "refuted": False} for c, r in shift["contexts"].items()}
        assert not _judge(rows, SHIFT_TOLERANCE), shift
