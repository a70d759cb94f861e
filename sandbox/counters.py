"""Per-service, per-endpoint request counters that tests read through `/__sandbox__/counters`.

Labels are `"<METHOD> <route>"` with the service prefix stripped and every path parameter written as
`{id}` (`{isrc}` for ISRCs, `{path}` for multi-segment rests), e.g. `GET /playlist/{id}/tracks`
(deezer), `POST /playlists/{id}/items` (spotify), `GET /track/isrc:{isrc}` (deezer),
`GET /audio-features` (reccobeats), `GET /preview/{id}.mp3` (previews), `POST /api/token` (accounts).
Requests matching no route are counted as `"<METHOD> (unknown)"`.
"""

from __future__ import annotations

import re
import threading
from collections import Counter

from flask import request

SERVICES = ("accounts", "spotify", "deezer", "reccobeats", "previews")

# Where each service is mounted; a label is the route with this prefix removed.
PREFIXES = {
    "accounts": "/accounts", "spotify": "/spotify/v1", "deezer": "/deezer",
    "reccobeats": "/reccobeats/v1", "previews": "/cdn",
}

_PARAM = re.compile(r"<(?:([^:<>]+):)?([^<>]+)>")


def _placeholder(match: re.Match) -> str:
    if match.group(1) == "path":
        return "{path}"
    return "{isrc}" if match.group(2) == "isrc" else "{id}"


def endpoint_label(service: str) -> str:
    """The stable label of the current request, from the Flask rule it matched."""
    rule = request.url_rule.rule if request.url_rule is not None else None
    if rule is None or rule.endswith("<path:rest>"):
        return f"{request.method} (unknown)"
    route = _PARAM.sub(_placeholder, rule[len(PREFIXES[service]):]) or "/"
    return f"{request.method} {route}"


class Counters:
    """Thread-safe request counts per service and endpoint label."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, Counter] = {service: Counter() for service in SERVICES}

    def count(self, service: str, label: str) -> None:
        with self._lock:
            self._counts[service][label] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Every service with its labels and a `total`."""
        with self._lock:
            return {service: {**dict(sorted(counts.items())), "total": sum(counts.values())}
                    for service, counts in self._counts.items()}

    def reset(self) -> None:
        with self._lock:
            for counts in self._counts.values():
                counts.clear()
