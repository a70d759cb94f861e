"""Plain-words descriptions of model features, coefficients and per-track assignments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from app.models import tag_words
from app.models.features import FeatureSpec

# (word when high, word when low) for the audio features Spotify and its stand-ins provide.
NUMERIC_WORDS = {
    "energy": ("high energy", "low energy"),
    "danceability": ("danceable", "hard to dance to"),
    "valence": ("cheerful", "melancholic"),
    "acousticness": ("acoustic", "not acoustic"),
    "instrumentalness": ("instrumental", "with vocals"),
    "speechiness": ("lots of spoken words", "little speech"),
    "liveness": ("live recording", "studio recording"),
    "loudness": ("loud", "quiet"),
    "tempo": ("fast tempo", "slow tempo"),
    "duration_ms": ("long track", "short track"),
    "track_popularity": ("popular", "little known"),
    "popularity": ("popular", "little known"),
    # Deezer's metadata.
    "bpm": ("fast tempo", "slow tempo"),
    "gain": ("loud", "quiet"),
    "rank": ("popular", "little known"),
    "duration_s": ("long track", "short track"),
    "explicit": ("explicit lyrics", "clean lyrics"),
    "release_year": ("recent", "older"),
    "album_release_year": ("recent", "older"),
    # Descriptors measured on the 30-second preview (app/pipeline/audio_features.py).
    "rms_mean": ("loud", "quiet"),
    "rms_std": ("loud and soft passages", "even loudness"),
    "loudness_db": ("loud", "quiet"),
    "spectral_centroid": ("bright sound", "dark, warm sound"),
    "spectral_bandwidth": ("full, wide sound", "narrow, focused sound"),
    "spectral_rolloff": ("lots of treble", "little treble"),
    "spectral_flatness": ("noisy, percussive texture", "tonal, melodic texture"),
    "zero_crossing_rate": ("crisp, hissy sound", "smooth sound"),
    "onset_strength": ("strong, punchy beats", "soft beats"),
    "key_strength": ("clearly in one key", "no clear key"),
    "key_clarity": ("clearly in one key", "no clear key"),
    "tempo_confidence": ("steady, clear beat", "loose or changing beat"),
    # The first two MFCCs read as overall level and spectral tilt; the rest have no everyday name.
    "mfcc1_mean": ("loud, full sound", "soft, thin sound"),
    "mfcc2_mean": ("warm, bass-rich sound", "bright, treble-rich sound"),
}

#: Prefixes the feature table puts before each provider's values (see app/pipeline/features_table.py).
PROVIDER_PREFIXES = ("preview_", "deezer_", "spotify_", "reccobeats_audio_", "reccobeats_", "musicnn_")  # longest first

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

_INFREQUENT = "infrequent_sklearn"


@dataclass(frozen=True)
class FeatureRef:
    """What one column of the preprocessed matrix stands for.

    ``kind`` is "numeric", "missing" (a missing-value indicator) or "category"; ``value`` is the
    category (None for the grouped rare categories, and for the other kinds).
    """

    kind: str
    column: str
    value: str | None = None


def parse_feature_names(names, spec: FeatureSpec) -> list[FeatureRef]:
    """Map the ColumnTransformer's output names (``num__energy``, ``cat__key_5``) to features."""
    refs = []
    # Longest names first, so "time_signature_4" is not read as column "time" value "signature_4".
    categorical = sorted(spec.categorical, key=len, reverse=True)
    for name in names:
        block, _, rest = str(name).partition("__")
        if block == "num":
            if rest.startswith("missingindicator_"):
                refs.append(FeatureRef("missing", rest.removeprefix("missingindicator_")))
            else:
                refs.append(FeatureRef("numeric", rest))
            continue
        column = next(c for c in categorical if rest.startswith(c + "_"))
        value = rest[len(column) + 1:]
        refs.append(FeatureRef("category", column, None if value == _INFREQUENT else value))
    return refs


def _category_words(column: str, value: str | None) -> str:
    if value is None:
        return f"uncommon {column.replace('_', ' ')}"
    if value == "missing":
        return f"{column.replace('_', ' ')} unknown"
    if column in ("genre", "genres"):
        return f"{value[:1].upper()}{value[1:]} genre"
    if column == "mode":
        return {"1": "major key", "0": "minor key"}.get(value, f"mode {value}")
    if column == "key":
        if value.lstrip("-").isdigit() and 0 <= int(value) < 12:
            return f"key of {PITCH_CLASSES[int(value)]}"
        return "no clear key"
    if column == "time_signature":
        return f"{value}/4 time"
    if column == "decade":
        return f"from the {value}"
    return f"{column.replace('_', ' ')} {value}"


def base_name(column: str) -> str:
    """The feature's own name without the provider prefix ("preview_tempo" -> "tempo")."""
    for prefix in PROVIDER_PREFIXES:
        if column.startswith(prefix):
            return column[len(prefix):]
    return column


def _value_words(column: str, high: bool, raw: float | None) -> str:
    """A numeric feature in words, with its value where the unit says more than high/low."""
    if tag_words.is_tag(column):
        return tag_words.tag_value_words(column, high)
    name = base_name(column)
    if raw is not None and not pd.isna(raw):
        if name in ("tempo", "bpm"):
            return f"{raw:.0f} BPM"
        if name in ("duration_ms", "duration_s"):
            seconds_total = raw / 1000 if name == "duration_ms" else raw
            minutes, seconds = divmod(int(round(seconds_total)), 60)
            return f"{'long' if high else 'short'} ({minutes}:{seconds:02d})"
        if name in ("loudness", "loudness_db", "gain"):
            return f"{'loud' if high else 'quiet'} ({raw:.0f} dB)"
        if name in ("release_year", "album_release_year"):
            return f"released {raw:.0f}"
    if name in NUMERIC_WORDS:
        high_word, low_word = NUMERIC_WORDS[name]
    elif name.startswith("mfcc"):
        # MFCC 3-13 describe the sound's colour (timbre) in ways that have no everyday words.
        _band, _, stat = name[4:].partition("_")
        if stat == "std":
            high_word, low_word = "changing sound colour", "steady sound colour"
        else:
            high_word = low_word = "its sound colour"
    else:
        spaced = name.replace("_", " ")
        high_word, low_word = f"high {spaced}", f"low {spaced}"
    return high_word if high else low_word


def _missing_words(column: str) -> str:
    if column.startswith("preview_"):
        return "no preview to analyse"  # every preview descriptor is missing together
    return f"{base_name(column).replace('_', ' ')} unknown"


def feature_words(ref: FeatureRef, *, high: bool = True, raw: float | None = None) -> str:
    """One feature in plain words.

    Parameters
    ----------
    ref : FeatureRef
    high : bool
        For numeric features, whether the value is above the training mean; for the other kinds,
        False describes the feature's absence ("not Dance genre").
    raw : float, optional
        The track's unscaled value, shown where it reads naturally ("128 BPM").
    """
    if ref.kind == "numeric":
        return _value_words(ref.column, high, raw)
    words = (_missing_words(ref.column) if ref.kind == "missing"
             else _category_words(ref.column, ref.value))
    return words if high else f"not {words}"


def coefficient_words(coef: np.ndarray, refs: list[FeatureRef], top: int = 5) -> dict[str, list]:
    """The strongest coefficients of one context, pointing towards it ("for") and away ("against").

    A numeric feature with a negative coefficient points towards the context when it is low, so it
    is listed under "for" as "low energy" when it is among the strongest; likewise a positive one
    under "against" reads "low ...". Categories and missing indicators use "not ..." for absence.
    """
    order = np.argsort(-np.abs(coef))
    towards, away = [], []
    for j in order:
        if coef[j] == 0:
            break
        ref = refs[j]
        weight = round(float(coef[j]), 3)
        if ref.kind == "numeric":
            towards.append({"feature": feature_words(ref, high=coef[j] > 0), "weight": weight})
        elif coef[j] > 0:
            towards.append({"feature": feature_words(ref), "weight": weight})
        else:
            away.append({"feature": feature_words(ref), "weight": weight})
        if len(towards) >= top and len(away) >= top:
            break
    return {"for": towards[:top], "against": away[:top]}


@dataclass(frozen=True)
class ReasonColumns:
    """What each column of the preprocessed matrix may say in a reason, worked out once per model for all its tracks."""

    tag: np.ndarray        # a tag probability ("sounds chill"), numeric
    embedding: np.ndarray  # a learned dimension: never a reason
    missing: np.ndarray    # a missing-value indicator

    @classmethod
    def of(cls, refs: list[FeatureRef]) -> ReasonColumns:
        return cls(tag=np.array([r.kind == "numeric" and tag_words.is_tag(r.column) for r in refs], dtype=bool),
                   embedding=np.array([tag_words.is_embedding(r.column) for r in refs], dtype=bool),
                   missing=np.array([r.kind == "missing" for r in refs], dtype=bool))


class RowValues:
    """One row of a table kept as column arrays, read by column name as a dict of the row would be (``get``)."""

    __slots__ = ("columns", "row")

    def __init__(self, columns: Mapping[str, np.ndarray], row: int) -> None:
        self.columns, self.row = columns, row

    def get(self, column: str, default: Any = None) -> Any:
        values = self.columns.get(column)
        if values is None:
            return default
        value = values[self.row]
        return value.item() if isinstance(value, np.generic) else value  # a Python number, as pandas' to_dict gives


def assignment_reasons(
    contributions: np.ndarray, scaled: np.ndarray, raw: Mapping[str, Any], refs: list[FeatureRef],
    top: int = 3, columns: ReasonColumns | None = None,
) -> list[str]:
    """The features that pushed one track most towards one context, in words.

    Parameters
    ----------
    contributions : ndarray of shape (n_features,)
        Coefficient times the track's preprocessed value.
    scaled : ndarray of shape (n_features,)
        The track's preprocessed values (sign of a numeric one: above or below the training mean).
    raw : mapping
        The track's unscaled numeric values by column (only ``get`` is used).
    refs : list of FeatureRef
    top : int
    columns : ReasonColumns, optional
        ``ReasonColumns.of(refs)``, passed by callers that explain many tracks with the same refs.
    """
    columns = columns if columns is not None else ReasonColumns.of(refs)
    reasons: list[str] = []
    order = np.argsort(-contributions)
    order = order[contributions[order] > 0]
    above = scaled[order] > 0
    # The tags that stand out for the track (above the training mean, pushing towards the context) make one
    # reason, "sounds chill, mellow, acoustic", where the first of them ranks.
    tags = [refs[j].column for j in order[columns.tag[order] & above]]
    # A learned dimension has no words, and "the value is present" explains nothing to a listener.
    speaks = ~columns.embedding[order] & ~(columns.missing[order] & ~above)
    for j, high in zip(order[speaks].tolist(), above[speaks].tolist()):
        if len(reasons) == top:
            break
        ref = refs[j]
        if columns.tag[j] and high:
            words = tag_words.sounds_like(tags)
        else:
            words = feature_words(ref, high=high, raw=raw.get(ref.column))
        if words not in reasons:  # preview tempo and Deezer's bpm can both say "128 BPM"
            reasons.append(words)
    return reasons
