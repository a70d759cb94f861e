"""Proactive rate limiting: a sliding window per service that callers wait on before each request."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Protocol


class RateLimiter(Protocol):
    """What a service client needs from a limiter; a Redis-backed one shares the window between workers."""

    def acquire(self) -> float:
        """Block until one more request may be sent; return the seconds waited."""

    def slot(self) -> contextlib.AbstractContextManager[float]:
        """`acquire()` for one request (giving the seconds waited) whose place in the window counts from when its
        answer came back, the latest moment the service can have counted it."""

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
        # Slot -> when it was last counted, oldest first (a re-stamp is always the newest time, so it goes last).
        self._sent: OrderedDict[int, float] = OrderedDict()
        self._slots = itertools.count()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    @property
    def rate_per_s(self) -> float:
        return self.max_calls / self.window_s

    def acquire(self) -> float:
        return self._admit()[1]

    @contextlib.contextmanager
    def slot(self) -> Iterator[float]:
        slot, waited = self._admit()
        try:
            yield waited
        finally:
            self.answered(slot)

    def answered(self, slot: int) -> None:
        """Count `slot` from now: its request may have reached the service at any moment until its answer came
        back (a thread descheduled between admission and sending sends late), so its window starts here."""
        with self._lock:
            self._sent.pop(slot, None)
            self._sent[slot] = self._clock()

    def _admit(self) -> tuple[int, float]:
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                # The same sum as the delay below: `now - window` can round below a stamp that sleeping its
                # delay has reached, and the caller would wait 0 s forever.
                while self._sent and next(iter(self._sent.values())) + self.window_s <= now:
                    self._sent.popitem(last=False)
                if self._paused_until > now:
                    delay = self._paused_until - now
                elif len(self._sent) < self.max_calls:
                    slot = next(self._slots)
                    self._sent[slot] = now
                    return slot, waited
                else:
                    delay = next(iter(self._sent.values())) + self.window_s - now
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

    @contextlib.contextmanager
    def slot(self) -> Iterator[float]:
        yield self.acquire()

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
