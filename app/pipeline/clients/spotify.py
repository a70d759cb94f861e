"""Spotify Web API through spotipy, as a development-mode app may use it in 2026."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests
import spotipy
from spotipy.exceptions import SpotifyException

from app.pipeline.clients.base import NotFound, RateLimited, ServiceError, Unavailable
from app.pipeline.ratelimit import RateLimiter, SlidingWindowLimiter, Unlimited

log = logging.getLogger("contextify.pipeline.clients")

# Spotify publishes no number for its rolling 30-second window; this stays well inside what
# development-mode apps observe, and 429s with Retry-After correct it when it is still too fast.
SPOTIFY_MAX_CALLS = 150
SPOTIFY_WINDOW_S = 30.0
SAVED_TRACKS_PAGE = 50  # /me/tracks maximum
PLAYLISTS_PAGE = 50
ITEMS_PER_WRITE = 100  # POST /playlists/{id}/items takes at most 100 URIs


def spotify_limiter() -> SlidingWindowLimiter:
    return SlidingWindowLimiter(SPOTIFY_MAX_CALLS, SPOTIFY_WINDOW_S)


class NotAllowListed(ServiceError):
    """Development mode: this Spotify user is not on the app's allow-list (the plain-text 403)."""


class Forbidden(ServiceError):
    """A JSON 403: the app may not read this (a playlist the user neither owns nor collaborates on)."""


class _CountingSession(requests.Session):
    """spotipy's session: waits on our limiter and counts each request. Having our own session also keeps
    spotipy from mounting its retry adapter, which sleeps through `Retry-After` silently, even for hours."""

    def __init__(self, limiter: RateLimiter) -> None:
        super().__init__()
        self.limiter = limiter
        self.calls = 0
        self._lock = threading.Lock()

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        with self.limiter.slot():  # counted from the answer, as in ServiceClient.request
            with self._lock:
                self.calls += 1
            return super().request(*args, **kwargs)


class SpotifyClient:
    """The calls contextify makes to Spotify, each retried by the same rules as the other services."""

    service = "spotify"

    def __init__(self, api_url: str, *, access_token: str | None = None, auth_manager: Any = None,
                 limiter: RateLimiter | None = None, max_attempts: int = 6, max_retry_after_s: float = 60.0,
                 backoff_s: float = 0.5, timeout_s: float = 20.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.limiter = limiter or Unlimited()
        self.session = _CountingSession(self.limiter)
        self.sp = spotipy.Spotify(auth=access_token, auth_manager=auth_manager, requests_session=self.session,
                                  requests_timeout=timeout_s, retries=0)
        self.sp.prefix = api_url.rstrip("/") + "/"  # a plain attribute: how spotipy is pointed at the sandbox
        self.max_attempts = max_attempts
        self.max_retry_after_s = max_retry_after_s
        self.backoff_s = backoff_s
        self._sleep = sleep

    @property
    def calls(self) -> int:
        return self.session.calls

    def call(self, method: Callable[..., Any], *args: Any, expect_json: bool = True, **kwargs: Any) -> Any:
        last_problem = "no attempt made"
        for attempt in range(1, self.max_attempts + 1):
            try:
                result = method(*args, **kwargs)
            except SpotifyException as exc:
                last_problem = self._classify(exc)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_problem = f"no answer ({type(exc).__name__})"
            else:
                # spotipy turns an unparsable 2xx body into None instead of raising.
                if result is not None or not expect_json:
                    return result
                last_problem = "malformed JSON"
            if attempt < self.max_attempts and not last_problem.startswith("429"):
                self._sleep(self.backoff_s * 2 ** (attempt - 1) * (0.5 + random.random()))
        raise Unavailable(self.service, "kept failing", f"{last_problem}; {self.max_attempts} attempts")

    def _classify(self, exc: SpotifyException) -> str:
        """Raise what should not be retried; return a description of what should."""
        status = exc.http_status
        if status == 429:
            retry_after = _retry_after(exc)
            if exc.reason == "QUOTA_EXCEEDED" or retry_after > self.max_retry_after_s:
                raise RateLimited(self.service, retry_after, exc.msg or "") from exc
            self.limiter.pause(max(retry_after, self.backoff_s))
            return "429 rate limited"
        if status >= 500:
            return f"HTTP {status}"
        if status == 403 and any(text in (exc.msg or "") for text in ("may not be registered", "not registered")):
            raise NotAllowListed(self.service, "user not allow-listed in this app", exc.msg or "") from exc
        if status == 404:
            raise NotFound(self.service, "not found", exc.msg or "") from exc
        if status == 403:
            raise Forbidden(self.service, "refused with HTTP 403", exc.msg or "") from exc
        raise ServiceError(self.service, f"refused with HTTP {status}", exc.msg or "") from exc

    # ------------------------------------------------------------------------------------- reads

    def me(self) -> dict[str, Any]:
        return self.call(self.sp.me)

    def _pages(self, first: Callable[[], dict[str, Any]]) -> Iterator[dict[str, Any]]:
        page = self.call(first)
        while page:
            yield page
            page = self.call(self.sp.next, page) if page.get("next") else None

    def saved_tracks(self) -> Iterator[dict[str, Any]]:
        """Liked Songs, newest first: items `{"added_at", "track"}`; `track` may be null (unavailable)."""
        for page in self._pages(lambda: self.sp.current_user_saved_tracks(limit=SAVED_TRACKS_PAGE)):
            yield from page.get("items") or []

    def my_playlists(self) -> Iterator[dict[str, Any]]:
        for page in self._pages(lambda: self.sp.current_user_playlists(limit=PLAYLISTS_PAGE)):
            yield from (p for p in page.get("items") or [] if p)

    def playlist(self, playlist_id: str) -> dict[str, Any]:
        return self.call(self.sp.playlist, playlist_id)

    def playlist_items(self, playlist_id: str) -> Iterator[dict[str, Any]]:
        """Items of a playlist the user owns or collaborates on (403 otherwise, in development mode)."""
        for page in self._pages(lambda: self.sp.playlist_items(playlist_id, limit=50)):
            yield from page.get("items") or []

    # ------------------------------------------------------------------------------------ writes

    def create_playlist(self, name: str, *, public: bool = False, description: str = "") -> dict[str, Any]:
        # spotipy's user_playlist_create still targets the removed POST /users/{id}/playlists.
        return self.call(self.sp._post, "me/playlists",
                         payload={"name": name, "public": public, "description": description})

    def add_items(self, playlist_id: str, uris: list[str]) -> list[str]:
        """Append URIs in batches of 100; returns the snapshot id after each batch."""
        snapshots = []
        for start in range(0, len(uris), ITEMS_PER_WRITE):
            result = self.call(self.sp.playlist_add_items, playlist_id, uris[start:start + ITEMS_PER_WRITE])
            snapshots.append(result.get("snapshot_id"))
        return snapshots


def _retry_after(exc: SpotifyException) -> float:
    try:
        return float((exc.headers or {}).get("Retry-After", 1))
    except (TypeError, ValueError):
        return 1.0
