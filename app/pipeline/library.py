"""A user's library into the store: Liked Songs and own playlists from Spotify (incrementally); files: library_file.

Incremental rules
- Liked Songs come newest first. A re-import pages only until the first item older than the newest
  `added_at` stored in the last finished import's cursor (`library_imports.cursor`).
- Removed likes: after that short walk, if the number of liked songs we hold differs from Spotify's
  `total`, the import goes on through every page and deletes the likes it did not see (a full re-sync).
  A like removed and another added between two imports keep the count equal, so a full re-sync also
  runs when the last one is older than FULL_SYNC_EVERY; until then such a removed like lingers.
- Playlists: an unchanged `snapshot_id` skips the playlist's items; a changed one replaces them.
  Playlists the user neither owns nor collaborates on are listed but not read (Spotify answers 403).
  Playlists gone from /me/playlists are deleted with their items.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.runs.progress import Progress
from app.pipeline.clients.base import ServiceError
from app.pipeline.clients.spotify import SAVED_TRACKS_PAGE, Forbidden, SpotifyClient
from app.pipeline.catalog import spotify_track_row, upsert_spotify_rows
from app.pipeline.enrich import enrich_tracks, upsert_rows
from app.pipeline.matching import match_tracks
from app.pipeline.providers.run import RunClients
from app.runs.summary import RunSummary
from app.storage.tables import LibraryImport, LibraryItem, LibraryPlaylist, Track, utcnow
from app.storage.ownership import get_owned, owned


FULL_SYNC_EVERY = timedelta(days=7)
# Match, then enrich, this many tracks at a time. The next chunk is matched while this one is enriched, so a
# preview link is at most about two chunks' enrichment old when it is downloaded: 250 keeps that well inside the
# link's life (providers/preview.py, FRESH_LINK_S), and a first sort can rest on the first 250 likes.
MATCH_CHUNK = 250
LIKED = "liked"


# ------------------------------------------------------------------------------------ Spotify


def import_spotify_library(session_factory: Callable[[], Session], user_id: int, spotify_user_id: str,
                           spotify: SpotifyClient, summary: RunSummary, progress: Progress,
                           full: bool = False, check_stop: Callable[[], None] | None = None) -> None:
    """Liked Songs, then the user's playlists; Spotify calls are added to `summary`.

    `check_stop` is called between pages and playlists and stops the import by raising (a job's
    `check_cancelled`); what is stored stays, and the next import reads it again as usual.
    """
    before = spotify.calls
    try:
        import_liked(session_factory, user_id, spotify, summary, progress, full=full, check_stop=check_stop)
        import_playlists(session_factory, user_id, spotify_user_id, spotify, summary, progress,
                         check_stop=check_stop)
    finally:
        summary.add_calls("spotify", spotify.calls - before)


def import_liked(session_factory: Callable[[], Session], user_id: int, spotify: SpotifyClient,
                 summary: RunSummary, progress: Progress, full: bool = False,
                 check_stop: Callable[[], None] | None = None) -> None:
    check = check_stop or (lambda: None)
    with session_factory() as session:
        previous = _last_done(session, user_id, "spotify-liked")
        job = LibraryImport(user_id=user_id, kind="spotify-liked", status="running")
        session.add(job)
        session.commit()
        import_id = job.id
    cursor = dict(previous.cursor or {}) if previous else {}
    last_full = _parse_time(cursor.get("full_sync_at"))
    full = full or last_full is None or utcnow() - last_full > FULL_SYNC_EVERY
    newest_known = None if full else cursor.get("newest_added_at")
    seen: set[int] = set()
    newest: str | None = cursor.get("newest_added_at")
    total, offset = None, 0
    while True:
        check()
        page = spotify.call(spotify.sp.current_user_saved_tracks, limit=SAVED_TRACKS_PAGE, offset=offset)
        items, page_total, has_next = _page_parts(page)
        if total is None:
            total = page_total
            progress.stage("tracks imported", total=total)
        known_from = _first_known(items, newest_known)
        batch = items[:known_from]
        newest = max([newest or "", *(i["added_at"] for i in batch if isinstance(i, dict)
                                      and isinstance(i.get("added_at"), str))]) or None
        with session_factory() as session:
            seen.update(_store_items(session, user_id, LIKED, batch, import_id, summary))
            session.commit()
        progress.advance("tracks imported", len(batch))
        if known_from < len(items):
            with session_factory() as session:
                held = _count(session, user_id, LIKED)
            if held == total:
                break
            # Our count differs from Spotify's: likes were removed. Read everything, then drop the unseen.
            summary.notes.append(f"Liked Songs: we held {held}, Spotify has {total}: re-reading every page.")
            newest_known, full = None, True
            with session_factory() as session:
                seen.update(_store_items(session, user_id, LIKED, items[known_from:], import_id, summary))
                session.commit()
        if not has_next or not items:
            break
        offset += SAVED_TRACKS_PAGE
    removed = 0
    with session_factory() as session:
        if full:
            removed = _remove_unseen(session, user_id, LIKED, seen)
        job = get_owned(session, LibraryImport, user_id, import_id)
        job.status, job.finished_at = "done", utcnow()
        job.cursor = {"newest_added_at": newest, "total": total,
                      "full_sync_at": utcnow().isoformat() if full else cursor.get("full_sync_at")}
        job.counts = {"read": len(seen), "removed": removed, "total": total, "full": full}
        session.commit()
    summary.count("liked songs read", len(seen))
    if removed:
        summary.count("likes removed", removed)


def import_playlists(session_factory: Callable[[], Session], user_id: int, spotify_user_id: str,
                     spotify: SpotifyClient, summary: RunSummary, progress: Progress,
                     check_stop: Callable[[], None] | None = None) -> None:
    check = check_stop or (lambda: None)
    listing = [p for p in spotify.my_playlists() if isinstance(p, dict) and isinstance(p.get("id"), str)]
    with session_factory() as session:
        job = LibraryImport(user_id=user_id, kind="spotify-playlists", status="running")
        session.add(job)
        session.commit()
        import_id = job.id
    progress.stage("playlists imported", total=len(listing))
    counts = {"playlists": len(listing), "unchanged": 0, "read": 0, "not_owned": 0}
    for meta in listing:
        check()
        owner = meta.get("owner") if isinstance(meta.get("owner"), dict) else {}
        users_own = owner.get("id") == spotify_user_id or meta.get("collaborative") is True
        ref = meta.get("items") if isinstance(meta.get("items"), dict) else meta.get("tracks")
        with session_factory() as session:
            playlist = _upsert_playlist(session, user_id, meta, users_own, ref)
            session.commit()
            unchanged = playlist.snapshot_id == meta.get("snapshot_id") and playlist.synced_at is not None
            playlist_id = playlist.id
        if not users_own:
            counts["not_owned"] += 1
        elif unchanged:
            counts["unchanged"] += 1
        else:
            _read_playlist(session_factory, user_id, playlist_id, meta, spotify, import_id, summary)
            counts["read"] += 1
        progress.advance("playlists imported")
    with session_factory() as session:
        keys = {f"spotify:{p['id']}" for p in listing}
        gone = session.scalars(owned(LibraryPlaylist, user_id).where(
            LibraryPlaylist.external_key.like("spotify:%"))).all()
        for playlist in gone:
            if playlist.external_key not in keys:
                session.execute(delete(LibraryItem).where(LibraryItem.user_id == user_id,
                                                          LibraryItem.collection == f"playlist:{playlist.id}"))
                session.delete(playlist)
                counts["deleted"] = counts.get("deleted", 0) + 1
        job = get_owned(session, LibraryImport, user_id, import_id)
        job.status, job.finished_at, job.counts = "done", utcnow(), counts
        session.commit()
    for key, value in counts.items():
        summary.count(f"playlists {key}", value)
    if counts["not_owned"]:
        summary.notes.append(f"{counts['not_owned']} followed playlist(s) listed but not read: Spotify only lets "
                             "an app read playlists their user owns or collaborates on.")


def _read_playlist(session_factory: Callable[[], Session], user_id: int, playlist_id: int, meta: dict[str, Any],
                   spotify: SpotifyClient, import_id: int, summary: RunSummary) -> None:
    try:
        items = list(spotify.playlist_items(meta["id"]))
    except Forbidden:
        # Listed as the user's own, yet Spotify answers 403 (collaboration ended, ownership moved): not a failure.
        summary.notes.append(f"Playlist “{meta.get('name')}” was not read: Spotify only lets an app read "
                             "playlists their user owns or collaborates on.")
        return
    except ServiceError as exc:
        summary.fail(f"playlist items: {exc.reason}")
        summary.notes.append(f"Playlist “{meta.get('name')}” could not be read ({exc.reason}); kept as it was.")
        return
    collection = f"playlist:{playlist_id}"
    tracks = [item.get("item") or item.get("track") if isinstance(item, dict) else None for item in items]
    wrapped = [{"added_at": item.get("added_at") if isinstance(item, dict) else None, "track": track}
               for item, track in zip(items, tracks)]
    with session_factory() as session:
        seen = _store_items(session, user_id, collection, wrapped, import_id, summary, positions=True,
                            playlist_id=playlist_id)
        _remove_unseen(session, user_id, collection, set(seen))
        playlist = get_owned(session, LibraryPlaylist, user_id, playlist_id)
        # The snapshot is stored only with its items: a run killed before this commit reads them again.
        playlist.snapshot_id, playlist.synced_at, playlist.track_count = meta.get("snapshot_id"), utcnow(), len(seen)
        session.commit()


def _upsert_playlist(session: Session, user_id: int, meta: dict[str, Any], users_own: bool,
                     ref: Any) -> LibraryPlaylist:
    key = f"spotify:{meta['id']}"
    playlist = session.scalar(owned(LibraryPlaylist, user_id).where(LibraryPlaylist.external_key == key))
    if playlist is None:
        playlist = LibraryPlaylist(user_id=user_id, external_key=key, spotify_id=meta["id"], name="")
        session.add(playlist)
    playlist.name = str(meta.get("name") or "")[:512] or "(no name)"
    playlist.owned_by_user = users_own
    total = ref.get("total") if isinstance(ref, dict) else None
    playlist.track_count = total if isinstance(total, int) else playlist.track_count
    session.flush()
    return playlist


def _first_known(items: Sequence[Any], newest_known: str | None) -> int:
    """Index of the first item older than the newest like we already hold (len(items) when none is)."""
    for index, item in enumerate(items):
        added_at = item.get("added_at") if isinstance(item, dict) else None
        if newest_known and isinstance(added_at, str) and added_at < newest_known:
            return index
    return len(items)


def _page_parts(page: Any) -> tuple[list[Any], int | None, bool]:
    if not isinstance(page, dict):
        raise ServiceError("spotify", "answered a page that is not an object")
    items = page.get("items") if isinstance(page.get("items"), list) else []
    total = page.get("total") if isinstance(page.get("total"), int) else None
    return items, total, bool(page.get("next"))


def _store_items(session: Session, user_id: int, collection: str, items: Sequence[Any], import_id: int,
                 summary: RunSummary, positions: bool = False, playlist_id: int | None = None) -> list[int]:
    """Upsert the tracks of `{"added_at", "track"}` items and their library items; returns the track ids."""
    rows, added = [], []
    for item in items:
        track = item.get("track") if isinstance(item, dict) else None
        row = spotify_track_row(track)
        if isinstance(row, str):
            summary.fail(f"import: {row}")
            continue
        rows.append(row)
        added.append(_parse_time(item.get("added_at")))
    ids = _upsert_tracks(session, rows, summary)
    track_ids = [ids[row["spotify_id"]] for row in rows]
    library_rows = {}
    for position, (track_id, added_at) in enumerate(zip(track_ids, added)):
        library_rows.setdefault(track_id, {
            "user_id": user_id, "collection": collection, "track_id": track_id, "import_id": import_id,
            "library_playlist_id": playlist_id, "position": position if positions else None, "added_at": added_at})
    upsert_rows(session, LibraryItem, list(library_rows.values()), key=("user_id", "collection", "track_id"))
    return track_ids


def _upsert_tracks(session: Session, rows: Sequence[dict[str, Any]], summary: RunSummary | None) -> dict[str, int]:
    """The catalog upsert, counting the tracks that were new to the catalog for the run summary."""
    unique = list({row["spotify_id"]: row for row in rows}.values())
    known = _ids_by_spotify_id(session, [row["spotify_id"] for row in unique])
    ids = upsert_spotify_rows(session, unique)
    if summary is not None:
        summary.new_tracks += len(ids) - len(known)
    return ids


def _ids_by_spotify_id(session: Session, spotify_ids: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(spotify_ids), 500):
        found.update(session.execute(select(Track.spotify_id, Track.id)
                                     .where(Track.spotify_id.in_(spotify_ids[start:start + 500]))).all())
    return found


def _remove_unseen(session: Session, user_id: int, collection: str, seen: set[int]) -> int:
    held = session.scalars(owned(LibraryItem, user_id).where(LibraryItem.collection == collection)
                           .with_only_columns(LibraryItem.track_id)).all()
    gone = [track_id for track_id in held if track_id not in seen]
    for start in range(0, len(gone), 500):
        session.execute(delete(LibraryItem).where(LibraryItem.user_id == user_id, LibraryItem.collection == collection,
                                                  LibraryItem.track_id.in_(gone[start:start + 500])))
    return len(gone)


def _count(session: Session, user_id: int, collection: str) -> int:
    return session.scalar(owned(LibraryItem, user_id).where(LibraryItem.collection == collection)
                          .with_only_columns(func.count()).select_from(LibraryItem)) or 0


def _last_done(session: Session, user_id: int, kind: str) -> LibraryImport | None:
    return session.scalar(owned(LibraryImport, user_id).where(LibraryImport.kind == kind,
                                                              LibraryImport.status == "done")
        .order_by(LibraryImport.id.desc()).limit(1))


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ------------------------------------------------------------------------------------ after import


def library_track_ids(session: Session, user_id: int) -> list[int]:
    """Every track in any of the user's collections."""
    return sorted(set(session.scalars(owned(LibraryItem, user_id).with_only_columns(LibraryItem.track_id)).all()))


def library_track_ids_recent_first(session: Session, user_id: int) -> list[int]:
    """The user's tracks, most recently added first (then the rest by id): the order a library is matched in, so a
    first sort can rest on the latest likes while the older ones are still being analysed."""
    rows = session.execute(owned(LibraryItem, user_id).with_only_columns(LibraryItem.track_id, LibraryItem.added_at))
    latest: dict[int, float] = {}
    for track_id, added_at in rows:
        stamp = added_at.timestamp() if added_at is not None else float("-inf")
        latest[track_id] = max(latest.get(track_id, stamp), stamp)
    return sorted(latest, key=lambda tid: (-latest[tid], tid))


def match_and_enrich(session_factory: Callable[[], Session], track_ids: Iterable[int], config: Mapping[str, Any],
                     summary: RunSummary, progress: Progress, clients: RunClients,
                     providers: Sequence[str] | None = None, enrich: bool = True,
                     check_stop: Callable[[], None] | None = None) -> None:
    """Match tracks to Deezer and enrich them, a chunk at a time in the order given (the import gives the most
    recent likes first); only what is missing or stale costs calls.

    Matching runs one chunk ahead of enrichment, in its own thread: the next chunk's Deezer lookups go on while
    this chunk's previews are analysed, where each used to wait for the other (Deezer's quota binds the first,
    the cores the second). `check_stop` is called between chunks and inside enrichment, and stops the run by
    raising (a job's `check_cancelled`); finished chunks stay written, and a chunk being matched ahead is
    finished first.
    """
    check = check_stop or (lambda: None)
    ids = list(dict.fromkeys(int(i) for i in track_ids))
    chunks = [ids[start:start + MATCH_CHUNK] for start in range(0, len(ids), MATCH_CHUNK)]
    # Both threads call Deezer, so each function's own before/after count would include the other's calls:
    # they are counted once, here, from the shared clients.
    once = _CallsCountedOutside(summary)
    before = clients.call_counts()

    def later(index: int) -> int:  # tracks of the chunks after this one: no bar may read full while they wait
        return max(len(ids) - (index + 1) * MATCH_CHUNK, 0)

    stopping = threading.Event()

    def stop_ahead() -> None:  # the matching thread stops at its next answer once this run is stopping
        if stopping.is_set():
            raise _Stopped()

    def match(index: int) -> dict[int, int]:
        return match_tracks(session_factory, chunks[index], clients, once, progress, later=later(index),
                            check_stop=stop_ahead)

    try:
        with ThreadPoolExecutor(1, thread_name_prefix="match-ahead") as ahead:
            try:
                ahead_of: Future[dict[int, int]] | None = None
                for index, chunk in enumerate(chunks):
                    check()
                    merged = ahead_of.result() if ahead_of is not None else match(index)
                    ahead_of = ahead.submit(match, index + 1) if enrich and index + 1 < len(chunks) else None
                    if enrich:
                        check()
                        enrich_tracks(session_factory, [merged.get(i, i) for i in chunk], config, once, progress,
                                      providers=providers, clients=clients, check_stop=check_stop,
                                      later=later(index))
            except BaseException:
                stopping.set()  # a cancel or a failure here: the chunk being matched ahead stops too
                raise
    finally:
        for service, count in clients.call_counts().items():
            summary.add_calls(service, count - before.get(service, 0))


class _Stopped(Exception):
    """The run is stopping: the chunk matched ahead ends at its next answer (what it stored stays)."""


class _CallsCountedOutside:
    """A run summary that passes everything on but the calls, which its caller counts once for all threads."""

    def __init__(self, summary: RunSummary) -> None:
        object.__setattr__(self, "_summary", summary)

    def add_calls(self, service: str, n: int) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._summary, name)

    def __setattr__(self, name: str, value: Any) -> None:  # `summary.cache_hits += n` lands on the real one
        setattr(self._summary, name, value)
