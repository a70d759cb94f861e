"""Plain-words reasons why a liked song suits one of the user's playlists: what it shares with that playlist.

The chosen Enhance model may be a forest or a network, which has no coefficients to read, so reasons are
model-agnostic: a feature counts when the playlist stands out from the user's liked songs on it and the
track stands out the same way, weighted by how much the model relies on that feature (permutation
importance). The words come from :mod:`app.models.explain`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from app.models.explain import FeatureRef, feature_words
from app.models.features import FeatureSpec
from app.pipeline.providers import PROVIDER_CLASSES

#: A playlist (or a track) "stands out" on a number when it is this many standard deviations from the library.
STANDS_OUT_SD = 0.3
#: A category counts when the playlist has this much more of it than the library does.
CATEGORY_LIFT = 0.1
TOP = 3
FALLBACK = "close to the playlist's overall sound"


def bare_name(column: str) -> str:
    """``reccobeats_tempo`` -> ``tempo``: the feature without the provider that measured it."""
    # Longest provider first: `reccobeats_audio_tempo` belongs to reccobeats_audio, not reccobeats.
    for provider in sorted(PROVIDER_CLASSES, key=len, reverse=True):
        if column.startswith(f"{provider}_") and len(column) > len(provider) + 1:
            return column[len(provider) + 1:]
    return column


class PlaylistProfile:
    """How one playlist differs from the user's liked songs, ready to explain single tracks.

    Parameters
    ----------
    library : DataFrame
        Features of the liked songs (the reference), columns ``spec.columns``.
    members : DataFrame
        Features of the playlist's tracks.
    spec : FeatureSpec
    weights : mapping of column to float, optional
        How much the model relies on each column (negative values count as zero).
    """

    def __init__(self, library: pd.DataFrame, members: pd.DataFrame, spec: FeatureSpec,
                 weights: Mapping[str, float] | None = None) -> None:
        self.spec = spec
        numeric = list(spec.numeric)
        self.mean = library[numeric].mean()
        self.std = library[numeric].std().replace(0, np.nan)
        self.playlist_z = (members[numeric].median() - self.mean) / self.std
        self.top_category = {}
        for column in spec.categorical:
            shares = members[column].dropna().map(_category).value_counts(normalize=True)
            if shares.empty:
                continue
            value, share = shares.index[0], float(shares.iloc[0])
            known = library[column].dropna().map(_category)
            base = float((known == value).mean()) if len(known) else 0.0
            if share - base >= CATEGORY_LIFT:
                self.top_category[column] = (value, share)
        raw = {c: max(float((weights or {}).get(c, 0.0)), 0.0) for c in spec.columns}
        # A small floor, so a feature the importance missed on a small holdout can still explain.
        self.weights = {c: w + 0.01 for c, w in raw.items()}

    def reasons(self, track: pd.Series, top: int = TOP) -> list[str]:
        """Up to ``top`` sentences on what the track shares with the playlist, strongest first."""
        scored: list[tuple[float, str]] = []
        for column in self.spec.numeric:
            value, zp = track.get(column), self.playlist_z.get(column)
            if value is None or pd.isna(value) or zp is None or pd.isna(zp) or abs(zp) < STANDS_OUT_SD:
                continue
            zt = (value - self.mean[column]) / self.std[column]
            if pd.isna(zt) or np.sign(zt) != np.sign(zp) or abs(zt) < STANDS_OUT_SD:
                continue
            words = feature_words(FeatureRef("numeric", bare_name(column)), high=zp > 0, raw=float(value))
            scored.append((self.weights[column] * min(abs(zt), abs(zp)), f"{words}, like the playlist"))
        for column, (value, share) in self.top_category.items():
            if _category(track.get(column)) != value:
                continue
            words = feature_words(FeatureRef("category", column, value))
            scored.append((self.weights[column] * 2 * share, f"{words}, like {share:.0%} of the playlist"))
        scored.sort(key=lambda item: -item[0])
        return [text for _, text in scored[:top]] or [FALLBACK]


def _category(value) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def profiles(library: pd.DataFrame, members: Mapping[str, Sequence[int]], spec: FeatureSpec,
             weights: Mapping[str, float] | None = None) -> dict[str, PlaylistProfile]:
    """One profile per playlist key; ``members`` lists the track ids (index of ``library``) of each."""
    return {key: PlaylistProfile(library, library.loc[[t for t in ids if t in library.index]], spec, weights)
            for key, ids in members.items()}
