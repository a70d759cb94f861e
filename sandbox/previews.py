"""Deezer's preview CDN: HMAC-signed, expiring MP3 links (`hdnea=exp=…~acl=…~hmac=…`) served from /cdn/preview."""

from __future__ import annotations

import hashlib
import hmac
import time

from flask import Blueprint, Response, request

from .model import Track
from .runtime import current, guard

bp = Blueprint("previews", __name__, url_prefix="/cdn")

_DATA = "data=user_id=0,application_id=42"


@bp.before_request
def _guard():
    return guard("previews", lambda: None)


def _acl(deezer_id: int) -> str:
    return f"/cdn/preview/{deezer_id}.mp3*"


def _mac(message: str) -> str:
    return hmac.new(current().preview_key, message.encode(), hashlib.sha256).hexdigest()[:32]


def signed_preview_url(track: Track) -> str:
    """A fresh preview link for `track`, valid for `preview_ttl` seconds from now."""
    expires = int(time.time()) + current().config.preview_ttl
    token = f"exp={expires}~acl={_acl(track.deezer_id)}~{_DATA}"
    return f"{request.host_url}cdn/preview/{track.deezer_id}.mp3?hdnea={token}~hmac={_mac(token)}"


def _signature_valid(deezer_id: int, hdnea: str) -> bool:
    token, _, mac = hdnea.rpartition("~hmac=")
    fields = dict(part.partition("=")[::2] for part in token.split("~"))
    try:
        expires = int(fields.get("exp", ""))
    except ValueError:
        return False
    return (fields.get("acl") == _acl(deezer_id) and hmac.compare_digest(mac, _mac(token))
            and expires > time.time())


@bp.get("/preview/<int:deezer_id>.mp3")
def preview(deezer_id: int):
    # The CDN refuses expired or tampered links with a bare 403; the client must re-fetch the track.
    if not _signature_valid(deezer_id, request.args.get("hdnea", "")):
        return Response("Access Denied", 403, mimetype="text/plain")
    track = current().world.tracks.get(deezer_id)
    if track is None or not track.on_deezer:
        return Response("Not Found", 404, mimetype="text/plain")
    try:
        audio = current().render(track, seconds=current().config.clip_seconds)
    except LookupError:  # a real recording's file went missing after the world was built
        return Response("Not Found", 404, mimetype="text/plain")
    return Response(audio, 200, mimetype="audio/mpeg", headers={"Cache-Control": "private, max-age=900"})


@bp.route("/<path:rest>")
def unknown(rest: str):
    return Response("Not Found", 404, mimetype="text/plain")
