"""What the syncs did, for the Home and Save pages, and the user's answers to it: undo, accept or dismiss.

Undo works for 7 days, per track or per sync, and removes exactly those items from contextify's playlist (the
remove-items endpoint takes every occurrence of a URI, and a sync never adds one twice); it counts only when
reading the playlist back shows everything else unchanged, in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.pipeline.clients.base import ServiceError
from app.pipeline.clients.spotify import ITEMS_PER_WRITE, SpotifyClient
from app.services.save import difference, read_uris, service_problem
from app.services.sync import sync_settings
from app.storage.tables import ExportedPlaylist, SortAssignment, SyncItem, SyncRun, Track, utcnow
from app.storage.ownership import get_owned, owned

UNDO_FOR = timedelta(days=7)
SHOWN_RUNS = 5


class DigestError(LookupError):
    """No such item or sync of this user's, or one that can no longer be undone; plain words."""


@dataclass
class DigestRun:
    id: int
    when: str
    status: str
    message: str
    stale: str | None
    undoable: bool
    playlists: dict[str, list[dict]] = field(default_factory=dict)   # playlist name -> items
    queued: list[dict] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)


def _aware(value):  # noqa: ANN001,ANN202  (SQLite gives naive datetimes, PostgreSQL aware ones)
    from datetime import UTC

    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def digest(session: Session, user_id: int, limit: int = SHOWN_RUNS) -> list[DigestRun]:
    """The user's latest syncs, newest first: per playlist what each added, what waits, what was left out."""
    runs = session.scalars(owned(SyncRun, user_id).order_by(SyncRun.id.desc()).limit(limit)).all()
    names = {r.context: r.name for r in session.scalars(owned(ExportedPlaylist, user_id))}
    now = utcnow()
    shown = []
    for run in runs:
        entry = DigestRun(run.id, _aware(run.started_at).strftime("%Y-%m-%d %H:%M UTC"), run.status,
                          run.message or "", run.stale, now - _aware(run.started_at) <= UNDO_FOR)
        items = session.execute(select(SyncItem, Track.artist, Track.title).join(Track, Track.id == SyncItem.track_id)
                                .where(SyncItem.user_id == user_id, SyncItem.sync_run_id == run.id)
                                .order_by(SyncItem.context, SyncItem.probability.desc())).all()
        for item, artist, title in items:
            shown_item = {"id": item.id, "track": f"{artist} – {title}", "context": item.context,
                          "playlist": names.get(item.context, item.context), "status": item.status,
                          "note": item.note or ""}
            if item.status in ("added", "undone", "present", "failed"):
                entry.playlists.setdefault(shown_item["playlist"], []).append(shown_item)
            elif item.status in ("queued", "dismissed"):
                entry.queued.append(shown_item)
            elif item.status == "duplicate":
                entry.duplicates.append(shown_item)
        shown.append(entry)
    return shown


def notices(session: Session, user_id: int) -> list[str]:
    """What the user must hear on their next visit: a paused sync, a sync that stopped, a model gone stale."""
    settings = sync_settings(session, user_id)
    said = [settings.paused_reason] if settings.paused_reason else []
    last = session.scalar(owned(SyncRun, user_id).order_by(SyncRun.id.desc()).limit(1))
    if last is not None and last.status in ("stopped", "failed") and last.message:
        said.append(last.message)
    if last is not None and last.stale:
        said.append(last.stale)
    return said


def undo_item(session: Session, user_id: int, item_id: int, client: SpotifyClient) -> str:
    item = get_owned(session, SyncItem, user_id, item_id)
    if item is None:
        raise DigestError("There is no such added track among your syncs.")
    return _undo(session, user_id, [item], client)


def undo_run(session: Session, user_id: int, sync_run_id: int, client: SpotifyClient) -> str:
    run = get_owned(session, SyncRun, user_id, sync_run_id)
    if run is None:
        raise DigestError("There is no such sync of yours.")
    items = list(session.scalars(owned(SyncItem, user_id).where(SyncItem.sync_run_id == run.id,
                                                                SyncItem.status == "added")))
    if not items:
        return "Nothing of this sync is left to undo."
    return _undo(session, user_id, items, client)


def _undo(session: Session, user_id: int, items: list[SyncItem], client: SpotifyClient) -> str:
    """Remove the items from their playlists, read each back, and mark them undone when it shows exactly that."""
    now = utcnow()
    for item in items:
        run = session.get(SyncRun, item.sync_run_id)
        if item.status != "added":
            raise DigestError(f"That track is {item.status}, not added, so there is nothing to undo.")
        if now - _aware(run.started_at) > UNDO_FOR:
            raise DigestError("A sync can be undone for 7 days; this one is older. Remove the track in Spotify.")
    rows = {r.context: r for r in session.scalars(owned(ExportedPlaylist, user_id))}
    done = 0
    for context in sorted({i.context for i in items}):
        row, mine = rows.get(context), [i for i in items if i.context == context]
        if row is None or not row.spotify_playlist_id:
            raise DigestError("contextify no longer has that playlist.")
        uris = [i.uri for i in mine]
        try:
            before = read_uris(client, row.spotify_playlist_id)
            for start in range(0, len(uris), ITEMS_PER_WRITE):
                client.call(client.sp.playlist_remove_all_occurrences_of_items, row.spotify_playlist_id,
                            uris[start:start + ITEMS_PER_WRITE])
            after = read_uris(client, row.spotify_playlist_id)
        except ServiceError as exc:
            return f"Undo stopped: {service_problem(exc)}. {done} track(s) were removed and checked."
        gone = set(uris)
        expected = [u for u in before if u not in gone]
        if after != expected:
            return f"{row.name}: " + difference(expected, after)
        for item in mine:
            item.status, item.undone_at = "undone", utcnow()
            # Rejected in the sort, so neither a later save nor the next sync puts it back.
            for assignment in session.scalars(owned(SortAssignment, user_id).where(
                    SortAssignment.sort_run_id == session.get(SyncRun, item.sync_run_id).sort_run_id,
                    SortAssignment.track_id == item.track_id, SortAssignment.context == item.context)):
                assignment.decision = "rejected"
        row.track_uris = after
        session.commit()
        done += len(mine)
    return f"Removed {done} track{'s' if done != 1 else ''} and read the playlist back: nothing else changed."


def accept_queued(session: Session, user_id: int, item_id: int, client: SpotifyClient) -> str:
    """Append a queued track to its playlist (verified by read-back), as a sync in "auto" mode would have."""
    from app.services.sync import Placement, append_verified

    item = get_owned(session, SyncItem, user_id, item_id)
    if item is None or item.status != "queued":
        raise DigestError("That track is not waiting for your review.")
    run = session.get(SyncRun, item.sync_run_id)
    row = session.scalar(owned(ExportedPlaylist, user_id).where(ExportedPlaylist.context == item.context))
    if row is None or not row.spotify_playlist_id:
        raise DigestError("contextify no longer has that playlist.")
    session.delete(item)  # replaced by the "added" item that append_verified records
    session.flush()
    try:
        added = append_verified(session, user_id, run, row, [Placement(item.context, item.track_id, item.uri,
                                                                          item.probability or 0.0)], client)
    except ServiceError as exc:
        session.rollback()
        return f"Not added: {service_problem(exc)}. It stays in your review queue."
    if isinstance(added, str):
        session.rollback()
        return f"{row.name}: {added}"
    return f"Added to {row.name} and read back."


def dismiss_queued(session: Session, user_id: int, item_id: int) -> str:
    item = get_owned(session, SyncItem, user_id, item_id)
    if item is None or item.status != "queued":
        raise DigestError("That track is not waiting for your review.")
    item.status = "dismissed"
    session.commit()
    return "Left out; the sync will not offer it again."
