"""Stored features as one table per set of tracks, and the rule for which columns a run may use.

The rule: a feature column is used only when it has a value for at least `min_coverage` (default 80 %)
of the training tracks AND for at least `min_coverage` of the library tracks. A model trained on a
column the library mostly lacks (Spotify audio features for Deezer-harvested training tracks, say)
would sort the library on imputed values; a column the training set lacks cannot be learned. Below
the threshold the column is dropped for that run, for both sides alike.

Columns: `<provider>_<feature>` for every number a provider stored with status ok (booleans as 0/1;
identifiers, lists and text left out), plus the categorical columns `genre` (Deezer album genre),
`key` and `mode` (from `preview`, else `reccobeats`, else `spotify`: the analysed preview comes first
because it exists for training and library tracks alike), and `decade` (from the Deezer release year,
else the track's release date). A track sharing a recording with another row (`canonical_id`) gets
that row's features.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.storage.tables import Track, TrackFeatures

CATEGORICAL = ("genre", "key", "mode", "decade")
KEY_SOURCES = ("preview", "reccobeats", "spotify")
_NOT_NUMERIC = frozenset({"album_id", "key", "mode"})  # identifiers and categories, not quantities
_BATCH = 500


def feature_frame(session: Session, track_ids: Iterable[int], providers: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per track id (index `track_id`, in the order given), numeric provider columns then categoricals."""
    # Plain ints: numpy integers bound as SQLite parameters match no integer id, silently.
    ids = list(dict.fromkeys(int(tid) for tid in track_ids))
    tracks = _tracks(session, ids)
    canonical = {tid: (row[0] or tid) for tid, row in tracks.items()}
    tracks.update(_tracks(session, sorted(set(canonical.values()) - set(tracks))))
    stored = _features(session, sorted(set(canonical.values())), providers)
    records = []
    for tid in ids:
        features = stored.get(canonical.get(tid, tid), {})
        own = tracks.get(tid, (None, None))[1]
        records.append(_row(features, own or tracks.get(canonical.get(tid, tid), (None, None))[1]))
    frame = pd.DataFrame.from_records(records, index=pd.Index(ids, name="track_id"))
    numeric = sorted(c for c in frame.columns if c not in CATEGORICAL)
    frame = frame.reindex(columns=[*numeric, *CATEGORICAL])
    frame[numeric] = frame[numeric].astype(float)
    return frame


def common_feature_columns(train_frame: pd.DataFrame, library_frame: pd.DataFrame,
                           min_coverage: float = 0.8) -> list[str]:
    """Columns present for at least `min_coverage` of the rows of both frames, in the training frame's order."""
    if train_frame.empty or library_frame.empty:
        return []
    train_coverage = train_frame.notna().mean()
    library_coverage = library_frame.notna().mean()
    return [column for column in train_frame.columns
            if column in library_frame.columns
            and train_coverage[column] >= min_coverage and library_coverage[column] >= min_coverage]


def _tracks(session: Session, ids: list[int]) -> dict[int, tuple[int | None, str | None]]:
    found: dict[int, tuple[int | None, str | None]] = {}
    for start in range(0, len(ids), _BATCH):
        rows = session.execute(select(Track.id, Track.canonical_id, Track.release_date)
                               .where(Track.id.in_(ids[start:start + _BATCH])))
        found.update((tid, (canonical, release)) for tid, canonical, release in rows)
    return found


def _features(session: Session, ids: list[int], providers: Sequence[str] | None) -> dict[int, dict[str, dict]]:
    found: dict[int, dict[str, dict]] = {}
    for start in range(0, len(ids), _BATCH):
        query = select(TrackFeatures.track_id, TrackFeatures.provider, TrackFeatures.values).where(
            TrackFeatures.track_id.in_(ids[start:start + _BATCH]), TrackFeatures.status == "ok")
        if providers is not None:
            query = query.where(TrackFeatures.provider.in_(list(providers)))
        for tid, provider, values in session.execute(query):
            if isinstance(values, dict):
                found.setdefault(tid, {})[provider] = values
    return found


def _row(features: dict[str, dict], release_date: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for provider, values in features.items():
        for name, value in values.items():
            if name in _NOT_NUMERIC:
                continue
            if isinstance(value, bool):
                row[f"{provider}_{name}"] = float(value)
            elif isinstance(value, (int, float)):
                row[f"{provider}_{name}"] = float(value)
    deezer = features.get("deezer", {})
    row["genre"] = deezer.get("genre") if isinstance(deezer.get("genre"), str) else None
    for name in ("key", "mode"):
        row[name] = next((int(features[p][name]) for p in KEY_SOURCES
                          if p in features and isinstance(features[p].get(name), (int, float))
                          and not isinstance(features[p].get(name), bool)), None)
    row["decade"] = _decade(deezer.get("release_year") or deezer.get("album_release_year"), release_date)
    return row


def _decade(year: Any, release_date: str | None) -> str | None:
    if not isinstance(year, int) and release_date and release_date[:4].isdigit():
        year = int(release_date[:4])
    if not isinstance(year, int) or not 1900 <= year <= 2100:
        return None
    return f"{year // 10 * 10}s"


# ------------------------------------------------------------------------------------- readiness


def analysed_share(frame: pd.DataFrame) -> float:
    """The share of rows with at least one value besides the decade (which a track's release date alone gives)."""
    if frame.empty:
        return 0.0
    measured = frame.drop(columns=[c for c in ("decade",) if c in frame.columns])
    return float(measured.notna().any(axis=1).mean()) if len(measured.columns) else 0.0


def readiness(train: pd.DataFrame, library: pd.DataFrame | None, min_coverage: float = 0.8) -> str | None:
    """One sentence saying what training waits for, or None when enough of both sides is analysed.

    A model trained while most tracks have no features yet would rest on the decade alone and score every
    song alike; waiting (or saying plainly what is missing) is the honest answer.
    """
    waits = []
    train_share = analysed_share(train)
    if train_share < min_coverage:
        waits.append(f"the training songs' analysis ({round(train_share * len(train)):,} of {len(train):,} "
                     f"done, {train_share:.0%})")
    if library is not None:
        library_share = analysed_share(library)
        if library_share < min_coverage:
            waits.append(f"your library's matching and analysis ({round(library_share * len(library)):,} of "
                         f"{len(library):,} songs done, {library_share:.0%})")
    if not waits:
        return None
    return (f"Training waits for {' and for '.join(waits)}: it starts once {min_coverage:.0%} are done, so the "
            "model rests on what the songs sound like rather than on their release decade alone.")


def dropped_sentences(train: pd.DataFrame, library: pd.DataFrame | None, kept: Sequence[str],
                      min_coverage: float = 0.8) -> list[str]:
    """At most three plain sentences on the columns the coverage rule left out, grouped by what lacks them."""
    other = train if library is None else library
    train_share = train.notna().mean()
    other_share = other.reindex(columns=train.columns).notna().mean()
    groups: dict[str, list[str]] = {}
    for column in train.columns:
        if column in kept or train_share[column] == 0:
            continue
        training_short = train_share[column] < min_coverage
        library_short = library is not None and other_share[column] < min_coverage
        why = "both" if training_short and library_short else "training" if training_short else "library"
        groups.setdefault(why, []).append(column)
    sentences = []
    reasons = {"library": "too little of your library has them yet", "training": "too few training songs have them",
               "both": "both the training songs and your library mostly lack them"}
    for why in ("library", "training", "both"):
        columns = groups.get(why)
        if not columns:
            continue
        shares = other_share[columns] if why == "library" else train_share[columns]
        span = f"{shares.min():.0%}" if shares.min() == shares.max() else f"{shares.min():.0%}–{shares.max():.0%}"
        names = ", ".join(columns[:6]) + (f" and {len(columns) - 6} more" if len(columns) > 6 else "")
        sentences.append(f"{len(columns)} feature{'s' if len(columns) > 1 else ''} left out because "
                         f"{reasons[why]} ({span}; the rule needs {min_coverage:.0%} of both sides): {names}.")
    return sentences
