"""Plain-words pages for what can go wrong around login and outside services, and the handlers that show them."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, jsonify, redirect, render_template, request, url_for
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import Unauthorized

from app.auth.errors import SERVICE_NAMES, NeedsLogin, human_duration, is_database_outage, time_of_day
from app.pipeline.clients.base import RateLimited, ServiceError
from app.pipeline.clients.spotify import NotAllowListed

log = logging.getLogger("contextify.errors")

DATABASE_RETRY_AFTER_S = 30
DATABASE_DOWN = ("contextify cannot reach its database right now, so this request was not carried out and what "
                 "you just did may not have been saved. Try again after {retry_at}.")


def wants_json() -> bool:
    """Dash's XHR and asset endpoints (`/app/_dash-...`, `/app/assets/`) and API callers get JSON; pages get HTML."""
    from app.dash_views import URL_BASE

    dash_internal = (URL_BASE + "_", URL_BASE + "assets/")
    return request.path.startswith(dash_internal) or request.accept_mimetypes.best == "application/json"


def login_required_response() -> Response:
    """401 JSON for XHR, else a redirect to /login that comes back here afterwards."""
    if wants_json():
        response = jsonify(error="login required", login_url=url_for("auth.login"))
        response.status_code = 401
        return response
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def denied_page() -> tuple[str, int]:
    return render_template("auth/denied.html"), 403


def bad_state_page() -> tuple[str, int]:
    return render_template("auth/bad_state.html"), 400


def login_failed_page() -> tuple[str, int]:
    return render_template("auth/login_failed.html"), 400


def not_allow_listed_page() -> tuple[str, int]:
    return render_template("auth/not_allow_listed.html"), 403


def quota_page(retry_after_s: float) -> tuple[str, int, dict[str, str]]:
    body = render_template("auth/quota.html", retry_at=time_of_day(retry_after_s), wait=human_duration(retry_after_s))
    return body, 429, {"Retry-After": str(int(retry_after_s))}


def service_down_page(service: str) -> tuple[str, int]:
    return render_template("auth/service_down.html", service=SERVICE_NAMES.get(service, service)), 503


def database_down_response(exc: BaseException) -> Response:
    """503 with Retry-After: plain JSON for Dash callbacks and API callers, a page of its own for browsers.

    The page does not extend base.html, whose header asks the database who is logged in.
    """
    from app.extensions import db

    try:
        db.session.rollback()  # the request's session holds a dead connection; give it back to the pool
    except Exception:  # noqa: BLE001  (the rollback may fail the same way: the answer below still goes out)
        log.debug("rollback after a database outage failed", exc_info=True)
    log.warning("database unavailable during %s %s: %s", request.method, request.path, type(exc).__name__)
    # Whether the last change reached the database is not known (locked, or gone mid-request): say so.
    message = DATABASE_DOWN.format(retry_at=time_of_day(DATABASE_RETRY_AFTER_S))
    if wants_json():
        response = jsonify(error="database unavailable", message=message)
    else:
        template = current_app.jinja_env.get_template("auth/database_down.html")
        response = Response(template.render(message=message), mimetype="text/html")
    response.status_code = 503
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
    return response


def _database_error(exc: DBAPIError | DisconnectionError | PoolTimeout) -> Response:
    if is_database_outage(exc):
        return database_down_response(exc)
    raise exc  # a failing query is a bug: the usual 500 and its traceback in the log


def register_error_pages(app: Flask) -> None:
    """Any route (or Dash callback) can let these errors rise; the user sees what happened and what to do."""
    app.register_error_handler(NeedsLogin, lambda _exc: login_required_response())
    app.register_error_handler(Unauthorized, lambda _exc: login_required_response())
    app.register_error_handler(NotAllowListed, lambda _exc: not_allow_listed_page())
    app.register_error_handler(RateLimited, lambda exc: quota_page(exc.retry_after_s))
    app.register_error_handler(ServiceError, lambda exc: service_down_page(exc.service))
    for error in (DBAPIError, DisconnectionError, PoolTimeout):
        app.register_error_handler(error, _database_error)
