"""Deezer's keyless public API: playlists, tracks, ISRC lookups, albums, search and charts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests

from app.pipeline.clients.base import NotFound, Retry, ServiceClient, ServiceError
from app.pipeline.ratelimit import SlidingWindowLimiter

# Deezer's documented quota: 50 requests per 5 seconds per client IP.
DEEZER_MAX_CALLS = 50
DEEZER_WINDOW_S = 5.0
PLAYLIST_PAGE = 100  # /playlist/{id}/tracks accepts large pages; 100 keeps each answer small and steady


def deezer_limiter() -> SlidingWindowLimiter:
    return SlidingWindowLimiter(DEEZER_MAX_CALLS, DEEZER_WINDOW_S)


class DeezerClient(ServiceClient):
    """Deezer answers errors as HTTP 200 bodies; this client reads them and acts on their codes."""

    service = "deezer"
    #: How long every caller waits after a quota refusal: Deezer sends no Retry-After and says wait a second or two.
    quota_pause_s = 1.5

    def check(self, response: requests.Response) -> Any:
        data = super().check(response)
        if not isinstance(data, dict):
            raise Retry("answer is not a JSON object")
        error = data.get("error")
        if not error:
            return data
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message", "") if isinstance(error, dict) else str(error)
        if code == 4:  # quota exceeded
            raise Retry("quota exceeded (code 4)", pause_s=self.quota_pause_s)
        if code == 700:
            raise Retry("service busy (code 700)")
        if code == 800:
            raise NotFound(self.service, "no data", message)
        raise ServiceError(self.service, f"error {code}", message)

    def search_playlists(self, query: str, limit: int = 25) -> list[dict[str, Any]]:
        data = self.get("search/playlist", {"q": query, "limit": limit})
        return [p for p in data.get("data") or [] if isinstance(p, dict)]

    def playlist(self, playlist_id: int | str) -> dict[str, Any]:
        return self.get(f"playlist/{playlist_id}")

    def playlist_tracks(self, playlist_id: int | str, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Every track of a playlist, following `next` (pages may be short: unreadable tracks are dropped)."""
        params: dict[str, Any] | None = {"index": 0, "limit": PLAYLIST_PAGE}
        path = f"playlist/{playlist_id}/tracks"
        yielded = 0
        while path:
            data = self.get(path, params)
            for item in data.get("data") or []:
                if limit is not None and yielded >= limit:
                    return
                yield item
                yielded += 1
            path, params = data.get("next"), None  # `next` is absolute and carries index/limit
            if limit is not None and yielded >= limit:
                return

    def track(self, track_id: int | str) -> dict[str, Any]:
        return self.get(f"track/{track_id}")

    def track_by_isrc(self, isrc: str) -> dict[str, Any] | None:
        try:
            return self.get(f"track/isrc:{isrc}")
        except NotFound:
            return None

    def album(self, album_id: int | str) -> dict[str, Any]:
        return self.get(f"album/{album_id}")

    def search_tracks(self, query: str, limit: int = 10) -> list[dict[str, Any]]:
        data = self.get("search", {"q": query, "limit": limit})
        return [t for t in data.get("data") or [] if isinstance(t, dict)]

    def chart_tracks(self, genre_id: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """The tracks of Deezer's chart for one genre (0: all genres), most popular first."""
        data = self.get(f"chart/{int(genre_id)}/tracks", {"limit": int(limit)})
        return [t for t in data.get("data") or [] if isinstance(t, dict)]

    def genre_ids(self) -> list[int]:
        """The ids of Deezer's genres, 0 ("All") included."""
        data = self.get("genre")
        return [g["id"] for g in data.get("data") or [] if isinstance(g, dict) and isinstance(g.get("id"), int)]
