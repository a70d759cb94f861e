"""The previews of a benchmark scenario, rendered once to disk before its clock starts, as Deezer's CDN holds them."""
# The sandbox synthesises and MP3-encodes each preview when it is asked for: about 0.3 CPU-s a clip, as much as
# our own musicnn analysis. Real Deezer's CDN does that work on its own machines, so a whole-wait run that let
# the sandbox encode on our two cores would charge the product for it. The clips are the sandbox's own bytes
# (`sandbox.audio.render_preview`), rendered by a process pool before the clock starts and kept on disk by world
# and clip length, so later runs start at once.

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from app.pipeline.charts import BACKGROUND_PER_GENRE
from sandbox import audio
from sandbox.deezer_json import chart_pool
from sandbox.model import DEEZER_GENRES, Track, World
from sandbox.search import deezer_playlists_matching
from sandbox.world import default_cache_dir, world_fingerprint

#: Tracks rendered from the head of each playlist a context's search may find: the harvest reads at most
#: `tracks_per_playlist` (25 by default); more is kept for a harvest asked for more.
PLAYLIST_HEAD = 40


class DiskPreviews:
    """A sandbox renderer serving previews from a folder, rendering (and keeping) any clip not there yet."""

    def __init__(self, world: World, seconds: float = 30.0, folder: Path | None = None) -> None:
        self.seconds = float(seconds)
        # Keyed by the world, the clip length and the renderer's own source, so a change to the synthesis or
        # the encoding renders the clips again instead of serving stale ones.
        renderer = hashlib.sha256(Path(audio.__file__).read_bytes()).hexdigest()[:8]
        self.folder = folder or (default_cache_dir() / "previews"
                                 / f"{world_fingerprint(world)[:16]}-{renderer}-{seconds:g}s")
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, track: Track) -> Path:
        return self.folder / f"{track.deezer_id}.mp3"

    def __call__(self, track: Track, seconds: float) -> bytes:
        path = self.path(track)
        if float(seconds) == self.seconds and path.is_file():
            return path.read_bytes()
        data = _render(track, seconds)
        if float(seconds) == self.seconds:
            _write(path, data)
        return data

    def missing(self, tracks: Iterable[Track]) -> list[Track]:
        return [t for t in tracks if t.character is not None and not self.path(t).is_file()]

    def fill(self, tracks: Iterable[Track], workers: int | None = None) -> int:
        """Render every clip of `tracks` not on disk yet (in parallel); returns how many were rendered."""
        todo = self.missing(tracks)
        if todo:
            # forkserver, as the analysis pools: forking a process that runs threads (a sandbox) can deadlock.
            context = multiprocessing.get_context("forkserver")
            with ProcessPoolExecutor(workers or os.cpu_count() or 1, mp_context=context) as pool:
                for track, data in zip(todo, pool.map(_render_one, [(t, self.seconds) for t in todo], chunksize=16)):
                    _write(self.path(track), data)
        return len(todo)


def scenario_tracks(world: World, user: str, contexts: Iterable[str]) -> list[Track]:
    """The user's liked songs on Deezer, the head of every Deezer playlist whose title names one of `contexts`, and
    the head of every genre's chart (the harvest's songs of no context)."""
    ids = dict.fromkeys(deezer_id for deezer_id, _added in world.users[user].liked)
    for context in contexts:
        for playlist in deezer_playlists_matching(world, context):
            ids.update(dict.fromkeys(playlist.track_ids[:PLAYLIST_HEAD]))
    ranked = world.ranked_tracks()
    for genre_id in (0, *DEEZER_GENRES):
        ids.update(dict.fromkeys(t.deezer_id for t in chart_pool(world, ranked, genre_id)[:BACKGROUND_PER_GENRE]))
    return [world.tracks[i] for i in ids if i in world.tracks and world.tracks[i].on_deezer]


def _render(track: Track, seconds: float) -> bytes:
    if track.audio_file:  # a real recording is its own preview, as in the sandbox's default renderer
        from sandbox.audio_world import real_preview

        return real_preview(track, seconds=seconds)
    from sandbox.audio import render_preview

    return render_preview(track, seconds=seconds)


def _render_one(args: tuple[Track, float]) -> bytes:
    return _render(*args)


def _write(path: Path, data: bytes) -> None:
    partial = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.part")  # one per writer
    partial.write_bytes(data)
    partial.replace(path)  # atomic: a reader never sees half a clip
