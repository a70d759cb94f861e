"""Contract: the sandbox's ReccoBeats analysis takes an `audioFile` up to 5 MB, reads its first 30 s, throttles with 429."""

from __future__ import annotations

import io

import numpy as np
import pytest
import requests
import soundfile as sf
from scipy.stats import spearmanr

from sandbox.audio import render_preview

FEATURES = {"acousticness", "danceability", "energy", "instrumentalness", "liveness", "loudness", "speechiness",
            "tempo", "valence"}
UNIT = FEATURES - {"loudness", "tempo"}


def analyse(server, data: bytes, field: str = "audioFile", filename: str = "clip.mp3") -> requests.Response:
    return requests.post(f"{server.reccobeats_url}analysis/audio-features",
                         files={field: (filename, data, "audio/mpeg")}, timeout=60)


def wav(y: np.ndarray, sr: int = 22050) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y.astype(np.float32), sr, format="WAV")
    return buf.getvalue()


def clicks(bpm: float, seconds: float, sr: int = 22050, gain: float = 0.5) -> np.ndarray:
    y = np.zeros(int(seconds * sr), dtype=np.float32)
    burst = (np.random.default_rng(0).standard_normal(400) * np.exp(-np.arange(400) / 60)).astype(np.float32)
    for start in np.arange(0, len(y) - 400, 60 / bpm * sr).astype(int):
        y[start:start + 400] += gain * burst
    return y


@pytest.fixture(scope="module")
def previews(small_world):
    tracks = list(small_world.tracks.values())[:16]
    return [(t, render_preview(t, seconds=12.0)) for t in tracks]


def test_answer_is_the_nine_spotify_style_features_in_range(sandbox, previews):
    answer = analyse(sandbox, previews[0][1])
    assert answer.status_code == 200, answer.text
    row = answer.json()
    assert set(row) == FEATURES  # no key, mode, id or href: the file is not a catalogue track
    assert all(0.0 <= row[name] <= 1.0 for name in UNIT)
    assert -60.0 <= row["loudness"] <= 0.0 and 30.0 <= row["tempo"] <= 320.0


def test_values_come_from_the_audio_not_from_the_track_it_was_cut_from(sandbox, previews):
    track, data = previews[1]
    y, sr = sf.read(io.BytesIO(data), dtype="float32")
    loud, quiet = analyse(sandbox, wav(y, sr)).json(), analyse(sandbox, wav(y * 0.1, sr)).json()
    assert loud["loudness"] - quiet["loudness"] == pytest.approx(20.0, abs=0.5)
    # The same bytes twice give the same answer.
    assert analyse(sandbox, data).json() == analyse(sandbox, data).json()


def test_values_follow_what_the_audio_sounds_like(sandbox, previews):
    rows = [(t.character, analyse(sandbox, data).json()) for t, data in previews]
    hidden = lambda name: [getattr(c, name) for c, _ in rows]  # noqa: E731
    seen = lambda name: [r[name] for _, r in rows]  # noqa: E731
    assert spearmanr(hidden("loudness"), seen("loudness"))[0] > 0.9
    assert spearmanr(hidden("energy"), seen("energy"))[0] > 0.4
    assert spearmanr(hidden("acousticness"), seen("acousticness"))[0] > 0.4
    assert np.mean([abs(r["tempo"] / c.tempo - 1) < 0.04 for c, r in rows]) >= 0.6  # a real analyser errs too


def test_only_the_first_30_seconds_are_analysed(sandbox):
    steady = clicks(120, 30.0)
    longer = np.concatenate([steady, clicks(90, 20.0, gain=0.05)])  # quieter, slower tail past 30 s
    assert analyse(sandbox, wav(steady)).json() == analyse(sandbox, wav(longer)).json()
    assert analyse(sandbox, wav(steady)).json()["tempo"] == pytest.approx(120, rel=0.04)


def test_a_file_over_5_mb_is_refused_with_413(sandbox):
    big = wav(clicks(120, 125.0))  # 16-bit mono WAV at 22.05 kHz: about 5.5 MB
    assert len(big) > 5 * 1024 * 1024
    answer = analyse(sandbox, big, filename="big.wav")
    assert answer.status_code == 413 and answer.json()["code"] == 4004


def test_bad_uploads_are_400_in_reccobeats_manner(sandbox):
    not_audio = analyse(sandbox, b"<html>this is not audio</html>", filename="clip.mp3")
    assert not_audio.status_code == 400 and not_audio.json()["code"] == 4002
    silent = analyse(sandbox, wav(np.zeros(22050 * 3)))
    assert silent.status_code == 400
    missing = analyse(sandbox, wav(clicks(120, 2.0)), field="file")
    assert missing.status_code == 400 and missing.json()["code"] == 4001
    assert requests.get(f"{sandbox.reccobeats_url}analysis/audio-features", timeout=10).status_code in (404, 405)


def test_uploads_are_throttled_with_429_and_retry_after(start_sandbox):
    server = start_sandbox(reccobeats_rate_limit=2, reccobeats_rate_window=10)
    data = wav(clicks(120, 2.0))
    answers = [analyse(server, data) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 10
