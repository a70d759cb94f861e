"""Rolling-window rate limiters, keyed (per client IP, per app) and thread-safe."""

from __future__ import annotations

import math
import threading
import time
from collections import deque


class SlidingWindow:
    """At most `limit` admitted hits in any `window` seconds; refused hits do not count.

    Spotify and Deezer both describe a rolling window (not fixed buckets), so a burst straddling a
    bucket edge is refused too.
    """

    def __init__(self, limit: int, window: float, clock=time.monotonic):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str = "") -> int | None:
        """Admit one hit for `key`: None if admitted, else whole seconds until a slot frees (>= 1)."""
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) < self.limit:
                hits.append(now)
                return None
            return max(1, math.ceil(hits[0] + self.window - now))

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
