"""Spotify Web API emulation (development mode, after the February-2026 changes) under /spotify/v1."""

from __future__ import annotations

import hashlib
import re
import time
from urllib.parse import urlencode

from flask import Blueprint, Response, g, jsonify, request

from .faults import throttled_response
from .model import Album, Artist, Playlist, Track, User
from .runtime import current, guard
from .search import parse_query, text_matches
from .state import normalize

bp = Blueprint("spotify", __name__, url_prefix="/spotify/v1")

BASE62_ID = re.compile(r"^[0-9A-Za-z]{22}$")
TRACK_URI = re.compile(r"^spotify:track:([0-9A-Za-z]{22})$")
NOT_REGISTERED = "Check settings on developer.spotify.com/dashboard, the user may not be registered."
SEARCH_TYPES = ("album", "artist", "playlist", "track", "show", "episode", "audiobook")


class SpotifyError(Exception):
    """An error answered with Spotify's body `{"error":{"status","message"}}`."""

    def __init__(self, status: int, message: str | None = None):
        super().__init__(message)
        self.status, self.message = status, message


@bp.errorhandler(SpotifyError)
def _spotify_error(exc: SpotifyError):
    return error_response(exc.status, exc.message)


def error_response(status: int, message: str | None = None, reason: str | None = None) -> Response:
    body = {"status": status}
    if message is not None:
        body["message"] = message
    if reason is not None:
        body["reason"] = reason
    response = jsonify(error=body)
    response.status_code = status
    return response


# --- the gate: counting, limits, faults, then the bearer token --------------------------------------


@bp.before_request
def _before():
    return guard("spotify", _refuse) or _authenticate()


def _refuse() -> Response | None:
    sandbox = current()
    if sandbox.faults.profile.quota:
        # The per-developer-account quota (2026-07-23): a 429 whose Retry-After can be hours.
        response = error_response(429, "Too many requests", reason="QUOTA_EXCEEDED")
        response.headers["Retry-After"] = str(sandbox.config.quota_retry_after)
        return response
    retry_after = sandbox.spotify_limit.hit()
    return None if retry_after is None else throttled_response("spotify", retry_after)


def _authenticate() -> Response | None:
    header = request.headers.get("Authorization")
    if not header:
        return error_response(401, "No token provided")
    scheme, _, token = header.partition(" ")
    if scheme != "Bearer" or not token:
        return error_response(400, "Only valid bearer authentication supported")
    record = current().tokens.lookup_access(token)
    if record is None:
        return error_response(401, "Invalid access token")
    if record.expires_at <= time.time():
        return error_response(401, "The access token expired")
    g.grant = record.grant
    g.user = current().state.user(record.grant.user_id) if record.grant.user_id else None
    if g.user is not None and not g.user.allow_listed:
        # Development mode: users outside the app's allow list get a plain-text 403, not JSON.
        return Response(NOT_REGISTERED, 403, mimetype="text/plain")
    return None


def _user(*scopes: str) -> User:
    """The token's user, holding at least one of `scopes` (client-credentials tokens have no user)."""
    if g.user is None:
        raise SpotifyError(401, "Valid user authentication required")
    if scopes and not g.grant.scope & set(scopes):
        raise SpotifyError(403, "Insufficient client scope")
    return g.user


# --- argument helpers ----------------------------------------------------------------------------------


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SpotifyError(400, f"Invalid {name}") from None
    if not low <= value <= high:
        raise SpotifyError(400, f"Invalid {name}")
    return value


def _check_id(value: str) -> str:
    if not BASE62_ID.match(value):
        raise SpotifyError(400, "Invalid base62 id")
    return value


def _json_body():
    return request.get_json(silent=True, force=True) if request.data else None


def _track_ids_from_uris(uris: list[str]) -> list[int]:
    """World track ids for `spotify:track:` URIs; a malformed URI or unknown id is a 400."""
    found = []
    for uri in uris:
        match = TRACK_URI.match(uri.strip())
        if not match:
            raise SpotifyError(400, f"Invalid track uri: {uri}")
        track = current().world.by_spotify_id.get(match.group(1))
        if track is None:
            raise SpotifyError(400, "Payload contains a non-existing ID")
        found.append(track.deezer_id)
    return found


def _query_uris() -> list[str] | None:
    raw = request.args.get("uris")
    return None if raw is None else [u for u in raw.split(",") if u]


# --- serializers ---------------------------------------------------------------------------------------


def api_url(path: str) -> str:
    """Links point back at the sandbox, so a client can follow them."""
    return f"{request.host_url}spotify/v1/{path}"


def _links(kind: str, spotify_id: str, api_path: str | None = None) -> dict:
    return {"external_urls": {"spotify": f"https://open.spotify.com/{kind}/{spotify_id}"},
            "href": api_url(api_path or f"{kind}s/{spotify_id}"), "id": spotify_id,
            "type": kind, "uri": f"spotify:{kind}:{spotify_id}"}


def artist_json(artist: Artist, full: bool = False) -> dict:
    body = {**_links("artist", artist.spotify_id), "name": artist.name}
    if full:
        # Dev mode drops followers/popularity; artist genres are unreliable, so empty.
        body.update(genres=[], images=[])
    return body


def _album_images(album: Album) -> list[dict]:
    digest = hashlib.sha1(album.spotify_id.encode()).hexdigest()[:24]
    return [{"url": f"https://i.scdn.co/image/ab67616d0000{size_code}{digest}", "height": px, "width": px}
            for size_code, px in (("b273", 640), ("1e02", 300), ("4851", 64))]


_ALBUM_TYPES = {"album": "album", "single": "single", "ep": "single", "compile": "compilation"}


def album_json(album: Album) -> dict:
    world = current().world
    return {
        "album_type": _ALBUM_TYPES.get(album.record_type, "album"),
        "total_tracks": len(current().state.album_tracks.get(album.deezer_id, ())),
        **_links("album", album.spotify_id), "images": _album_images(album), "name": album.title,
        "release_date": album.release_date, "release_date_precision": album.release_date_precision,
        "artists": [artist_json(world.artists[album.artist_id])],
    }


def spotify_name(track: Track) -> str:
    """Spotify writes versions as `Title - Remastered 2011` where Deezer has `Title (Remastered 2011)`."""
    version = track.title_version.strip().strip("()")
    return f"{track.title} - {version}" if version else track.title


def track_json(track: Track, with_album: bool = True) -> dict:
    world = current().world
    body = {}
    if with_album:
        body["album"] = album_json(world.albums[track.album_id])
    body.update({
        "artists": [artist_json(world.artists[a]) for a in track.artist_ids],
        "disc_number": 1, "duration_ms": track.duration_ms, "explicit": track.explicit,
        "external_ids": {"isrc": track.isrc}, **_links("track", track.spotify_id),
        "is_local": False, "name": spotify_name(track), "preview_url": None,
        "track_number": current().state.track_number[track.deezer_id],
    })
    return body


def user_json(user: User) -> dict:
    return {"account_id": user.account_id, "display_name": user.display_name, **_links("user", user.id),
            "images": []}


def _owner_json(playlist: Playlist) -> dict:
    return {"display_name": playlist.owner_name, **_links("user", playlist.owner_id)}


def _playlist_images(playlist: Playlist) -> list[dict]:
    digest = hashlib.sha1(playlist.id.encode()).hexdigest()
    return [{"url": f"https://mosaic.scdn.co/640/{digest}", "height": 640, "width": 640}]


def playlist_json(playlist: Playlist, items: dict | None = None, simplified: bool = False) -> dict:
    """Playlist metadata; `items` is the paging to embed (absent for non-members), or a ref when simplified."""
    body = {
        "collaborative": playlist.collaborative, "description": playlist.description,
        **_links("playlist", playlist.id), "images": _playlist_images(playlist), "name": playlist.title,
        "owner": _owner_json(playlist), "primary_color": None, "public": playlist.public,
        "snapshot_id": current().state.snapshot_id(playlist.id),
    }
    if simplified:
        # Only the new `items` ref: whether the deprecated `tracks` alias is still sent is unconfirmed, and the
        # sandbox must not be more generous than Spotify (docs/sandbox-fidelity.md).
        body["items"] = {"href": api_url(f"playlists/{playlist.id}/items"), "total": len(playlist.track_ids)}
    elif items is not None:
        body["items"] = items
    return body


def playlist_item_json(playlist: Playlist, index: int) -> dict:
    track = track_json(current().world.tracks[playlist.track_ids[index]])
    # The Feb-2026 rename: `item` is the only key sent (clients must not rely on the legacy `track`).
    return {"added_at": playlist.added_at[index], "added_by": _links("user", playlist.owner_id),
            "is_local": False, "primary_color": None, "item": track,
            "video_thumbnail": {"url": None}}


def paging(items: list, total: int, offset: int, limit: int, href_args: dict | None = None,
           base: str | None = None) -> dict:
    """Spotify's paging object; `next`/`previous` are absolute URLs with offset and limit filled in."""
    base = base or request.base_url
    extra = urlencode(href_args) + "&" if href_args else ""

    def link(at: int) -> str:
        return f"{base}?{extra}offset={at}&limit={limit}"

    return {"href": link(offset), "items": items, "limit": limit,
            "next": link(offset + limit) if limit and offset + limit < total else None,
            "offset": offset, "previous": link(max(0, offset - limit)) if offset > 0 else None,
            "total": total}


# --- users and Liked Songs -------------------------------------------------------------------------------


@bp.get("/me")
def me():
    return jsonify(user_json(_user()))


@bp.get("/me/tracks")
def saved_tracks():
    user = _user("user-library-read")
    limit, offset = _int_arg("limit", 20, 1, 50), _int_arg("offset", 0, 0, 10**9)
    rows, total = current().state.liked_page(user.id, offset, limit)
    tracks = current().world.tracks
    # Liked Songs kept the `track` key; only playlist items were renamed to `item`.
    items = [{"added_at": added_at, "track": track_json(tracks[tid])} for tid, added_at in rows]
    return jsonify(paging(items, total, offset, limit))


def _library_track_ids() -> list[int]:
    uris = _query_uris()
    if not uris:
        raise SpotifyError(400, "Missing required field: uris")
    if len(uris) > 40:
        raise SpotifyError(400, "Too many ids requested. Max 40.")
    return _track_ids_from_uris(uris)


@bp.put("/me/library")
def library_save():
    user = _user("user-library-modify")
    current().state.like(user.id, _library_track_ids())
    return Response(status=200)


@bp.delete("/me/library")
def library_remove():
    user = _user("user-library-modify")
    current().state.unlike(user.id, _library_track_ids())
    return Response(status=200)


@bp.get("/me/library/contains")
def library_contains():
    user = _user("user-library-read")
    return jsonify(current().state.likes(user.id, _library_track_ids()))


# --- playlists ------------------------------------------------------------------------------------------


@bp.get("/me/playlists")
def my_playlists():
    user = _user()
    limit, offset = _int_arg("limit", 20, 1, 50), _int_arg("offset", 0, 0, 100_000)
    playlists = current().state.playlists_of(user.id)
    items = [playlist_json(p, simplified=True) for p in playlists[offset:offset + limit]]
    return jsonify(paging(items, len(playlists), offset, limit))


@bp.post("/me/playlists")
def create_playlist():
    body = _json_body()
    body = body if isinstance(body, dict) else {}
    public = bool(body.get("public", True))
    collaborative = bool(body.get("collaborative", False))
    user = _user("playlist-modify-public" if public else "playlist-modify-private")
    if not body.get("name"):
        raise SpotifyError(400, "Missing required field: name")
    if collaborative and public:
        raise SpotifyError(400, "Collaborative playlists can only be private.")
    playlist = current().state.create_playlist(user, str(body["name"]), str(body.get("description") or ""),
                                               public, collaborative)
    response = jsonify(playlist_json(playlist, items=_items_paging(playlist, 0, 100)))
    response.status_code = 201
    return response


def _playlist_or_404(playlist_id: str) -> Playlist:
    playlist = current().state.playlist(_check_id(playlist_id))
    if playlist is None:
        raise SpotifyError(404, "Resource not found")
    return playlist


def _is_member(playlist: Playlist) -> bool:
    # The model has no collaborator lists, so membership means ownership.
    return g.user is not None and playlist.owner_id == g.user.id


def _items_paging(playlist: Playlist, offset: int, limit: int) -> dict:
    end = min(len(playlist.track_ids), offset + limit)
    items = [playlist_item_json(playlist, i) for i in range(offset, end)]
    return paging(items, len(playlist.track_ids), offset, limit,
                  base=api_url(f"playlists/{playlist.id}/items"))


@bp.get("/playlists/<playlist_id>")
def playlist(playlist_id: str):
    found = _playlist_or_404(playlist_id)
    # Since Feb 2026, a playlist the user neither owns nor collaborates on comes as metadata only.
    items = _items_paging(found, 0, 100) if _is_member(found) else None
    return jsonify(playlist_json(found, items=items))


@bp.get("/playlists/<playlist_id>/items")
def playlist_items(playlist_id: str):
    found = _playlist_or_404(playlist_id)
    readable = _is_member(found) or (current().faults.profile.extended and found.public)
    if not readable:
        raise SpotifyError(403, "Forbidden")
    limit, offset = _int_arg("limit", 20, 1, 50), _int_arg("offset", 0, 0, 10**9)
    with current().state.lock:
        return jsonify(_items_paging(current().state.playlist(found.id), offset, limit))


def _editable(playlist_id: str) -> Playlist:
    found = _playlist_or_404(playlist_id)
    _user("playlist-modify-public" if found.public else "playlist-modify-private")
    if not _is_member(found):
        raise SpotifyError(403, "Forbidden")
    return found


def _uris_and_body() -> tuple[list[str] | None, dict]:
    """URIs from the query (which wins) or the JSON body; spotipy sends a bare JSON array."""
    body = _json_body()
    if isinstance(body, list):
        body = {"uris": body}
    body = body if isinstance(body, dict) else {}
    uris = _query_uris()
    return (uris if uris is not None else body.get("uris")), body


def _max_100(uris: list) -> None:
    if len(uris) > 100:
        raise SpotifyError(400, "You can add a maximum of 100 tracks per request.")


@bp.post("/playlists/<playlist_id>/items")
def add_items(playlist_id: str):
    found = _editable(playlist_id)
    uris, body = _uris_and_body()
    if not uris:
        raise SpotifyError(400, "Missing required field: uris")
    _max_100(uris)
    track_ids = _track_ids_from_uris(uris)
    position = request.args.get("position", body.get("position"))
    state = current().state
    with state.lock:
        size = len(state.playlist(found.id).track_ids)
        try:
            at = None if position is None else int(position)
        except (TypeError, ValueError):
            raise SpotifyError(400, "Invalid position") from None
        if at is not None and not 0 <= at <= size:
            raise SpotifyError(400, "Index out of bounds")
        snapshot = state.add_items(found.id, track_ids, at)
    response = jsonify(snapshot_id=snapshot)
    response.status_code = 201
    return response


@bp.put("/playlists/<playlist_id>/items")
def update_items(playlist_id: str):
    found = _editable(playlist_id)
    uris, body = _uris_and_body()
    if "range_start" in body:
        return jsonify(snapshot_id=_reorder(found, body))
    if uris is None:
        raise SpotifyError(400, "Missing required field: uris")
    _max_100(uris)
    return jsonify(snapshot_id=current().state.replace_items(found.id, _track_ids_from_uris(uris)))


def _reorder(playlist: Playlist, body: dict) -> str:
    state = current().state
    with state.lock:
        size = len(state.playlist(playlist.id).track_ids)
        try:
            start, before = int(body["range_start"]), int(body["insert_before"])
            length = int(body.get("range_length", 1))
        except (KeyError, TypeError, ValueError):
            raise SpotifyError(400, "Invalid range") from None
        if not (0 <= start < size and 0 <= before <= size and 1 <= length <= size - start):
            raise SpotifyError(400, "Index out of bounds")
        return state.reorder_items(playlist.id, start, length, before)


@bp.delete("/playlists/<playlist_id>/items")
def remove_items(playlist_id: str):
    found = _editable(playlist_id)
    body = _json_body() or {}
    # `items` since Feb 2026; the old key `tracks` is still read.
    entries = body.get("items", body.get("tracks")) if isinstance(body, dict) else None
    if not entries:
        raise SpotifyError(400, "Missing required field: items")
    if len(entries) > 100:
        raise SpotifyError(400, "Too many tracks. Max 100.")
    by_id = current().world.by_spotify_id
    removals = []
    for entry in entries:
        match = TRACK_URI.match(str(entry.get("uri", "")) if isinstance(entry, dict) else "")
        if not match:
            raise SpotifyError(400, "Invalid track uri")
        if match.group(1) in by_id:
            removals.append((by_id[match.group(1)].deezer_id, entry.get("positions")))
    return jsonify(snapshot_id=current().state.remove_items(found.id, removals))


# --- catalogue ------------------------------------------------------------------------------------------


@bp.get("/tracks/<track_id>")
def track(track_id: str):
    found = current().world.by_spotify_id.get(_check_id(track_id))
    if found is None:
        raise SpotifyError(404, "Resource not found")
    return jsonify(track_json(found))


@bp.get("/albums/<album_id>")
def album(album_id: str):
    found = current().state.album_by_spotify_id.get(_check_id(album_id))
    if found is None:
        raise SpotifyError(404, "Resource not found")
    tracks = current().state.album_tracks.get(found.deezer_id, [])
    body = album_json(found)
    body.update(copyrights=[], external_ids={"upc": found.upc}, genres=[],
                tracks=paging([track_json(t, with_album=False) for t in tracks[:50]], len(tracks), 0, 50,
                              base=api_url(f"albums/{found.spotify_id}/tracks")))
    return jsonify(body)


@bp.get("/artists/<artist_id>")
def artist(artist_id: str):
    found = current().state.artist_by_spotify_id.get(_check_id(artist_id))
    if found is None:
        raise SpotifyError(404, "Resource not found")
    return jsonify(artist_json(found, full=True))


def _audio_features(track: Track) -> dict | None:
    c = track.character
    if c is None:  # a real recording: nobody computed its features, so Spotify has none (null row)
        return None
    return {"acousticness": c.acousticness, "analysis_url": api_url(f"audio-analysis/{track.spotify_id}"),
            "danceability": c.danceability, "duration_ms": track.duration_ms, "energy": c.energy,
            "id": track.spotify_id, "instrumentalness": c.instrumentalness, "key": c.key,
            "liveness": c.liveness, "loudness": c.loudness, "mode": c.mode, "speechiness": c.speechiness,
            "tempo": c.tempo, "time_signature": c.time_signature, "track_href": api_url(f"tracks/{track.spotify_id}"),
            "type": "audio_features", "uri": f"spotify:track:{track.spotify_id}", "valence": c.valence}


def _require_extended() -> None:
    # Apps created after 2024-11-27 get a bare 403 without a message.
    if not current().faults.profile.extended:
        raise SpotifyError(403)


@bp.get("/audio-features")
def audio_features():
    _require_extended()
    ids = [i for i in request.args.get("ids", "").split(",") if i]
    if not ids:
        raise SpotifyError(400, "Missing required field: ids")
    if len(ids) > 100:
        raise SpotifyError(400, "Too many ids requested")
    by_id = current().world.by_spotify_id
    return jsonify(audio_features=[_audio_features(by_id[i]) if i in by_id else None for i in ids])


@bp.get("/audio-features/<track_id>")
def audio_features_one(track_id: str):
    _require_extended()
    found = current().world.by_spotify_id.get(_check_id(track_id))
    if found is None or found.character is None:
        raise SpotifyError(404, "Resource not found")
    return jsonify(_audio_features(found))


# --- search ---------------------------------------------------------------------------------------------

_TRACK_FIELDS = frozenset({"artist", "track", "album", "year", "isrc", "genre", "upc", "tag"})


def _year_ok(album: Album, spec: str) -> bool:
    first, _, last = spec.partition("-")
    try:
        year = int(album.release_date[:4])
        return int(first) <= year <= int(last or first)
    except ValueError:
        return False


def _search_tracks(q: str) -> list[Track]:
    query = parse_query(q, _TRACK_FIELDS)
    state, f = current().state, query.filters
    if "isrc" in f:
        candidates = state.spotify_isrc.get(f["isrc"].upper(), [])
    else:
        candidates = state.tracks_by_rank
    albums = current().world.albums
    found = []
    for track in candidates:
        text = state.text[track.deezer_id]
        if (("artist" in f and normalize(f["artist"]) not in text.artists)
                or ("track" in f and normalize(f["track"]) not in text.title)
                or ("album" in f and normalize(f["album"]) not in text.album)
                or ("year" in f and not _year_ok(albums[track.album_id], f["year"]))
                or ("upc" in f and albums[track.album_id].upc != f["upc"])
                or not text_matches(query.words, text.all())):
            continue
        found.append(track)
    return found


def _search_artists(q: str) -> list[Artist]:
    query = parse_query(q, _TRACK_FIELDS)
    words = query.words + normalize(query.filters.get("artist", "")).split()
    return [a for a in current().world.artists.values() if text_matches(words, normalize(a.name))]


def _search_albums(q: str) -> list[Album]:
    query = parse_query(q, _TRACK_FIELDS)
    words = query.words + normalize(query.filters.get("album", "")).split()
    artists = current().world.artists
    return [a for a in current().world.albums.values()
            if text_matches(words, normalize(f"{a.title} {artists[a.artist_id].name}"))]


def _search_playlists(q: str) -> list[Playlist]:
    words = parse_query(q, frozenset()).words
    with current().state.lock:
        playlists = list(current().state.spotify_playlists.values())
    found = [p for p in playlists if p.public and text_matches(words, normalize(f"{p.title} {p.description}"))]
    return sorted(found, key=lambda p: -p.fans)


def _hidden_in_search(playlist: Playlist) -> bool:
    # Playlist search results contain `null` entries (about one in five here).
    return hashlib.sha1(playlist.id.encode()).digest()[0] < 52


@bp.get("/search")
def search():
    # Spotify's own next/previous links spell the query `query=`.
    q = (request.args.get("q") or request.args.get("query") or "").strip()
    if not q:
        raise SpotifyError(400, "No search query")
    types = [t for t in request.args.get("type", "").split(",") if t]
    if not types:
        raise SpotifyError(400, "Missing parameter type")
    bad = [t for t in types if t not in SEARCH_TYPES]
    if bad:
        raise SpotifyError(400, f"Bad search type field {bad[0]}")
    # Development mode caps search at 10 results per page (default 5).
    limit, offset = _int_arg("limit", 5, 0, 10), _int_arg("offset", 0, 0, 1000)
    href_args = {"query": q, "type": request.args.get("type")}
    body = {}
    for kind in types:
        found, render = _search_kind(kind, q)
        page = [render(x) for x in found[offset:offset + limit]]
        body[f"{kind}s"] = paging(page, len(found), offset, limit, href_args)
    return jsonify(body)


def _search_kind(kind: str, q: str):
    if kind == "track":
        return _search_tracks(q), track_json
    if kind == "artist":
        return _search_artists(q), lambda a: artist_json(a, full=True)
    if kind == "album":
        return _search_albums(q), album_json
    if kind == "playlist":
        return _search_playlists(q), lambda p: None if _hidden_in_search(p) else playlist_json(p, simplified=True)
    return [], None  # shows, episodes and audiobooks: the sandbox world has none


# --- endpoints removed for development-mode apps ----------------------------------------------------------

REMOVED = [
    ("/tracks", ["GET"]), ("/albums", ["GET"]), ("/artists", ["GET"]),
    ("/artists/<artist_id>/top-tracks", ["GET"]), ("/artists/<artist_id>/related-artists", ["GET"]),
    ("/users/<user_id>", ["GET"]), ("/users/<user_id>/playlists", ["GET", "POST"]),
    ("/playlists/<playlist_id>/tracks", ["GET", "POST", "PUT", "DELETE"]),
    ("/me/tracks", ["PUT", "DELETE"]), ("/browse/<path:section>", ["GET"]), ("/markets", ["GET"]),
    ("/recommendations", ["GET"]), ("/recommendations/available-genre-seeds", ["GET"]),
    ("/audio-analysis/<track_id>", ["GET"]),
]


def removed_endpoint(**_ignored):
    """Removed for development-mode apps (Nov 2024 / Feb 2026): Spotify answers 403."""
    raise SpotifyError(403, "Forbidden")


for _n, (_rule, _methods) in enumerate(REMOVED):
    bp.add_url_rule(_rule, endpoint=f"removed_{_n}", view_func=removed_endpoint, methods=_methods)


@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
def unknown(rest: str):
    raise SpotifyError(404, "Service not found")
