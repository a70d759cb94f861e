"""`flask analyse-audio`: the offline audio providers over a folder of audio files, one CSV row per file."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import click
import pandas as pd

from app.pipeline.features_table import KEY_SOURCES
from app.pipeline.providers import OFFLINE_PROVIDERS, PROVIDER_CLASSES
from app.pipeline.providers.base import TrackRef

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
    with ProcessPoolExecutor(max_workers=min(workers, len(files)), mp_context=context) as pool:
        futures: dict[Future, str] = {pool.submit(analyse_file, str(path), tuple(providers)):
                                      path.relative_to(root).as_posix() for path in files}
        for future in as_completed(futures):
            try:
                outcomes = future.result()
            except Exception as exc:  # noqa: BLE001  (a worker that died takes one file, not the run)
                outcomes = {p: f"the analysis crashed ({type(exc).__name__})" for p in providers}
            yield futures[future], outcomes


def _provider_names(value: str | None) -> tuple[str, ...]:
    if not value:
        return OFFLINE_PROVIDERS
    names = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    wrong = [n for n in names if n not in OFFLINE_PROVIDERS]
    if wrong:
        raise click.BadParameter(f"{', '.join(wrong)} cannot analyse a local file; choose from "
                                 f"{', '.join(OFFLINE_PROVIDERS)}", param_hint="--providers")
    return names


@click.command("analyse-audio")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="CSV to write.")
@click.option("--providers", default=None,
              help=f"Comma list of audio providers [default: {','.join(OFFLINE_PROVIDERS)}].")
@click.option("--metadata", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A CSV with a `file` column (relative to DIRECTORY): its other columns (labels, artist) "
                   "are added to each row, ready for `flask train --from-csv`.")
@click.option("--workers", default=None, type=click.IntRange(1), help="Worker processes [default: one per core].")
def analyse_audio_command(directory: Path, out: Path, providers: str | None, metadata: Path | None,
                          workers: int | None) -> None:
    """Analyse every audio file under DIRECTORY; write one row per file (`file`, then feature columns)."""
    names = _provider_names(providers)
    if "musicnn" in names:
        from app.pipeline.musicnn_net import WeightsMissing, weights_prefix

        try:
            weights_prefix()
        except WeightsMissing as exc:
            raise click.ClickException(str(exc)) from None
    files, _ = audio_files(directory)
    with click.progressbar(length=len(files), label="analysing", file=sys.stderr) as bar:
        frame, problems = analyse_folder(directory, names, workers, bar.update)
    for relative, reason in problems:
        click.echo(f"{relative}: {reason}", err=True)
    if frame.empty:
        raise click.ClickException(f"no audio file under {directory} could be analysed")
    if metadata is not None:
        frame = _with_metadata(frame, metadata)
    frame.to_csv(out, index=False)
    click.echo(f"analysed {len(frame)} of {len(files)} audio files with {', '.join(names)}: "
               f"{len(frame.columns) - 1} columns written to {out}"
               + (f"; {len(problems)} problem(s) listed above" if problems else ""))


def _with_metadata(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    from app.models.dataset import DatasetError, read_csv

    try:
        extra = read_csv(path, ["file"])
    except DatasetError as error:
        raise click.BadParameter(str(error), param_hint="--metadata") from None
    if "file" not in extra.columns:
        raise click.BadParameter(f"{path.name} has no `file` column", param_hint="--metadata")
    clash = sorted(set(extra.columns) & set(frame.columns) - {"file"})
    extra = extra.drop(columns=clash).drop_duplicates("file")
    return frame.merge(extra, on="file", how="left")
