"""Build the service clients from the app's configuration, sharing one rate limiter per service (through Redis when configured).

`build_clients` is the one factory for a run's clients (harvest, import, enrich, the other modes' jobs and their
commands); the single-service builders below serve it and the few quick calls that need one client.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import spotipy
from flask import current_app, has_app_context

from app.pipeline.clients.deezer import DEEZER_MAX_CALLS, DEEZER_WINDOW_S, DeezerClient
from app.pipeline.providers import configured_providers
from app.pipeline.providers.run import RunClients
from app.pipeline.clients.reccobeats import ReccoBeatsClient
from app.pipeline.clients.spotify import SPOTIFY_MAX_CALLS, SPOTIFY_WINDOW_S, SpotifyClient
from app.pipeline.ratelimit import RateLimiter, SlidingWindowLimiter
from app.pipeline.ratelimit_redis import RedisSlidingWindowLimiter

# ReccoBeats publishes no limit; this is gentle enough for one operator with no SLA, and 429 +
# Retry-After corrects it.
RECCOBEATS_MAX_CALLS = 100
RECCOBEATS_WINDOW_S = 60.0

# service -> (requests, per seconds)
LIMITS = {
    "deezer": (DEEZER_MAX_CALLS, DEEZER_WINDOW_S),
    "spotify": (SPOTIFY_MAX_CALLS, SPOTIFY_WINDOW_S),
    "reccobeats": (RECCOBEATS_MAX_CALLS, RECCOBEATS_WINDOW_S),
}
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def shared_limiter(service: str, base_url: str, config: Mapping[str, Any] | None = None) -> RateLimiter:
    """One limiter per service and address: shared through Redis by every process when `limiter_store(config)`
    names one (several workers together then stay inside the service's limit), else by this process's threads.

    `config` defaults to the current app's, so callers inside a request or job need not pass it.
    """
    if config is None:
        config = current_app.config if has_app_context() else {}
    return _limiter(service, base_url, limiter_store(config))


def limiter_store(config: Mapping[str, Any]) -> str | None:
    """RATE_LIMIT_REDIS_URL, else CELERY_BROKER_URL when it is a Redis URL, else None (in-process limits)."""
    for name in ("RATE_LIMIT_REDIS_URL", "CELERY_BROKER_URL"):
        url = config.get(name)
        if url and str(url).startswith(REDIS_SCHEMES):
            return str(url)
    return None


@functools.cache
def _limiter(service: str, base_url: str, store_url: str | None) -> RateLimiter:
    try:
        max_calls, window_s = LIMITS[service]
    except KeyError:
        raise ValueError(f"no limiter for {service!r}") from None
    if store_url is None:
        return SlidingWindowLimiter(max_calls, window_s)
    # The address is part of the key: a sandbox and the real service never share a window.
    return RedisSlidingWindowLimiter.from_url(store_url, f"contextify:ratelimit:{service}:{base_url}",
                                              max_calls, window_s)


def build_clients(config: Mapping[str, Any], spotify: SpotifyClient | None = None, app_spotify: bool = False,
                  **client_options: Any) -> RunClients:
    """A run's clients, sharing this process's (or Redis's) limiters: Deezer and ReccoBeats always; Spotify as
    `spotify` (a user's client), else the app's own client-credentials client when `app_spotify`, else none."""
    if spotify is None and app_spotify:
        spotify = spotify_app_client(config)
    return RunClients(deezer=deezer_client(config, **client_options),
                      reccobeats=reccobeats_client(config, **client_options), spotify=spotify,
                      reccobeats_audio=bool(config.get("CONTEXTIFY_RECCOBEATS_AUDIO")),
                      default_providers=configured_providers(config))


def deezer_client(config: Mapping[str, Any], **options: Any) -> DeezerClient:
    url = config["DEEZER_API_URL"]
    return DeezerClient(url, limiter=shared_limiter("deezer", url, config), **options)


def reccobeats_client(config: Mapping[str, Any], **options: Any) -> ReccoBeatsClient:
    url = config["RECCOBEATS_API_URL"]
    return ReccoBeatsClient(url, limiter=shared_limiter("reccobeats", url, config), **options)


def spotify_user_client(config: Mapping[str, Any], access_token: str, **options: Any) -> SpotifyClient:
    """A client acting as one user (their access token)."""
    url = config["SPOTIFY_API_URL"]
    return SpotifyClient(url, access_token=access_token, limiter=shared_limiter("spotify", url, config), **options)


def spotify_app_client(config: Mapping[str, Any], **options: Any) -> SpotifyClient:
    """A client acting as the app itself (client-credentials grant): search, public metadata."""
    # spotipy's default CacheFileHandler keeps the token in ./.cache and hands it to the next process,
    # even one talking to another Accounts service (a new sandbox): keep it in memory instead.
    credentials = _client_credentials_class(config["SPOTIFY_ACCOUNTS_URL"])(
        client_id=config["SPOTIFY_CLIENT_ID"], client_secret=config["SPOTIFY_CLIENT_SECRET"],
        cache_handler=spotipy.MemoryCacheHandler())
    url = config["SPOTIFY_API_URL"]
    return SpotifyClient(url, auth_manager=credentials, limiter=shared_limiter("spotify", url, config), **options)


def _client_credentials_class(accounts_url: str) -> type[spotipy.SpotifyClientCredentials]:
    # spotipy keeps the token URL as a class attribute; a subclass points it at another Accounts service.
    return type("ClientCredentials", (spotipy.SpotifyClientCredentials,),
                {"OAUTH_TOKEN_URL": accounts_url.rstrip("/") + "/api/token"})
