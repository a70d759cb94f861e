"""The offline audio providers over a folder of audio files, one feature row per file (`flask analyse-audio`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import pandas as pd

from app.pipeline.features_table import KEY_SOURCES
from app.pipeline.providers import PROVIDER_CLASSES
from app.pipeline.providers.base import TrackRef
from app.pipeline.providers.run import ANALYSIS_PRELOAD

AUDIO_SUFFIXES = frozenset({".mp3", ".wav", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".aifc", ".au"})
MAX_FILE_BYTES = 200 * 1024 * 1024  # a 20-minute WAV; bigger files are refused by name, not read into memory


def audio_files(root: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """(audio files under `root` to analyse, (relative path, reason) of the files left out), sorted."""
    found, skipped = [], []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue  # hidden files and folders (.DS_Store, .git) are not the user's recordings
        if path.suffix.lower() not in AUDIO_SUFFIXES:
            skipped.append((relative, f"not an audio file ({path.suffix or 'no extension'})"))
        elif path.stat().st_size > MAX_FILE_BYTES:
            skipped.append((relative, f"larger than {MAX_FILE_BYTES // 1024 // 1024} MB"))
        else:
            found.append(path)
    return found, skipped


def analyse_file(path: str, providers: Sequence[str]) -> dict[str, dict[str, Any] | str]:
    """In a worker process: each provider's values for one file, or a plain-words reason."""
    data = Path(path).read_bytes()
    outcomes: dict[str, dict[str, Any] | str] = {}
    for name in providers:
        provider = PROVIDER_CLASSES[name]
        try:
            result = provider(clients=None).result(TrackRef(0), provider.analyser(data))
        except Exception as exc:  # noqa: BLE001  (one bad file is a listed reason, never the end of the run)
            outcomes[name] = f"the analysis crashed ({type(exc).__name__}: {exc})"
            continue
        outcomes[name] = result.values if result.status == "ok" else str(result.error)
    return outcomes


def feature_row(outcomes: dict[str, dict[str, Any] | str]) -> dict[str, Any]:
    """Columns as `flask train --from-csv` and the stored feature table name them: `<provider>_<name>`,
    with `key` and `mode` as the categorical columns of the first provider that has them."""
    row: dict[str, Any] = {}
    for provider, values in outcomes.items():
        if not isinstance(values, dict):
            continue
        for name, value in values.items():
            if name in ("key", "mode"):
                continue
            if isinstance(value, (int, float)):
                row[f"{provider}_{name}"] = float(value)
    for name in ("key", "mode"):
        row[name] = next((int(outcomes[p][name]) for p in KEY_SOURCES
                          if isinstance(outcomes.get(p), dict) and name in outcomes[p]), None)
    if row["key"] is None and row["mode"] is None:
        del row["key"], row["mode"]
    return row


def analyse_folder(root: Path, providers: Sequence[str], workers: int | None = None,
                   progress: Callable[[int], None] = lambda _n: None
                   ) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """(one row per analysable file: `file` then feature columns, (file, reason) of every problem)."""
    files, problems = audio_files(root)
    rows: dict[str, dict[str, Any]] = {}
    for relative, outcomes in _run(root, files, providers, workers or os.cpu_count() or 1):
        progress(1)
        failures = {p: o for p, o in outcomes.items() if isinstance(o, str)}
        for provider, reason in failures.items():
            problems.append((relative, f"{provider}: {reason}"))
        if len(failures) < len(outcomes):
            rows[relative] = {"file": relative, **feature_row(outcomes)}
    frame = pd.DataFrame([rows[k] for k in sorted(rows)])
    if not frame.empty:
        categorical = [c for c in ("key", "mode") if c in frame.columns]
        frame = frame.reindex(columns=["file", *sorted(set(frame.columns) - {"file", *categorical}), *categorical])
        for column in categorical:
            frame[column] = frame[column].astype("Int64")
    return frame, sorted(problems)


def _run(root: Path, files: list[Path], providers: Sequence[str], workers: int
         ) -> Iterator[tuple[str, dict[str, dict[str, Any] | str]]]:
    if not files:
        return
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(ANALYSIS_PRELOAD)
    with ProcessPoolExecutor(max_workers=min(workers, len(files)), mp_context=context) as pool:
        futures: dict[Future, str] = {pool.submit(analyse_file, str(path), tuple(providers)):
                                      path.relative_to(root).as_posix() for path in files}
        for future in as_completed(futures):
            try:
                outcomes = future.result()
            except Exception as exc:  # noqa: BLE001  (a worker that died takes one file, not the run)
                outcomes = {p: f"the analysis crashed ({type(exc).__name__})" for p in providers}
            yield futures[future], outcomes
