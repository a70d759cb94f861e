"""The Account page's sync opt-in: POST /account/sync turns "keep my playlists sorted" on or off (CSRF-checked)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, request, url_for

from app.auth.session import current_user_id
from app.extensions import db
from app.services.sync import MODES, PERIODS, SyncError, set_sync, sync_settings
from app.web.csrf import check_csrf
from app.web.errors import login_required_response

bp = Blueprint("sync_account", __name__)


@bp.app_template_global("sync_settings_of")
def sync_settings_of(user_id: int) -> dict[str, Any]:
    """What the Account page shows of the user's sync: the settings and the choices."""
    row = sync_settings(db.session, user_id)
    return {"enabled": row.enabled, "period": row.period, "mode": row.mode, "paused": row.paused_reason,
            "periods": list(PERIODS), "modes": MODES}


@bp.post("/account/sync")
def account_sync() -> Any:
    check_csrf()
    user_id = current_user_id()
    if user_id is None:
        return login_required_response()
    try:
        set_sync(db.session, user_id, enabled=request.form.get("enabled") == "on",
                 period=request.form.get("period", "weekly"), mode=request.form.get("mode", "auto"))
    except SyncError as exc:  # only a hand-made form gets here: the page offers the valid choices
        return str(exc), 400
    return redirect(url_for("auth.account") + "#sync")
