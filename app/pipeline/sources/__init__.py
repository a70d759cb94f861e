"""Label sources: services whose public playlists, named after a context, give tracks their labels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class FoundPlaylist:
    """A playlist a search returned, with what the search told about it (no extra call was made)."""

    service: str
    external_id: str
    title: str
    rank: int                      # position in the search results, 0 first (the service's popularity order)
    owner_id: str | None = None
    owner_name: str | None = None
    nb_tracks: int | None = None
    fans: int | None = None        # followers/fans, when the search result carries them
    checksum: str | None = None    # Deezer checksum / Spotify snapshot_id: unchanged means same content


@dataclass
class SearchResult:
    playlists: list[FoundPlaylist]
    broken: int = 0                # null entries or entries without id/title, skipped


@dataclass
class FetchedPlaylist:
    """The first tracks of a playlist as (position, catalog key, raw track object), in playlist order."""

    tracks: list[tuple[int, Any, Mapping[str, Any]]] = field(default_factory=list)
    broken: int = 0                # null, unavailable or id-less entries, skipped

    @property
    def keys(self) -> list[Any]:
        return [key for _, key, _ in self.tracks]


class LabelSource(Protocol):
    """What harvesting needs from a service; one module per service in this package."""

    service: str      # source_playlists.service
    track_key: str    # the `tracks` column this service's track keys live in (deezer_id, spotify_id)

    @property
    def calls(self) -> int:
        """Requests sent so far by the underlying client (for run summaries)."""

    def find_playlists(self, context: str, limit: int) -> SearchResult:
        """Public playlists found by the context name, best first; at least `limit` when the service has them."""

    def playlist_tracks(self, playlist: FoundPlaylist, limit: int) -> FetchedPlaylist:
        """The playlist's first `limit` entries; raises ServiceError when the service cannot give them."""

    def store_tracks(self, session: Session, items: Sequence[Mapping[str, Any]]) -> dict[Any, int]:
        """Upsert raw track objects into the catalog; returns {key: tracks.id}."""
