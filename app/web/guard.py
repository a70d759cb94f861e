"""The server-side login requirement for everything under the Dash mount (pages, assets and XHR alike)."""

from __future__ import annotations

from flask import Flask, request

from app.auth.session import current_user_id
from app.web.errors import login_required_response


def require_login_under(app: Flask, prefix: str) -> None:
    """Refuse anonymous requests to `prefix` (e.g. `/app/`): pages redirect to /login, Dash XHR gets 401 JSON.

    A before_request hook rather than wrapping Dash's view functions, so routes Dash adds later (new
    versions, plugins) are covered too.
    """
    bare = prefix.rstrip("/")

    @app.before_request
    def _require_login():  # noqa: ANN202  (Flask hook: a response or None)
        path = request.path
        if (path == bare or path.startswith(prefix)) and current_user_id() is None:
            return login_required_response()
        return None
