"""A per-session CSRF token for the few state-changing forms (log out, delete all my data)."""

from __future__ import annotations

import hmac
import secrets

from flask import abort, request, session

_SESSION_KEY = "csrf_token"
FIELD = "csrf_token"


def csrf_token() -> str:
    """The session's token, created on first use; templates put it in a hidden field named `csrf_token`."""
    token = session.get(_SESSION_KEY)
    if not token:
        token = session[_SESSION_KEY] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Abort with 400 unless the posted form carries this session's token."""
    expected = session.get(_SESSION_KEY)
    given = request.form.get(FIELD, "")
    if not expected or not hmac.compare_digest(expected, given):
        abort(400, description="This form has expired. Reload the page and try again.")
