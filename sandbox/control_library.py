"""Sandbox control endpoints that change a user's Spotify behind the app's back: new likes, edited or deleted playlists, a revoked grant."""

from __future__ import annotations

import random
import re
import time

from flask import Blueprint, jsonify, request

from .model import Track
from .runtime import current

bp = Blueprint("control_library", __name__, url_prefix="/__sandbox__")

# The edition words the world writes into `title_version`; stripped to find the same song on another release.
_EDITION = re.compile(r"\s*(\(.*?\)|\[.*?\]|-\s.*)$")


def _bad(message: str, status: int = 400):
    return jsonify(error=message), status


def _song(track: Track) -> tuple[int, str]:
    title = _EDITION.sub("", f"{track.title} {track.title_version}".strip()).lower()
    return track.artist_ids[0], title


def _other_versions(liked: set[int]) -> list[tuple[Track, Track]]:
    """(unliked track, liked track) pairs that are the same recording (ISRC) or song (artist + title) on
    another release: what a real catalogue offers as remasters, compilations and live takes."""
    world = current().world
    by_isrc: dict[str, list[Track]] = {}
    by_song: dict[tuple[int, str], list[Track]] = {}
    for track in world.tracks.values():
        by_isrc.setdefault(track.isrc.upper(), []).append(track)
        by_song.setdefault(_song(track), []).append(track)
    pairs, taken = [], set()
    for tid in sorted(liked):
        original = world.tracks[tid]
        same = by_isrc[original.isrc.upper()] + [t for t in by_song[_song(original)]
                                                 if abs(t.duration_ms - original.duration_ms) <= 3000]
        for other in same:
            if other.deezer_id not in liked and other.deezer_id not in taken:
                taken.add(other.deezer_id)
                pairs.append((other, original))
    return pairs


@bp.post("/users/<user_id>/likes")
def add_likes(user_id: str):
    """Like tracks for a user, newest first, as if they pressed the heart in Spotify.

    Body: `{"spotify_ids": [...]}`, or `{"count": n, "other_versions": k, "seed": s}`: k other releases of songs
    the user already likes (same ISRC, or same artist and title within 3 s) and n - k other tracks. Answers
    what was liked, each with `version_of` (the liked track's Spotify id) or null.
    """
    sandbox = current()
    if sandbox.state.user(user_id) is None:
        return _bad("no such user", 404)
    body = request.get_json(silent=True) or {}
    liked = {tid for tid, _ in sandbox.state.liked[user_id]}
    chosen: list[tuple[Track, Track | None]] = []
    if "spotify_ids" in body:
        for sid in body["spotify_ids"] or []:
            track = sandbox.world.by_spotify_id.get(str(sid))
            if track is None:
                return _bad(f"unknown spotify id {sid}")
            chosen.append((track, None))
    else:
        try:
            count, versions = int(body.get("count", 0)), int(body.get("other_versions", 0))
        except (TypeError, ValueError):
            return _bad("count and other_versions are integers")
        if not 0 <= versions <= count <= 500:
            return _bad("0 <= other_versions <= count <= 500")
        rng = random.Random(body.get("seed", 0))
        pairs = _other_versions(liked)
        if len(pairs) < versions:
            return _bad(f"this user likes songs with only {len(pairs)} other releases in the world")
        chosen += rng.sample(pairs, versions)
        near = {t.deezer_id for t, _ in pairs} | liked
        rest = [t for t in sandbox.world.tracks.values() if t.deezer_id not in near]
        chosen += [(t, None) for t in rng.sample(sorted(rest, key=lambda t: t.deezer_id), count - versions)]
    sandbox.state.like(user_id, [t.deezer_id for t, _ in chosen])
    return jsonify(added=[{"spotify_id": t.spotify_id, "isrc": t.isrc, "title": t.title,
                           "title_version": t.title_version,
                           "version_of": original.spotify_id if original else None} for t, original in chosen],
                   liked_count=len(sandbox.state.liked[user_id]))


@bp.post("/playlists/<playlist_id>/change")
def change_playlist(playlist_id: str):
    """Edit a Spotify playlist as its owner would in the Spotify app.

    Body: `{"add": [spotify ids], "remove": [spotify ids], "delete": true}`. Delete is what Spotify does:
    the owner unfollows it, so it leaves /me/playlists while its id still answers.
    """
    state = current().state
    playlist = state.playlist(playlist_id)
    if playlist is None:
        return _bad("no such playlist", 404)
    body = request.get_json(silent=True) or {}
    by_id = current().world.by_spotify_id
    try:
        adds = [by_id[str(s)].deezer_id for s in body.get("add") or []]
        removes = [(by_id[str(s)].deezer_id, None) for s in body.get("remove") or []]
    except KeyError as exc:
        return _bad(f"unknown spotify id {exc.args[0]}")
    if adds:
        state.add_items(playlist.id, adds, None)
    if removes:
        state.remove_items(playlist.id, removes)
    deleted = bool(body.get("delete")) and state.unfollow(playlist.owner_id, playlist.id)
    return jsonify(snapshot_id=state.snapshot_id(playlist.id), deleted=deleted,
                   spotify_ids=[current().world.tracks[t].spotify_id for t in state.playlist(playlist.id).track_ids])


@bp.post("/users/<user_id>/revoke")
def revoke(user_id: str):
    """The user removed the app's access in their Spotify account: every token of theirs stops working."""
    tokens = current().tokens
    now = time.time()
    with tokens._lock:
        refreshed = [r for r in tokens.refresh.values() if r.grant.user_id == user_id]
        for record in refreshed:
            record.revoked = True
        for access in tokens.access.values():
            if access.grant.user_id == user_id:
                access.expires_at = now - 1
    return jsonify(revoked=len(refreshed))
