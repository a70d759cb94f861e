"""The ``flask enhance`` command: learn a user's own playlists and store suggestions, as the page's job does."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from app.runs.progress import Progress, terminal_stream
from app.models.dataset import DatasetError
from app.models.store_dataset import user_id_for


@click.command("enhance")
@click.option("--user", "user_name", required=True, metavar="SPOTIFY_USER",
              help="Whose playlists to learn (their library must be imported).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary as the last line.")
@with_appcontext
def enhance_command(user_name: str, as_json: bool) -> None:
    """Learn SPOTIFY_USER's own playlists, compare the models, and store suggestions of liked songs for each."""
    from app.extensions import db
    from app.services.enhance import EnhanceError, model_runs, train_and_suggest

    session = db.session
    try:
        user_id = user_id_for(session, user_name)
        row = train_and_suggest(session, user_id, progress=Progress(stream=terminal_stream()))
    except (DatasetError, EnhanceError) as exc:
        raise click.ClickException(str(exc)) from None
    runs = [{"name": run.name, "study": (run.result or {}).get("study"),
             "chosen": bool((run.result or {}).get("chosen")),
             "accuracy": run.metrics.get("accuracy"), "macro_f1": run.metrics.get("macro_f1"),
             "precision_at_cutoff": run.metrics.get("precision_at_cutoff"), "seconds": run.seconds}
            for run in model_runs(session, user_id, row.id)]
    if as_json:
        click.echo(json.dumps({"model_id": row.id, "estimator": row.name.removeprefix("Enhance: "),
                               "suggestions": row.metrics.get("suggestions", 0), "runs": runs}))
        return
    for run in runs:
        mark = " (chosen)" if run["chosen"] else ""
        click.echo(f"{run['name']}{mark}: accuracy {run['accuracy']:.2f}, macro-F1 {run['macro_f1']:.2f}, "
                   f"precision at cutoff {run['precision_at_cutoff']:.2f}, {run['seconds']:.1f} s")
    click.echo(f"{row.metrics.get('suggestions', 0)} suggestions stored (model {row.id}).")
