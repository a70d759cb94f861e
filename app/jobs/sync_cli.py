"""`flask sync --user SPOTIFY_USER [--dry-run] [--json]` runs one sync now; `flask sync-due` is one scheduler tick."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from app.extensions import db
from app.jobs.registry import TaskError
from app.storage.tables import User, utcnow


@click.command("sync")
@click.option("--user", "user_name", required=True, metavar="SPOTIFY_USER", help="Whose playlists to keep sorted.")
@click.option("--dry-run", is_flag=True, help="Import and sort the new likes, say what would be added, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON (last line).")
@with_appcontext
def sync_command(user_name: str, dry_run: bool, as_json: bool) -> None:
    """Run one sync now, whatever the schedule: new likes that pass the promise go into the saved playlists."""
    from app.jobs.sync_task import run_claimed
    from app.services.sync import claim

    factory = sessionmaker(bind=db.engine, expire_on_commit=False)
    with factory() as session:
        user_id = session.scalar(select(User.id).where(User.spotify_id == user_name))
        if user_id is None:
            raise click.ClickException(f"No user {user_name!r} has logged in to contextify yet.")
        run = claim(session, user_id, f"{user_id}:command:{utcnow().isoformat()}", "command")
    try:
        result = run_claimed(factory, current_app.config, user_id, run.id, dry_run=dry_run)
    except TaskError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo(result["message"])
        if result.get("stale"):
            click.echo(result["stale"])
    if result["status"] in ("failed", "stopped", "paused"):
        raise SystemExit(1)


@click.command("sync-due")
@with_appcontext
def sync_due_command() -> None:
    """Start every sync whose daily or weekly period has none yet (for cron, when no scheduler runs)."""
    from app.jobs.sync_schedule import app_tick

    started = app_tick(current_app)
    click.echo(f"{len(started)} sync(s) started.")
