"""ReccoBeats' keyless audio features, looked up by Spotify track id, 40 ids per call."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests

from app.pipeline.clients.base import Retry, ServiceClient

MAX_IDS = 40  # more than 40 ids per call is refused
FEATURES = ("acousticness", "danceability", "energy", "instrumentalness", "key", "liveness", "loudness",
            "mode", "speechiness", "tempo", "valence")


class ReccoBeatsClient(ServiceClient):
    service = "reccobeats"

    def check(self, response: requests.Response) -> Any:
        data = super().check(response)
        if not isinstance(data, dict) or not isinstance(data.get("content"), list):
            raise Retry("answer has no content list")
        return data

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
