"""Idempotent bulk writes of Deezer and Spotify tracks and of labels to the global catalog (SQLite, PostgreSQL)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.storage.tables import Label, Track, utcnow

# Rows per statement: far below SQLite's bound-variable limit (32766) with ~15 columns a row.
CHUNK = 500

# Columns an upsert fills in when the stored row lacks them, but never overwrites with a blank: a
# playlist page (no ISRC) must not erase the ISRC a full-track lookup stored earlier.
_FILLABLE = ("isrc", "album", "deezer_album_id", "duration_ms", "explicit", "release_date", "match_method",
             "match_confidence")


def dialect_insert(session: Session):
    """The `insert` of the session's dialect, whose statements take ON CONFLICT (SQLite and PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"upserts support SQLite and PostgreSQL, not {dialect}")


def _chunks(rows: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _merge_by(rows: Iterable[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """One row per key, later non-null values filling earlier blanks (PostgreSQL refuses to update a row
    twice in one INSERT … ON CONFLICT)."""
    merged: dict[Any, dict[str, Any]] = {}
    for row in rows:
        kept = merged.setdefault(row[key], dict(row))
        for column, value in row.items():
            if kept.get(column) is None and value is not None:
                kept[column] = value
    return list(merged.values())


def _upsert(session: Session, rows: list[dict[str, Any]], key: str) -> dict[Any, int]:
    """Insert tracks by a unique identifier column, filling blanks of existing rows; returns key -> tracks.id."""
    rows = _merge_by(rows, key)
    if not rows:
        return {}
    now = utcnow()
    tracks = Track.__table__
    # One statement executed for many rows: it compiles once (a VALUES list of every row compiled anew each time,
    # 8x slower for a playlist's tracks) and no row count meets SQLite's bound-parameter limit.
    statement = dialect_insert(session)(tracks)
    fill = {column: func.coalesce(tracks.c[column], statement.excluded[column])
            for column in _FILLABLE if column in rows[0]}
    session.execute(statement.on_conflict_do_update(index_elements=[key], set_={**fill, "updated_at": now}),
                    [{**row, "created_at": now, "updated_at": now} for row in rows])
    column = getattr(Track, key)
    ids: dict[Any, int] = {}
    for chunk in _chunks([row[key] for row in rows]):
        found = session.execute(select(column, Track.id).where(column.in_(chunk)))
        ids.update((key, track_id) for key, track_id in found)
    return ids


# ------------------------------------------------------------------------------------------- Deezer


def deezer_track_row(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """A `tracks` row from a Deezer track (summary from a playlist/search page, or a full `/track`); None when
    the entry lacks an id or a title (counted by callers as broken).

    Every field is type-checked: a lying answer (a number where text belongs, an infinite duration) leaves
    that field blank instead of failing the whole page or the database write.
    """
    if not isinstance(item, Mapping):
        return None
    deezer_id = item.get("id")
    title = _text(item.get("title")) or _text(item.get("title_short"))
    if not isinstance(deezer_id, int) or isinstance(deezer_id, bool) or deezer_id <= 0 or not title:
        return None
    artist = item.get("artist") if isinstance(item.get("artist"), Mapping) else {}
    album = item.get("album") if isinstance(item.get("album"), Mapping) else {}
    contributors = [_text(c.get("name")) for c in _list(item.get("contributors")) if isinstance(c, Mapping)]
    contributors = [name for name in contributors if name]
    main_artist = _text(artist.get("name")) or (contributors[0] if contributors else "")
    duration = item.get("duration")
    explicit = item.get("explicit_lyrics")
    album_id = album.get("id")
    return {
        "deezer_id": deezer_id,
        "isrc": (_text(item.get("isrc")) or "").upper()[:16] or None,
        "title": title[:512],
        "artist": main_artist[:512],
        "artists": contributors or ([main_artist] if main_artist else []),
        "album": (_text(album.get("title")) or "")[:512] or None,
        "deezer_album_id": album_id if isinstance(album_id, int) and not isinstance(album_id, bool) else None,
        "duration_ms": _duration_ms(duration),
        "explicit": bool(explicit) if isinstance(explicit, bool) else None,
        "release_date": (_text(item.get("release_date")) or _text(album.get("release_date")) or "")[:10] or None,
        # A track that came from Deezer is tied to Deezer by construction.
        "match_method": "source",
        "match_confidence": 1.0,
    }


def _text(value: Any) -> str:
    """The stripped string, or "" for anything that is not a string."""
    return value.strip() if isinstance(value, str) else ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _duration_ms(seconds: Any) -> int | None:
    """Deezer's duration in seconds as ms; absent for 0, negatives, NaN, infinities, booleans and text."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return None
    return int(seconds * 1000) if 0 < seconds <= 24 * 3600 else None


def upsert_deezer_tracks(session: Session, items: Iterable[Mapping[str, Any]]) -> dict[int, int]:
    """Put Deezer tracks into the catalog by `deezer_id`; returns {deezer_id: tracks.id}.

    `items` are Deezer track objects as any endpoint returns them (playlist and search pages, `/track/{id}`,
    `/track/isrc:…`). Entries without an integer id or a title are ignored (callers count them). An existing
    row keeps its title/artist and any value it already has; blanks are filled (so a later full-track
    lookup adds the ISRC and release date). `match_method` is "source" for new rows; a row matched earlier
    (isrc/search) keeps its own. Idempotent; runs in the caller's transaction (no commit).
    """
    rows = [row for row in map(deezer_track_row, items) if row is not None]
    return _upsert(session, rows, "deezer_id")


# ------------------------------------------------------------------------------------------ Spotify


def spotify_track_row(track: Any) -> dict[str, Any] | str:
    """A `tracks` row from a Spotify track object, or the reason (plain words) it cannot be one."""
    if track is None:
        return "an unavailable track (null)"
    if not isinstance(track, Mapping):
        return "a track that is not an object"
    if track.get("is_local") is True or track.get("type", "track") != "track":
        return "a local file or an episode (not a Spotify track)"
    spotify_id, name = track.get("id"), track.get("name")
    if not isinstance(spotify_id, str) or len(spotify_id) != 22 or not spotify_id.isalnum():
        return "a track without a valid Spotify id"
    if not isinstance(name, str) or not name.strip():
        return "a track without a name"
    artists = [a.get("name") for a in track.get("artists") or [] if isinstance(a, Mapping)]
    artists = [a for a in artists if isinstance(a, str) and a]
    if not artists:
        return "a track without artists"
    album = track.get("album") if isinstance(track.get("album"), Mapping) else {}
    duration = track.get("duration_ms")
    duration = duration if isinstance(duration, int) and not isinstance(duration, bool) and duration > 0 else None
    isrc = (track.get("external_ids") or {}).get("isrc") if isinstance(track.get("external_ids"), Mapping) else None
    release = album.get("release_date")
    return {
        "spotify_id": spotify_id, "title": name.strip()[:512], "artist": artists[0][:512], "artists": artists,
        "album": album.get("name")[:512] if isinstance(album.get("name"), str) else None,
        "duration_ms": duration, "explicit": track["explicit"] if isinstance(track.get("explicit"), bool) else None,
        "isrc": isrc.strip().upper()[:16] if isinstance(isrc, str) and isrc.strip() else None,
        "release_date": release[:10] if isinstance(release, str) and release[:4].isdigit() else None,
    }


def upsert_spotify_rows(session: Session, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Put `spotify_track_row` rows into the catalog by `spotify_id`; returns {spotify_id: tracks.id}.

    Existing rows keep their values and get blanks filled (ISRC, album, duration, explicit, release date);
    no Deezer fields are touched, so matching stays the matcher's job. Idempotent; runs in the caller's
    transaction.
    """
    return _upsert(session, list(rows), "spotify_id")


def upsert_spotify_tracks(session: Session, items: Iterable[Any]) -> dict[str, int]:
    """`upsert_spotify_rows` for raw Spotify track objects; nulls, local files, episodes and broken entries
    are skipped (callers that need the reasons build rows with `spotify_track_row` themselves)."""
    rows = [row for row in map(spotify_track_row, items) if isinstance(row, dict)]
    return upsert_spotify_rows(session, rows)


# ------------------------------------------------------------------------------------------- labels


def replace_playlist_labels(session: Session, context_id: int, source_playlist_id: int,
                            positions: Mapping[int, int]) -> int:
    """Make the labels of one (context, source playlist) exactly {track_id: position}; returns how many.

    Labels of tracks no longer in the playlist go, the others are upserted on their unique key, so running
    it twice changes nothing. Runs in the caller's transaction, with the playlist's `harvested_at`.
    """
    stale = delete(Label).where(Label.context_id == context_id, Label.source_playlist_id == source_playlist_id)
    if positions:
        stale = stale.where(Label.track_id.not_in(list(positions)))
    session.execute(stale)
    rows = [{"context_id": context_id, "source_playlist_id": source_playlist_id, "track_id": track_id,
             "position": position, "created_at": utcnow()} for track_id, position in positions.items()]
    if rows:
        statement = dialect_insert(session)(Label.__table__)  # executemany, as in _upsert
        session.execute(statement.on_conflict_do_update(
            index_elements=["context_id", "track_id", "source_playlist_id"],
            set_={"position": statement.excluded.position}), rows)
    return len(rows)


def drop_playlist_labels(session: Session, context_id: int, source_playlist_id: int) -> None:
    """Remove a playlist's labels for a context (it is no longer taken for it)."""
    session.execute(delete(Label).where(Label.context_id == context_id,
                                        Label.source_playlist_id == source_playlist_id))


def spread_over_playlists(session: Session, track_ids: Sequence[int], background: Sequence[int] = ()) -> list[int]:
    """`track_ids` in the order their analysis should go: the first track of every source playlist, then every
    second, and so on (tracks labelled nowhere last), so any first part of it speaks for every playlist and context
    a first model is trained on (its precision bounds count playlists, not tracks); the `background` songs (of no
    context) spread evenly through it, so that first model has learnt "none of these" too."""
    ids = list(dict.fromkeys(int(i) for i in track_ids))
    rows = []
    for start in range(0, len(ids), CHUNK):
        rows += session.execute(select(Label.source_playlist_id, Label.position, Label.track_id)
                                .where(Label.track_id.in_(ids[start:start + CHUNK]))).all()
    by_playlist: dict[int, list[int]] = {}
    for playlist, _position, track_id in sorted(rows, key=lambda r: (r[0], r[1] if r[1] is not None else 0, r[2])):
        by_playlist.setdefault(playlist, []).append(track_id)
    ordered: dict[int, None] = {}
    for rank in range(max((len(tracks) for tracks in by_playlist.values()), default=0)):
        for playlist in sorted(by_playlist):
            if rank < len(by_playlist[playlist]):
                ordered.setdefault(by_playlist[playlist][rank], None)
    order = [*ordered, *(i for i in ids if i not in ordered)]
    known = set(order)
    extra = [i for i in dict.fromkeys(int(i) for i in background) if i not in known]
    # Each list at its own even pace; at a tie the background goes first, so the first batch holds some of it.
    keyed = ([(k / len(order), 1, i) for k, i in enumerate(order)]
             + [(k / len(extra), 0, i) for k, i in enumerate(extra)])
    return [i for _share, _kind, i in sorted(keyed)] if extra else order
