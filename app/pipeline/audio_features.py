"""Audio descriptors of a preview clip (tempo, loudness, timbre, tuning, key, chroma) computed locally with librosa."""

from __future__ import annotations

import functools
import io

import librosa
import numpy as np
import scipy.signal
import soundfile as sf
from threadpoolctl import threadpool_limits

ANALYSIS_SR = 22050
N_FFT, HOP = 2048, 512
TEMPO_RANGE = (60.0, 200.0)
# Pulses are searched up to twice the top tempo, to catch eighth-note subdivisions; 0.1 BPM steps.
_PULSE_GRID = np.arange(TEMPO_RANGE[0], 2 * TEMPO_RANGE[1] + 0.05, 0.1)
_MAX_MULTIPLE = 12          # beat-period multiples the comb looks at
_MAX_LAG_SECONDS = 12.0
_TEMPOGRAM_WINDOW = 384     # librosa's default: about 8.9 s of onset envelope per local estimate
_TEMPOGRAM_STEP = 8
# Metrical relatives of the clearest pulse that may be the beat: octaves, and thirds for triple meters.
_LEVELS = (1, 1 / 2, 1 / 4, 1 / 8, 2, 1 / 3, 2 / 3, 1 / 6, 3 / 2, 4 / 3, 3 / 4)
_LEVEL_TOLERANCE = 0.06     # in natural log units: the tempogram's lag resolution near 120 BPM

# Albrecht & Shanahan (2013) key profiles, tonic first. On emotify_dev they made the two halves of a clip
# agree on the key more often than Krumhansl-Kessler's (0.61 against 0.54 with the same chroma).
_KEY_MAJOR = np.array([.238, .006, .111, .006, .137, .094, .016, .214, .009, .080, .008, .081])
_KEY_MINOR = np.array([.220, .006, .104, .123, .019, .103, .012, .214, .062, .022, .061, .052])
PITCH_CLASSES = ("c", "cs", "d", "ds", "e", "f", "fs", "g", "gs", "a", "as", "b")
_TUNING_FRAME_STEP = 4      # tuning is a property of the whole clip: every 4th frame is plenty


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """Decode an audio file (MP3, WAV, FLAC, OGG) to mono float32 (read-only) and its sample rate.

    The last clip decoded in this process is kept: the audio providers of a worker read the same file's
    bytes one after the other (`flask analyse-audio`), and decoding a 30-s MP3 (about 27 ms of CPU)
    is then done once, not once per provider. The samples are read-only so no caller can change what
    the next one gets.
    """
    return _decode(data)


@functools.lru_cache(maxsize=1)
def _decode(data: bytes) -> tuple[np.ndarray, int]:
    y, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    # Summing the channel columns equals y.mean(axis=1) but is ~10x faster: numpy's reduction along
    # a short inner axis is slow, and a 30-s stereo clip spent more time there than in decoding.
    mono = y[:, 0].copy()
    for channel in range(1, y.shape[1]):
        mono += y[:, channel]
    if y.shape[1] > 1:
        mono /= y.shape[1]
    mono.flags.writeable = False
    return mono, int(sr)


def analyse_audio(y: np.ndarray, sr: int) -> dict[str, float]:
    """Descriptors of a mono clip: tempo and its confidence, level, spectral shape, onset strength, tuning,
    key/mode with strength and clarity, per-pitch-class chroma mean/std, and MFCC stats.

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
    mel_fb, freqs = _filterbanks(sr)
    # Plain matrix products over one shared spectrogram: several times faster than librosa's
    # per-feature helpers, which each recompute or einsum their way through it.
    mel_db = librosa.power_to_db(mel_fb @ power)
    onset = librosa.onset.onset_strength(S=mel_db, sr=sr, hop_length=HOP)
    # Tuning before chroma: a recording pitched a quarter-tone off A440 (baroque, old tapes) would
    # otherwise smear between neighbouring pitch classes and read a semitone off.
    tuning = estimate_tuning(mag[:, ::_TUNING_FRAME_STEP], freqs, sr)
    chroma = _chroma_filterbank(sr, round(tuning, 2)) @ mag
    chroma /= np.maximum(chroma.max(axis=0, keepdims=True), 1e-10)
    # Log compression keeps one loud sustained note from outvoting the harmony (key halves: 0.56 -> 0.61).
    key, mode, key_strength, key_clarity = estimate_key(np.log1p(100 * chroma).mean(axis=1))
    tempo, tempo_confidence = estimate_tempo(onset, sr / HOP)
    rms = np.sqrt((2 * power[1:-1].sum(axis=0) + power[0] + power[-1]) / N_FFT ** 2)
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=13)

    feats = {
        "tempo": tempo,
        "tempo_confidence": tempo_confidence,
        "rms_mean": float(rms.mean()),
        "rms_std": float(rms.std()),
        "loudness_db": float(10 * np.log10(np.mean(y.astype(np.float64) ** 2) + 1e-12)),
        **_spectral_shape(mag, power, freqs),
        "zero_crossing_rate": float(np.mean(np.signbit(y[1:]) != np.signbit(y[:-1]))),
        "onset_strength": float(onset.mean()),
        "key": float(key),
        "mode": float(mode),
        "key_strength": key_strength,
        "key_clarity": key_clarity,
        "tuning": round(tuning, 3),
    }
    chroma_mean, chroma_std = chroma.mean(axis=1), chroma.std(axis=1)
    for i, name in enumerate(PITCH_CLASSES):
        feats[f"chroma_{name}_mean"] = float(chroma_mean[i])
        feats[f"chroma_{name}_std"] = float(chroma_std[i])
    for i in range(13):
        feats[f"mfcc{i + 1}_mean"] = float(mfcc[i].mean())
        feats[f"mfcc{i + 1}_std"] = float(mfcc[i].std())
    return feats


@functools.lru_cache(maxsize=4)
def _filterbanks(sr: int) -> tuple[np.ndarray, np.ndarray]:
    mel_fb = librosa.filters.mel(sr=sr, n_fft=N_FFT, n_mels=96).astype(np.float32)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=N_FFT).astype(np.float32)
    return mel_fb, freqs


@functools.lru_cache(maxsize=128)
def _chroma_filterbank(sr: int, tuning: float) -> np.ndarray:
    """Chroma filters shifted by `tuning` (fractions of a semitone, rounded to 0.01: 101 possible banks)."""
    return librosa.filters.chroma(sr=sr, n_fft=N_FFT, tuning=tuning).astype(np.float32)


def estimate_tuning(mag: np.ndarray, freqs: np.ndarray, sr: int) -> float:
    """Deviation of the clip's tuning from A440 in fractions of a semitone (-0.5 to 0.5).

    librosa.estimate_tuning's method (piptrack's parabolic-interpolated spectral peaks between 150 Hz and
    4 kHz, the stronger half of them, then pitch_tuning's histogram), written in numpy: librosa's version
    runs a numba gufunc that crashes the process with this stack's numba and numpy.
    """
    band = (freqs >= 150.0) & (freqs < 4000.0)
    band[0] = band[-1] = False
    idx = np.flatnonzero(band)
    s, left, right = mag[idx], mag[idx - 1], mag[idx + 1]
    peak = (s > left) & (s >= right) & (s > 0.1 * mag.max(axis=0, keepdims=True))
    curvature = 2 * s - left - right
    shift = np.divide(0.5 * (right - left), curvature, out=np.zeros_like(s), where=curvature > 0)
    rows, cols = np.nonzero(peak)
    if rows.size == 0:
        return 0.0
    strength = s[rows, cols]
    keep = strength >= np.median(strength)
    hz = (idx[rows[keep]] + shift[rows[keep], cols[keep]]) * sr / N_FFT
    return float(librosa.pitch_tuning(hz, resolution=0.01, bins_per_octave=12))


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


def estimate_tempo(onset: np.ndarray, frame_rate: float) -> tuple[float, float]:
    """(tempo in BPM within 60-200, confidence 0-1) from an onset-strength envelope.

    Two questions, answered by two kinds of evidence:
    1. Which pulses are there, precisely? Each candidate period is scored by the autocorrelation at its
       multiples (the comb) minus the positive autocorrelation half a period later (its off-beats); many
       multiples give sub-percent precision. The clearest pulse is often the tatum (eighth-note hi-hats).
    2. Which metrical level is the beat? Octave errors (t against 2t or t/2) were the main way two halves
       of one real recording disagreed. The level is taken from librosa's tempogram weighted by its
       log-normal prior over tempo (centred on 120 BPM, one octave wide): the pulse's multiple or fraction
       nearest to that estimate, else the clearest pulse near the estimate itself.
    The confidence is the share of the clip's local tempo estimates that agree with the result (within
    8%, the tempogram's resolution): low when the clip changes tempo or the level is ambiguous.
    """
    x = onset - onset.mean()
    if not np.any(x):
        return 0.0, 0.0
    n = len(x)
    spec = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(spec * np.conj(spec))[:n]
    acf = acf / acf[0]
    max_lag = min(n - 2, _MAX_LAG_SECONDS * frame_rate)
    score = _pulse_scores(acf, 60.0 * frame_rate / _PULSE_GRID, max_lag)
    pulse = float(_PULSE_GRID[int(np.argmax(score))])

    hop = int(round(ANALYSIS_SR / frame_rate))
    tempogram = _tempogram(onset)
    level = float(librosa.feature.tempo(tg=tempogram, sr=ANALYSIS_SR, hop_length=hop)[0])
    local = librosa.feature.tempo(tg=tempogram, sr=ANALYSIS_SR, hop_length=hop, aggregate=None)
    if not level > 0:   # no periodicity at all in the tempogram: the pulse is all there is
        level = pulse
    candidates = [pulse * f for f in _LEVELS if TEMPO_RANGE[0] <= pulse * f <= TEMPO_RANGE[1]]
    nearest = min(candidates, key=lambda c: abs(np.log(c / level)), default=None)
    if nearest is not None and abs(np.log(nearest / level)) <= _LEVEL_TOLERANCE:
        tempo = nearest
    else:   # no pulse at that level: the clearest pulse within the tempogram's resolution of it
        near = np.abs(np.log(_PULSE_GRID / max(level, 1e-6))) <= _LEVEL_TOLERANCE
        tempo = float(_PULSE_GRID[near][np.argmax(score[near])]) if near.any() else level
    while tempo > TEMPO_RANGE[1]:
        tempo /= 2
    while 0 < tempo < TEMPO_RANGE[0]:
        tempo *= 2
    confidence = float(np.mean(np.abs(np.log(np.maximum(local, 1e-6) / tempo)) <= np.log(1.08)))
    return round(tempo, 2), round(confidence, 3)


def _tempogram(onset: np.ndarray) -> np.ndarray:
    """librosa.feature.tempogram (Hann-windowed local autocorrelation, max-normalised), every 8th frame.

    librosa computes a window around every frame; only their mean and a confidence are used here, for
    which every 8th window is as good and eight times cheaper.
    """
    width = min(_TEMPOGRAM_WINDOW, len(onset))
    padded = np.pad(onset, (width // 2, width // 2), mode="linear_ramp", end_values=[0, 0])
    frames = librosa.util.frame(padded, frame_length=width, hop_length=_TEMPOGRAM_STEP)
    local = librosa.autocorrelate(frames * scipy.signal.get_window("hann", width, fftbins=True)[:, None], axis=0)
    return librosa.util.normalize(local, norm=np.inf, axis=0)


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


def estimate_key(chroma_mean: np.ndarray) -> tuple[int, int, float, float]:
    """(key 0-11, mode 1 major / 0 minor, correlation, clarity) by profile matching (Krumhansl-Schmuckler).

    Clarity is how far the best of the 24 keys stands above the runner-up (0 = a tie, ambiguous key).
    """
    if not np.any(chroma_mean) or np.ptp(chroma_mean) == 0:
        return 0, 1, 0.0, 0.0
    scores = []
    for tonic in range(12):
        rotated = np.roll(chroma_mean, -tonic)
        for mode, profile in ((1, _KEY_MAJOR), (0, _KEY_MINOR)):
            scores.append((float(np.corrcoef(rotated, profile)[0, 1]), tonic, mode))
    scores.sort(reverse=True)
    (best, tonic, mode), runner_up = scores[0], scores[1][0]
    return tonic, mode, best, round(best - runner_up, 4)
