"""Deezer public API emulation (keyless) under /deezer: search, playlists, tracks, albums, charts, genres."""

from __future__ import annotations

import zlib
from datetime import datetime, timezone

from flask import Blueprint, jsonify, request

from .deezer_json import (
    CHART_SIZE, album_ref, api_url, artist_json, artist_ref, chart_pool, envelope, full_date, listed, md5_of,
    picture_urls, track_full, track_summary,
)
from .faults import throttled_response
from .model import DEEZER_GENRES, Album, Artist, Playlist, Track
from .runtime import current, guard
from .search import deezer_playlists_matching, parse_query, text_matches
from .state import normalize

bp = Blueprint("deezer", __name__, url_prefix="/deezer")

SEARCH_CAP = 300        # search results stop here whatever `total` says
EMBEDDED_CAP = 400      # `GET /playlist/{id}` embeds at most this many tracks
PLAYLIST_PAGE_CAP = 2000  # `GET /playlist/{id}/tracks` accepts large limits
_ERROR_TYPES = {4: "Exception", 500: "ParameterException", 501: "MissingParameterException",
                600: "InvalidQueryException", 800: "DataException"}


class DeezerError(Exception):
    """An error Deezer answers as HTTP 200 with `{"error":{"type","message","code"}}`."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@bp.errorhandler(DeezerError)
def _deezer_error(exc: DeezerError):
    return jsonify(error={"type": _ERROR_TYPES[exc.code], "message": exc.message, "code": exc.code})


def no_data() -> DeezerError:
    return DeezerError(800, "no data")


@bp.before_request
def _guard():
    return guard("deezer", _quota)


def _quota():
    # 50 requests per 5 s per client IP; the refusal is a code-4 body with HTTP 200 and no Retry-After.
    if current().deezer_limit.hit(request.remote_addr or "") is None:
        return None
    return throttled_response("deezer", 0)


# --- helpers --------------------------------------------------------------------------------------------


def _int_arg(name: str, default: int) -> int:
    try:
        return max(0, int(request.args.get(name, default)))
    except ValueError:
        return default


def _track_or_800(deezer_id: int) -> Track:
    track = current().world.tracks.get(deezer_id)
    # Tracks with on_deezer=False exist on Spotify only.
    if track is None or not track.on_deezer:
        raise no_data()
    return track


# --- tracks, albums, artists ----------------------------------------------------------------------------


@bp.get("/track/isrc:<isrc>")
def track_by_isrc(isrc: str):
    return jsonify(track_full(_by_isrc(isrc)))


@bp.get("/track/<ref>")
def track(ref: str):
    if ref.lower().startswith("isrc:"):  # `ISRC:` in capitals misses the rule above
        return jsonify(track_full(_by_isrc(ref[5:])))
    if not ref.isdigit():
        raise no_data()
    return jsonify(track_full(_track_or_800(int(ref))))


def _by_isrc(isrc: str) -> Track:
    matches = current().world.by_isrc.get(isrc.upper())
    if not matches:
        raise no_data()
    # One arbitrary track among duplicates, stable per ISRC.
    return matches[zlib.crc32(isrc.upper().encode()) % len(matches)]


def _genres(album: Album) -> list[dict]:
    return [{"id": gid, "name": DEEZER_GENRES[gid], "picture": api_url(f"genre/{gid}/image"), "type": "genre"}
            for gid in album.genre_ids if gid in DEEZER_GENRES]


@bp.get("/album/<int:album_id>")
def album(album_id: int):
    world = current().world
    found = world.albums.get(album_id)
    tracks = [t for t in current().state.album_tracks.get(album_id, []) if t.on_deezer]
    if found is None or not tracks:
        raise no_data()
    body = album_ref(found)
    body.update({
        "upc": found.upc, "link": f"https://www.deezer.com/album/{album_id}",
        "share": f"https://www.deezer.com/album/{album_id}?utm_source=deezer",
        "genre_id": found.genre_ids[0] if found.genre_ids else -1, "genres": {"data": _genres(found)},
        "label": found.label, "nb_tracks": len(tracks), "duration": sum(t.duration_ms // 1000 for t in tracks),
        "fans": max(t.rank for t in tracks) // 100, "release_date": full_date(found.release_date),
        "record_type": found.record_type, "available": True,
        "explicit_lyrics": any(t.explicit for t in tracks),
        "contributors": [{**artist_ref(world.artists[found.artist_id]), "role": "Main"}],
        "artist": artist_ref(world.artists[found.artist_id]),
        "tracks": {"data": [track_summary(t) for t in tracks]},
    })
    return jsonify(body)


@bp.get("/artist/<int:artist_id>")
def artist(artist_id: int):
    found = current().world.artists.get(artist_id)
    if found is None:
        raise no_data()
    albums = [a for a in current().world.albums.values() if a.artist_id == artist_id]
    return jsonify({**artist_json(found), "share": f"https://www.deezer.com/artist/{artist_id}?utm_source=deezer",
                    "nb_album": len(albums), "nb_fan": 1000 + zlib.crc32(found.name.encode()) % 500_000,
                    "radio": True})


# --- playlists ------------------------------------------------------------------------------------------


def _playlist_or_800(playlist_id: str) -> Playlist:
    found = current().world.deezer_playlists.get(playlist_id)
    if found is None:
        raise no_data()
    return found


def _checksum(playlist: Playlist) -> str:
    return md5_of(",".join(map(str, playlist.track_ids)))


def _unix(iso: str) -> int:
    return int(datetime.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp())


def _playlist_tracks(playlist: Playlist, start: int, stop: int) -> list[dict]:
    """Items start..stop as summaries with `time_add`; withdrawn or missing tracks are dropped (short pages),
    unreadable ones stay with `readable: false` and no preview."""
    tracks = current().world.tracks
    rows = []
    for tid, added_at in zip(playlist.track_ids[start:stop], playlist.added_at[start:stop]):
        track = tracks.get(tid)
        if track is not None and track.on_deezer and listed(track):
            rows.append({**track_summary(track), "time_add": _unix(added_at)})
    return rows


def _creator(playlist: Playlist) -> dict:
    return {"id": int(playlist.owner_id) if playlist.owner_id.isdigit() else playlist.owner_id,
            "name": playlist.owner_name, "tracklist": api_url(f"user/{playlist.owner_id}/flow"), "type": "user"}


def playlist_ref(playlist: Playlist) -> dict:
    md5 = md5_of(f"playlist:{playlist.id}")
    body = {"id": int(playlist.id), "title": playlist.title, "public": playlist.public,
            "nb_tracks": len(playlist.track_ids), "link": f"https://www.deezer.com/playlist/{playlist.id}"}
    body.update({f"picture{k}": v for k, v in picture_urls("playlist", md5).items()})
    body.update(checksum=_checksum(playlist), tracklist=api_url(f"playlist/{playlist.id}/tracks"),
                creation_date=f"{playlist.created[:10]} 12:00:00", md5_image=md5, picture_type="playlist",
                type="playlist")
    return body


@bp.get("/playlist/<playlist_id>")
def playlist(playlist_id: str):
    found = _playlist_or_800(playlist_id)
    tracks = current().world.tracks
    body = playlist_ref(found)
    body.update({
        "description": found.description, "is_loved_track": False, "collaborative": found.collaborative,
        "duration": sum(tracks[t].duration_ms // 1000 for t in found.track_ids if t in tracks),
        "fans": found.fans, "share": f"https://www.deezer.com/playlist/{found.id}?utm_source=deezer",
        "creator": _creator(found),
        "tracks": {"data": _playlist_tracks(found, 0, EMBEDDED_CAP), "checksum": _checksum(found)},
    })
    return jsonify(body)


@bp.get("/playlist/<playlist_id>/tracks")
def playlist_tracks(playlist_id: str):
    found = _playlist_or_800(playlist_id)
    index, limit = _int_arg("index", 0), min(_int_arg("limit", 25), PLAYLIST_PAGE_CAP) or 25
    data = _playlist_tracks(found, index, index + limit)
    return jsonify(envelope(data, len(found.track_ids), index, limit, f"playlist/{found.id}/tracks",
                            checksum=_checksum(found)))


# --- search, charts, genres -----------------------------------------------------------------------------

_SEARCH_FIELDS = frozenset({"artist", "track", "album", "label", "dur_min", "dur_max", "bpm_min", "bpm_max"})
_ORDERS = {
    "RANKING": (lambda t: -t.rank), "TRACK_ASC": (lambda t: t.title.lower()),
    "ARTIST_ASC": (lambda t: current().state.text[t.deezer_id].artists),
    "ALBUM_ASC": (lambda t: current().state.text[t.deezer_id].album),
    "RATING_ASC": (lambda t: t.rank), "DURATION_ASC": (lambda t: t.duration_ms),
}


def _query_param() -> str:
    if "q" not in request.args:
        raise DeezerError(501, "Missing parameters: q")
    q = request.args["q"].strip()
    if not q:
        raise DeezerError(500, "empty parameter")
    return q


def _number(filters: dict, name: str, default: float) -> float:
    try:
        return float(filters.get(name, default))
    except ValueError:
        return default


def _matches(track: Track, words: list[str], f: dict) -> bool:
    text = current().state.text[track.deezer_id]
    seconds = track.duration_ms / 1000
    return (("artist" not in f or normalize(f["artist"]) in text.artists)
            and ("track" not in f or normalize(f["track"]) in text.title)
            and ("album" not in f or normalize(f["album"]) in text.album)
            and ("label" not in f or normalize(f["label"]) in normalize(current().world.albums[track.album_id].label))
            and _number(f, "dur_min", 0) <= seconds <= _number(f, "dur_max", 1e9)
            and _number(f, "bpm_min", 0) <= track.bpm <= _number(f, "bpm_max", 1e9)
            and text_matches(words, text.all()))


def _ordered(tracks: list[Track]) -> list[Track]:
    order = request.args.get("order", "RANKING").upper()
    if order.endswith("_DESC"):
        key = _ORDERS.get(order[:-5] + "_ASC")
        return sorted(tracks, key=key, reverse=True) if key else tracks
    return sorted(tracks, key=_ORDERS[order]) if order in _ORDERS and order != "RANKING" else tracks


def _page_args() -> tuple[int, int]:
    # Search silently clamps `limit` to 100.
    return _int_arg("index", 0), min(_int_arg("limit", 25), 100) or 25


@bp.get("/search")
@bp.get("/search/track")
def search_tracks():
    query = parse_query(_query_param(), _SEARCH_FIELDS)
    found = [t for t in current().state.tracks_by_rank
             if t.on_deezer and listed(t) and _matches(t, query.words, query.filters)]
    found = _ordered(found)
    index, limit = _page_args()
    # `total` counts every match, but results stop at SEARCH_CAP: Deezer's total is not a paging guide.
    end = min(len(found), SEARCH_CAP)
    data = [track_summary(t) for t in found[index:min(index + limit, end)]]
    return jsonify(envelope(data, len(found), index, limit, request.path.removeprefix("/deezer/"), end=end))


@bp.get("/search/playlist")
def search_playlists():
    found = deezer_playlists_matching(current().world, _query_param())
    index, limit = _page_args()
    end = min(len(found), SEARCH_CAP)
    data = [{**playlist_ref(p), "user": _creator(p)} for p in found[index:min(index + limit, end)]]
    return jsonify(envelope(data, len(found), index, limit, "search/playlist", end=end))


def _chart_pool(genre_id: int) -> list[Track]:
    return chart_pool(current().world, current().state.tracks_by_rank, genre_id)


def _chart_tracks(pool: list[Track], index: int, limit: int) -> list[dict]:
    return [{**track_summary(t), "position": n} for n, t in enumerate(pool[index:index + limit], start=index + 1)]


def _chart_albums(pool: list[Track]) -> list[Album]:
    albums = current().world.albums
    return [albums[a] for a in dict.fromkeys(t.album_id for t in pool)]


def _chart_artists(pool: list[Track]) -> list[Artist]:
    artists = current().world.artists
    return [artists[a] for a in dict.fromkeys(t.artist_ids[0] for t in pool)]


def _chart_album_json(album: Album, position: int) -> dict:
    artist = current().world.artists[album.artist_id]
    return {**album_ref(album), "link": f"https://www.deezer.com/album/{album.deezer_id}",
            "release_date": full_date(album.release_date), "record_type": album.record_type,
            "explicit_lyrics": False, "position": position, "artist": artist_ref(artist)}


def _chart_playlists(genre_id: int) -> list[Playlist]:
    found = [p for p in current().world.deezer_playlists.values() if p.public]
    return sorted(found, key=lambda p: -p.fans)[:CHART_SIZE] if genre_id == 0 else []


@bp.get("/chart/<int:genre_id>")
def chart(genre_id: int):
    """The real `/chart/{id}` groups its first 10 of each kind: tracks, albums, artists, playlists, podcasts."""
    pool = _chart_pool(genre_id)
    albums, artists, playlists = _chart_albums(pool), _chart_artists(pool), _chart_playlists(genre_id)
    return jsonify({
        "tracks": {"data": _chart_tracks(pool, 0, 10), "total": len(pool)},
        "albums": {"data": [_chart_album_json(a, n) for n, a in enumerate(albums[:10], start=1)],
                   "total": len(albums)},
        "artists": {"data": [{**artist_json(a), "radio": True, "position": n}
                             for n, a in enumerate(artists[:10], start=1)], "total": len(artists)},
        "playlists": {"data": [{**playlist_ref(p), "user": _creator(p)} for p in playlists[:10]],
                      "total": len(playlists)},
        "podcasts": {"data": [], "total": 0},
    })


@bp.get("/chart/<int:genre_id>/tracks")
def chart_tracks(genre_id: int):
    pool = _chart_pool(genre_id)
    index, limit = _int_arg("index", 0), _int_arg("limit", 10) or 10
    return jsonify(envelope(_chart_tracks(pool, index, limit), len(pool), index, limit, f"chart/{genre_id}/tracks"))


@bp.get("/genre")
def genres():
    listing = {0: "All", **DEEZER_GENRES}
    data = []
    for gid, name in listing.items():
        images = picture_urls("misc", md5_of(f"genre:{gid}"))
        data.append({"id": gid, "name": name, **{f"picture{k}": v for k, v in images.items()}, "type": "genre"})
    return jsonify(data=data)


@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "DELETE"])
def unknown(rest: str):
    raise DeezerError(600, f"Unknown path components : /{rest}")
