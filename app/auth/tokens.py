"""The server-side token store: one encrypted `oauth_tokens` row per user, and spotipy's cache handler on top of it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from spotipy import CacheHandler
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.errors import NeedsLogin
from app.storage.encryption import TokenCipher, TokenDecryptionError
from app.storage.tables import OAuthToken, utcnow
from app.storage.ownership import owned

PROVIDER = "spotify"


class TokenStore:
    """Reads and writes a user's Spotify tokens as spotipy's `token_info` dicts, encrypted at rest.

    Every call uses its own short session from `session_factory`, so a refresh in the middle of a long
    job or request never waits on (or commits) the caller's transaction.
    """

    def __init__(self, session_factory: Callable[[], Session], cipher: TokenCipher) -> None:
        self._session_factory = session_factory
        self._cipher = cipher

    def load(self, user_id: int) -> dict[str, Any] | None:
        """`{"access_token", "refresh_token", "expires_at" (epoch s), "scope", "token_type"}`, or None.

        Raises TokenDecryptionError when the row was written under another SECRET_KEY.
        """
        with self._session_factory() as session:
            row = _row(session, user_id)
            if row is None:
                return None
            return {
                "access_token": self._cipher.decrypt(row.access_token),
                "refresh_token": self._cipher.decrypt(row.refresh_token) if row.refresh_token else None,
                "expires_at": int(_aware(row.expires_at).timestamp()) if row.expires_at else 0,
                "scope": row.scope or "",
                "token_type": "Bearer",
            }

    def revoked(self, user_id: int) -> None:
        """Spotify refused the user's refresh token (access withdrawn, password changed): the stored token is
        useless, and every session cookie of the user ends with it, so each device must log in again."""
        from app.auth.session import end_all_sessions

        with self._session_factory() as session:
            session.execute(delete(OAuthToken).where(OAuthToken.user_id == user_id, OAuthToken.provider == PROVIDER))
            end_all_sessions(session, user_id)
            session.commit()

    def save(self, user_id: int, token_info: dict[str, Any]) -> None:
        try:
            self._save(user_id, token_info)
        except IntegrityError:
            # Two logins of the same person at once both found no row; the other one's insert won, so this
            # attempt now finds that row and updates it.
            self._save(user_id, token_info)

    def _save(self, user_id: int, token_info: dict[str, Any]) -> None:
        with self._session_factory() as session:
            row = _row(session, user_id) or OAuthToken(user_id=user_id, provider=PROVIDER)
            row.access_token = self._cipher.encrypt(token_info["access_token"])
            refresh = token_info.get("refresh_token")
            if refresh:  # Spotify may omit it on refresh: the old one stays valid then
                row.refresh_token = self._cipher.encrypt(refresh)
            row.scope = token_info.get("scope") or row.scope
            row.expires_at = datetime.fromtimestamp(token_info["expires_at"], UTC)
            row.updated_at = utcnow()
            session.add(row)
            session.commit()


class StoredTokenCache(CacheHandler):
    """spotipy's cache handler for one user, backed by the encrypted store (never spotipy's `.cache` file)."""

    def __init__(self, store: TokenStore, user_id: int) -> None:
        self.store = store
        self.user_id = user_id

    def get_cached_token(self) -> dict[str, Any] | None:
        try:
            return self.store.load(self.user_id)
        except TokenDecryptionError:
            raise NeedsLogin("stored token unreadable (SECRET_KEY changed?)") from None

    def save_token_to_cache(self, token_info: dict[str, Any]) -> None:
        self.store.save(self.user_id, token_info)


def _row(session: Session, user_id: int) -> OAuthToken | None:
    return session.scalar(owned(OAuthToken, user_id).where(OAuthToken.provider == PROVIDER))


def _aware(moment: datetime) -> datetime:
    # SQLite hands timezone-aware columns back naive; they were written in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
