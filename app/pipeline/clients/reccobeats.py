"""ReccoBeats' keyless audio features: by Spotify track id (40 per call), or analysed from an uploaded file."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests

from app.pipeline.clients.base import Retry, ServiceClient, ServiceError

MAX_IDS = 40  # more than 40 ids per call is refused
FEATURES = ("acousticness", "danceability", "energy", "instrumentalness", "key", "liveness", "loudness",
            "mode", "speechiness", "tempo", "valence")
# What the audio-file analysis returns: no key or mode.
ANALYSIS_FEATURES = ("acousticness", "danceability", "energy", "instrumentalness", "liveness", "loudness",
                     "speechiness", "tempo", "valence")
MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # the documented cap; only the first 30 s are analysed either way


class TooLarge(ServiceError):
    """An audio file over ReccoBeats' 5 MB upload cap: refused before sending, or by the service (413/400)."""


class ReccoBeatsClient(ServiceClient):
    service = "reccobeats"

    def check(self, response: requests.Response) -> Any:
        if response.status_code == 413:
            raise TooLarge(self.service, "refused the upload as too large (HTTP 413)", response.text[:200])
        data = super().check(response)
        if response.request is not None and response.request.method == "POST":
            if not isinstance(data, dict):
                raise Retry("analysis answer is not an object")
            return data
        if not isinstance(data, dict) or not isinstance(data.get("content"), list):
            raise Retry("answer has no content list")
        return data

    def analyse_audio(self, data: bytes, filename: str = "preview.mp3") -> dict[str, Any]:
        """Spotify-style features ReccoBeats computes from an audio file (`POST /analysis/audio-features`).

        Files over 5 MB are refused here, without spending an upload; the answer's values are returned
        as they came (the caller validates them). Rate limits and 5xx are handled like every call.
        """
        if len(data) > MAX_UPLOAD_BYTES:
            raise TooLarge(self.service, f"the audio file is {len(data)} bytes; ReccoBeats takes at most "
                                         f"{MAX_UPLOAD_BYTES} bytes")
        answer = self.request("POST", "analysis/audio-features",
                              files={"audioFile": (filename, data, _content_type(filename))})
        # The answer is the feature object itself; accept it wrapped in `content` as well (not confirmed).
        row = answer.get("content") if isinstance(answer.get("content"), dict) else answer
        return {name: row.get(name) for name in ANALYSIS_FEATURES}

    def audio_features(self, spotify_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Features by Spotify id; ids ReccoBeats does not know are silently absent from the result."""
        ids = list(dict.fromkeys(spotify_ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), MAX_IDS):
            chunk = ids[start:start + MAX_IDS]
            rows = self.get("audio-features", {"ids": ",".join(chunk)})["content"]
            wanted = set(chunk)
            for row in rows:
                spotify_id = _spotify_id_from_href(row.get("href") if isinstance(row, dict) else None)
                # Rows are keyed by ReccoBeats' own UUID; only the href ties them back to our ids.
                if spotify_id in wanted:
                    found[spotify_id] = {name: row.get(name) for name in FEATURES}
        return found


def _spotify_id_from_href(href: Any) -> str | None:
    if not isinstance(href, str) or "/track/" not in href:
        return None
    return href.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]


def _content_type(filename: str) -> str:
    suffix = filename.rsplit(".", 1)[-1].lower()
    return {"mp3": "audio/mpeg", "wav": "audio/wav", "ogg": "audio/ogg", "aif": "audio/aiff",
            "aiff": "audio/aiff", "aifc": "audio/aiff"}.get(suffix, "application/octet-stream")
