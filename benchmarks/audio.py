"""Area 3: preview analysis speed (the preview provider's own function and process pool) and peak memory."""

from __future__ import annotations

import multiprocessing
import os
import resource
import time
from concurrent.futures import ProcessPoolExecutor

from app.pipeline.providers.preview import analyse_clip
from sandbox.audio import render_preview
from sandbox.runner import cached_world
from benchmarks.common import Table, median

TARGET_TRACKS_PER_S = 8.0


def preview_analysis(clips: int, seconds: float, runs: int, checks: list[list]) -> list[Table]:
    """Analyse `clips` rendered previews on one core and on every core, `runs` times each."""
    world = cached_world(42, "small")
    tracks = list(world.tracks.values())[:clips]
    data = [render_preview(track, seconds=seconds) for track in tracks]  # rendering is the sandbox's cost, not ours
    cores = os.cpu_count() or 1
    single = [_timed(data, workers=1) for _ in range(runs)]
    pooled = [_timed(data, workers=cores) for _ in range(runs)]
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    per_track_core = median(single) / len(data)
    all_cores = len(data) / median(pooled)
    table = Table(
        f"Preview analysis: {len(data)} clips of {seconds:.0f} s (decode + librosa descriptors)",
        f"The preview provider's `analyse_clip` in a process pool, as enrichment runs it (pool start-up "
        f"included). Target: at least {TARGET_TRACKS_PER_S:.0f} tracks/s on 2 cores. Peak memory is the "
        "largest resident size of one analysis worker. Median of the runs.",
        ["cores", "tracks/s, all cores", "target tracks/s", "seconds per track per core",
         "runs (s, all cores)", "peak memory per worker MiB"])
    table.rows.append([cores, all_cores, TARGET_TRACKS_PER_S, per_track_core,
                       ", ".join(f"{t:.2f}" for t in pooled), peak_mib])
    checks.append([f"preview analysis >= {TARGET_TRACKS_PER_S:.0f} tracks/s on {cores} cores ({seconds:.0f}-s clips)",
                   f"{all_cores:.1f} tracks/s", all_cores >= TARGET_TRACKS_PER_S])
    return [table]


def _timed(data: list[bytes], workers: int) -> float:
    started = time.perf_counter()
    if workers == 1:
        results = [analyse_clip(clip) for clip in data]
    else:
        # forkserver, as the provider uses: workers never inherit the parent's threads or locks.
        context = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            results = list(pool.map(analyse_clip, data, chunksize=2))
    failed = [r for r in results if isinstance(r, str)]
    if failed:
        raise RuntimeError(f"{len(failed)} clips failed analysis: {failed[:3]}")
    return time.perf_counter() - started
