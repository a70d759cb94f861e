"""Audio descriptors of a preview clip (tempo, loudness, timbre, key) computed locally with librosa."""

from __future__ import annotations

import functools
import io

import librosa
import numpy as np
import soundfile as sf
from threadpoolctl import threadpool_limits

ANALYSIS_SR = 22050
N_FFT, HOP = 2048, 512
TEMPO_RANGE = (60.0, 200.0)
# Pulses are searched up to twice the top tempo, to catch eighth-note subdivisions; 0.1 BPM steps.
_PULSE_GRID = np.arange(TEMPO_RANGE[0], 2 * TEMPO_RANGE[1] + 0.05, 0.1)
_MAX_MULTIPLE = 12          # beat-period multiples the comb looks at
_MAX_LAG_SECONDS = 12.0
_ACCENT_CONTRAST = 0.15     # relative accent of every second pulse that makes it the beat

# Krumhansl-Kessler key profiles (tonic first).
_KS_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_KS_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """Decode an audio file (MP3, WAV, FLAC, OGG) to mono float32 and its sample rate."""
    y, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return y.mean(axis=1), int(sr)


def analyse_audio(y: np.ndarray, sr: int) -> dict[str, float]:
    """Descriptors of a mono clip: tempo, level, spectral shape, onset strength, key/mode and MFCC stats.

    Runs BLAS single-threaded: the matrices are small, and clips are analysed in parallel by worker
    processes, where multi-threaded BLAS only oversubscribes the cores (measured 4x slower).
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _analyse(y, sr)


def _analyse(y: np.ndarray, sr: int) -> dict[str, float]:
    y = np.asarray(y, dtype=np.float32)
    if sr != ANALYSIS_SR:   # one analysis rate keeps descriptors comparable across sources
        y = librosa.resample(y, orig_sr=sr, target_sr=ANALYSIS_SR, res_type="soxr_mq")
        sr = ANALYSIS_SR
    if len(y) < N_FFT:
        y = np.pad(y, (0, N_FFT - len(y)))
    mag = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    power = mag ** 2
    mel_fb, chroma_fb, freqs = _filterbanks(sr)
    # Plain matrix products over one shared spectrogram: several times faster than librosa's
    # per-feature helpers, which each recompute or einsum their way through it.
    mel_db = librosa.power_to_db(mel_fb @ power)
    onset = librosa.onset.onset_strength(S=mel_db, sr=sr, hop_length=HOP)
    chroma = chroma_fb @ power
    chroma /= np.maximum(chroma.max(axis=0, keepdims=True), 1e-10)
    key, mode, key_strength = estimate_key(chroma.mean(axis=1))
    rms = np.sqrt((2 * power[1:-1].sum(axis=0) + power[0] + power[-1]) / N_FFT ** 2)
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=13)

    feats = {
        "tempo": estimate_tempo(onset, sr / HOP),
        "rms_mean": float(rms.mean()),
        "rms_std": float(rms.std()),
        "loudness_db": float(10 * np.log10(np.mean(y.astype(np.float64) ** 2) + 1e-12)),
        **_spectral_shape(mag, power, freqs),
        "zero_crossing_rate": float(np.mean(np.signbit(y[1:]) != np.signbit(y[:-1]))),
        "onset_strength": float(onset.mean()),
        "key": float(key),
        "mode": float(mode),
        "key_strength": key_strength,
    }
    for i in range(13):
        feats[f"mfcc{i + 1}_mean"] = float(mfcc[i].mean())
        feats[f"mfcc{i + 1}_std"] = float(mfcc[i].std())
    return feats


@functools.lru_cache(maxsize=4)
def _filterbanks(sr: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mel_fb = librosa.filters.mel(sr=sr, n_fft=N_FFT, n_mels=96).astype(np.float32)
    chroma_fb = librosa.filters.chroma(sr=sr, n_fft=N_FFT, tuning=0.0).astype(np.float32)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=N_FFT).astype(np.float32)
    return mel_fb, chroma_fb, freqs


def _spectral_shape(mag: np.ndarray, power: np.ndarray, freqs: np.ndarray) -> dict[str, float]:
    """Frame means of spectral centroid, bandwidth, 85% rolloff and flatness (librosa's definitions)."""
    total = np.maximum(mag.sum(axis=0), 1e-10)
    centroid = (freqs @ mag) / total
    spread = ((freqs[:, None] - centroid[None, :]) ** 2 * mag).sum(axis=0) / total
    cumulative = np.cumsum(mag, axis=0)
    rolloff = freqs[np.argmax(cumulative >= 0.85 * cumulative[-1:], axis=0)]
    floored = np.maximum(power, 1e-10)
    flatness = np.exp(np.log(floored).mean(axis=0)) / floored.mean(axis=0)
    return {"spectral_centroid": float(centroid.mean()), "spectral_bandwidth": float(np.sqrt(spread).mean()),
            "spectral_rolloff": float(rolloff.mean()), "spectral_flatness": float(flatness.mean())}


def estimate_tempo(onset: np.ndarray, frame_rate: float) -> float:
    """Tempo in BPM within 60-200 from an onset-strength envelope, robust to octave errors.

    1. Find the clearest pulse: each candidate period is scored by the autocorrelation at its
       multiples (the comb) minus the positive autocorrelation half a period later (its off-beats).
       A real pulse has strong multiples and empty gaps; half of it has beats in its gaps, and
       periods like 1.5 beats miss half their multiples. Many multiples give sub-percent precision.
    2. That pulse is often the tatum (eighth-note hi-hats): halve it into range, then take the next
       slower level when every other pulse is clearly accented (beats stronger than off-beats).
    """
    x = onset - onset.mean()
    if not np.any(x):
        return 0.0
    n = len(x)
    spec = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(spec * np.conj(spec))[:n]
    acf = acf / acf[0]
    max_lag = min(n - 2, _MAX_LAG_SECONDS * frame_rate)
    score = _pulse_scores(acf, 60.0 * frame_rate / _PULSE_GRID, max_lag)
    tempo = float(_PULSE_GRID[int(np.argmax(score))])
    while tempo > TEMPO_RANGE[1]:
        tempo /= 2
    if tempo / 2 >= TEMPO_RANGE[0] and _alternation(acf, 60.0 * frame_rate / tempo, max_lag) > _ACCENT_CONTRAST:
        tempo /= 2
    return round(tempo, 2)


def _alternation(acf: np.ndarray, period: float, max_lag: float) -> float:
    """How much stronger every second pulse is than the ones between (0 = all alike).

    Compares the autocorrelation peak at multiples 2, 6, 10... of the period with the mean of its odd
    neighbours, which cancels the decay of the autocorrelation with lag. Multiples of 4 are left out
    because bar accents (chord changes, downbeats) raise them in 4/4 without making every second pulse
    a beat. Peaks are read as the maximum within a frame either side: interpolating between frames
    would underrate lags that fall between two frames.
    """
    def peak(lag: float) -> float:
        i = int(round(lag))
        return float(acf[max(i - 1, 0):i + 2].max())

    evens = [k for k in range(2, _MAX_MULTIPLE, 4) if (k + 1) * period <= max_lag]
    if not evens:
        return 0.0
    even = np.array([peak(k * period) for k in evens])
    odd = np.array([(peak((k - 1) * period) + peak((k + 1) * period)) / 2 for k in evens])
    return float((even - odd).mean() / even.mean()) if even.mean() > 0 else 0.0


def _pulse_scores(acf: np.ndarray, periods: np.ndarray, max_lag: float) -> np.ndarray:
    """Comb-minus-off-beat salience of each candidate period (in frames)."""
    k = np.arange(1, _MAX_MULTIPLE + 1)
    on_lags = periods[:, None] * k[None, :]
    off_lags = periods[:, None] * (k[None, :] - 0.5)
    valid = on_lags <= max_lag
    lag_axis = np.arange(len(acf))
    on = np.interp(np.minimum(on_lags, max_lag), lag_axis, acf)
    # Only positive off-beat correlation counts against a period: silence between beats (negative
    # correlation) must not reward periods whose "off-beats" fall in the gaps.
    off = np.maximum(np.interp(np.minimum(off_lags, max_lag), lag_axis, acf), 0.0)
    return ((on - off) * valid).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)


def estimate_key(chroma_mean: np.ndarray) -> tuple[int, int, float]:
    """(key 0-11, mode 1 major / 0 minor, correlation) by Krumhansl-Schmuckler profile matching."""
    if not np.any(chroma_mean):
        return 0, 1, 0.0
    best = (-2.0, 0, 1)
    for tonic in range(12):
        rotated = np.roll(chroma_mean, -tonic)
        for mode, profile in ((1, _KS_MAJOR), (0, _KS_MINOR)):
            r = float(np.corrcoef(rotated, profile)[0, 1])
            if r > best[0]:
                best = (r, tonic, mode)
    return best[1], best[2], best[0]
