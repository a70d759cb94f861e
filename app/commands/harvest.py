"""The `flask harvest` command: the harvest job (label tracks for contexts from public playlists, then enrich them)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.jobs.local import run_here
from app.pipeline.harvest import (
    DEFAULT_PLAYLISTS_PER_CONTEXT, DEFAULT_TRACKS_PER_PLAYLIST, SOURCES, HarvestResult,
)
from app.pipeline.naming import ContextNameError, validate_contexts
from app.runs.summary import RunSummary


def _contexts(_ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> list[str]:
    try:
        return validate_contexts(value)
    except ContextNameError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("harvest")
@click.argument("contexts", nargs=-1, required=True, callback=_contexts)
@click.option("--source", type=click.Choice(SOURCES), default="deezer", show_default=True,
              help="Where playlists come from. auto: Spotify if this app may read other people's playlists, "
                   "else Deezer.")
@click.option("--playlists-per-context", type=click.IntRange(1, 100), default=DEFAULT_PLAYLISTS_PER_CONTEXT,
              show_default=True, help="Playlists taken per context.")
@click.option("--tracks-per-playlist", type=click.IntRange(1, 2000), default=DEFAULT_TRACKS_PER_PLAYLIST,
              show_default=True, help="Tracks read from the top of each playlist.")
@click.option("--refresh", is_flag=True, help="Search again even for contexts harvested in the last 7 days.")
@click.option("--no-enrich", is_flag=True, help="Only harvest labels; do not fetch the tracks' features.")
@click.option("--no-background", is_flag=True,
              help="Do not add the head of every genre's Deezer chart as songs of no context (without such songs "
                   "in the catalog, a model for a library promises no precision).")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON (last line of output).")
@with_appcontext
def harvest_command(contexts: list[str], source: str, playlists_per_context: int, tracks_per_playlist: int,
                    refresh: bool, no_enrich: bool, no_background: bool, as_json: bool) -> None:
    """Label tracks for each CONTEXT (e.g. workout "rainy day") from public playlists named after it."""
    params = {"contexts": contexts, "source": source, "playlists_per_context": playlists_per_context,
              "tracks_per_playlist": tracks_per_playlist, "refresh": refresh, "enrich": not no_enrich,
              "background": not no_background}
    local: dict = {"summary": RunSummary("harvest")}
    job = run_here("harvest", params, local=local, on_note=lambda message: click.echo(message, err=True))
    if job["status"] != "succeeded":
        raise click.ClickException(job["error"] or "The harvest stopped.")
    _report(local["harvest"], local["summary"], as_json)


def _report(result: HarvestResult, summary: RunSummary, as_json: bool) -> None:
    if as_json:
        click.echo(summary.to_json())
        return
    click.echo(f"source: {result.source}")
    for outcome in result.contexts:
        how = "fresh, not searched again" if outcome.fresh else f"{outcome.considered} considered"
        click.echo(f"{outcome.name}: {outcome.taken} playlists ({how}; {outcome.fetched} fetched, "
                   f"{outcome.cached} cached, {outcome.duplicates} duplicates, {outcome.failed} failed), "
                   f"{outcome.labels} labels written")
    calls = ", ".join(f"{service} {n}" for service, n in summary.api_calls.items() if n)
    click.echo(f"{len(result.track_ids)} labelled tracks; calls: {calls or 'none'}")
    for reason, count in summary.failures.items():
        click.echo(f"skipped or failed: {reason} ×{count}")
