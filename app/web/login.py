"""The login routes (with Spotify: /login, /callback, /logout; without: /start, /login/key) and the account page."""

from __future__ import annotations

import hmac
import logging
import posixpath
import secrets
import shutil
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from spotipy import MemoryCacheHandler
from spotipy.exceptions import SpotifyOauthError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from app.auth.session import current_user, current_user_id, log_in, log_out
from app.auth.spotify import oauth_manager, token_store
from app.extensions import db
from app.pipeline.clients.factory import spotify_user_client
from app.web.security import limiter, login_limit
from app.services.compare import forget_guest
from app.services.library import upload_dir
from app.services.local_accounts import SpotifyTaken, connect_spotify, create_local_account, user_for_key
from app.storage.ownership import delete_all_user_data, owned
from app.storage.tables import USER_OWNED_MODELS, OAuthToken, User, utcnow
from app.web.csrf import check_csrf
from app.web.errors import bad_state_page, denied_page, login_failed_page, login_required_response, service_down_page

log = logging.getLogger("contextify.auth")

# Named "auth" as before: templates and redirects say url_for("auth.login").
bp = Blueprint("auth", __name__)

STATE_KEY = "oauth_state"
NEXT_KEY = "login_next"
AFTER_LOGIN = "/app/"
AFTER_START = "/app/library"
# A login page should answer within seconds: a Spotify wait longer than this shows the quota page instead.
LOGIN_MAX_RETRY_AFTER_S = 5
LOGIN_ATTEMPTS = 3
MAX_NEXT_LENGTH = 2000


@bp.get("/login")
@limiter.limit(login_limit)
def login() -> Response:
    """Send the browser to Spotify's consent page with a fresh single-use `state` kept in the signed session."""
    state = secrets.token_urlsafe(32)
    session[STATE_KEY] = state
    session[NEXT_KEY] = safe_next(request.args.get("next"))
    oauth = oauth_manager(current_app.config, MemoryCacheHandler(), state=state)
    return redirect(oauth.get_authorize_url())


@bp.get("/callback")
@limiter.limit(login_limit)
def callback() -> Any:
    """Spotify's redirect back: check state, exchange the code, ask /me who this is, store tokens, log in."""
    expected = session.pop(STATE_KEY, None)  # single use: popped whatever happens next
    next_url = session.pop(NEXT_KEY, None)
    if not expected or not hmac.compare_digest(expected, request.args.get("state", "")):
        return bad_state_page()
    if request.args.get("error") == "access_denied":
        return denied_page()
    code = request.args.get("code")
    if request.args.get("error") or not code:
        return login_failed_page()
    try:
        token_info = exchange_code(current_app.config, code)
    except SpotifyOauthError as exc:
        log.info("login code refused: %s", exc.error)
        return login_failed_page()
    except requests.RequestException as exc:
        log.warning("spotify accounts unreachable: %s", type(exc).__name__)
        return service_down_page("spotify")
    # NotAllowListed, RateLimited and other ServiceErrors rise to the app's error pages.
    me = spotify_user_client(current_app.config, token_info["access_token"], max_attempts=LOGIN_ATTEMPTS,
                             max_retry_after_s=LOGIN_MAX_RETRY_AFTER_S).me()
    local = current_user()
    if local is not None and local.spotify_id is None:
        # A listener's local account connecting Spotify keeps its own songs and sorts; it becomes that Spotify user.
        try:
            user = connect_spotify(db.session, local, me["id"])
        except SpotifyTaken:
            return render_template("auth/spotify_taken.html"), 409
    else:
        user = upsert_user(me)
    token_store().save(user.id, token_info)
    log_in(user.id)
    log.info("login user=%s", user.id)
    return redirect(next_url or AFTER_LOGIN)


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Any:
    """POST (with the CSRF token) logs out; GET shows the button, so a cross-site link cannot log anyone out."""
    if request.method == "GET":
        return render_template("auth/logout.html", logged_in=current_user_id() is not None)
    check_csrf()
    log_out()
    return redirect(url_for("web.index"))


@bp.get("/account")
def account() -> Any:
    """What contextify stores about the logged-in user: rows per table, the token's scope and expiry."""
    user = current_user()
    if user is None:
        return login_required_response()
    return render_template("account.html", user=user, counts=owned_counts(user.id), token=token_facts(user.id))


@bp.post("/account/delete")
def delete_account() -> Any:
    """Delete every row the user owns, their uploaded files and the user row itself, then log out."""
    check_csrf()
    user = current_user()
    if user is None:
        return login_required_response()
    # Owners' comparisons built from this user's songs go too, not only the invites (see forget_guest).
    forget_guest(db.session, user.id)
    deleted = delete_all_user_data(db.session, user.id)
    db.session.delete(user)
    db.session.commit()
    # Files too: nothing of theirs stays on disk (ids are never reused, so no later account could see them anyway).
    shutil.rmtree(upload_dir(current_app.config, user.id), ignore_errors=True)
    # Their model artifacts and the library scores cached beside them are theirs too. (Imported here: the model
    # layer loads pandas, scikit-learn and SciPy, seconds of CPU every web process would pay at start for this name.)
    from app.models.service import MODELS_DIR

    shutil.rmtree(Path(current_app.config["INSTANCE_DIR"]) / MODELS_DIR / str(user.id), ignore_errors=True)
    log.info("deleted all data of user=%s", user.id)
    log_out()
    return render_template("auth/deleted.html", deleted=sum(deleted.values()))


# ------------------------------------------------------------------- without Spotify: a local account


@bp.get("/start")
def start() -> str:
    """The way in without Spotify: make an account, or sign back in with a key made earlier."""
    return render_template("auth/start.html", user=current_user(), key=None, wrong_key=False)


@bp.post("/start")
@limiter.limit(login_limit)
def start_local() -> Any:
    """Make a local account, log it in and show its key once (the CSRF token is checked app-wide)."""
    user, key = create_local_account(db.session, request.form.get("name"))
    log_in(user.id)
    log.info("local account created user=%s", user.id)
    return render_template("auth/start.html", user=user, key=key, wrong_key=False, next_url=AFTER_START)


@bp.post("/login/key")
@limiter.limit(login_limit)
def login_with_key() -> Any:
    """Sign in to a local account with its key; a wrong key gets the same page back and a plain message."""
    user = user_for_key(db.session, request.form.get("key"))
    if user is None:
        return render_template("auth/start.html", user=None, key=None, wrong_key=True), 401
    user.last_login_at = utcnow()
    db.session.commit()
    log_in(user.id)
    log.info("login with key user=%s", user.id)
    return redirect(AFTER_START)


# ------------------------------------------------------------------------------------------ helpers


def safe_next(value: str | None) -> str | None:
    """A same-origin path to return to after login, normalised; anything else is dropped (None).

    Refused: other hosts and schemes (`//evil`, `/\\evil`, `https:...`), and any control character or space,
    which browsers strip or mangle (`/<tab>/evil` becomes `//evil`) and which cannot go into a Location header.
    """
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return None
    if len(value) > MAX_NEXT_LENGTH:
        return None
    if "\\" in value or any(unicodedata.category(char)[0] in "CZ" for char in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return None
    path = posixpath.normpath(parts.path)
    if path.startswith("//"):
        return None
    if parts.path.endswith("/") and not path.endswith("/"):
        path += "/"
    return path + (f"?{parts.query}" if parts.query else "")


def exchange_code(config: Mapping[str, Any], code: str) -> dict[str, Any]:
    """The token_info for an authorization code (spotipy keeps it in memory only, never in a `.cache` file)."""
    cache = MemoryCacheHandler()
    oauth_manager(config, cache).get_access_token(code, as_dict=False, check_cache=False)
    return cache.get_cached_token()


def upsert_user(me: Mapping[str, Any]) -> User:
    user = db.session.scalar(select(User).where(User.spotify_id == me["id"]))
    if user is None:
        try:
            db.session.add(User(spotify_id=me["id"]))
            db.session.commit()
        except IntegrityError:
            # The same person's first login in two tabs at once: the other request created the row first.
            db.session.rollback()
        user = db.session.scalar(select(User).where(User.spotify_id == me["id"]))
    user.display_name = me.get("display_name")
    user.account_id = me.get("account_id")
    user.last_login_at = utcnow()
    db.session.commit()
    return user


def owned_counts(user_id: int) -> dict[str, int]:
    """Rows the user owns, per table of USER_OWNED_MODELS."""
    return {model.__tablename__: db.session.scalar(
        select(func.count()).select_from(owned(model, user_id).subquery())) or 0 for model in USER_OWNED_MODELS}


def token_facts(user_id: int) -> dict[str, Any] | None:
    """The stored token's scope and times; never the token itself."""
    row = db.session.scalar(owned(OAuthToken, user_id))
    if row is None:
        return None
    return {"scope": (row.scope or "").split(), "expires_at": row.expires_at, "updated_at": row.updated_at,
            "has_refresh_token": row.refresh_token is not None}
