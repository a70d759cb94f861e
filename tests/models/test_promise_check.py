"""On real playlists held out from training, every playlist keeps its promise and beats a plain model.

TidyTuesday: playlist_genre and the 12 largest playlist_name (the other playlists' tracks serve as
"none of these"), held out by playlist, at targets 0.85 and 0.95. Each check adapts the model to the
held-out tracks' own mix first, as it would to a user's library, so the promises checked are the ones
a user would be shown.
"""

from pathlib import Path

import pandas as pd
import pytest

from app.models.evaluation import MIN_ASSIGNED_TO_JUDGE, PROMISE_TOLERANCE, promise_check

from tests.models.conftest import TIDYTUESDAY

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(TIDYTUESDAY).exists(), reason=f"{TIDYTUESDAY} is absent"),
]

#: One grid point keeps four trainings on 30,000 tracks within a few minutes on two cores.
GRID = [{"classifier__estimator__C": [0.1], "classifier__estimator__class_weight": [None]}]
LABELS = {"playlist_genre": None, "playlist_name": 12}
TARGETS = (0.85, 0.95)
SHIFT_TOLERANCE = 0.05
#: Measured on branch promise (see BENCHMARKS.md 4b): at 0.85 edm promises 0.860 and realises 0.657 on 67
#: held-out tracks. The shortfall is one held-out playlist: "Latin Village 2019" (labelled latin) is dance
#: music by sound, and 25 of edm's most confident tracks come from it, all "wrong". No training playlist
#: is like it, so no bound computed on the training playlists foresees it (on holdout seed 2 rock realises
#: 1.000 of 0.854 promised, and edm gets no playlist). Rock holds here (0.852 promised, 0.822 realised).
GENRE_SHORT = pytest.mark.xfail(strict=True, reason="one held-out latin playlist that sounds like edm "
                                "(Latin Village 2019) sinks edm: 0.860 promised, 0.657 realised at 0.85")


def _cases(labels, targets):
    """(label, target) cases, the one known shortfall marked."""
    return [pytest.param(label, target, marks=[GENRE_SHORT] if (label, target) == (
        "playlist_genre", 0.85) else []) for label in labels for target in targets]


@pytest.fixture(scope="module")
def checks():
    frame = pd.read_csv(TIDYTUESDAY)
    return {(label, target): promise_check(frame, label, top_n=top, target_precision=target,
                                           grid=GRID, prior_shifts=target == TARGETS[0], n_jobs=1)
            for label, top in LABELS.items() for target in TARGETS}


def _judge(rows: dict, tolerance: float) -> dict:
    """Contexts whose realised precision falls short: beyond tolerance on enough tracks, or significantly."""
    return {c: r for c, r in rows.items() if r["assigned"] and (
        r.get("refuted") or (r["assigned"] >= MIN_ASSIGNED_TO_JUDGE
                             and r["realised"] < r["promised"] - tolerance))}


@pytest.mark.parametrize("label, target", _cases(LABELS, TARGETS))
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
def test_a_higher_target_never_realises_less(checks, label):
    low, high = checks[(label, 0.85)], checks[(label, 0.95)]
    for context, row in high["contexts"].items():
        # A context keeps a stricter cutoff or gets no playlist.
        before = low["contexts"][context]["cutoff"]
        assert row["cutoff"] is None or (before is not None and row["cutoff"] >= before), context
    if high["precision"] is not None:
        assert high["precision"] >= (low["precision"] or 0) - PROMISE_TOLERANCE, (high, low)


@pytest.mark.parametrize("label", list(LABELS))
def test_promises_hold_when_the_library_is_mostly_one_class(checks, label):
    shifts = checks[(label, 0.85)]["prior_shift"]
    assert shifts
    for shift in shifts:
        rows = {c: {**r, "refuted": False} for c, r in shift["contexts"].items()}
        assert not _judge(rows, SHIFT_TOLERANCE), shift
