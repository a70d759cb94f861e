"""What one run's matching and providers share: the service clients, this run's Deezer answers, the analysis pool."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import requests

from app.pipeline.clients.deezer import DeezerClient
from app.pipeline.clients.reccobeats import ReccoBeatsClient
from app.pipeline.clients.spotify import SpotifyClient
from app.pipeline.providers.base import BUILTIN_DEFAULT_PROVIDERS

#: What the analysis pools' forkserver imports before forking a worker: the analysers, then a warm-up clip through
#: them (app/pipeline/analysis_warmup.py), so each worker starts with what its first clip would load.
ANALYSIS_PRELOAD = ["app.pipeline.audio_features", "app.pipeline.musicnn_net", "app.pipeline.analysis_warmup"]


class CountingSession(requests.Session):
    """The session preview downloads go through, counting requests for the run summary ("previews")."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self._lock = threading.Lock()

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        with self._lock:
            self.calls += 1
        return super().request(*args, **kwargs)


class Once:
    """Per-key memo that lets only one thread fetch a key while the others wait for its answer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: dict[Any, Future] = {}

    def get(self, key: Any, fetch: Callable[[], Any], *, fresh: Callable[[Any], bool] = lambda _v: True) -> Any:
        with self._lock:
            future = self._futures.get(key)
            if future is not None and future.done() and (future.exception() or not fresh(future.result())):
                future = None  # failed or stale: fetch again
            owner = future is None
            if owner:
                future = self._futures[key] = Future()
        if owner:
            try:
                future.set_result(fetch())
            except BaseException as exc:  # handed to every waiter, then re-raised to the owner
                future.set_exception(exc)
        return future.result()

    def put(self, key: Any, value: Any) -> None:
        future: Future = Future()
        future.set_result(value)
        with self._lock:
            self._futures[key] = future

    def forget(self, key: Any) -> None:
        with self._lock:
            self._futures.pop(key, None)


class SharedDownloads:
    """Preview downloads shared by every analyser of a run (`preview`, `musicnn`): one download per track.

    Each analyser announces the tracks it will ask for (`expect`); the bytes stay in memory until every
    announced request took them (`take`) or was given up (`release`), so a preview is fetched once
    however many analysers read it, and no clip is held after its last reader.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wanted: dict[Any, int] = {}
        self._once = Once()

    def expect(self, keys: Iterable[Any]) -> None:
        with self._lock:
            for key in keys:
                self._wanted[key] = self._wanted.get(key, 0) + 1

    def take(self, key: Any, download: Callable[[], Any]) -> Any:
        """`download()`'s outcome for `key`, run once while requests for it are outstanding."""
        try:
            return self._once.get(key, download)
        finally:
            self.release([key])

    def release(self, keys: Iterable[Any]) -> None:
        with self._lock:
            for key in keys:
                left = self._wanted.get(key, 0) - 1
                if left > 0:
                    self._wanted[key] = left
                else:
                    self._wanted.pop(key, None)
                    self._once.forget(key)


@dataclass
class DeezerAnswers:
    """This run's `/track/{id}` and `/album/{id}` answers, fetched at most once each.

    Track answers carry the time they were fetched: preview links are signed and die after about 15
    minutes, so a caller that needs the link asks for an answer younger than that (`max_age_s`).
    """

    client: DeezerClient
    clock: Callable[[], float] = time.monotonic
    _tracks: Once = field(default_factory=Once)
    _albums: Once = field(default_factory=Once)

    def remember_track(self, answer: dict[str, Any]) -> None:
        """Keep a full track answer obtained elsewhere (an ISRC lookup returns the same object)."""
        if isinstance(answer.get("id"), int):
            self._tracks.put(answer["id"], (self.clock(), answer))

    def track(self, deezer_id: int, max_age_s: float | None = None) -> dict[str, Any]:
        def fresh(entry: tuple[float, dict]) -> bool:
            return max_age_s is None or self.clock() - entry[0] < max_age_s

        return self._tracks.get(deezer_id, lambda: (self.clock(), self.client.track(deezer_id)), fresh=fresh)[1]

    def refetch_track(self, deezer_id: int) -> dict[str, Any]:
        return self.track(deezer_id, max_age_s=0.0)

    def album(self, album_id: int) -> dict[str, Any]:
        return self._albums.get(album_id, lambda: self.client.album(album_id))

    def remember_album(self, album_id: int, answer: dict[str, Any]) -> None:
        self._albums.put(album_id, answer)


@dataclass
class RunClients:
    """The clients a run uses, built once so every stage shares their limiters, counters and answers."""

    deezer: DeezerClient
    reccobeats: ReccoBeatsClient
    spotify: SpotifyClient | None = None  # a user's or the app's client; None: Spotify features are off
    previews: CountingSession = field(default_factory=CountingSession)
    downloads: SharedDownloads = field(default_factory=SharedDownloads)
    analysis_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    reccobeats_audio: bool = False  # the deployment allows uploading previews to ReccoBeats (opt-in)
    # The providers of a run that names none: config's CONTEXTIFY_PROVIDERS (a bare client set: the built-ins).
    default_providers: tuple[str, ...] = BUILTIN_DEFAULT_PROVIDERS
    answers: DeezerAnswers = field(init=False)
    _pool: ProcessPoolExecutor | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.answers = DeezerAnswers(self.deezer)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], spotify: SpotifyClient | None = None,
                    **client_options: Any) -> RunClients:
        from app.pipeline.clients.factory import build_clients  # the one client factory; it imports this module

        return build_clients(config, spotify=spotify, **client_options)

    def call_counts(self) -> dict[str, int]:
        """Requests sent so far, by service, in the run summary's names."""
        return {"deezer": self.deezer.calls, "reccobeats": self.reccobeats.calls,
                "spotify": self.spotify.calls if self.spotify is not None else 0, "previews": self.previews.calls}

    def analysis_pool(self) -> ProcessPoolExecutor:
        """Worker processes for audio analysis, started on first use and kept for the run."""
        if self._pool is None:
            import multiprocessing

            # forkserver: forking a process that runs threads (HTTP pools, a sandbox) can deadlock a child.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(ANALYSIS_PRELOAD)
            self._pool = ProcessPoolExecutor(max_workers=self.analysis_workers, mp_context=context)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def bounded_map(pool: Executor, fn: Callable[[Any], Any], items: Iterable[Any], ahead: int) -> Iterator[Any]:
    """`fn(item)` on the pool, results as they finish, with at most `ahead` submitted but unfinished.

    Submitting lazily means a caller that stops early (a provider switched off mid-run) leaves only a
    few calls in flight instead of a whole queue that would run to its end.
    """
    queue = iter(items)
    running: set[Future] = set()
    try:
        while True:
            while len(running) < ahead:
                item = next(queue, _END)
                if item is _END:
                    break
                running.add(pool.submit(fn, item))
            if not running:
                return
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    finally:
        for future in running:
            future.cancel()


_END = object()
