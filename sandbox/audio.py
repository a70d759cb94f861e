"""Synthesised 30-second preview MP3s whose tempo, key, loudness and timbre follow a track's hidden character."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict

import numpy as np
import soundfile as sf

from sandbox.model import Character, Track

# Chord progressions as (root offset from the tonic in semitones, chord quality), one chord per bar.
# Minor keys use the harmonic-minor V (raised leading tone) and every bar keeps the tonic in the bass,
# so a chroma key estimate separates a key from its relative major/minor.
_MAJOR_PROGRESSIONS = (((0, "maj"), (5, "maj"), (7, "maj"), (0, "maj")),
                       ((0, "maj"), (9, "min"), (5, "maj"), (7, "maj")))
_MINOR_PROGRESSIONS = (((0, "min"), (5, "min"), (7, "maj"), (0, "min")),
                       ((0, "min"), (8, "maj"), (5, "min"), (7, "maj")))
_TRIADS = {"maj": (0, 4, 7), "min": (0, 3, 7)}



class _ClipCache:
    """A thread-safe LRU of rendered clips, bounded by their total size in bytes."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.size = 0
        self.clips: OrderedDict[tuple[int, float, int], bytes] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[int, float, int]) -> bytes | None:
        with self.lock:
            if key in self.clips:
                self.clips.move_to_end(key)
                return self.clips[key]
            return None

    def put(self, key: tuple[int, float, int], data: bytes) -> None:
        with self.lock:
            if key in self.clips:
                return
            self.clips[key] = data
            self.size += len(data)
            while self.size > self.max_bytes and len(self.clips) > 1:
                self.size -= len(self.clips.popitem(last=False)[1])


_clips = _ClipCache(64 * 1024 * 1024)  # about 300 thirty-second clips


def render_preview(track: Track, seconds: float = 30.0, sample_rate: int = 22050) -> bytes:
    """The track's preview as MP3 bytes; deterministic per track, served from a bounded LRU cache."""
    key = (track.deezer_id, float(seconds), int(sample_rate))
    data = _clips.get(key)
    if data is None:
        data = encode_mp3(synthesise(track.character, track.deezer_id, seconds, sample_rate), sample_rate)
        _clips.put(key, data)
    return data


def encode_mp3(y: np.ndarray, sample_rate: int) -> bytes:
    """MP3-encode a mono float signal in [-1, 1]."""
    buf = io.BytesIO()
    sf.write(buf, y, sample_rate, format="MP3")
    return buf.getvalue()


def synthesise(ch: Character, seed: int, seconds: float = 30.0, sr: int = 22050) -> np.ndarray:
    """Mono float32 audio: a beat at exactly ch.tempo, chords in ch.key/ch.mode, timbre from acousticness."""
    rng = np.random.default_rng([seed, 0x5EED])
    n = int(round(seconds * sr))
    tempo = float(np.clip(ch.tempo, 40.0, 250.0)) if ch.tempo > 0 else 120.0  # real data has tempo 0
    beat = 60.0 / tempo * sr                          # samples per beat, fractional on purpose
    meter = 3 if ch.time_signature == 3 else 4
    offset = rng.uniform(0, beat)                     # previews start mid-song, not on a downbeat
    n_beats = int((n + offset) // beat) + 2
    beats = np.round(np.arange(n_beats) * beat - offset).astype(int)

    energy = float(np.clip(ch.energy, 0.02, 1.0))
    tonic = ch.key if ch.key >= 0 else int(rng.integers(12))
    progression = (_MAJOR_PROGRESSIONS if ch.mode == 1 else _MINOR_PROGRESSIONS)[int(rng.integers(2))]

    out = np.zeros(n + sr, dtype=np.float64)          # one second of tail room, cut at the end
    _add_harmony(out, beats, meter, tonic, progression, ch, energy, sr)
    _add_drums(out, beats, meter, tonic, ch, energy, sr, rng)
    return _master(out[:n], ch.loudness)


def _midi_hz(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _tone(freq: float, length: int, sr: int, acousticness: float) -> np.ndarray:
    """One note: a plucked, quickly decaying tone blended with a bright sustained synth tone."""
    t = np.arange(length) / sr
    plucked = np.zeros(length)
    synth = np.zeros(length)
    for h in range(1, 9):
        if freq * h > sr / 2.2:
            break
        partial = np.sin(2 * np.pi * freq * h * t)
        # Plucked strings: harmonics fall off steeply and upper ones die faster.
        plucked += partial * np.exp(-t * (2.5 + 1.5 * h)) / h ** 2
        # Saw-like synth: rich, slowly falling harmonics, held.
        synth += partial / h
    attack = np.minimum(1.0, t / 0.008)
    release = np.minimum(1.0, (length - np.arange(length)) / (0.02 * sr))
    synth *= attack * release * 0.6
    return acousticness * plucked + (1 - acousticness) * synth


def _add_harmony(out: np.ndarray, beats: np.ndarray, meter: int, tonic: int, progression: tuple,
                 ch: Character, energy: float, sr: int) -> None:
    """Chords and a tonic bass pedal struck on every beat, evenly, so no beat sounds like an off-beat.

    Energy shifts the balance from harmony to drums rather than adding notes: extra voices (doubled
    roots, thirds or fifths) measurably pulled chroma key estimates towards related keys.
    """
    acoustic = float(np.clip(ch.acousticness, 0, 1))
    cache: dict[tuple[float, int], np.ndarray] = {}

    def note(midi: float, length: int) -> np.ndarray:
        if (midi, length) not in cache:
            cache[(midi, length)] = _tone(_midi_hz(midi), length, sr, acoustic)
        return cache[(midi, length)]

    chord_gain = 0.22 + 0.25 * (1 - energy)           # calm tracks are mostly harmony
    for i in range(len(beats) - 1):
        bar = i // meter
        root, quality = progression[bar % len(progression)]
        start = beats[i]
        length = int(beats[i + 1] - start)
        chord = [60 + (tonic + root + iv) % 12 for iv in _TRIADS[quality]]
        layer = sum(note(m, length) for m in chord) * chord_gain
        _overlay(out, start, 0.5 * note(36 + tonic, length))   # tonic pedal, re-struck with every beat
        if ch.instrumentalness < 0.5:                 # a sung-like line on the chord tones
            melody = note(72 + (tonic + root + _TRIADS[quality][bar % 3]) % 12, length)
            layer = layer + (0.5 - ch.instrumentalness) * 0.8 * melody
        _overlay(out, start, layer)


def _kick(sr: int, tonic: int) -> np.ndarray:
    """A short pitch-swept kick whose tail lands on the tonic (an 808 habit that keeps the chroma clean)."""
    t = np.arange(int(0.16 * sr)) / sr
    end = _midi_hz(28 + tonic % 12)
    freq = end + (110.0 - end) * np.exp(-t / 0.03)
    phase = 2 * np.pi * np.cumsum(freq) / sr
    return np.sin(phase) * np.exp(-t / 0.06)


def _add_drums(out: np.ndarray, beats: np.ndarray, meter: int, tonic: int, ch: Character, energy: float,
               sr: int, rng: np.random.Generator) -> None:
    """Kick and hat on every beat and nothing between beats, so the pulse has no octave ambiguity."""
    kick = _kick(sr, tonic) * (0.6 + 0.6 * energy)
    click_len = int(0.03 * sr)
    click = rng.standard_normal(click_len) * np.exp(-np.arange(click_len) / (0.004 * sr))
    brightness = (1 - float(np.clip(ch.acousticness, 0, 1))) * energy
    hat = click * (0.08 + 0.35 * brightness)
    for i, b in enumerate(beats):
        _overlay(out, b, kick * (1.0 if i % meter == 0 else 0.85))
        _overlay(out, b, hat)


def _overlay(out: np.ndarray, start: int, wave: np.ndarray) -> None:
    lo, hi = max(start, 0), min(start + len(wave), len(out))
    if hi > lo:
        out[lo:hi] += wave[lo - start:hi - start]


def _master(y: np.ndarray, loudness_db: float) -> np.ndarray:
    """Bring the RMS level to the track's loudness, soft-limiting peaks the way mastering does.

    The gain is searched with the limiter in the loop, applied once to the dry mix: limiting an
    already limited signal again would pile up distortion.
    """
    target = 10 ** (float(np.clip(loudness_db, -40, -1)) / 20)
    gain = target / (np.sqrt(np.mean(y ** 2)) or 1.0)
    for _ in range(4):
        out = 0.98 * np.tanh(y * (gain / 0.98))
        gain *= target / (np.sqrt(np.mean(out ** 2)) or 1.0)
    return (0.98 * np.tanh(y * (gain / 0.98))).astype(np.float32)
