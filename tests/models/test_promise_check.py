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


@pytest.mark.xfail(strict=True, reason="contexts that miss the target still fall back to a best-F0.5 "
                   "cutoff (now only on tracks they fit best); on playlist_genre latin, pop and r&b "
                   "realise 0.33-0.40 held out at any cutoff, below what argmax adds at the same "
                   "coverage; see the report")
def test_all_assignments_beat_the_baseline_at_equal_coverage(checks):
    assert checks["playlist_genre"]["beats_baseline"]
