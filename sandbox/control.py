"""The sandbox's own control and observation API under /__sandbox__ (never counted, never faulted)."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, jsonify, request

from .config import FAULT_KNOBS
from .model import Playlist, Track
from .runtime import current

bp = Blueprint("control", __name__, url_prefix="/__sandbox__")


def _bad_request(message: str):
    return jsonify(error=message), 400


@bp.get("/counters")
def counters():
    return jsonify(current().counters.snapshot())


@bp.post("/counters/reset")
def reset_counters():
    current().counters.reset()
    return jsonify(current().counters.snapshot())


@bp.get("/profile")
def profile():
    return jsonify(current().faults.describe())


@bp.post("/profile")
def set_profile():
    """Body `{"profile": name, <fault knob>: value, ...}`; knobs stay in force across later switches."""
    body = request.get_json(silent=True) or {}
    name = body.get("profile", current().faults.profile.name)
    unknown = set(body) - {"profile"} - set(FAULT_KNOBS)
    if unknown:
        return _bad_request(f"unknown fault knobs: {', '.join(sorted(unknown))}")
    try:
        overrides = {k: FAULT_KNOBS[k](v) for k, v in body.items() if k != "profile"}
        current().faults.set_profile(name, overrides)
    except (KeyError, TypeError, ValueError) as exc:
        return _bad_request(str(exc))
    return jsonify(current().faults.describe())


def _truth(track: Track) -> dict:
    return {"deezer_id": track.deezer_id, "spotify_id": track.spotify_id, "isrc": track.isrc,
            "deezer_isrc": track.deezer_isrc, "on_deezer": track.on_deezer,
            "reccobeats_id": track.reccobeats_id, "contexts": sorted(track.contexts),
            "character": asdict(track.character) if track.character else None,
            "labels": dict(track.labels) if track.labels else None, "recording": bool(track.audio_file)}


@bp.get("/truth")
def truth():
    """Hidden contexts and character per requested id (unknown ids map to null)."""
    world = current().world
    answer = {}
    for raw in request.args.get("spotify_ids", "").split(","):
        if raw:
            track = world.by_spotify_id.get(raw)
            answer[raw] = _truth(track) if track else None
    for raw in request.args.get("deezer_ids", "").split(","):
        if raw:
            track = world.tracks.get(int(raw)) if raw.isdigit() else None
            answer[raw] = _truth(track) if track else None
    return jsonify(tracks=answer)


@bp.get("/users")
def users():
    state = current().state
    return jsonify(users=[
        {"id": u.id, "display_name": u.display_name, "account_id": u.account_id, "allow_listed": u.allow_listed,
         "liked_count": len(state.liked[u.id]), "playlist_ids": list(state.user_playlists[u.id])}
        for u in current().world.users.values()])


def _playlist_dump(playlist: Playlist) -> dict:
    tracks = current().world.tracks
    body = {k: v for k, v in asdict(playlist).items() if k not in ("track_ids", "added_at")}
    body.update(track_ids=list(playlist.track_ids), added_at=list(playlist.added_at),
                spotify_ids=[tracks[t].spotify_id for t in playlist.track_ids])
    if playlist.service == "spotify":
        body["snapshot_id"] = current().state.snapshot_id(playlist.id)
    return body


@bp.get("/playlists/<playlist_id>")
def playlist(playlist_id: str):
    """Full contents of any Spotify (including user-created) or Deezer playlist."""
    found = current().state.playlist(playlist_id) or current().world.deezer_playlists.get(playlist_id)
    if found is None:
        return jsonify(error="no such playlist"), 404
    return jsonify(_playlist_dump(found))


@bp.post("/tokens/expire")
def expire_tokens():
    """Expire live access tokens now (all, or `user_id`'s), so clients must refresh."""
    body = request.get_json(silent=True) or {}
    user_id = body.get("user_id") or request.args.get("user_id")
    return jsonify(expired=current().tokens.expire_access(user_id))


@bp.get("/world")
def world():
    sandbox = current()
    w = sandbox.world
    return jsonify(seed=w.seed, scale=sandbox.scale, fingerprint=sandbox.fingerprint, contexts=list(w.contexts),
                   profile=sandbox.faults.profile.name,
                   sizes={"artists": len(w.artists), "albums": len(w.albums), "tracks": len(w.tracks),
                          "deezer_playlists": len(w.deezer_playlists),
                          "spotify_playlists": len(sandbox.state.spotify_playlists), "users": len(w.users)})
