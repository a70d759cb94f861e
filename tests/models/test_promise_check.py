"""On real playlists held out from training, promised precision holds (TidyTuesday data)."""

from pathlib import Path

import pandas as pd
import pytest

from app.models.evaluation import promise_check

from tests.models.conftest import TIDYTUESDAY

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(TIDYTUESDAY).exists(), reason=f"{TIDYTUESDAY} is absent"),
]


@pytest.fixture(scope="module")
def checks():
    frame = pd.read_csv(TIDYTUESDAY)
    return {
        "playlist_genre": promise_check(frame, "playlist_genre"),
        "playlist_name": promise_check(frame, "playlist_name", top_n=12),
    }


@pytest.mark.parametrize("label", ["playlist_genre", "playlist_name"])
def test_promises_of_at_least_0_7_hold_on_held_out_playlists(checks, label):
    check = checks[label]
    assert check["promises_kept"], check["contexts"]
    for context in check["checked_contexts"]:
        row = check["contexts"][context]
        assert not row["refuted"]
        if row["assigned"] >= 30:
            assert row["realised"] >= row["promised"] - 0.05, (context, row)


def test_contexts_meeting_the_target_beat_the_baseline_at_equal_coverage(checks):
    reached = checks["playlist_genre"]["target_reached"]
    assert reached["contexts"]
    assert reached["beats_baseline"], reached


def test_assignments_that_carry_a_promise_beat_the_baseline_at_equal_coverage(checks):
    # The comparison: the contexts promising at least 0.7, against plain argmax LR given
    # the same share of the held-out tracks.
    promised = checks["playlist_genre"]["promised"]
    assert promised["contexts"], "no context promised 0.7 or more"
    assert promised["beats_baseline"], promised


def test_fallback_contexts_rank_their_tracks_at_least_as_well_as_the_baseline(checks):
    # A context that cannot keep the target still gets a playlist (its best F0.5 cutoff, only on
    # tracks it fits best). Given as many tracks of that context as we assign, the baseline's
    # ranking is no more precise than ours, beyond the noise of a few hundred held-out tracks.
    for label in ("playlist_genre", "playlist_name"):
        for context, row in checks[label]["contexts"].items():
            if row["reached_target"] or row["assigned"] < 100:
                continue
            assert row["realised"] >= row["baseline_same_count"] - 0.03, (label, context, row)


@pytest.mark.xfail(strict=True, reason="a design consequence, kept visible: contexts that miss the "
                   "target still get their best-F0.5 playlist (the issue's fallback), and on "
                   "playlist_genre latin, pop and r&b realise 0.33-0.36 held out, while argmax at "
                   "the same overall coverage spends it on the easiest genres; see BENCHMARKS.md")
def test_all_assignments_beat_the_baseline_at_equal_coverage(checks):
    assert checks["playlist_genre"]["beats_baseline"]
