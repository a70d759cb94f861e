"""`flask discover`: the Discover job for one user, run from the command line."""

from __future__ import annotations

import json
from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy.orm import sessionmaker

from app.extensions import db
from app.jobs.local import run_here
from app.models.dataset import DatasetError
from app.models.store_dataset import user_id_for
from app.services.discover import DEFAULT_LIMIT


@click.command("discover")
@click.option("--user", "user_name", required=True, metavar="SPOTIFY_USER", help="Whose library is the taste.")
@click.option("--no-charts", is_flag=True, help="Rank the harvested catalog only (no Deezer charts).")
@click.option("--providers", "provider_names", default=None, help="Feature providers, comma-separated [default: all].")
@click.option("--limit", default=DEFAULT_LIMIT, show_default=True, help="Suggestions kept.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object on the last line.")
@with_appcontext
def discover_command(user_name: str, no_charts: bool, provider_names: str | None, limit: int, as_json: bool) -> None:
    """Train a user's Discover model (random forest vs logistic regression) and rank the tracks they never saved."""
    with sessionmaker(bind=db.engine)() as session:  # closed before the job's own sessions write
        try:
            user_id = user_id_for(session, user_name)
        except DatasetError as exc:
            raise click.UsageError(str(exc)) from None
    params: dict[str, Any] = {"charts": not no_charts, "limit": limit}
    if provider_names:
        params["providers"] = [name.strip() for name in provider_names.split(",") if name.strip()]
    job = run_here("discover", params, user_id=user_id, on_note=lambda line: click.echo(line, err=True))
    if job["status"] != "succeeded":
        raise click.ClickException(job["error"] or "Discover stopped.")
    result = job["result"]
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo(f"Kept the {result['chosen']}; {result['suggestions']:,} tracks ranked for {user_name}.")
