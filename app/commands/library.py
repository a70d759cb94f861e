"""The `flask import-library` and `flask enrich` commands: resolve the user, then run the same job a page starts."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.jobs.local import run_here
from app.pipeline.clients.base import ServiceError
from app.pipeline.clients.spotify import NotAllowListed, SpotifyClient
from app.pipeline.providers import PROVIDER_CLASSES, configured_providers, provider_names
from app.pipeline.clients.factory import spotify_user_client
from app.runs.summary import RunSummary
from app.storage.encryption import TokenCipher
from app.storage.tables import OAuthToken, User

TOKEN_VARIABLE = "SPOTIFY_ACCESS_TOKEN"


class CommandError(click.ClickException):
    """A refusal the user can act on; the job row records it too."""


def _providers(value: str | None) -> tuple[str, ...]:
    if not value:
        return configured_providers(current_app.config)
    names, unknown = provider_names(value)
    if unknown:
        raise click.BadParameter(f"unknown provider(s) {', '.join(unknown)}; choose from "
                                 f"{', '.join(PROVIDER_CLASSES)}", param_hint="--providers")
    return names


@click.command("import-library")
@click.option("--user", "user_name", required=True,
              help="Spotify user id. With --file: the owner, a Spotify user id or any local name (created if new).")
@click.option("--file", "path", type=click.Path(dir_okay=False), default=None,
              help="Import YourLibrary.json, Playlist*.json, an Exportify CSV or an artist,title CSV instead.")
@click.option("--no-enrich", is_flag=True, help="Import (and match) only; no feature providers.")
@click.option("--no-match", is_flag=True,
              help="Read the library only: no Deezer matching, no features. A later import without it does both, "
                   "paying only for tracks not matched yet.")
@click.option("--full", is_flag=True, help="Re-read every page of Liked Songs (drops likes removed on Spotify).")
@click.option("--providers", default=None, help="Comma list (default: CONTEXTIFY_PROVIDERS).")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as one JSON line at the end.")
@with_appcontext
def import_library_command(user_name: str, path: str | None, no_enrich: bool, no_match: bool, full: bool,
                           providers: str | None, as_json: bool) -> None:
    """Import a user's Liked Songs and playlists from Spotify (or a file), then match and enrich them.

    From Spotify, the user's stored token is used, else SPOTIFY_ACCESS_TOKEN; /me must confirm that
    the token belongs to --user.
    """
    names = _providers(providers)
    config = current_app.config
    summary = RunSummary("import-library")
    local: dict[str, Any] = {"summary": summary}
    with _session_factory()() as session:
        if path is None:
            local["spotify"], user_id = _spotify_user(session, config, user_name)
            summary.add_calls("spotify", local["spotify"].calls)  # the /me check
        else:
            user_id = _local_user(session, user_name)
            local["file"] = path
    params = {"user": user_name, "file": path, "full": full, "match": not no_match,
              "enrich": not (no_enrich or no_match), "providers": list(names)}
    _finish(run_here("import-library", params, user_id=user_id, local=local), summary, as_json)


@click.command("enrich")
@click.option("--providers", default=None, help="Comma list (default: CONTEXTIFY_PROVIDERS).")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as one JSON line at the end.")
@with_appcontext
def enrich_command(providers: str | None, as_json: bool) -> None:
    """Fetch features for every track in the catalog whose row is missing or stale."""
    names = _providers(providers)
    summary = RunSummary("enrich")
    _finish(run_here("enrich", {"providers": list(names)}, local={"summary": summary}), summary, as_json)


# ------------------------------------------------------------------------------------ helpers


def _session_factory() -> Callable[[], Session]:
    from app.extensions import db

    return sessionmaker(bind=db.engine, expire_on_commit=False)


def _spotify_user(session: Session, config: Mapping[str, Any], spotify_id: str) -> tuple[SpotifyClient, int]:
    """A client acting as `spotify_id` and the user's row (created on first import), after /me agrees."""
    user = session.scalar(select(User).where(User.spotify_id == spotify_id))
    token = _stored_token(session, config, user) if user is not None else None
    token = token or os.environ.get(TOKEN_VARIABLE)
    if not token:
        raise CommandError(f"No Spotify access token for {spotify_id}: log in through the web app, or set "
                           f"{TOKEN_VARIABLE} to a token of that user.")
    client = spotify_user_client(config, token)
    try:
        me = client.me()
    except NotAllowListed:
        raise CommandError(f"Spotify refuses {spotify_id}: the user is not on this app's allow-list (development "
                           "mode allows 5 users; add them on developer.spotify.com/dashboard).") from None
    except ServiceError as exc:
        raise CommandError(f"Spotify did not accept the access token ({exc.reason}); it may have expired. "
                           "Log in again or set a fresh SPOTIFY_ACCESS_TOKEN.") from None
    if not isinstance(me, dict) or me.get("id") != spotify_id:
        owner = me.get("id") if isinstance(me, dict) else None
        raise CommandError(f"The access token belongs to Spotify user {owner!r}, not {spotify_id!r}. "
                           "Nothing was imported.")
    if user is None:
        user = User(spotify_id=spotify_id, display_name=me.get("display_name"), account_id=me.get("account_id"))
        session.add(user)
        session.commit()
    return client, user.id


def _stored_token(session: Session, config: Mapping[str, Any], user: User) -> str | None:
    row = session.scalar(select(OAuthToken).where(OAuthToken.user_id == user.id, OAuthToken.provider == "spotify"))
    return TokenCipher(config["SECRET_KEY"]).decrypt(row.access_token) if row is not None else None


def _local_user(session: Session, name: str) -> int:
    """The owner of a file import: an existing user with that Spotify id, or a new row under that name."""
    user = session.scalar(select(User).where(User.spotify_id == name))
    if user is None:
        user = User(spotify_id=name, display_name=name)
        session.add(user)
        session.commit()
    return user.id


def _finish(job: Mapping[str, Any], summary: RunSummary, as_json: bool) -> None:
    """Print the run's summary (one JSON line with --json); a failed run ends in its reason and exit code 1."""
    if job["status"] != "succeeded":
        message = job["error"] or "The run stopped."
        summary.notes.append(message)
        if as_json:
            click.echo(summary.to_json())
        raise CommandError(message)
    result = summary.as_dict()
    if as_json:
        click.echo(summary.to_json())
        return
    click.echo(f"{summary.command}: done in {result['wall_s']:.1f} s; calls {result['api_calls']}")
    for stage, count in sorted(result["stages"].items()):
        click.echo(f"  {stage}: {count}")
    for reason, count in sorted(result["failures"].items()):
        click.echo(f"  failed, {reason}: {count}")
    for note in summary.notes:
        click.echo(f"  note: {note}")
