"""On real recordings (emotify_dev, artist-grouped): musicnn through analyse-audio, train and sort meets the issue's targets.

Runs only where ../shared/data/audio/emotify_dev exists (CI has it). It analyses the 200 clips with
`flask analyse-audio` (about 1-2 minutes on 2 idle cores, more on a busy machine), then trains and sorts
5 artist-grouped folds per feature set and task with `flask train --from-csv` / `flask sort`.
Measured on 2026-12-06 (bench area 7): musicnn genre accuracy 0.700, mood macro AUC 0.750; descriptors
0.570 and 0.693; the 50 tags alone 0.715 and 0.766.
"""

from __future__ import annotations

import pytest

from benchmarks.real_audio import EMOTIFY, FEATURE_SETS, TARGETS, evaluate

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (EMOTIFY / "metadata.csv").is_file(),
                                 reason="../shared/data/audio/emotify_dev is absent")]


def test_every_clip_is_analysed_by_both_providers(emotify_features):
    assert len(emotify_features) == 200
    assert emotify_features.filter(like="musicnn_tag_").notna().all().all()
    assert emotify_features["preview_tempo"].notna().mean() >= 0.95


@pytest.fixture(scope="module")
def scores(emotify_features):
    learned = evaluate(emotify_features, FEATURE_SETS["musicnn tags + embedding"])
    descriptors = evaluate(emotify_features, FEATURE_SETS["descriptors (preview)"])
    print(f"\nmusicnn {learned}\ndescriptors {descriptors}")
    return learned, descriptors


def test_musicnn_meets_the_genre_and_mood_targets(scores):
    learned, _ = scores
    assert learned["genre_accuracy"] >= TARGETS["genre_accuracy"]
    assert learned["mood_auc"] >= TARGETS["mood_auc"]


@pytest.mark.xfail(strict=True, reason=(
    "issue 16 asks musicnn to beat the descriptors by 15 points of genre accuracy; through the CLI it is 13 "
    "(0.700 against 0.570; paired over the 200 clips +0.130, SE 0.040, so the 15-point line is inside the noise "
    "of this set). The 200-d embedding does not help on 160 training clips: the 50 tags alone reach 0.715 "
    "(+0.145) through the same CLI. Measured and not adopted (plain LR, same folds; BENCHMARKS.md section 7): "
    "log-odds of the tags (worse), patch spread beside the mean (within noise), other ways to weigh the "
    "embedding (block weighting, PCA, inner-CV C: 0.68-0.695, none above the CLI's grid), and the wheel's "
    "MTT_musicnn tags (+0.05 on tags alone, but MagnaTagATune is Magnatune audio, as emotify is, with some of the "
    "same artists, and it doubles the CPU per clip). Kept visible, not tuned away"))
def test_musicnn_beats_the_descriptors_by_the_issues_margin(scores):
    learned, descriptors = scores
    assert learned["genre_accuracy"] - descriptors["genre_accuracy"] >= TARGETS["genre_gain"]
