"""`flask analyse-audio`: the offline audio providers over a folder of audio files, one CSV row per file."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pandas as pd

from app.pipeline.audio_folder import analyse_folder, audio_files
from app.pipeline.providers import OFFLINE_PROVIDERS, provider_names


def _provider_names(value: str | None) -> tuple[str, ...]:
    if not value:
        return OFFLINE_PROVIDERS
    names, wrong = provider_names(value, OFFLINE_PROVIDERS)
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
