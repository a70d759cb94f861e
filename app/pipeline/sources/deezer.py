"""Deezer public playlists as a label source: the default, keyless and open to every app."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.pipeline.catalog import upsert_deezer_tracks
from app.pipeline.clients.deezer import DeezerClient
from app.pipeline.sources import FetchedPlaylist, FoundPlaylist, SearchResult

SEARCH_PAGE = 100  # Deezer clamps search `limit` to 100: one call gives every candidate we could want


class DeezerSource:
    service = "deezer"
    track_key = "deezer_id"

    def __init__(self, client: DeezerClient) -> None:
        self.client = client

    @property
    def calls(self) -> int:
        return self.client.calls

    def find_playlists(self, context: str, limit: int) -> SearchResult:
        # The raw answer, not DeezerClient.search_playlists, so that broken entries are counted, not hidden.
        data = self.client.get("search/playlist", {"q": context, "limit": SEARCH_PAGE})
        result = SearchResult(playlists=[])
        for rank, item in enumerate(data.get("data") or []):
            found = _found(item, rank)
            if found is None:
                result.broken += 1
            else:
                result.playlists.append(found)
        return result

    def playlist_tracks(self, playlist: FoundPlaylist, limit: int) -> FetchedPlaylist:
        fetched = FetchedPlaylist()
        for position, item in enumerate(self.client.playlist_tracks(playlist.external_id, limit=limit)):
            deezer_id = item.get("id") if isinstance(item, dict) else None
            if isinstance(deezer_id, int) and not isinstance(deezer_id, bool) and item.get("title"):
                fetched.tracks.append((position, deezer_id, item))
            else:
                fetched.broken += 1
        return fetched

    def store_tracks(self, session: Session, items: Sequence[Mapping[str, Any]]) -> dict[Any, int]:
        return upsert_deezer_tracks(session, items)


def _found(item: Any, rank: int) -> FoundPlaylist | None:
    """A search entry as a FoundPlaylist; None when it lacks an id or a title."""
    if not isinstance(item, dict):
        return None
    playlist_id, title = item.get("id"), item.get("title")
    if not (isinstance(playlist_id, int) or (isinstance(playlist_id, str) and playlist_id.isdigit())):
        return None
    if not isinstance(title, str) or not title.strip():
        return None
    user = item.get("user") if isinstance(item.get("user"), dict) else {}
    return FoundPlaylist(
        service="deezer", external_id=str(playlist_id), title=title, rank=rank,
        owner_id=str(user["id"]) if user.get("id") is not None else None, owner_name=user.get("name"),
        nb_tracks=_count(item.get("nb_tracks")), fans=_count(item.get("fans")),
        checksum=item.get("checksum") if isinstance(item.get("checksum"), str) else None)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
