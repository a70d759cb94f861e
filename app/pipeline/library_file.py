"""A library file into the store: validated whole first, then written FILE_BATCH tracks per short transaction.

A file imported again under the same name replaces the items of the earlier import of that name once it is
complete; a cancel is checked between batches (over file_records.MAX_ROWS tracks or files.MAX_BYTES is refused).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.pipeline.enrich import upsert_rows
from app.pipeline.file_records import FileTrack
from app.pipeline.files import parse_file
from app.pipeline.matching import normalise
from app.runs.progress import Progress
from app.runs.records import JobCancelled
from app.runs.summary import RunSummary
from app.storage.ownership import get_owned, owned
from app.storage.tables import LibraryImport, LibraryItem, LibraryPlaylist, Track, utcnow

FILE_BATCH = 500  # tracks written per transaction by a file import: each holds the write lock well under a second


def import_file(session_factory: Callable[[], Session], user_id: int, path: str | Path, summary: RunSummary,
                progress: Progress, check_stop: Callable[[], None] = lambda: None) -> int:
    """Validate the whole file, then write it FILE_BATCH tracks per short transaction; returns the import's id.

    Raises `file_records.FileImportError` (nothing written) when the file cannot be read or has bad rows. Short
    transactions keep one big file from holding the database's write lock (SQLite has one for everyone), and
    `check_stop` runs between them, so a cancel lands within one batch. A cancelled import keeps the batches
    written and says so; the earlier import of the same file name is replaced only once every batch is in.
    """
    path = Path(path)
    parsed = parse_file(path)
    progress.stage("tracks imported", total=parsed.n_tracks)
    with session_factory() as session, session.begin():
        job = LibraryImport(user_id=user_id, kind="file", filename=path.name[:512], status="running")
        session.add(job)
        session.flush()
        import_id = job.id
    written = [0]  # tracks in committed batches, also when a batch or a cancel cuts the import short
    try:
        for collection in parsed.collections:
            _store_file_collection(session_factory, user_id, import_id, path.name, collection.name,
                                   collection.tracks, summary, progress, check_stop, written)
    except BaseException as exc:
        written = written[0]
        _finish_file_import(session_factory, user_id, import_id,
                            "cancelled" if isinstance(exc, JobCancelled) else "failed", parsed, written)
        summary.count("tracks imported", written)
        summary.notes.append(f"{path.name}: stopped after {written:,} of {parsed.n_tracks:,} tracks; those "
                             "stay in your library, the rest were not imported. Import the file again to finish.")
        raise
    with session_factory() as session, session.begin():
        _forget_earlier_file(session, user_id, path.name, import_id)
    _finish_file_import(session_factory, user_id, import_id, "done", parsed, written[0])
    summary.count("tracks imported", parsed.n_tracks)
    for reason, n in parsed.skipped.items():
        summary.count(f"skipped: {reason}", n)
    summary.notes.append(f"{path.name}: read as {parsed.format}.")
    return import_id



def _finish_file_import(session_factory: Callable[[], Session], user_id: int, import_id: int, status: str,
                        parsed: Any, written: int) -> None:
    with session_factory() as session, session.begin():
        job = get_owned(session, LibraryImport, user_id, import_id)
        job.status, job.finished_at = status, utcnow()
        job.counts = {"format": parsed.format, "tracks": written, "listed": parsed.n_tracks,
                      "skipped": dict(parsed.skipped), "playlists": sum(1 for c in parsed.collections if c.name)}


def _forget_earlier_file(session: Session, user_id: int, filename: str, import_id: int) -> None:
    earlier = session.scalars(owned(LibraryImport, user_id).where(
        LibraryImport.kind == "file", LibraryImport.filename == filename, LibraryImport.id != import_id)
        .with_only_columns(LibraryImport.id)).all()
    for old in earlier:
        session.execute(delete(LibraryItem).where(LibraryItem.user_id == user_id,
                                                  LibraryItem.collection == f"file:{old}"))


def _store_file_collection(session_factory: Callable[[], Session], user_id: int, import_id: int, filename: str,
                           name: str | None, tracks: Sequence[FileTrack], summary: RunSummary, progress: Progress,
                           check_stop: Callable[[], None], written: list[int]) -> None:
    """Write one collection's items FILE_BATCH at a time, each batch its own transaction, counted in `written`."""
    playlist_id = None
    collection = f"file:{import_id}"
    if name is not None:
        key = f"file:{filename}:{name}"[:128]
        with session_factory() as session, session.begin():
            playlist = session.scalar(owned(LibraryPlaylist, user_id).where(LibraryPlaylist.external_key == key))
            if playlist is None:
                playlist = LibraryPlaylist(user_id=user_id, external_key=key, name=name[:512])
                session.add(playlist)
            playlist.track_count, playlist.synced_at, playlist.owned_by_user = len(tracks), utcnow(), True
            session.flush()
            playlist_id, collection = playlist.id, f"playlist:{playlist.id}"
            session.execute(delete(LibraryItem).where(LibraryItem.user_id == user_id,
                                                      LibraryItem.collection == collection))
    for start in range(0, len(tracks), FILE_BATCH):
        check_stop()
        batch = tracks[start:start + FILE_BATCH]
        with session_factory() as session, session.begin():
            rows: dict[int, dict[str, Any]] = {}
            for position, (track, track_id) in enumerate(zip(batch, _file_track_ids(session, batch, summary)), start):
                rows.setdefault(track_id, {"user_id": user_id, "collection": collection, "track_id": track_id,
                                           "import_id": import_id, "library_playlist_id": playlist_id,
                                           "position": position, "added_at": track.added_at})
            # DO NOTHING on a track already written by an earlier batch: its first position stays.
            upsert_rows(session, LibraryItem, list(rows.values()), key=("user_id", "collection", "track_id"),
                        update=[])
        written[0] += len(batch)
        progress.advance("tracks imported", len(batch))


def _file_track_ids(session: Session, tracks: Sequence[FileTrack], summary: RunSummary) -> list[int]:
    """The rows for a batch of a file's tracks, in order: by Spotify id, else by ISRC, else (neither given) by
    artist and title; else new. Three lookups and one insert per batch, not per track, so a batch stays short."""
    spotify_ids = {t.spotify_id for t in tracks if t.spotify_id}
    by_spotify = dict(session.execute(select(Track.spotify_id, Track.id).where(Track.spotify_id.in_(spotify_ids)))
                      .all()) if spotify_ids else {}
    by_isrc: dict[str, int] = {}
    isrcs = {t.isrc for t in tracks if not t.spotify_id and t.isrc}
    if isrcs:  # an ISRC names the recording: two recordings may share artist and title
        for isrc, track_id in session.execute(select(Track.isrc, Track.id).where(Track.isrc.in_(isrcs))
                                              .order_by(Track.id)):
            by_isrc.setdefault(isrc, track_id)
    by_name: dict[tuple[str, str], int] = {}
    artists = {t.artist.lower() for t in tracks if not t.spotify_id and not t.isrc}
    if artists:
        for track_id, title, artist in session.execute(select(Track.id, Track.title, Track.artist).where(
                func.lower(Track.artist).in_(artists)).order_by(Track.id)):
            by_name.setdefault((artist.lower(), normalise(title)), track_id)
    found: list[int | Track] = []
    new: dict[tuple[str, ...], Track] = {}
    for track in tracks:
        if track.spotify_id:
            key, known = ("spotify", track.spotify_id), by_spotify.get(track.spotify_id)
        elif track.isrc:
            key, known = ("isrc", track.isrc), by_isrc.get(track.isrc)
        else:
            key = ("name", track.artist.lower(), normalise(track.title))
            known = by_name.get(key[1:])
        if known is not None:
            found.append(known)
            continue
        if key not in new:  # the same new track twice in one batch is one row
            new[key] = Track(spotify_id=track.spotify_id, isrc=track.isrc, title=track.title[:512],
                             artist=track.artist[:512], artists=list(track.artists or (track.artist,)),
                             album=track.album[:512] if track.album else None, duration_ms=track.duration_ms)
            session.add(new[key])
        found.append(new[key])
    if new:
        session.flush()
        summary.new_tracks += len(new)
    return [item.id if isinstance(item, Track) else item for item in found]
