"""The `flask harvest` command: label tracks for contexts from public playlists, then enrich them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.orm import sessionmaker

from app.runs.progress import Progress, terminal_stream
from app.runs.records import fail_job, finish_job, log_line, start_job
from app.pipeline import services
from app.pipeline.harvest import (
    DEFAULT_PLAYLISTS_PER_CONTEXT, DEFAULT_TRACKS_PER_PLAYLIST, SOURCES, Clients, HarvestError, HarvestOptions,
    HarvestResult, harvest,
)
from app.pipeline.naming import ContextNameError, validate_contexts
from app.runs.summary import RunSummary


def build_clients(config: Mapping[str, Any], source: str) -> Clients:
    """Deezer always; Spotify (the app's own client-credentials client) only when it may be used."""
    spotify = services.spotify_app_client(config) if source != "deezer" else None
    return Clients(deezer=services.deezer_client(config), spotify=spotify)


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
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON (last line of output).")
@with_appcontext
def harvest_command(contexts: list[str], source: str, playlists_per_context: int, tracks_per_playlist: int,
                    refresh: bool, no_enrich: bool, as_json: bool) -> None:
    """Label tracks for each CONTEXT (e.g. workout "rainy day") from public playlists named after it."""
    from app.extensions import db

    session_factory = sessionmaker(bind=db.engine, expire_on_commit=False)
    options = HarvestOptions(source=source, playlists_per_context=playlists_per_context,
                             tracks_per_playlist=tracks_per_playlist, refresh=refresh)
    params = {"contexts": contexts, "source": source, "playlists_per_context": playlists_per_context,
              "tracks_per_playlist": tracks_per_playlist, "refresh": refresh, "enrich": not no_enrich}
    with session_factory() as session:
        job_id = start_job(session, "harvest", params).id
    summary = RunSummary("harvest")
    progress = Progress(job_id, session_factory, stream=terminal_stream())

    def note(message: str) -> None:
        with session_factory() as session:
            log_line(session, job_id, message)
        click.echo(message, err=True)

    try:
        result = harvest(session_factory, contexts, build_clients(current_app.config, source), options,
                         progress, summary, on_note=note)
        if not no_enrich:
            from app.pipeline.enrich import enrich_tracks  # the enrichment step lives with the feature providers

            enrich_tracks(session_factory, result.track_ids, current_app.config, summary, progress)
    except HarvestError as exc:
        _close_failed(session_factory, job_id, progress, str(exc))
        raise click.ClickException(str(exc)) from None
    except BaseException as exc:
        _close_failed(session_factory, job_id, progress, f"stopped: {type(exc).__name__}: {exc}")
        raise
    progress.close()
    with session_factory() as session:
        finish_job(session, job_id, summary.as_dict())
    _report(result, summary, as_json)


def _close_failed(session_factory: sessionmaker, job_id: str, progress: Progress, error: str) -> None:
    progress.close()
    with session_factory() as session:
        fail_job(session, job_id, error)


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
