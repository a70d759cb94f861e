"""The straightforward approach the original projects took, as a reference: per track, search by name, then
fetch the track and its album; no batching, no cache, no limiter, one request at a time."""

from __future__ import annotations

import time
from typing import Any

import requests


def naive_enrich(deezer_url: str, tracks: list[tuple[str, str]]) -> dict[str, Any]:
    """Enrich `(artist, title)` pairs the naive way; returns calls and seconds, per track and in all."""
    session = requests.Session()
    calls = 0
    started = time.perf_counter()

    def get(path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        nonlocal calls
        while True:
            calls += 1
            data = session.get(f"{deezer_url.rstrip('/')}/{path}", params=params, timeout=30).json()
            error = data.get("error") if isinstance(data, dict) else None
            if isinstance(error, dict) and error.get("code") == 4:
                time.sleep(1.0)  # the only concession such scripts make: wait when told the quota is gone
                continue
            return data

    for artist, title in tracks:
        found = get("search", {"q": f"{artist} {title}"}).get("data") or []
        if not found:
            continue
        track = get(f"track/{found[0]['id']}")
        album = (track.get("album") or {}).get("id")
        if album:
            get(f"album/{album}")
    seconds = time.perf_counter() - started
    return {"tracks": len(tracks), "calls": calls, "seconds": seconds,
            "calls_per_track": calls / max(len(tracks), 1), "seconds_per_track": seconds / max(len(tracks), 1)}
