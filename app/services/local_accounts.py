"""Local accounts for listeners Spotify will not let in: a one-time key to sign in, and connecting Spotify later."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.session import end_all_sessions
from app.storage.tables import User, utcnow

KEY_PREFIX = "ctx-"
LOCAL_NAME = "Listener without Spotify"


class SpotifyTaken(ValueError):
    """The Spotify account someone tried to connect already belongs to another contextify account."""


def key_hash(key: str) -> str:
    """What the database keeps of a key: its SHA-256 (the key is 256 random bits, so no slow hash is needed)."""
    return hashlib.sha256(key.strip().encode()).hexdigest()


def create_local_account(session: Session, name: str | None = None) -> tuple[User, str]:
    """A new account without Spotify and its sign-in key, which is shown once and never stored in the clear."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    user = User(spotify_id=None, local_key_hash=key_hash(key), display_name=(name or "").strip()[:256] or LOCAL_NAME,
                last_login_at=utcnow())
    session.add(user)
    session.commit()
    return user, key


def user_for_key(session: Session, key: str | None) -> User | None:
    """The local account this key signs in to, or None (a wrong, empty or over-long key)."""
    if not isinstance(key, str) or not key.strip() or len(key) > 200:
        return None
    wanted = key_hash(key)
    user = session.scalar(select(User).where(User.local_key_hash == wanted))
    # The lookup is by the hash itself; comparing again in constant time costs nothing and keeps the rule simple.
    if user is None or not hmac.compare_digest(user.local_key_hash or "", wanted):
        return None
    return user


def spotify_connected(session: Session, user_id: int) -> bool:
    """Whether this account is a Spotify one (a lapsed Spotify login is handled by the log-in-again page instead)."""
    return session.scalar(select(User.spotify_id).where(User.id == user_id)) is not None


def connect_spotify(session: Session, user: User, spotify_id: str) -> User:
    """Give a local account its Spotify id (the caller then stores the token); refuses one another account holds."""
    holder = session.scalar(select(User).where(User.spotify_id == spotify_id))
    if holder is not None and holder.id != user.id:
        raise SpotifyTaken(spotify_id)
    user.spotify_id = spotify_id
    # From now on the account signs in with Spotify: the one-time key stops working, and so does every session it
    # opened elsewhere (the caller logs this browser in again).
    user.local_key_hash = None
    end_all_sessions(session, user.id)
    try:
        session.commit()
    except IntegrityError:  # another request gave that Spotify user an account at the same moment
        session.rollback()
        raise SpotifyTaken(spotify_id) from None
    return user
