"""Build the service clients from the app's configuration, sharing one rate limiter per service per process."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import spotipy

from app.pipeline.clients.deezer import DeezerClient, deezer_limiter
from app.pipeline.clients.reccobeats import ReccoBeatsClient
from app.pipeline.clients.spotify import SpotifyClient, spotify_limiter
from app.pipeline.ratelimit import RateLimiter, SlidingWindowLimiter

# ReccoBeats publishes no limit; this is gentle enough for one operator with no SLA, and 429 +
# Retry-After corrects it.
RECCOBEATS_MAX_CALLS = 100
RECCOBEATS_WINDOW_S = 60.0


@functools.cache
def shared_limiter(service: str, base_url: str) -> RateLimiter:
    """One limiter per service and address in this process, so every thread and job shares the window."""
    if service == "deezer":
        return deezer_limiter()
    if service == "spotify":
        return spotify_limiter()
    if service == "reccobeats":
        return SlidingWindowLimiter(RECCOBEATS_MAX_CALLS, RECCOBEATS_WINDOW_S)
    raise ValueError(f"no limiter for {service!r}")


def deezer_client(config: Mapping[str, Any], **options: Any) -> DeezerClient:
    url = config["DEEZER_API_URL"]
    return DeezerClient(url, limiter=shared_limiter("deezer", url), **options)


def reccobeats_client(config: Mapping[str, Any], **options: Any) -> ReccoBeatsClient:
    url = config["RECCOBEATS_API_URL"]
    return ReccoBeatsClient(url, limiter=shared_limiter("reccobeats", url), **options)


def spotify_user_client(config: Mapping[str, Any], access_token: str, **options: Any) -> SpotifyClient:
    """A client acting as one user (their access token)."""
    url = config["SPOTIFY_API_URL"]
    return SpotifyClient(url, access_token=access_token, limiter=shared_limiter("spotify", url), **options)


def spotify_app_client(config: Mapping[str, Any], **options: Any) -> SpotifyClient:
    """A client acting as the app itself (client-credentials grant): search, public metadata."""
    # spotipy's default CacheFileHandler keeps the token in ./.cache and hands it to the next process,
    # even one talking to another Accounts service (a new sandbox): keep it in memory instead.
    credentials = _client_credentials_class(config["SPOTIFY_ACCOUNTS_URL"])(
        client_id=config["SPOTIFY_CLIENT_ID"], client_secret=config["SPOTIFY_CLIENT_SECRET"],
        cache_handler=spotipy.MemoryCacheHandler())
    url = config["SPOTIFY_API_URL"]
    return SpotifyClient(url, auth_manager=credentials, limiter=shared_limiter("spotify", url), **options)


def _client_credentials_class(accounts_url: str) -> type[spotipy.SpotifyClientCredentials]:
    # spotipy keeps the token URL as a class attribute; a subclass points it at another Accounts service.
    return type("ClientCredentials", (spotipy.SpotifyClientCredentials,),
                {"OAUTH_TOKEN_URL": accounts_url.rstrip("/") + "/api/token"})
