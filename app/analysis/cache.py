"""Caches for frames that are slow to assemble and read often: in one process's memory, or in a folder all share."""

from __future__ import annotations

import hashlib
import os
import pickle
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
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


class FolderCache(Generic[T]):
    """`get(name, version, build)` returns the value pickled in `folder` for that name and version, else builds,
    pickles and returns it, removing the name's older versions.

    The web server runs several worker processes, each with its own memory: a frame that takes seconds to
    assemble is built once for all of them. A folder holds either data every user may see or one user's own
    (kept under that user's folder, as their model artifacts are); only files this app wrote are read back.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def get(self, name: str, version: Hashable, build: Callable[[], T]) -> T:
        digest = hashlib.sha256(repr(version).encode()).hexdigest()[:20]
        path = self.folder / f"{name}-{digest}.pickle"
        try:
            with path.open("rb") as file:
                return pickle.load(file)
        except FileNotFoundError:
            pass
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
            path.unlink(missing_ok=True)  # half-written by a crashed process, or from an older version of the app
        value = build()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.part")
            with partial.open("wb") as file:
                pickle.dump(value, file, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(partial, path)  # atomic: another process reads the old file or the whole new one
            for old in self.folder.glob(f"{name}-*.pickle"):
                if old != path:
                    old.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only or full disk only costs the next process the build
        return value
