"""Deezer public API emulation (keyless) under /deezer: search, playlists, tracks, albums, charts, genres."""

from __future__ import annotations

import hashlib
import zlib
from datetime import datetime, timezone
from urllib.parse import urlencode

from flask import Blueprint, jsonify, request

from .faults import throttled_response
from .model import DEEZER_GENRES, Album, Artist, Playlist, Track
from .previews import signed_preview_url
from .runtime import current, guard
from .search import parse_query, text_matches
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


def api_url(path: str) -> str:
    return f"{request.host_url}deezer/{path}"


def _int_arg(name: str, default: int) -> int:
    try:
        return max(0, int(request.args.get(name, default)))
    except ValueError:
        return default


def listed(track: Track) -> bool:
    """About 2% of tracks are withdrawn (rights), chosen by hash; playlist pages and searches drop them."""
    return zlib.crc32(f"{current().world.seed}:{track.deezer_id}".encode()) % 50 != 0


UNREADABLE_PERCENT = 15


def readable(track: Track) -> bool:
    """About 15% of tracks are listed but not playable here: `readable: false` and an empty `preview`,
    as real playlist pages show them (chosen by a hash independent of `listed`)."""
    return zlib.crc32(f"{current().world.seed}:readable:{track.deezer_id}".encode()) % 100 >= UNREADABLE_PERCENT


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _pictures(kind: str, md5: str) -> dict:
    base = f"https://cdn-images.dzcdn.net/images/{kind}/{md5}"
    return {"": f"{base}/120x120-000000-80-0-0.jpg", "_small": f"{base}/56x56-000000-80-0-0.jpg",
            "_medium": f"{base}/250x250-000000-80-0-0.jpg", "_big": f"{base}/500x500-000000-80-0-0.jpg",
            "_xl": f"{base}/1000x1000-000000-80-0-0.jpg"}


def _full_date(date: str) -> str:
    """Deezer always gives full dates; pad year or month precision."""
    return (date + "-01-01")[:10] if len(date) == 4 else (date + "-01")[:10]


def artist_json(artist: Artist) -> dict:
    md5 = _md5(f"artist:{artist.deezer_id}")
    body = {"id": artist.deezer_id, "name": artist.name, "link": f"https://www.deezer.com/artist/{artist.deezer_id}"}
    body.update({f"picture{k}": v for k, v in _pictures("artist", md5).items()})
    body.update(tracklist=api_url(f"artist/{artist.deezer_id}/top?limit=50"), type="artist")
    return body


def album_ref(album: Album) -> dict:
    md5 = _md5(f"cover:{album.deezer_id}")
    body = {"id": album.deezer_id, "title": album.title}
    body.update({f"cover{k}": v for k, v in _pictures("cover", md5).items()})
    body.update(md5_image=md5, tracklist=api_url(f"album/{album.deezer_id}/tracks"), type="album")
    return body


def deezer_isrc(track: Track) -> str:
    return track.deezer_isrc or track.isrc


def _title(track: Track) -> str:
    return f"{track.title} {track.title_version}" if track.title_version else track.title


def track_summary(track: Track, with_isrc: bool = False) -> dict:
    """A track as lists show it (playlist pages, searches, charts, albums): real Deezer summaries carry no
    `isrc`; only the full track (`/track/{id}`, `/track/isrc:…`) has one (`with_isrc`)."""
    world = current().world
    album = world.albums[track.album_id]
    ok = readable(track)
    body = {"id": track.deezer_id, "readable": ok, "title": _title(track), "title_short": track.title,
            "title_version": track.title_version}
    if with_isrc:
        body["isrc"] = deezer_isrc(track)
    explicit = 1 if track.explicit else 0
    body.update({
        "link": f"https://www.deezer.com/track/{track.deezer_id}", "duration": track.duration_ms // 1000,
        "rank": track.rank, "explicit_lyrics": track.explicit, "explicit_content_lyrics": explicit,
        "explicit_content_cover": 0, "preview": signed_preview_url(track) if ok else "",
        "md5_image": _md5(f"cover:{album.deezer_id}"), "artist": _artist_ref(world.artists[track.artist_ids[0]]),
        "album": album_ref(album), "type": "track",
    })
    return body


def _artist_ref(artist: Artist) -> dict:
    return {"id": artist.deezer_id, "name": artist.name, "link": f"https://www.deezer.com/artist/{artist.deezer_id}",
            "tracklist": api_url(f"artist/{artist.deezer_id}/top?limit=50"), "type": "artist"}


def track_full(track: Track) -> dict:
    world = current().world
    album = world.albums[track.album_id]
    body = track_summary(track, with_isrc=True)
    body.pop("album")
    body.update({
        "share": f"https://www.deezer.com/track/{track.deezer_id}?utm_source=deezer",
        "track_position": current().state.track_number[track.deezer_id], "disk_number": 1,
        "release_date": _full_date(album.release_date), "bpm": track.bpm, "gain": track.gain,
        "available_countries": ["DE", "FR", "GB", "US"] if readable(track) else [],
        "track_token": _md5(f"token:{track.deezer_id}"),
        "contributors": [{**_artist_ref(world.artists[a]), "role": "Main"} for a in track.artist_ids],
        "artist": artist_json(world.artists[track.artist_ids[0]]),
        "album": {**album_ref(album), "link": f"https://www.deezer.com/album/{album.deezer_id}",
                  "release_date": _full_date(album.release_date)},
    })
    return body


def envelope(data: list, total: int, index: int, limit: int, path: str, end: int | None = None,
             **extra) -> dict:
    """Deezer's list envelope; `next` is absent on the last page (`end` caps how far paging goes)."""
    end = total if end is None else end
    kept = {k: v for k, v in request.args.items() if k not in ("index", "limit")}
    args = urlencode(kept) + "&" if kept else ""
    body = {"data": data, "total": total, **extra}
    if index > 0:
        body["prev"] = api_url(f"{path}?{args}limit={limit}&index={max(0, index - limit)}")
    if index + limit < end:
        body["next"] = api_url(f"{path}?{args}limit={limit}&index={index + limit}")
    return body


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
        "fans": max(t.rank for t in tracks) // 100, "release_date": _full_date(found.release_date),
        "record_type": found.record_type, "available": True,
        "explicit_lyrics": any(t.explicit for t in tracks),
        "contributors": [{**_artist_ref(world.artists[found.artist_id]), "role": "Main"}],
        "artist": _artist_ref(world.artists[found.artist_id]),
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
    return _md5(",".join(map(str, playlist.track_ids)))


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
    md5 = _md5(f"playlist:{playlist.id}")
    body = {"id": int(playlist.id), "title": playlist.title, "public": playlist.public,
            "nb_tracks": len(playlist.track_ids), "link": f"https://www.deezer.com/playlist/{playlist.id}"}
    body.update({f"picture{k}": v for k, v in _pictures("playlist", md5).items()})
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
    words = normalize(_query_param()).split()
    found = sorted((p for p in current().world.deezer_playlists.values()
                    if p.public and text_matches(words, normalize(p.title))), key=lambda p: -p.fans)
    index, limit = _page_args()
    end = min(len(found), SEARCH_CAP)
    data = [{**playlist_ref(p), "user": _creator(p)} for p in found[index:min(index + limit, end)]]
    return jsonify(envelope(data, len(found), index, limit, "search/playlist", end=end))


CHART_SIZE = 100


def _chart_pool(genre_id: int) -> list[Track]:
    albums = current().world.albums
    return [t for t in current().state.tracks_by_rank
            if t.on_deezer and listed(t) and (genre_id == 0 or genre_id in albums[t.album_id].genre_ids)][:CHART_SIZE]


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
            "release_date": _full_date(album.release_date), "record_type": album.record_type,
            "explicit_lyrics": False, "position": position, "artist": _artist_ref(artist)}


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
        pictures = _pictures("misc", _md5(f"genre:{gid}"))
        data.append({"id": gid, "name": name, **{f"picture{k}": v for k, v in pictures.items()}, "type": "genre"})
    return jsonify(data=data)


@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "DELETE"])
def unknown(rest: str):
    raise DeezerError(600, f"Unknown path components : /{rest}")
