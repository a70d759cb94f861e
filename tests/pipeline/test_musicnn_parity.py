"""The numpy musicnn agrees with the original TensorFlow code (reference outputs in tests/fixtures/musicnn, made by
make_reference.py in a throwaway venv with tensorflow 2.15.1, numpy<2, librosa 0.10.2.post1 and musicnn 0.1.0).

Tolerance: 2e-3 absolute on every tag probability of every 3-s patch and 5e-3 absolute on every embedding
value (embedding values reach about 3.5). Measured: at most 5.2e-4 (tags) and 1.7e-3 (embedding); the
difference comes from float32 summation order and librosa 0.11 against 0.10, not from the graph.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from app.pipeline.audio_features import decode_audio
from app.pipeline.musicnn_net import (MSD_TAGS, WeightsMissing, analyse, log_mel_patches, patches_used, run_network,
                                      weights_prefix)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "musicnn"
EMOTIFY = Path(__file__).parents[2] / ".." / "shared" / "data" / "audio" / "emotify_dev"
TAG_TOLERANCE, EMBEDDING_TOLERANCE = 2e-3, 5e-3

sys.path.insert(0, str(FIXTURES))
from clips import SR, clips  # noqa: E402

try:
    weights_prefix()
except WeightsMissing as exc:
    pytest.skip(f"musicnn weights not installed: {exc}", allow_module_level=True)


@pytest.mark.parametrize("name", ["chords", "drums", "pad"])
def test_synthetic_clips_match_the_original_network(name):
    reference = np.load(FIXTURES / "reference.npz")
    tags, embedding = run_network(log_mel_patches(clips()[name], SR))
    assert tags.shape == reference[f"{name}_tags"].shape == (2, len(MSD_TAGS))
    np.testing.assert_allclose(tags, reference[f"{name}_tags"], atol=TAG_TOLERANCE, rtol=0)
    np.testing.assert_allclose(embedding, reference[f"{name}_embedding"], atol=EMBEDDING_TOLERANCE, rtol=0)


@pytest.mark.skipif(not EMOTIFY.is_dir(), reason="../shared/data/audio/emotify_dev is absent")
@pytest.mark.parametrize("clip", ["classical/1", "electronic/202", "pop/301", "rock/103"])
def test_real_recordings_match_the_original_network(clip):
    """MP3s decoded and resampled to 16 kHz by our stack (soundfile, soxr) as the original's librosa.load does."""
    reference = np.load(FIXTURES / "emotify_reference.npz")
    key = clip.replace("/", "_")
    y, sr = decode_audio((EMOTIFY / f"{clip}.mp3").read_bytes())
    tags, embedding = run_network(log_mel_patches(y, sr))
    np.testing.assert_allclose(tags, reference[f"{key}_tags"], atol=TAG_TOLERANCE, rtol=0)
    np.testing.assert_allclose(embedding, reference[f"{key}_embedding"], atol=EMBEDDING_TOLERANCE, rtol=0)
    averaged = analyse(y, sr)  # over four inner patches of the ten: the second, fourth, seventh and ninth
    used = [1, 3, 6, 8]
    assert averaged["tag_rock"] == pytest.approx(reference[f"{key}_tags"][used, 0].mean(), abs=TAG_TOLERANCE)
    assert averaged["emb_007"] == pytest.approx(reference[f"{key}_embedding"][used, 7].mean(), abs=EMBEDDING_TOLERANCE)


@pytest.mark.parametrize(("count", "used"), [(10, [1, 3, 6, 8]), (6, [1, 2, 3, 4]), (4, [1, 2]), (3, [1]), (2, [0, 1]),
                                             (1, [0])])
def test_a_clip_is_heard_on_four_patches_inside_it(count, used):
    assert patches_used(count) == used


def test_a_clip_shorter_than_one_patch_is_repeated_to_fill_it():
    short = clips()["drums"][: SR]  # 1 s
    patches = log_mel_patches(short, SR)
    assert patches.shape == (1, 187, 96)
    assert np.all(np.isfinite(patches))
