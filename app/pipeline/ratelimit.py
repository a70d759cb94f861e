"""Proactive rate limiting: a sliding window per service that callers wait on before each request."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol


class RateLimiter(Protocol):
    """What a service client needs from a limiter; a Redis-backed one shares the window between workers."""

    def acquire(self) -> float:
        """Block until one more request may be sent; return the seconds waited."""

    def pause(self, seconds: float) -> None:
        """Hold every caller for `seconds` (after the service said 429 / quota exceeded)."""


class SlidingWindowLimiter:
    """At most `max_calls` in any `window_s` seconds, thread-safe.

    A token bucket refilling at max_calls/window_s would allow a full burst right after a refill, i.e.
    up to twice the limit inside one window as the service counts it; a window log cannot. `margin`
    widens the window a little because the service times arrivals, and network jitter can bring two
    sends closer together than they left.
    """

    def __init__(self, max_calls: int, window_s: float, *, margin: float = 0.03,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if max_calls < 1 or window_s <= 0:
            raise ValueError("a rate limit needs max_calls >= 1 and window_s > 0")
        self.max_calls = max_calls
        self.window_s = window_s * (1 + margin)
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    @property
    def rate_per_s(self) -> float:
        return self.max_calls / self.window_s

    def acquire(self) -> float:
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.window_s:
                    self._sent.popleft()
                if self._paused_until > now:
                    delay = self._paused_until - now
                elif len(self._sent) < self.max_calls:
                    self._sent.append(now)
                    return waited
                else:
                    delay = self._sent[0] + self.window_s - now
            # Sleep without the lock, so a pause() from another thread lands at once and is not queued
            # behind sleepers; woken callers re-check the window under the lock.
            self._sleep(delay)
            waited += delay

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


class Unlimited:
    """No proactive limit (tests, or a service without a documented one); still honours pauses."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sleep = sleep
        self._paused_until = 0.0

    def acquire(self) -> float:
        delay = self._paused_until - time.monotonic()
        if delay > 0:
            self._sleep(delay)
            return delay
        return 0.0

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
