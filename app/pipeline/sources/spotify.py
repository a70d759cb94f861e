"""Spotify public playlists as a label source, for apps Spotify still lets read other people's playlists."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.pipeline.catalog import upsert_spotify_tracks
from app.pipeline.clients.base import ServiceError
from app.pipeline.clients.spotify import SpotifyClient
from app.pipeline.sources import FetchedPlaylist, FoundPlaylist, SearchResult

SEARCH_PAGE = 10        # development mode: search `limit` at most 10, more is a 400
SEARCH_MAX_PAGES = 5
CANDIDATES_PER_PLAYLIST = 2  # search for twice the playlists wanted: some are nulls, duplicates or off-topic
FORBIDDEN = "refused with HTTP 403"
PROBE_QUERIES = 3          # contexts tried to find a playlist to test access with, before PROBE_FALLBACK
PROBE_FALLBACK = "music"

# Whether this process found foreign playlists readable, per Spotify API address: asked once, remembered.
_readable: dict[str, bool] = {}
_readable_lock = threading.Lock()


class SpotifySource:
    service = "spotify"
    track_key = "spotify_id"

    def __init__(self, client: SpotifyClient) -> None:
        self.client = client

    @property
    def calls(self) -> int:
        return self.client.calls

    def find_playlists(self, context: str, limit: int) -> SearchResult:
        pages = min(SEARCH_MAX_PAGES, math.ceil(limit * CANDIDATES_PER_PLAYLIST / SEARCH_PAGE))
        result = SearchResult(playlists=[])
        for page in range(pages):
            answer = self._search(context, offset=page * SEARCH_PAGE)
            items = answer.get("items") or []
            for rank, item in enumerate(items, start=page * SEARCH_PAGE):
                found = _found(item, rank)
                if found is None:
                    result.broken += 1  # Spotify's playlist search returns `null` entries
                else:
                    result.playlists.append(found)
            if not answer.get("next"):
                break
        return result

    def playlist_tracks(self, playlist: FoundPlaylist, limit: int) -> FetchedPlaylist:
        fetched = FetchedPlaylist()
        for position, entry in enumerate(self.client.playlist_items(playlist.external_id)):
            if position >= limit:
                break  # the client pages lazily: stopping here sends no further request
            # Since Feb 2026 an item's object is under `item`; `track` is the legacy key.
            track = (entry.get("item") or entry.get("track")) if isinstance(entry, dict) else None
            if isinstance(track, dict) and track.get("id") and not track.get("is_local") \
                    and track.get("type", "track") == "track":
                fetched.tracks.append((position, str(track["id"]), track))
            else:
                fetched.broken += 1
        return fetched

    def store_tracks(self, session: Session, items: Sequence[Mapping[str, Any]]) -> dict[Any, int]:
        return upsert_spotify_tracks(session, items)

    def foreign_playlists_readable(self, queries: Sequence[str]) -> tuple[bool | None, bool]:
        """(readable, remembered): may this app read the items of a playlist it does not own?

        Development-mode apps get 403 on `/playlists/{id}/items` of foreign playlists, so this reads one item
        of the first playlist found by the first query that finds one (the contexts, then a generic word).
        The answer is kept for the process. None: no playlist found to try.
        """
        with _readable_lock:
            if self.client.sp.prefix in _readable:
                return _readable[self.client.sp.prefix], True
        first = None
        for query in [*queries[:PROBE_QUERIES], PROBE_FALLBACK]:
            first = next(iter(self.find_playlists(query, SEARCH_PAGE // CANDIDATES_PER_PLAYLIST).playlists), None)
            if first is not None:
                break
        if first is None:
            return None, False
        try:
            self.client.call(self.client.sp.playlist_items, first.external_id, limit=1)
            readable = True
        except ServiceError as exc:
            if exc.reason != FORBIDDEN:
                raise
            readable = False
        with _readable_lock:
            _readable[self.client.sp.prefix] = readable
        return readable, False

    def _search(self, query: str, offset: int) -> dict[str, Any]:
        answer = self.client.call(self.client.sp.search, q=query, type="playlist", limit=SEARCH_PAGE,
                                  offset=offset)
        return answer.get("playlists") or {}


def _found(item: Any, rank: int) -> FoundPlaylist | None:
    if not isinstance(item, dict) or not item.get("id") or not isinstance(item.get("name"), str) \
            or not item["name"].strip():
        return None
    owner = item.get("owner") if isinstance(item.get("owner"), dict) else {}
    ref = item.get("items") or item.get("tracks") or {}
    total = ref.get("total") if isinstance(ref, dict) else None
    followers = item.get("followers", {}).get("total") if isinstance(item.get("followers"), dict) else None
    return FoundPlaylist(
        service="spotify", external_id=str(item["id"]), title=item["name"], rank=rank,
        owner_id=owner.get("id"), owner_name=owner.get("display_name"),
        nb_tracks=total if isinstance(total, int) else None,
        fans=followers if isinstance(followers, int) else None,
        checksum=item.get("snapshot_id") if isinstance(item.get("snapshot_id"), str) else None)
