"""Discover's data: which catalog tracks a user never saved, and the training rows.

"Never saved" is strict: a catalog row is the user's when it, its canonical row, or any row sharing its
Spotify id, Deezer id, ISRC or normalised title + artist is in any of their collections. The rule is applied
when the ranking is made, when it is shown, and again when the playlist is written (app/services/discover_playlist.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.pipeline.features_table import CATEGORICAL, common_feature_columns, feature_frame
from app.pipeline.matching import normalise, split_title
from app.storage.tables import LibraryItem, Track
from app.storage.ownership import owned

#: Unsaved catalog tracks with features that Discover needs before it trains (negatives and candidates).
DEFAULT_MIN_CATALOG = 50
#: Training tracks per side at most: beyond this the forest's grid search takes long for little gain.
MAX_PER_CLASS = 3000
#: A track is ranked only when it has a value for at least this share of the model's columns.
MIN_FEATURE_SHARE = 0.5
_BATCH = 500


class DiscoverError(ValueError):
    """Discover cannot run or save for this user now; the message says why and what to do, in plain words."""


# ------------------------------------------------------------------------------------- what is saved


def name_key(title: str | None, artist: str | None) -> tuple | None:
    """Title without edition notes, its version words (live, remix...) and the main artist, normalised."""
    base, versions = split_title(title or "")
    artist_key = normalise(artist or "")
    if not base or not artist_key:
        return None
    return base, tuple(sorted(versions)), artist_key


@dataclass
class SavedIndex:
    """Every identifier of every track in a user's collections, so a duplicate catalog row is known as saved."""

    track_ids: set[int] = field(default_factory=set)
    spotify_ids: set[str] = field(default_factory=set)
    deezer_ids: set[int] = field(default_factory=set)
    isrcs: set[str] = field(default_factory=set)
    names: set[tuple] = field(default_factory=set)
    library_ids: set[int] = field(default_factory=set)

    @classmethod
    def for_user(cls, session: Session, user_id: int) -> SavedIndex:
        library = set(session.scalars(owned(LibraryItem, user_id).with_only_columns(LibraryItem.track_id)))
        index = cls(library_ids=library)
        rows = _track_rows(session, Track.id, library)
        # The rows these share a recording with, both ways: their canonical rows, and rows pointing at them.
        related = {r.canonical_id for r in rows if r.canonical_id} | {r.id for r in rows}
        rows += _track_rows(session, Track.id, related - library)
        rows += _track_rows(session, Track.canonical_id, related)
        for row in rows:
            index.add(row)
        return index

    def add(self, row: Any) -> None:
        self.track_ids.add(row.id)
        if row.canonical_id:
            self.track_ids.add(row.canonical_id)
        if row.spotify_id:
            self.spotify_ids.add(row.spotify_id)
        if row.deezer_id:
            self.deezer_ids.add(int(row.deezer_id))
        if row.isrc:
            self.isrcs.add(row.isrc.upper())
        key = name_key(row.title, row.artist)
        if key:
            self.names.add(key)

    def contains(self, row: Any) -> bool:
        """Whether this catalog row (a Track, or a row with its columns) is one of the user's saved recordings."""
        return (row.id in self.track_ids or (row.canonical_id is not None and row.canonical_id in self.track_ids)
                or (row.spotify_id is not None and row.spotify_id in self.spotify_ids)
                or (row.deezer_id is not None and int(row.deezer_id) in self.deezer_ids)
                or (bool(row.isrc) and row.isrc.upper() in self.isrcs)
                or name_key(row.title, row.artist) in self.names)

    def __len__(self) -> int:
        return len(self.library_ids)


_COLUMNS = (Track.id, Track.canonical_id, Track.spotify_id, Track.deezer_id, Track.isrc, Track.title, Track.artist)


def _track_rows(session: Session, column, values: Iterable[Any]) -> list[Any]:
    values = sorted(v for v in set(values) if v is not None)
    rows: list[Any] = []
    for start in range(0, len(values), _BATCH):
        rows.extend(session.execute(select(*_COLUMNS).where(column.in_(values[start:start + _BATCH]))).all())
    return rows


def library_refusal(index: SavedIndex) -> str | None:
    if not index.library_ids:
        return ("Your library is not imported yet. Import it on the Library page first: Discover learns what you "
                "like from the songs you saved.")
    return None


def readiness(session: Session, user_id: int, min_catalog: int = DEFAULT_MIN_CATALOG, charts: bool = True
              ) -> str | None:
    """None when Discover can be started; else why not, in words (a quick check for the page).

    With charts on, the catalog's size is judged by the job, once the charts' tracks are in.
    """
    index = SavedIndex.for_user(session, user_id)
    refusal = library_refusal(index)
    if refusal or charts:
        return refusal
    # A count, not a NOT IN over a large library: the job makes the exact check on features later.
    others = max(0, (session.scalar(select(func.count(Track.id))) or 0) - len(index.track_ids))
    if others < min_catalog:
        return (f"The catalog holds only {others:,} tracks besides yours; Discover needs at least {min_catalog:,} to "
                "compare your taste with. Harvest a few contexts on the Contexts page first (Deezer's charts are added "
                "when Discover runs).")
    return None


# ------------------------------------------------------------------------------------------ dataset


@dataclass
class DiscoverData:
    """The training rows (saved tracks against a balanced sample of unsaved ones) and every rankable candidate."""

    X: pd.DataFrame
    y: np.ndarray
    groups: np.ndarray
    candidates: pd.DataFrame
    columns: list[str]
    counts: dict[str, int]
    messages: list[str]


def assemble(session: Session, user_id: int, *, providers: Sequence[str] | None = None,
             chart_track_ids: Iterable[int] = (), min_catalog: int = DEFAULT_MIN_CATALOG, seed: int = 0,
             index: SavedIndex | None = None) -> DiscoverData:
    """Features of the user's saved tracks and of every catalog track they never saved, and the balanced sample.

    Raises
    ------
    DiscoverError
        The library is not imported, has no features in common with the catalog, or too few unsaved
        catalog tracks have features.
    """
    index = index or SavedIndex.for_user(session, user_id)
    refusal = library_refusal(index)
    if refusal:
        raise DiscoverError(refusal)
    rows = {row.id: row for row in session.execute(select(*_COLUMNS)).all()}
    unsaved = [tid for tid, row in rows.items() if not index.contains(row)]
    positives = feature_frame(session, sorted(index.library_ids), providers)
    pool = feature_frame(session, unsaved, providers)
    positives, pool = positives[_has_features(positives)], pool[_has_features(pool)]
    messages: list[str] = []
    if positives.empty:
        raise DiscoverError("None of your saved songs has features yet. Import your library again with enrichment "
                            "on (the Library page does this), then run Discover.")
    columns = common_feature_columns(positives, pool)
    if not columns:
        raise DiscoverError(_too_few(len(pool), min_catalog) if len(pool) < min_catalog else
                            "No feature is known for both your saved songs and the catalog, so they cannot be "
                            "compared. Enrich the catalog (`flask enrich`) and try again.")
    positives, pool = _rankable(positives, columns), _rankable(pool, columns)
    if len(pool) < min_catalog:
        raise DiscoverError(_too_few(len(pool), min_catalog))
    chart = set(chart_track_ids)
    rng = np.random.default_rng(seed)
    # Chart tracks may be drawn too: a sampled negative is ranked by the fold model that did not learn it.
    n = min(len(positives), len(pool), MAX_PER_CLASS)
    negatives = sorted(rng.choice(list(pool.index), size=n, replace=False).tolist())
    liked = list(positives.index)
    if len(liked) > n:
        liked = sorted(rng.choice(liked, size=n, replace=False).tolist())
        why = ("to keep training to a few minutes" if n == MAX_PER_CLASS else
               "because the catalog has fewer tracks you never saved, and the two sides stay the same size")
        messages.append(f"{n:,} of your {len(positives):,} saved songs with features were sampled {why}.")
    X = pd.concat([positives.loc[liked, columns], pool.loc[negatives, columns]])
    X.index = pd.Index([*liked, *negatives], name="track_id")
    y = np.array([1] * len(liked) + [0] * len(negatives))
    groups = np.array([normalise(rows[tid].artist) or f"track {tid}" for tid in X.index])
    counts = {"saved_tracks": len(index.library_ids), "saved_with_features": len(positives),
              "unsaved_catalog": len(unsaved), "candidates": len(pool), "positives": len(liked),
              "negatives": len(negatives), "chart_candidates": len(chart & set(pool.index))}
    return DiscoverData(X, y, groups, pool[columns], columns, counts, messages)


def _has_features(frame: pd.DataFrame) -> pd.Series:
    """Rows with at least one provider value (a decade from a release date alone says too little)."""
    provider_columns = [c for c in frame.columns if c not in CATEGORICAL or c in ("genre", "key", "mode")]
    return frame[provider_columns].notna().any(axis=1) if provider_columns else pd.Series(False, index=frame.index)


def _rankable(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return frame[frame[columns].notna().mean(axis=1) >= MIN_FEATURE_SHARE]


def _too_few(n: int, needed: int) -> str:
    return (f"Only {n:,} catalog tracks you have not saved have features; Discover needs at least {needed:,} to "
            "learn your taste against. Harvest a few more contexts on the Contexts page, or let Discover add "
            "Deezer's charts, then try again.")
