"""The `deezer` provider: album genres, bpm, gain, rank, release year, duration and explicit flag of a Deezer track."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from app.pipeline.clients.base import NotFound, ServiceError
from app.pipeline.providers.base import BadValue, FeatureResult, TrackRef, number
from app.pipeline.providers.run import RunClients, bounded_map

NETWORK_THREADS = 8  # enough to keep Deezer's 50-per-5-s window full at sandbox and real latencies


class DeezerProvider:
    """Reads `/track/{id}` (reusing this run's answers, e.g. from the ISRC match) and `/album/{id}` once per album.

    Album answers already stored for another track of the same album (`known_albums`) are reused, so
    an album is fetched once for all users and runs.
    """

    name = "deezer"
    version = "1"

    def __init__(self, clients: RunClients, known_albums: dict[int, dict[str, Any]] | None = None) -> None:
        self.clients = clients
        self.known_albums = dict(known_albums or {})

    def can_fetch(self, track: TrackRef) -> bool:
        return track.deezer_id is not None

    def fetch(self, tracks: Iterable[TrackRef]) -> Iterator[FeatureResult]:
        with ThreadPoolExecutor(NETWORK_THREADS, thread_name_prefix="deezer-features") as pool:
            yield from bounded_map(pool, self.fetch_one, tracks, 2 * NETWORK_THREADS)

    def fetch_one(self, track: TrackRef) -> FeatureResult:
        try:
            answer = self.clients.answers.track(track.deezer_id)
            values = track_values(answer)
            values.update(self._album_values(answer))
        except NotFound:
            return FeatureResult.unavailable(track.id, "Deezer no longer has this track")
        except BadValue as exc:
            return FeatureResult.failed(track.id, f"Deezer answered nonsense: {exc}")
        except ServiceError as exc:
            return FeatureResult.failed(track.id, str(exc))
        result = FeatureResult.ok(track.id, values)
        isrc = answer.get("isrc")  # only full tracks carry it: playlist pages and searches never do
        if isinstance(isrc, str) and isrc.strip() and not track.isrc:
            result.identity["isrc"] = isrc.strip().upper()[:16]
        return result

    def _album_values(self, answer: dict[str, Any]) -> dict[str, Any]:
        album_ref = answer.get("album")
        album_id = album_ref.get("id") if isinstance(album_ref, dict) else None
        if not isinstance(album_id, int):
            raise BadValue("the track has no album id")
        if album_id in self.known_albums:
            return dict(self.known_albums[album_id])
        try:
            album = self.clients.answers.album(album_id)
        except NotFound:
            return {"album_id": album_id, "genres": [], "genre": None}
        return album_values(album_id, album)


def track_values(answer: Any) -> dict[str, Any]:
    """The track-level values of a `/track/{id}` answer, checked for type and sense."""
    if not isinstance(answer, dict):
        raise BadValue("the answer is not an object")
    duration = number(answer.get("duration"), "duration", low=1, high=24 * 3600)
    bpm = number(answer.get("bpm"), "bpm", low=0, high=400, allow_none=True)
    release = answer.get("release_date")
    year = _year(release) if isinstance(release, str) else None
    explicit = answer.get("explicit_lyrics")
    if explicit is not None and not isinstance(explicit, bool):
        raise BadValue(f"explicit_lyrics is not true/false: {explicit!r}")
    return {
        "bpm": bpm or None,  # Deezer writes 0 for "unknown"
        "gain": number(answer.get("gain"), "gain", low=-60, high=20, allow_none=True),
        "rank": number(answer.get("rank"), "rank", low=0, allow_none=True),
        "duration_s": duration,
        "explicit": explicit,
        "release_year": year,
    }


def album_values(album_id: int, album: Any) -> dict[str, Any]:
    """Genres (names, first = main) and the album's release year, from an `/album/{id}` answer."""
    genres: list[str] = []
    data = album.get("genres", {}).get("data") if isinstance(album, dict) and isinstance(album.get("genres"), dict) \
        else None
    for genre in data or []:
        if isinstance(genre, dict) and isinstance(genre.get("name"), str) and genre["name"]:
            genres.append(genre["name"])
    release = album.get("release_date") if isinstance(album, dict) else None
    return {"album_id": album_id, "genres": genres, "genre": genres[0] if genres else None,
            "album_release_year": _year(release) if isinstance(release, str) else None}


def _year(date: str) -> int | None:
    head = date[:4]
    if head.isdigit() and 1900 <= int(head) <= 2100:
        return int(head)
    return None


ALBUM_KEYS = ("album_id", "genres", "genre", "album_release_year")
