"""A per-session CSRF token that every state-changing Flask form and route must carry (log out, delete my data...)."""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, abort, request, session

_SESSION_KEY = "csrf_token"
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def csrf_token() -> str:
    """The session's token, created on first use; templates put it in a hidden field named `csrf_token`."""
    token = session.get(_SESSION_KEY)
    if not token:
        token = session[_SESSION_KEY] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Abort with 400 unless the posted form carries this session's token."""
    expected = session.get(_SESSION_KEY)
    given = request.form.get(FIELD) or request.headers.get(HEADER, "")
    if not expected or not hmac.compare_digest(expected, given):
        abort(400, description="This form has expired. Reload the page and try again.")


def protect_state_changes(app: Flask, skip_prefix: str) -> None:
    """Check the token on every POST/PUT/PATCH/DELETE outside `skip_prefix`, before the view runs.

    An app-wide hook rather than a call in each view, so a route added later cannot forget it. Dash's
    callbacks under `skip_prefix` post JSON and are defended in app.web.security instead (they cannot carry a form field).
    """

    @app.before_request
    def _check_state_change():  # noqa: ANN202  (Flask hook)
        if request.method in STATE_CHANGING and not request.path.startswith(skip_prefix):
            check_csrf()
