"""Fault profiles (latency, 5xx, hangs, malformed JSON, 429 storms, quota, lies) and their seeded injector.

A faulted request never reaches its handler, so it never changes server state: a write that draws a
fault is simply not applied. Malformed JSON is only served on GETs (the real body, truncated); a
write that draws it is answered 502 instead, so "200 but unparsable" never hides an applied write.

Lies (`lie_rate`, off unless set) are answers that parse but cannot be true: a Deezer track lasting -1 s,
audio features with tempo 0, numbers sent as text, NaN, a null in place of a row. Which records lie is a
pure function of (seed, service, record id), so a test can ask `lie_for` which ones did and what each said.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
from dataclasses import asdict, dataclass, replace

from flask import Response, jsonify


@dataclass(frozen=True)
class Profile:
    """One named behaviour of the outside world; rates are per-request probabilities."""

    name: str
    extended: bool = False      # app kept pre-2024 extended access: audio features, public playlist items
    quota: bool = False         # developer-account quota spent: every Web API call is a QUOTA_EXCEEDED 429
    latency_ms: float = 0.0     # mean of a log-normal added latency
    latency_jitter_ms: float = 0.0  # its standard deviation
    error_rate: float = 0.0     # 500/502/503
    timeout_rate: float = 0.0   # hang `hang_seconds`, then 504
    hang_seconds: float = 0.0
    malformed_rate: float = 0.0  # 200 with the body cut short
    storm_rate: float = 0.0     # start a storm: every request to the service is refused for storm_seconds
    storm_seconds: float = 0.0
    storm_retry_after: int = 1
    spike_rate: float = 0.0     # share of storm refusals whose Retry-After is `spike_retry_after` instead
    spike_retry_after: int = 0
    lie_rate: float = 0.0       # share of track records (Deezer /track, audio features) answered with a lie


PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("default"),
    Profile("extended", extended=True),
    Profile("slow", latency_ms=400, latency_jitter_ms=200),
    Profile("flaky", latency_ms=30, latency_jitter_ms=20, error_rate=0.05, timeout_rate=0.02,
            hang_seconds=10, malformed_rate=0.02, storm_rate=0.005, storm_seconds=2, storm_retry_after=2),
    Profile("hostile", latency_ms=150, latency_jitter_ms=120, error_rate=0.12, timeout_rate=0.05,
            hang_seconds=20, malformed_rate=0.05, storm_rate=0.02, storm_seconds=5, storm_retry_after=5,
            spike_rate=0.3, spike_retry_after=7200),
    Profile("quota", quota=True),
    Profile("lies", lie_rate=0.3),
)}


@dataclass(frozen=True)
class Fault:
    """What one request suffers: added latency plus at most one fault `kind`."""

    latency: float = 0.0
    kind: str | None = None     # error | hang | malformed | storm
    status: int = 200
    retry_after: int = 0
    hang: float = 0.0           # hang: seconds to stall before answering
    cut: float = 0.5            # malformed: share of the body kept


class FaultInjector:
    """Draws faults per service from seeded RNGs, so a run's fault sequence repeats for a seed."""

    def __init__(self, seed: int, profile: str, overrides: dict | None = None,
                 services: tuple[str, ...] = ()):
        self._seed = seed
        self._services = frozenset(services)
        self._lock = threading.Lock()
        self._overrides: dict = {}
        self._rngs: dict[str, random.Random] = {}
        self._storm_until: dict[str, float] = {}
        self.stopping = threading.Event()   # set at shutdown so hung requests end at once
        self.profile = PROFILES["default"]
        self.set_profile(profile, overrides)

    def set_profile(self, name: str, overrides: dict | None = None) -> Profile:
        """Switch profile; overrides merge into the sticky ones. Restarts the fault sequence."""
        if name not in PROFILES:
            raise KeyError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}")
        with self._lock:
            self._overrides.update(overrides or {})
            self.profile = replace(PROFILES[name], **self._overrides)
            self._rngs = {}
            self._storm_until = {}
        return self.profile

    def describe(self) -> dict:
        return {**asdict(self.profile), "overrides": dict(self._overrides),
                "services": sorted(self._services)}

    def draw(self, service: str, method: str) -> Fault:
        """The fault for one request to `service` (no fault for services outside the profile's reach)."""
        if service not in self._services:
            return Fault()
        p = self.profile
        with self._lock:
            rng = self._rngs.setdefault(service, random.Random(f"{self._seed}:{service}"))
            latency = _lognormal(rng, p.latency_ms, p.latency_jitter_ms) / 1000
            now = time.monotonic()
            if self._storm_until.get(service, 0.0) > now:
                return Fault(latency, "storm", 429, _storm_retry_after(rng, p))
            u = rng.random()
            for kind, rate in (("error", p.error_rate), ("hang", p.timeout_rate),
                               ("malformed", p.malformed_rate), ("storm", p.storm_rate)):
                if u < rate:
                    break
                u -= rate
            else:
                return Fault(latency)
            if kind == "storm":
                self._storm_until[service] = now + p.storm_seconds
                return Fault(latency, "storm", 429, _storm_retry_after(rng, p))
            if kind == "malformed" and method != "GET":
                return Fault(latency, "error", 502)
            if kind == "error":
                return Fault(latency, "error", rng.choice((500, 502, 503)))
            if kind == "hang":
                return Fault(latency, "hang", 504, hang=p.hang_seconds)
            return Fault(latency, "malformed", 200, cut=rng.uniform(0.1, 0.9))


def _lognormal(rng: random.Random, mean: float, sd: float) -> float:
    """A positive, right-skewed latency with the given mean and standard deviation."""
    if mean <= 0:
        return 0.0
    sigma2 = math.log(1 + (sd / mean) ** 2)
    return rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))


def _storm_retry_after(rng: random.Random, p: Profile) -> int:
    # Retry-After spikes: the header sometimes claims hours while the storm lasts seconds.
    if p.spike_rate and rng.random() < p.spike_rate:
        return p.spike_retry_after
    return p.storm_retry_after


def truncate(response: Response, cut: float) -> Response:
    """Keep the first `cut` share of a JSON body: a proxy dropped the connection mid-body."""
    body = response.get_data()
    response.set_data(body[: max(1, int(len(body) * cut))])
    return response


_GATEWAY_PAGE = ("<html><head><title>{status} {reason}</title></head><body><center><h1>{status} {reason}"
                 "</h1></center><hr><center>nginx</center></body></html>")
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Temporarily Unavailable",
            504: "Gateway Time-out"}

# Spotify sits behind Envoy: its 5xx/504 bodies are plain text, except 500/502 which come as JSON errors.
_ENVOY_TEXT = {503: "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
               504: "upstream request timeout"}
_SPOTIFY_JSON = {500: "Server error.", 502: "Bad gateway."}


def fault_response(service: str, fault: Fault) -> Response:
    """The response a faulted request gets, in the service's own manner."""
    if fault.kind == "storm":
        return throttled_response(service, fault.retry_after)
    if service == "spotify" and fault.status in _SPOTIFY_JSON:
        response = jsonify(error={"status": fault.status, "message": _SPOTIFY_JSON[fault.status]})
        response.status_code = fault.status
        return response
    if service == "spotify":
        return Response(_ENVOY_TEXT[fault.status], fault.status, mimetype="text/plain")
    if service == "reccobeats" and fault.status == 500:
        response = jsonify(status=500, code=5000, message="Internal server error")
        response.status_code = 500
        return response
    page = _GATEWAY_PAGE.format(status=fault.status, reason=_REASONS[fault.status])
    return Response(page, fault.status, mimetype="text/html")


def throttled_response(service: str, retry_after: int) -> Response:
    """A rate-limit refusal in the service's own manner (also used by the real rate limiters)."""
    if service == "deezer":
        # Deezer throttles with an HTTP 200 code-4 body and no Retry-After.
        return jsonify(error={"type": "Exception", "message": "Quota limit exceeded", "code": 4})
    if service == "spotify":
        response = jsonify(error={"status": 429, "message": "API rate limit exceeded"})
    elif service == "reccobeats":
        response = jsonify(status=429, code=4291, message="Too many requests")
    else:
        response = Response("Too Many Requests", mimetype="text/plain")
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response


# ----------------------------------------------------------------------------------------------- lies

_FEATURE_LIES = ("tempo 0", "energy as text", "loudness NaN", "danceability missing", "valence negative",
                 "key as true", "null item")
# service -> the lies one of its records may tell (names are what `tell_lie` does to the record).
LIES: dict[str, tuple[str, ...]] = {
    "deezer": ("duration -1", "duration as text", "duration missing", "bpm NaN", "rank negative",
               "explicit_lyrics as text", "album null"),
    "reccobeats": _FEATURE_LIES,
    "spotify": _FEATURE_LIES,
    # Liked Songs (`/me/tracks`): the track object of an item lies.
    "spotify library": ("null item", "id missing", "name as number", "artists null", "duration_ms -1",
                        "popularity negative"),
}


def lie_for(seed: int, service: str, key: object, rate: float) -> str | None:
    """The lie record `key` (a Deezer id or a Spotify id) of `service` tells at `rate`, or None if it tells the truth."""
    if rate <= 0 or service not in LIES:
        return None
    digest = hashlib.sha256(f"{seed}:lie:{service}:{key}".encode()).digest()
    if int.from_bytes(digest[:8], "big") / 2 ** 64 >= rate:
        return None
    kinds = LIES[service]
    return kinds[int.from_bytes(digest[8:12], "big") % len(kinds)]


def tell_lie(kind: str, record: dict) -> dict | None:
    """`record` with the lie `kind` told (a new dict; None for "null item")."""
    lied = dict(record)
    if kind == "null item":
        return None
    if kind.endswith(" missing"):
        lied.pop(kind.removesuffix(" missing"), None)
        return lied
    field_name, _, how = kind.partition(" ")
    value = lied.get(field_name)
    if how == "negative":
        lied[field_name] = -abs(float(value)) if isinstance(value, (int, float)) and value else -0.5
    elif how == "as text":
        lied[field_name] = "yes" if field_name == "explicit_lyrics" else str(value)
    else:
        lied[field_name] = {"-1": -1, "0": 0, "NaN": float("nan"), "null": None, "as true": True,
                            "as number": 42}[how]
    return lied


def lie_in_body(endpoint: str | None, body: object, seed: int, rate: float) -> object | None:
    """The body of a record endpoint's answer with its lying records lied about; None when nothing changed."""
    if endpoint in ("deezer.track", "deezer.track_by_isrc") and isinstance(body, dict):
        kind = lie_for(seed, "deezer", body.get("id"), rate)
        return tell_lie(kind, body) if kind else None
    if endpoint == "spotify.saved_tracks" and isinstance(body, dict):
        items = body.get("items") or []
        kinds = [lie_for(seed, "spotify library", (item.get("track") or {}).get("id"), rate) for item in items]
        if not any(kinds):
            return None
        return {**body, "items": [{**item, "track": tell_lie(kind, item["track"])} if kind else item
                                  for kind, item in zip(kinds, items)]}
    if endpoint == "reccobeats.audio_features" and isinstance(body, dict):
        rows, key = body.get("content"), lambda row: str(row.get("href", "")).rstrip("/").rsplit("/", 1)[-1]
        service, field_name = "reccobeats", "content"
    elif endpoint == "spotify.audio_features" and isinstance(body, dict):
        rows, key = body.get("audio_features"), lambda row: row.get("id")
        service, field_name = "spotify", "audio_features"
    else:
        return None
    kinds = [lie_for(seed, service, key(row), rate) if isinstance(row, dict) else None for row in rows or []]
    if not any(kinds):
        return None
    return {**body, field_name: [tell_lie(kind, row) if kind else row for kind, row in zip(kinds, rows)]}
