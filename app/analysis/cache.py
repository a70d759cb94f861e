"""A small least-recently-used cache with an age limit, for frames that are slow to assemble and read often."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class TTLCache(Generic[T]):
    """`get(key, build)` returns the value kept for `key` if younger than `ttl_s`, else builds and keeps it.

    Thread-safe for the bookkeeping; two requests missing the same key at once may both build it, which
    only costs time (a lock held while building would make every other page wait).
    """

    def __init__(self, maxsize: int = 8, ttl_s: float = 120.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.maxsize = maxsize
        self.ttl_s = ttl_s
        self._clock = clock
        self._items: OrderedDict[Hashable, tuple[float, T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        now = self._clock()
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and now - hit[0] < self.ttl_s:
                self._items.move_to_end(key)
                return hit[1]
        value = build()
        with self._lock:
            self._items[key] = (now, value)
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
        return value
