"""`flask map-clusters` and `flask genre-model`: the Map page's jobs for one user, from the command line."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.runs.progress import Progress, terminal_stream
from app.models import clustering
from app.services.catalog_map import (
    MapError, genre_model_sentence, run_clustering, run_summary, train_genre_model,
)
from app.storage.tables import User


@click.command("map-clusters")
@click.option("--user", "spotify_user", required=True, help="Whose run it is (their Spotify id).")
@click.option("--method", type=click.Choice(["kmeans", "ap"]), default="kmeans", show_default=True,
              help="k-means, or affinity propagation (at most 2,000 tracks unless --sample).")
@click.option("--k", type=click.IntRange(2, clustering.MAX_K), default=clustering.DEFAULT_K, show_default=True)
@click.option("--preference", type=click.FloatRange(0, 100), default=clustering.DEFAULT_PERCENTILE, show_default=True,
              help="Affinity propagation's preference, as a percentile of the similarities.")
@click.option("--sample", is_flag=True, help="Let affinity propagation run on a sample of a large catalog.")
@click.option("--json", "as_json", is_flag=True, help="Print the run as one JSON line.")
@with_appcontext
def map_clusters_command(spotify_user: str, method: str, k: int, preference: float, sample: bool,
                         as_json: bool) -> None:
    """Cluster the harvested catalog and record the run for USER, as the Map page does."""
    from app.extensions import db

    user_id = _cli_user(db.session, spotify_user)
    progress = Progress(stream=terminal_stream())
    try:
        run = run_clustering(db.session, user_id, {"method": method, "k": k, "preference_percentile": preference,
                                                   "sample": sample}, progress=progress)
    except MapError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        progress.close()
    if as_json:
        click.echo(json.dumps({"run_id": run.id, "method": run.name, "params": run.params, "metrics": run.metrics,
                               "sentences": run.result["sentences"], "sweep": run.result["sweep"]}))
        return
    click.echo(run_summary(run))
    for sentence in run.result["sentences"].values():
        click.echo(f"- {sentence}")


@click.command("genre-model")
@click.option("--user", "spotify_user", required=True, help="Whose model it is (their Spotify id).")
@click.option("--json", "as_json", is_flag=True, help="Print the model's metrics as one JSON line.")
@with_appcontext
def genre_model_command(spotify_user: str, as_json: bool) -> None:
    """Train USER's genre model on the harvested catalog, as the Map page does."""
    from app.extensions import db

    user_id = _cli_user(db.session, spotify_user)
    progress = Progress(stream=terminal_stream())
    try:
        model = train_genre_model(db.session, user_id, progress=progress)
    except MapError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        progress.close()
    if as_json:
        click.echo(json.dumps({"model_id": model.id, "metrics": model.metrics, "params": model.params}))
        return
    click.echo(genre_model_sentence(model))


def _cli_user(session: Session, spotify_user: str) -> int:
    user_id = session.scalar(select(User.id).where(User.spotify_id == spotify_user))
    if user_id is None:
        raise click.ClickException(f"No user {spotify_user!r} in the store: they log in once (or run "
                                   f"`flask import-library --user {spotify_user}`) first.")
    return user_id
