"""Spotify on behalf of a logged-in user: the OAuth manager (spotipy) and `spotify_for_user`, which keeps tokens fresh."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from flask import current_app
from spotipy import SpotifyOAuth
from spotipy.exceptions import SpotifyException, SpotifyOauthError
from sqlalchemy.orm import Session, sessionmaker

from app.auth.errors import NeedsLogin
from app.auth.tokens import StoredTokenCache, TokenStore
from app.pipeline.clients.base import ServiceError
from app.pipeline.clients.spotify import SpotifyClient
from app.pipeline.clients.factory import shared_limiter
from app.storage.encryption import TokenCipher

__all__ = ["NeedsLogin", "SCOPES", "oauth_manager", "spotify_for_user", "token_store"]

# spotipy's DEBUG lines print the token request's headers and body: the client secret and refresh tokens.
logging.getLogger("spotipy.oauth2").setLevel(logging.INFO)

SCOPES = "user-library-read playlist-read-private playlist-modify-private playlist-modify-public"
ACCOUNTS_TIMEOUT_S = 10


class ContextifyOAuth(SpotifyOAuth):
    """spotipy's Authorization Code flow, made safe for a server.

    - never prompts: spotipy falls back to reading a code from the terminal (or opening a browser) when its
      cache has no usable token; here that means the user must log in again;
    - keeps the scope Spotify granted (spotipy overwrites it with the requested one), so /account shows it;
    - refreshes under a per-user lock, so threads of one job never refresh the same token twice.
    `OAUTH_AUTHORIZE_URL` / `OAUTH_TOKEN_URL` are set per Accounts service by `oauth_class`.
    """

    def get_auth_response(self, *_args: Any, **_kwargs: Any) -> str:
        raise NeedsLogin("no usable stored token")

    def _add_custom_values_to_token_info(self, token_info: dict[str, Any]) -> dict[str, Any]:
        granted = token_info.get("scope")
        token_info = super()._add_custom_values_to_token_info(token_info)
        if granted:
            token_info["scope"] = granted
        return token_info

    def refresh_access_token(self, refresh_token: str | None) -> dict[str, Any]:
        """spotipy's path (the token is within a minute of expiry): refresh unless another thread just did."""
        return self.refresh(force=False)

    def refresh(self, *, force: bool) -> dict[str, Any]:
        """A fresh token; `force` refreshes even a token that looks valid (Spotify answered 401 to it)."""
        with _refresh_lock(self.cache_handler):
            cached = _cached(self.cache_handler)
            if not force and not self.is_token_expired(cached):
                return cached
            if not cached.get("refresh_token"):
                raise NeedsLogin("no refresh token stored")
            try:
                return super().refresh_access_token(cached["refresh_token"])
            except SpotifyOauthError as exc:
                # The refresh token itself was withdrawn (not a passing fault): every session of the user ends.
                if exc.error == "invalid_grant" and isinstance(self.cache_handler, StoredTokenCache):
                    self.cache_handler.store.revoked(self.cache_handler.user_id)
                raise NeedsLogin(f"refresh refused: {exc.error}") from None


@functools.cache
def oauth_class(accounts_url: str) -> type[ContextifyOAuth]:
    """`ContextifyOAuth` pointed at one Accounts service (real Spotify or a sandbox); class attributes in spotipy."""
    base = accounts_url.rstrip("/")
    return type("SpotifyAccountsOAuth", (ContextifyOAuth,),
                {"OAUTH_AUTHORIZE_URL": f"{base}/authorize", "OAUTH_TOKEN_URL": f"{base}/api/token"})


def oauth_manager(config: Mapping[str, Any], cache_handler: Any, state: str | None = None) -> ContextifyOAuth:
    return oauth_class(config["SPOTIFY_ACCOUNTS_URL"])(
        client_id=config["SPOTIFY_CLIENT_ID"], client_secret=config["SPOTIFY_CLIENT_SECRET"],
        redirect_uri=config["SPOTIFY_REDIRECT_URI"], scope=SCOPES, state=state, cache_handler=cache_handler,
        requests_timeout=ACCOUNTS_TIMEOUT_S, open_browser=False)


class UserSpotifyClient(SpotifyClient):
    """A SpotifyClient acting as one user: spotipy refreshes a token near expiry, and a 401 refreshes once."""

    def __init__(self, api_url: str, auth: ContextifyOAuth, **options: Any) -> None:
        super().__init__(api_url, auth_manager=auth, **options)
        self.auth = auth

    def call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return super().call(method, *args, **kwargs)
        except ServiceError as exc:
            # Spotify can end a token before its expiry time (revoked, server restart): refresh, retry once.
            if not _is_unauthorized(exc):
                raise
        self.auth.refresh(force=True)
        try:
            return super().call(method, *args, **kwargs)
        except ServiceError as exc:
            if _is_unauthorized(exc):
                raise NeedsLogin("401 after a refresh") from None
            raise


def token_store(config: Mapping[str, Any] | None = None, session_factory: Callable[[], Session] | None = None
                ) -> TokenStore:
    """The app's token store (in an app context unless both arguments are given)."""
    config = config if config is not None else current_app.config
    if session_factory is None:
        from app.extensions import db

        session_factory = sessionmaker(bind=db.engine, expire_on_commit=False)
    return TokenStore(session_factory, TokenCipher(config["SECRET_KEY"]))


def spotify_for_user(user_id: int, config: Mapping[str, Any] | None = None,
                     session_factory: Callable[[], Session] | None = None, **options: Any) -> SpotifyClient:
    """A client acting as `user_id`, its token refreshed now if it is about to expire, and later as needed.

    Raises NeedsLogin when the user has no stored token or Spotify refuses to refresh it. `options` go to
    SpotifyClient (e.g. `max_attempts`).
    """
    config = config if config is not None else current_app.config
    cache = StoredTokenCache(token_store(config, session_factory), user_id)
    auth = oauth_manager(config, cache)
    auth.refresh(force=False)  # raises NeedsLogin early, before any work starts
    url = config["SPOTIFY_API_URL"]
    return UserSpotifyClient(url, auth, limiter=shared_limiter("spotify", url), **options)


def _cached(cache: StoredTokenCache) -> dict[str, Any]:
    token_info = cache.get_cached_token()
    if token_info is None:
        raise NeedsLogin("no stored token")
    return token_info


_locks: dict[int, threading.Lock] = {}
_locks_guard = threading.Lock()


def _refresh_lock(cache: StoredTokenCache) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(cache.user_id, threading.Lock())


def _is_unauthorized(exc: ServiceError) -> bool:
    cause = exc.__cause__
    return isinstance(cause, SpotifyException) and cause.http_status == 401
