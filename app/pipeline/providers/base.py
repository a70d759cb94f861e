"""The feature-provider protocol: a versioned source of per-track values, each result stored with its source."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

# The providers a run uses when nothing names others (musicnn joins them where its weights are installed).
# Spotify's terms forbid training models on Spotify content, so its audio features are opt-in
# (`--providers ...,spotify`) for deployments that still have access and chose to use them.
BUILTIN_DEFAULT_PROVIDERS = ("deezer", "preview", "reccobeats")

OK, FAILED, UNAVAILABLE = "ok", "failed", "unavailable"


@dataclass(frozen=True)
class TrackRef:
    """What a provider may know about a track: its identifiers, detached from any database session."""

    id: int
    spotify_id: str | None = None
    deezer_id: int | None = None
    isrc: str | None = None
    deezer_album_id: int | None = None


@dataclass
class FeatureResult:
    """One provider's answer for one track: values (status ok), or why there are none."""

    track_id: int
    status: str
    values: dict[str, Any] | None = None
    error: str | None = None
    calls: dict[str, int] = field(default_factory=dict)  # requests this answer cost, by service
    # Catalog identifiers learned on the way (a full Deezer track's ISRC): the writer fills the track's blanks
    # with them, so a later match by ISRC finds the row in the catalog instead of asking Deezer again.
    identity: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def ok(cls, track_id: int, values: dict[str, Any]) -> FeatureResult:
        return cls(track_id, OK, values)

    @classmethod
    def failed(cls, track_id: int, error: str) -> FeatureResult:
        return cls(track_id, FAILED, None, error)

    @classmethod
    def unavailable(cls, track_id: int, error: str) -> FeatureResult:
        return cls(track_id, UNAVAILABLE, None, error)


class BadValue(ValueError):
    """A service answered, but with a value that cannot be true (wrong type, missing, absurd)."""


@runtime_checkable
class FeatureProvider(Protocol):
    """A source of features: `name` goes into track_features.provider, `version` marks older rows stale."""

    name: str
    version: str

    def can_fetch(self, track: TrackRef) -> bool:
        """Whether this provider has the identifier it needs for the track (a Deezer or Spotify id)."""

    def fetch(self, tracks: Iterable[TrackRef]) -> Iterator[FeatureResult]:
        """Results as they come, one per track (order not guaranteed); never raises for one bad track."""


class ProviderUnavailable(Exception):
    """The whole provider cannot work in this run (no access, service down); the reason is in plain words."""


def number(value: Any, name: str, *, low: float | None = None, high: float | None = None,
           allow_none: bool = False) -> float | None:
    """A finite number within [low, high], or BadValue naming the field (booleans are not numbers)."""
    if value is None:
        if allow_none:
            return None
        raise BadValue(f"{name} is missing")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadValue(f"{name} is not a number: {value!r}")
    value = float(value)
    if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
        raise BadValue(f"{name} is out of range: {value!r}")
    return value
