"""Who is logged in: the user id kept in the signed session cookie, checked against the users table."""

from __future__ import annotations

from flask import abort, g, session

from app.extensions import db
from app.storage.models import User

_SESSION_KEY = "user_id"


def current_user_id() -> int | None:
    """The logged-in user's id, or None; a session naming a deleted user counts as logged out."""
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
    """Start a fresh session holding only the user id (never a token)."""
    session.clear()  # drop anything an earlier visitor left (state, next), so nothing carries over
    session[_SESSION_KEY] = user_id
    g.contextify_user_id = user_id


def log_out() -> None:
    session.clear()
    g.contextify_user_id = None


def _load_user_id() -> int | None:
    value = session.get(_SESSION_KEY)
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    if db.session.get(User, value) is None:
        # The account was deleted (perhaps from another tab): forget the stale id.
        session.pop(_SESSION_KEY, None)
        return None
    return value

