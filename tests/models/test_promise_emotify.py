"""On 200 real clips held out by artist (emotify_dev), playlists keep their promise or are not made.

Features are what the product hears (issue 16): the musicnn tags and embedding and the preview descriptors,
from the run's one `flask analyse-audio` of the clips (the `emotify_features` fixture). Moods are the argmax
of the three GEMS factor means (see ../shared/data/audio/README.md).
"""

import pandas as pd
import pytest

from app.models.evaluation import MIN_ASSIGNED_TO_JUDGE, PROMISE_TOLERANCE, promise_checks
from tests.real_audio import EMOTIFY_DIR

FACTORS = {"calm": ["amazement", "solemnity", "tenderness", "nostalgia", "calmness"],
           "energetic": ["power", "joyful_activation"], "tense_sad": ["tension", "sadness"]}
GRID = [{"classifier__estimator__C": [0.1], "classifier__estimator__class_weight": [None]}]
#: 0.6 as well as the issue's 0.85 and 0.95: on 150 training clips only a low target promises anything (measured
#: 2026-12-06: classical at 0.6, promised 0.615, realised 0.967 on 30 held-out clips; nothing at 0.7 and above).
TARGETS = (0.6, 0.85, 0.95)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (EMOTIFY_DIR / "metadata.csv").exists(), reason=f"{EMOTIFY_DIR} is absent"),
]


@pytest.fixture(scope="module")
def clips(emotify_features) -> pd.DataFrame:
    return emotify_features


def _features(clips: pd.DataFrame) -> pd.DataFrame:
    """The analysis columns and the artist (labels, votes and names must not be features)."""
    heard = [c for c in clips.columns if c.startswith(("preview_", "musicnn_")) or c in ("key", "mode")]
    return clips[["track_id", "artist", *heard]]


@pytest.fixture(scope="module")
def checks(clips):
    mood = pd.DataFrame({k: clips[v].mean(axis=1) for k, v in FACTORS.items()}).idxmax(axis=1)
    base = _features(clips)
    out = {}
    for label, values in (("genre", clips["genre"]), ("mood", mood)):
        frame = pd.concat([base, values.rename(label)], axis=1)
        results = promise_checks(frame, label, group_col="artist", grouping="artist", targets=TARGETS,
                                 grid=GRID, min_tracks=20, n_jobs=1)
        out.update({(label, target): check for target, check in results.items()})
    return out


@pytest.mark.parametrize("label", ["genre", "mood"])
@pytest.mark.parametrize("target", TARGETS)
def test_held_out_artists_keep_every_promise(checks, label, target):
    check = checks[(label, target)]
    print(label, target, {c: (round(r["promised"], 3), r["realised"], r["assigned"])
                          for c, r in check["contexts"].items()}, "coverage", check["coverage"])
    assert check["grouped_by"] == "artist"
    assert check["coverage"] is not None
    for context, row in check["contexts"].items():
        assert not row["refuted"], (context, row)
        if row["assigned"] >= MIN_ASSIGNED_TO_JUDGE:
            assert row["realised"] >= row["promised"] - PROMISE_TOLERANCE, (context, row)
    if check["coverage"]:
        assert check["precision"] >= check["baseline_precision"], check


@pytest.mark.parametrize("label", ["genre", "mood"])
def test_a_higher_target_never_loosens_a_cutoff(checks, label):
    for lower, higher in zip(TARGETS, TARGETS[1:]):
        for context, row in checks[(label, higher)]["contexts"].items():
            before = checks[(label, lower)]["contexts"][context]["cutoff"]
            assert row["cutoff"] is None or (before is not None and row["cutoff"] >= before)


def test_some_genre_playlist_is_promised_at_the_lowest_target(checks):
    """Not vacuous: the checks above judge at least one real playlist."""
    assert checks[("genre", TARGETS[0])]["coverage"] > 0
