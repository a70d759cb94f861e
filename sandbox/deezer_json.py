"""The JSON the Deezer emulation answers with: tracks, albums, artists, list envelopes, and which tracks show."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from urllib.parse import urlencode

from flask import request

from .model import Album, Artist, Track, World
from .previews import signed_preview_url
from .runtime import current


def api_url(path: str) -> str:
    return f"{request.host_url}deezer/{path}"


def is_listed(world: World, track: Track) -> bool:
    """About 2% of tracks are withdrawn (rights), chosen by hash; playlist pages, searches and charts drop them."""
    return zlib.crc32(f"{world.seed}:{track.deezer_id}".encode()) % 50 != 0


def listed(track: Track) -> bool:
    return is_listed(current().world, track)


CHART_SIZE = 100


def chart_pool(world: World, ranked: Sequence[Track], genre_id: int) -> list[Track]:
    """What `/chart/{genre_id}/tracks` lists (0: all genres): the listed tracks of `ranked`, most popular first."""
    return [t for t in ranked if t.on_deezer and is_listed(world, t)
            and (genre_id == 0 or genre_id in world.albums[t.album_id].genre_ids)][:CHART_SIZE]


UNREADABLE_PERCENT = 15


def readable(track: Track) -> bool:
    """About 15% of tracks are listed but not playable here: `readable: false` and an empty `preview`,
    as real playlist pages show them (chosen by a hash independent of `listed`)."""
    return zlib.crc32(f"{current().world.seed}:readable:{track.deezer_id}".encode()) % 100 >= UNREADABLE_PERCENT


def md5_of(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def picture_urls(kind: str, md5: str) -> dict:
    base = f"https://cdn-images.dzcdn.net/images/{kind}/{md5}"
    return {"": f"{base}/120x120-000000-80-0-0.jpg", "_small": f"{base}/56x56-000000-80-0-0.jpg",
            "_medium": f"{base}/250x250-000000-80-0-0.jpg", "_big": f"{base}/500x500-000000-80-0-0.jpg",
            "_xl": f"{base}/1000x1000-000000-80-0-0.jpg"}


def full_date(date: str) -> str:
    """Deezer always gives full dates; pad year or month precision."""
    return (date + "-01-01")[:10] if len(date) == 4 else (date + "-01")[:10]


def artist_json(artist: Artist) -> dict:
    md5 = md5_of(f"artist:{artist.deezer_id}")
    body = {"id": artist.deezer_id, "name": artist.name, "link": f"https://www.deezer.com/artist/{artist.deezer_id}"}
    body.update({f"picture{k}": v for k, v in picture_urls("artist", md5).items()})
    body.update(tracklist=api_url(f"artist/{artist.deezer_id}/top?limit=50"), type="artist")
    return body


def album_ref(album: Album) -> dict:
    md5 = md5_of(f"cover:{album.deezer_id}")
    body = {"id": album.deezer_id, "title": album.title}
    body.update({f"cover{k}": v for k, v in picture_urls("cover", md5).items()})
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
        "md5_image": md5_of(f"cover:{album.deezer_id}"), "artist": artist_ref(world.artists[track.artist_ids[0]]),
        "album": album_ref(album), "type": "track",
    })
    return body


def artist_ref(artist: Artist) -> dict:
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
        "release_date": full_date(album.release_date), "bpm": track.bpm, "gain": track.gain,
        "available_countries": ["DE", "FR", "GB", "US"] if readable(track) else [],
        "track_token": md5_of(f"token:{track.deezer_id}"),
        "contributors": [{**artist_ref(world.artists[a]), "role": "Main"} for a in track.artist_ids],
        "artist": artist_json(world.artists[track.artist_ids[0]]),
        "album": {**album_ref(album), "link": f"https://www.deezer.com/album/{album.deezer_id}",
                  "release_date": full_date(album.release_date)},
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
