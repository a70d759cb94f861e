"""`flask analyse-audio`: one row per audio file with the providers' columns; bad files listed with a reason, never a crash."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

from app.commands.audio import analyse_audio_command
from app.pipeline.musicnn_net import TAG_KEYS, WeightsMissing, weights_prefix

sys.path.insert(0, str(Path(__file__).parents[1] / "fixtures" / "musicnn"))
from clips import SR, clips  # noqa: E402

try:
    weights_prefix()
    HAVE_WEIGHTS = True
except WeightsMissing:
    HAVE_WEIGHTS = False


@pytest.fixture
def folder(tmp_path):
    audio = clips()
    (tmp_path / "rock").mkdir()
    sf.write(tmp_path / "drums.wav", audio["drums"][: 5 * SR], SR)
    sf.write(tmp_path / "rock" / "drums again.flac", audio["drums"][SR: 6 * SR], SR)
    (tmp_path / "broken.mp3").write_bytes(b"ID3 this is not an mp3 at all" * 50)
    (tmp_path / "notes.txt").write_text("not audio")
    (tmp_path / ".DS_Store").write_bytes(b"\0\1")
    pd.DataFrame({"file": ["drums.wav", "rock/drums again.flac"], "genre": ["electronic", "rock"]}).to_csv(
        tmp_path / "labels.csv", index=False)
    return tmp_path


def test_descriptors_only_one_row_per_readable_file_and_reasons_for_the_rest(folder, tmp_path):
    out = tmp_path / "features.csv"
    result = CliRunner().invoke(analyse_audio_command, [str(folder), "--out", str(out), "--providers", "preview",
                                                        "--workers", "1"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert list(frame["file"]) == ["drums.wav", "rock/drums again.flac"]
    assert frame.columns[0] == "file"
    assert "preview_tempo" in frame.columns and {"key", "mode"} <= set(frame.columns)
    assert not any(c.startswith("musicnn_") for c in frame.columns)
    assert "broken.mp3: preview: the preview is not decodable audio" in result.output
    assert "notes.txt: not an audio file (.txt)" in result.output
    assert "labels.csv: not an audio file (.csv)" in result.output
    assert ".DS_Store" not in result.output
    assert "analysed 2 of 3 audio files" in result.output


@pytest.mark.skipif(not HAVE_WEIGHTS, reason="the musicnn wheel (weights) is not installed")
def test_default_providers_add_musicnn_tags_and_the_metadata_columns(folder, tmp_path):
    out = tmp_path / "features.csv"
    result = CliRunner().invoke(analyse_audio_command, [str(folder), "--out", str(out), "--metadata",
                                                        str(folder / "labels.csv")])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert {f"musicnn_{k}" for k in TAG_KEYS} <= set(frame.columns)
    assert "musicnn_emb_199" in frame.columns and "preview_tempo" in frame.columns
    assert list(frame["genre"]) == ["electronic", "rock"]
    assert frame[[f"musicnn_{k}" for k in TAG_KEYS]].stack().between(0, 1).all()


def test_unknown_or_online_providers_are_refused(folder, tmp_path):
    result = CliRunner().invoke(analyse_audio_command, [str(folder), "--out", str(tmp_path / "x.csv"),
                                                        "--providers", "deezer"])
    assert result.exit_code == 2 and "cannot analyse a local file" in result.output


def test_a_folder_without_readable_audio_is_an_error_not_an_empty_csv(tmp_path):
    (tmp_path / "a.mp3").write_bytes(b"junk" * 100)
    result = CliRunner().invoke(analyse_audio_command, [str(tmp_path), "--out", str(tmp_path / "x.csv"),
                                                        "--providers", "preview", "--workers", "1"])
    assert result.exit_code == 1 and "could be analysed" in result.output
    assert not (tmp_path / "x.csv").exists()


def test_a_file_is_decoded_once_for_every_provider_and_its_samples_cannot_be_changed(folder):
    from app.pipeline.audio_features import decode_audio

    data = (folder / "drums.wav").read_bytes()
    y, sr = decode_audio(data)
    again, _ = decode_audio(bytes(data))  # equal bytes, another object: the same decoded clip
    assert again is y and sr == SR and len(y) == 5 * SR
    with pytest.raises(ValueError):
        y[0] = 1.0
    other, _ = decode_audio((folder / "rock" / "drums again.flac").read_bytes())
    assert other is not y and not np.array_equal(other, y)
