"""Idempotent bulk writes of Deezer and Spotify tracks and of labels to the global catalog (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.storage.models import Label, Track, utcnow

# Rows per statement: far below SQLite's bound-variable limit (32766) with ~15 columns a row.
CHUNK = 500

# Columns an upsert fills in when the stored row lacks them, but never overwrites with a blank: a
# playlist page (no ISRC) must not erase the ISRC a full-track lookup stored earlier.
_FILLABLE = ("isrc", "album", "deezer_album_id", "duration_ms", "explicit", "release_date", "match_method",
             "match_confidence")


def _insert(session: Session):
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"catalog upserts support SQLite and PostgreSQL, not {dialect}")


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
    insert = _insert(session)
    now = utcnow()
    for chunk in _chunks(rows):
        statement = insert(Track).values([{**row, "created_at": now, "updated_at": now} for row in chunk])
        fill = {column: func.coalesce(getattr(Track.__table__.c, column), statement.excluded[column])
                for column in _FILLABLE if column in chunk[0]}
        session.execute(statement.on_conflict_do_update(index_elements=[key], set_={**fill, "updated_at": now}))
    column = getattr(Track, key)
    ids: dict[Any, int] = {}
    for chunk in _chunks([row[key] for row in rows]):
        found = session.execute(select(column, Track.id).where(column.in_(chunk)))
        ids.update((key, track_id) for key, track_id in found)
    return ids


# ------------------------------------------------------------------------------------------- Deezer


def deezer_track_row(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """A `tracks` row from a Deezer track (summary from a playlist/search page, or a full `/track`); None when
    the entry lacks an id or a title (counted by callers as broken)."""
    deezer_id = item.get("id")
    title = item.get("title") or item.get("title_short")
    if not isinstance(deezer_id, int) or isinstance(deezer_id, bool) or not title:
        return None
    artist = item.get("artist") if isinstance(item.get("artist"), dict) else {}
    album = item.get("album") if isinstance(item.get("album"), dict) else {}
    contributors = [c.get("name") for c in item.get("contributors") or [] if isinstance(c, dict) and c.get("name")]
    main_artist = artist.get("name") or (contributors[0] if contributors else "")
    duration = item.get("duration")
    explicit = item.get("explicit_lyrics")
    return {
        "deezer_id": deezer_id,
        "isrc": (item.get("isrc") or "").upper() or None,
        "title": str(title)[:512],
        "artist": str(main_artist)[:512],
        "artists": contributors or ([main_artist] if main_artist else []),
        "album": (album.get("title") or None),
        "deezer_album_id": album.get("id") if isinstance(album.get("id"), int) else None,
        "duration_ms": int(duration) * 1000 if isinstance(duration, (int, float)) and duration > 0 else None,
        "explicit": bool(explicit) if isinstance(explicit, bool) else None,
        "release_date": item.get("release_date") or album.get("release_date") or None,
        # A track that came from Deezer is tied to Deezer by construction.
        "match_method": "source",
        "match_confidence": 1.0,
    }


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


def spotify_track_row(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """A `tracks` row from a Spotify track object; None for local files, episodes and entries without id/name."""
    spotify_id = item.get("id")
    if not spotify_id or not item.get("name") or item.get("is_local") or item.get("type", "track") != "track":
        return None
    artists = [a.get("name") for a in item.get("artists") or [] if isinstance(a, dict) and a.get("name")]
    album = item.get("album") if isinstance(item.get("album"), dict) else {}
    external_ids = item.get("external_ids") if isinstance(item.get("external_ids"), dict) else {}
    duration = item.get("duration_ms")
    return {
        "spotify_id": str(spotify_id),
        "isrc": (external_ids.get("isrc") or "").upper() or None,
        "title": str(item["name"])[:512],
        "artist": (artists[0] if artists else "")[:512],
        "artists": artists,
        "album": album.get("name") or None,
        "duration_ms": int(duration) if isinstance(duration, (int, float)) and duration > 0 else None,
        "explicit": item.get("explicit") if isinstance(item.get("explicit"), bool) else None,
        "release_date": album.get("release_date") or None,
    }


def upsert_spotify_tracks(session: Session, items: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Put Spotify tracks into the catalog by `spotify_id`; returns {spotify_id: tracks.id}.

    `items` are Spotify track objects (`/me/tracks` items' `track`, playlist items' `item`/`track`,
    `/tracks/{id}`); null entries, local files, episodes and entries without id/name are ignored. Existing
    rows keep their values and get blanks filled (ISRC, album, duration, explicit, release date); no Deezer
    fields are touched, so matching stays the matcher's job. Idempotent; runs in the caller's transaction.
    """
    rows = [row for row in (spotify_track_row(i) for i in items if isinstance(i, Mapping)) if row is not None]
    return _upsert(session, rows, "spotify_id")


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
    insert = _insert(session)
    for chunk in _chunks(rows):
        statement = insert(Label).values(list(chunk))
        session.execute(statement.on_conflict_do_update(
            index_elements=["context_id", "track_id", "source_playlist_id"],
            set_={"position": statement.excluded.position}))
    return len(rows)


def drop_playlist_labels(session: Session, context_id: int, source_playlist_id: int) -> None:
    """Remove a playlist's labels for a context (it is no longer taken for it)."""
    session.execute(delete(Label).where(Label.context_id == context_id,
                                        Label.source_playlist_id == source_playlist_id))
