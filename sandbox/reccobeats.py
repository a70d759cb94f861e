"""ReccoBeats emulation (keyless audio features by id, and the analysis of uploaded audio) under /reccobeats/v1."""

from __future__ import annotations

import random

from flask import Blueprint, jsonify, request

from .faults import throttled_response
from .model import Track
from .runtime import current, guard

bp = Blueprint("reccobeats", __name__, url_prefix="/reccobeats/v1")

MAX_IDS = 40
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
# Multipart framing around the file; a body bigger than the cap plus this is refused unread.
_MULTIPART_SLACK = 64 * 1024


class ReccoError(Exception):
    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@bp.errorhandler(ReccoError)
def _recco_error(exc: ReccoError):
    return jsonify(status=exc.status, code=exc.code, message=exc.message, path=request.path), exc.status


@bp.before_request
def _guard():
    return guard("reccobeats", _throttle)


def _throttle():
    retry_after = current().reccobeats_limit.hit(request.remote_addr or "")
    return None if retry_after is None else throttled_response("reccobeats", retry_after)


def _requested_ids() -> list[str]:
    """Ids from `ids=a,b` and/or repeated `ids=`, in order, without duplicates."""
    ids = [part.strip() for raw in request.args.getlist("ids") for part in raw.split(",")]
    return list(dict.fromkeys(i for i in ids if i))


def _lookup(identifier: str) -> list[Track]:
    """Tracks ReccoBeats knows for a Spotify id, a ReccoBeats UUID or an ISRC (which may give several)."""
    state = current().state
    track = current().world.by_spotify_id.get(identifier) or state.by_reccobeats_id.get(identifier)
    candidates = [track] if track else state.spotify_isrc.get(identifier.upper(), [])
    return [t for t in candidates if t.reccobeats_id]


def _features(track: Track) -> dict:
    c = track.character
    return {"id": track.reccobeats_id, "href": f"https://open.spotify.com/track/{track.spotify_id}",
            "isrc": track.isrc, "acousticness": round(c.acousticness, 4),
            "danceability": round(c.danceability, 3), "energy": round(c.energy, 3),
            "instrumentalness": round(c.instrumentalness, 6), "key": c.key, "liveness": round(c.liveness, 4),
            "loudness": round(c.loudness, 3), "mode": c.mode, "speechiness": round(c.speechiness, 4),
            "tempo": round(c.tempo, 3), "valence": round(c.valence, 3)}


@bp.get("/audio-features")
def audio_features():
    ids = _requested_ids()
    if not ids:
        raise ReccoError(400, 4001, "Required request parameter 'ids' is not present")
    if len(ids) > MAX_IDS:
        raise ReccoError(400, 4004, f"ids: size must be between 1 and {MAX_IDS}")
    found = {t.reccobeats_id: t for identifier in ids for t in _lookup(identifier)}
    rows = [_features(t) for t in found.values()]
    # Unknown ids are silently left out, and the order is not the request's.
    random.Random(f"{current().world.seed}:{','.join(ids)}").shuffle(rows)
    return jsonify(content=rows)


@bp.post("/analysis/audio-features")
def analyse_audio_file():
    """Features of the first 30 s of `audioFile` (multipart, at most 5 MB), computed from the audio itself.

    Too big is 413, checked on Content-Length before the body is read and again on the file: the
    documentation states the cap but not the status, and refusing early is the stricter reading.
    """
    from .recco_analysis import NotAudio, analyse  # librosa loads only when an upload arrives

    if (request.content_length or 0) > MAX_UPLOAD_BYTES + _MULTIPART_SLACK:
        raise ReccoError(413, 4004, "audioFile: size must be at most 5MB")
    upload = request.files.get("audioFile")
    if upload is None:
        raise ReccoError(400, 4001, "Required part 'audioFile' is not present")
    data = upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ReccoError(413, 4004, "audioFile: size must be at most 5MB")
    try:
        return jsonify(analyse(data))
    except NotAudio as exc:
        raise ReccoError(400, 4002, f"audioFile: unsupported or unreadable audio ({exc})") from None


@bp.route("/<path:rest>", methods=["GET", "POST"])
def unknown(rest: str):
    raise ReccoError(404, 4042, "Wrong path")
