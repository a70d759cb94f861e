"""Routes for listeners without Spotify: /start makes a local account (shown its key once), /login/key signs back in."""

from __future__ import annotations

import logging
from typing import Any

from flask import redirect, render_template, request

from app.auth import bp
from app.auth.session import current_user, log_in
from app.extensions import db
from app.security import limiter, login_limit
from app.services.local_accounts import create_local_account, user_for_key
from app.storage.tables import utcnow

log = logging.getLogger("contextify.auth")

AFTER_START = "/app/library"


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
