"""The summary every pipeline command prints with `--json`: tracks per stage, calls per service, failures."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

SERVICES = ("deezer", "spotify", "reccobeats", "previews")


@dataclass
class RunSummary:
    """What a run did, in numbers that can be checked against the services' own counters."""

    command: str
    stages: dict[str, int] = field(default_factory=dict)        # tracks (or playlists) per stage
    api_calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SERVICES, 0))
    new_tracks: int = 0
    cache_hits: int = 0
    failures: Counter[str] = field(default_factory=Counter)     # reason -> count
    notes: list[str] = field(default_factory=list)              # degradations, fallbacks, in plain words
    started: float = field(default_factory=time.monotonic)
    # Two threads of one import (matching one chunk ahead of enrichment) count into the same summary.
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def count(self, stage: str, n: int = 1) -> None:
        with self._lock:
            self.stages[stage] = self.stages.get(stage, 0) + n

    def fail(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self.failures[reason] += n

    def add_calls(self, service: str, n: int) -> None:
        with self._lock:
            self.api_calls[service] = self.api_calls.get(service, 0) + n

    def as_dict(self) -> dict[str, Any]:
        total_calls = sum(self.api_calls.values())
        return {
            "command": self.command,
            "stages": dict(self.stages),
            "api_calls": dict(self.api_calls),
            "new_tracks": self.new_tracks,
            "calls_per_new_track": round(total_calls / self.new_tracks, 3) if self.new_tracks else None,
            "cache_hits": self.cache_hits,
            "failures": dict(self.failures),
            "notes": list(self.notes),
            "wall_s": round(time.monotonic() - self.started, 3),
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)
