"""On 200 real clips held out by artist (emotify_dev), playlists keep their promise or are not made.

Features are today's preview descriptors (app.pipeline.audio_features.analyse_audio), computed once per
test session into a pytest temporary folder. Moods are the argmax of the three GEMS factor means
(see ../shared/data/audio/README.md).
"""

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from app.models.evaluation import MIN_ASSIGNED_TO_JUDGE, PROMISE_TOLERANCE, promise_checks
from app.pipeline.audio_features import analyse_audio, decode_audio

ROOT = Path("../shared/data/audio/emotify_dev")
FACTORS = {"calm": ["amazement", "solemnity", "tenderness", "nostalgia", "calmness"],
           "energetic": ["power", "joyful_activation"], "tense_sad": ["tension", "sadness"]}
#: Everything in metadata.csv but the id and artist: labels, votes and names must not be features.
NOT_FEATURES = ["emotify_id", "genre", "file", "album", "title", "n_annotators",
                *(c for columns in FACTORS.values() for c in columns)]
GRID = [{"classifier__estimator__C": [0.1], "classifier__estimator__class_weight": [None]}]
TARGETS = (0.85, 0.95)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (ROOT / "metadata.csv").exists(), reason=f"{ROOT} is absent"),
]


def _analyse(path: str) -> dict:
    y, sr = decode_audio((ROOT / path).read_bytes())
    return analyse_audio(y, sr)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> pd.DataFrame:
    cache = tmp_path_factory.getbasetemp() / "emotify_features.csv"
    if cache.exists():
        return pd.read_csv(cache)
    meta = pd.read_csv(ROOT / "metadata.csv")
    with ProcessPoolExecutor(2) as pool:
        features = list(pool.map(_analyse, meta["file"], chunksize=10))
    frame = pd.concat([meta, pd.DataFrame(features)], axis=1)
    frame.to_csv(cache, index=False)
    return frame


@pytest.fixture(scope="module")
def checks(clips):
    mood = pd.DataFrame({k: clips[v].mean(axis=1) for k, v in FACTORS.items()}).idxmax(axis=1)
    base = clips.drop(columns=NOT_FEATURES)
    out = {}
    for label, values in (("genre", clips["genre"]), ("mood", mood)):
        frame = base.assign(**{label: values})
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
    for context, row in checks[(label, 0.95)]["contexts"].items():
        before = checks[(label, 0.85)]["contexts"][context]["cutoff"]
        assert row["cutoff"] is None or (before is not None and row["cutoff"] >= before)
