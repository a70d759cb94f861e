"""Who is logged in: the signed session cookie names a user and that user's server-side session key, checked on
every request, so a log out, a deletion or a revoked token ends every cookie issued before it."""

from __future__ import annotations

import hmac
import logging
import secrets

from flask import abort, g, session
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.extensions import db
from app.storage.tables import User

log = logging.getLogger("contextify.auth")

_SESSION_KEY = "user_id"
_SESSION_SECRET = "session_key"


def current_user_id() -> int | None:
    """The logged-in user's id, or None; a cookie naming a deleted user, or issued before the user's sessions
    were ended, counts as logged out."""
    if "contextify_user_id" not in g:
        g.contextify_user_id = _load_user_id()
    return g.contextify_user_id


def require_user_id() -> int:
    """The logged-in user's id; aborts the request with 401 when nobody is logged in."""
    user_id = current_user_id()
    if user_id is None:
        abort(401)
    return user_id


def current_user() -> User | None:
    user_id = current_user_id()
    return None if user_id is None else db.session.get(User, user_id)


def log_in(user_id: int) -> None:
    """Start a fresh session holding the user id and the user's session key (never a token).

    The key is made on the first login and kept until the user's sessions are ended, so one person can be
    logged in on several devices at once.
    """
    # One conditional UPDATE: the same person logging in from two tabs or devices at once must not each set a
    # key of their own (the later one would end the earlier session at once).
    db.session.execute(update(User).where(User.id == user_id, User.session_key.is_(None))
                       .values(session_key=new_session_key()))
    db.session.commit()
    key = db.session.scalar(select(User.session_key).where(User.id == user_id))
    session.clear()  # drop anything an earlier visitor left (state, next), so nothing carries over
    session[_SESSION_KEY] = user_id
    session[_SESSION_SECRET] = key
    g.contextify_user_id = user_id


def log_out() -> None:
    """End this session and every other session of the same user (the cookie alone proves nothing afterwards)."""
    user_id = current_user_id()
    if user_id is not None:
        end_all_sessions(db.session, user_id)
        db.session.commit()
    session.clear()
    g.contextify_user_id = None


def end_all_sessions(db_session: Session, user_id: int) -> None:
    """Every cookie issued to `user_id` so far stops working (the caller commits)."""
    db_session.execute(update(User).where(User.id == user_id).values(session_key=new_session_key()))
    log.info("ended all sessions of user=%s", user_id)


def new_session_key() -> str:
    return secrets.token_urlsafe(32)


def _load_user_id() -> int | None:
    value = session.get(_SESSION_KEY)
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    user = db.session.get(User, value)
    if user is None or not _key_matches(session.get(_SESSION_SECRET), user.session_key):
        # Deleted, logged out or revoked (perhaps from another tab or device): forget the stale cookie.
        session.pop(_SESSION_KEY, None)
        session.pop(_SESSION_SECRET, None)
        return None
    return value


def _key_matches(given: object, stored: str | None) -> bool:
    """A cookie without a key matches only a user who never had one (rows made before keys existed, or by
    tests); once a key exists, the cookie must carry exactly it."""
    if stored is None:
        return given is None
    return isinstance(given, str) and hmac.compare_digest(given.encode(), stored.encode())
