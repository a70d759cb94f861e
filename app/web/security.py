"""Defences every response and request passes through: security headers and CSP, CSRF for Dash, size and rate limits."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many
from werkzeug.exceptions import RequestEntityTooLarge, TooManyRequests

from app.auth.errors import human_duration
from app.pipeline.clients.factory import limiter_store
from app.pipeline.files import MAX_BYTES
from app.web.errors import wants_json

log = logging.getLogger("contextify.security")

# Unbound like the extensions in app/extensions.py; bound to the app by `register_security`. The login routes
# carry `@limiter.limit(login_limit)`; jobs are counted per user by `hit_job_limit`, called where jobs start.
limiter = Limiter(key_func=get_remote_address, strategy="moving-window", key_prefix="contextify")

DASH_UPDATE = "_dash-update-component"

# Styles need 'unsafe-inline': Dash 4's renderer and dcc components insert <style> elements at run time whose
# text varies (no stable hash; Dash offers no style nonce), and Chromium blocks every one of them under
# `style-src 'self'` (tried with tests/browser/test_journey.py: a console error per component). Inline styles
# cannot run code. Inline *scripts* stay forbidden: the only ones Dash writes (its renderer bootstrap and
# clientside callbacks) are allowed by their hashes, from `dash_app.csp_hashes()`.
CSP_FIXED = {
    "default-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}

# Two years, subdomains included: browsers then refuse plain HTTP to this site (and ignore the header over HTTP).
HSTS = "max-age=63072000; includeSubDomains"
TOO_LARGE = "That upload is larger than contextify accepts ({limit} MB). Choose a smaller file and try again."
TOO_MANY = "Too many attempts in a short time. Wait {wait} and try again."
JOBS_TOO_MANY = "You started many jobs in a short time. Wait a minute, then start this one again."


def register_security(app: Flask, dash_app: Any) -> None:
    """Headers on every response, the CSRF rules, request size and rate limits, and their plain-words pages."""
    from app.dash_views import URL_BASE
    from app.web.csrf import protect_state_changes

    app.config.setdefault("RATELIMIT_STORAGE_URI", limiter_store(app.config) or "memory://")
    # Redis down must not take logins down with it: the limits then lapse (logged) rather than answer 500.
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    limiter.init_app(app)
    protect_state_changes(app, skip_prefix=URL_BASE)
    require_json_same_origin(app, URL_BASE + DASH_UPDATE)
    # After the login and same-origin checks: every callback's inputs are checked at the edge, in one place.
    from app.dash_views import edge

    edge.install(app, dash_app, URL_BASE)
    app.register_error_handler(RequestEntityTooLarge, too_large_response)
    app.register_error_handler(TooManyRequests, too_many_response)

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Content-Security-Policy", content_security_policy(dash_app))
        if served_over_https():
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response


def served_over_https() -> bool:
    """This request reached the app over HTTPS: directly, through a proxy that says so (Elastic Beanstalk's load
    balancer sets X-Forwarded-Proto), or in an app configured for HTTPS (its redirect URI is https)."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.is_secure or forwarded == "https" or bool(current_app.config.get("SESSION_COOKIE_SECURE"))


def content_security_policy(dash_app: Any) -> str:
    """The CSP header: the fixed directives plus the hashes of Dash's inline scripts (computed on each call,
    because pages may add clientside callbacks until Dash's first request)."""
    hashes = " ".join(dash_app.csp_hashes()) if dash_app is not None else ""
    directives = {**CSP_FIXED, "script-src": f"'self' {hashes}".strip()}
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def require_json_same_origin(app: Flask, path: str) -> None:
    """Dash callbacks are the app's state-changing XHR: they must be JSON, and from this site when the browser says.

    A cross-site form can only send form encodings or text/plain, and a cross-site `fetch` with
    `Content-Type: application/json` needs a CORS preflight this app never grants; the session cookie is
    SameSite=Lax besides. Browsers send `Origin` on every POST: when present it must name this host.
    """

    @app.before_request
    def _dash_csrf():  # noqa: ANN202  (Flask hook)
        if request.path != path or request.method != "POST":
            return None
        if request.mimetype != "application/json":
            return _refused("Dash callbacks must be sent as application/json.", 415)
        origin = request.headers.get("Origin") or request.headers.get("Referer")
        if origin and urlsplit(origin).netloc != request.host:
            log.warning("cross-site Dash callback refused from %s", urlsplit(origin).netloc[:100])
            return _refused("This request came from another site and was refused.", 403)
        return None


def login_limit() -> str:
    """The login rate for Flask-Limiter, read per request so each app's config applies."""
    return current_app.config["CONTEXTIFY_LOGIN_RATE_LIMIT"]


def hit_job_limit(user_id: int, bucket: str | None = None) -> bool:
    """Count one job start for `user_id`; False (and nothing counted) when over CONTEXTIFY_JOB_RATE_LIMIT.

    `bucket` counts apart (the Map page's quick lookups), so typing searches never uses up the page starts.
    """
    rates = parse_many(current_app.config["CONTEXTIFY_JOB_RATE_LIMIT"])
    keys = ("contextify", "jobs", str(user_id), *((bucket,) if bucket else ()))
    try:
        if not all(limiter.limiter.test(rate, *keys) for rate in rates):
            return False
        return all([limiter.limiter.hit(rate, *keys) for rate in rates])
    except Exception as exc:  # noqa: BLE001  (as for logins: an unreachable store lets the job start)
        log.warning("job rate limit not checked, its store failed: %s", type(exc).__name__)
        return True


def too_large_response(_exc: RequestEntityTooLarge) -> tuple[Any, int]:
    limit_mb = (current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)
    message = TOO_LARGE.format(limit=limit_mb)
    if wants_json():
        return jsonify(error="request too large", message=message), 413
    return render_template("security/too_large.html", message=message, file_mb=MAX_BYTES // (1024 * 1024)), 413


def too_many_response(exc: TooManyRequests) -> Any:
    retry_after = _retry_after_s(exc)
    message = TOO_MANY.format(wait=human_duration(retry_after))
    if wants_json():
        response = jsonify(error="too many requests", message=message)
    else:
        response = Response(render_template("security/too_many.html", message=message), mimetype="text/html")
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response


def _retry_after_s(_exc: TooManyRequests) -> int:
    """Seconds until the breached window lets the visitor in again (a minute when it is not known)."""
    current = limiter.current_limit
    if current is None:
        return 60
    return max(1, current.reset_at - int(time.time()))


def _refused(message: str, status: int) -> Response:
    response = jsonify(error="refused", message=message)
    response.status_code = status
    return response
