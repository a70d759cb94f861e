"""Enhance's adding: the user's accepted suggestions appended to their own Spotify playlists and read back.

Only playlists the user owns (as Spotify reported at import) are ever written, and only by appending the tracks
the user accepted: nothing is removed or reordered. A suggestion becomes "added" only when reading the playlist
back shows the track in it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.pipeline.clients.base import NotFound, ServiceError
from app.pipeline.clients.spotify import SpotifyClient
from app.pipeline.enrich import upsert_rows
from app.pipeline.playlist_writer import PlaylistWriter
from app.services.enhance import MODE, EnhanceError, collection
from app.services.save import service_problem
from app.storage.tables import LibraryItem, LibraryPlaylist, Suggestion, Track, utcnow
from app.storage.ownership import get_owned, owned


def accept(session: Session, user_id: int, suggestion_ids: Sequence[Any]) -> list[int]:
    """Mark the user's pending suggestions among ``suggestion_ids`` accepted; returns the ids to add.

    Raises EnhanceError when none of the ids is one of the user's Enhance suggestions still to add.
    """
    wanted = sorted({int(i) for i in suggestion_ids if str(i).isdigit()})
    rows = session.scalars(owned(Suggestion, user_id).where(Suggestion.mode == MODE, Suggestion.id.in_(wanted),
                                                           Suggestion.decision.in_(("pending", "accepted")))).all()
    if not rows:
        raise EnhanceError("Tick at least one suggested song that is not in its playlist yet.")
    for row in rows:
        row.decision = "accepted"
    session.commit()
    return [row.id for row in rows]


@dataclass
class AddOutcome:
    playlist: str
    status: str          # added | failed | partial
    added: int
    message: str

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def add_accepted(session: Session, user_id: int, client: SpotifyClient, suggestion_ids: Sequence[int] | None = None,
                 after_each: Callable[[AddOutcome], None] | None = None,
                 planned: Callable[[int], None] | None = None) -> list[AddOutcome]:
    """Append the user's accepted suggestions to their Spotify playlists, one playlist at a time, and read back.

    A suggestion is marked "added" (and its track put in the playlist's library collection) only when the
    playlist read back holds it. Tracks already in the playlist are not added twice. ``planned`` hears how many
    playlists will be updated, before the first one.
    """
    query = owned(Suggestion, user_id).where(Suggestion.mode == MODE, Suggestion.decision == "accepted")
    if suggestion_ids is not None:
        query = query.where(Suggestion.id.in_([int(i) for i in suggestion_ids]))
    by_target: dict[str, list[Suggestion]] = {}
    for row in session.scalars(query.order_by(Suggestion.target, Suggestion.rank)):
        by_target.setdefault(row.target, []).append(row)
    if not by_target:
        raise EnhanceError("There are no accepted suggestions to add.")
    if planned is not None:
        planned(len(by_target))
    outcomes = []
    for target, rows in by_target.items():
        outcome = _add_to_playlist(session, user_id, client, target, rows)
        outcomes.append(outcome)
        if after_each is not None:
            after_each(outcome)
    return outcomes


def _add_to_playlist(session: Session, user_id: int, client: SpotifyClient, target: str,
                     rows: list[Suggestion]) -> AddOutcome:
    playlist_id = int(target.partition(":")[2]) if target.startswith("playlist:") else None
    playlist = get_owned(session, LibraryPlaylist, user_id, playlist_id) if playlist_id else None
    if playlist is None or not playlist.owned_by_user or not playlist.spotify_id:
        return AddOutcome(playlist.name if playlist else target, "failed", 0,
                          "This is not a Spotify playlist of yours any more (import your library again), so nothing "
                          "was added.")
    uris = dict(session.execute(select(Track.id, Track.spotify_id).where(
        Track.id.in_([r.track_id for r in rows]))).all())
    wanted = {r.id: f"spotify:track:{uris[r.track_id]}" for r in rows if uris.get(r.track_id)}
    try:
        after = set(PlaylistWriter(client).append_new(playlist.spotify_id, list(wanted.values())).after)
    except NotFound:
        return AddOutcome(playlist.name, "failed", 0, "Spotify no longer has this playlist; nothing was added.")
    except ServiceError as exc:
        session.rollback()
        return AddOutcome(playlist.name, "failed", 0, service_problem(exc) + ".")
    confirmed = [r for r in rows if wanted.get(r.id) in after]
    for row in confirmed:
        row.decision = "added"
    upsert_rows(session, LibraryItem, [{"user_id": user_id, "collection": collection(playlist.id),
                                        "track_id": r.track_id, "library_playlist_id": playlist.id,
                                        "added_at": utcnow()} for r in confirmed],
                key=("user_id", "collection", "track_id"), update=())
    session.commit()
    missing = len(rows) - len(confirmed)
    added = len(confirmed)
    if not missing:
        return AddOutcome(playlist.name, "added", added,
                          f"Added {added} song{'s' if added != 1 else ''}; read back and checked.")
    return AddOutcome(playlist.name, "partial" if added else "failed", added,
                      f"{added} of {len(rows)} songs are in the playlist when read back; {missing} did not land "
                      "(a song without a Spotify id cannot be added). Try again to retry them.")
