"""Invite links for Compare: the guest opens /invite/<token>, logs in if needed, and agrees (or not) to share."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from app.auth.session import current_user_id
from app.extensions import db
from app.services.compare import InviteError, accept_invite, display_name, usable_invite
from app.web.csrf import check_csrf
from app.web.errors import login_required_response

bp = Blueprint("invites", __name__)


@bp.get("/invite/<token>")
def invite(token: str) -> Any:
    """The consent page; an anonymous visitor logs in first and comes back here (the link survives the login)."""
    user_id = current_user_id()
    if user_id is None:
        return login_required_response()
    try:
        found = usable_invite(db.session, token, user_id)
    except InviteError as exc:
        return refused(str(exc))
    owner = display_name(db.session, found.user_id)
    if found.accepted_at is not None:
        return render_template("invite_accepted.html", owner=owner, again=True)
    return render_template("invite.html", owner=owner, token=token)


@bp.post("/invite/<token>")
def accept(token: str) -> Any:
    """The guest agrees: from now on the owner's comparisons may read the guest's library."""
    check_csrf()
    user_id = current_user_id()
    if user_id is None:
        return login_required_response()
    try:
        found = accept_invite(db.session, token, user_id)
    except InviteError as exc:
        return refused(str(exc))
    return render_template("invite_accepted.html", owner=display_name(db.session, found.user_id), again=False)


def refused(message: str) -> tuple[str, int]:
    # 403 for every refusal alike, so the answer does not tell a guesser which tokens exist.
    return render_template("invite_refused.html", message=message), 403
