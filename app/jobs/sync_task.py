"""The `sync` job: keep a user's saved playlists sorted (import new likes, sort them, append what passes, verify)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from app.auth.errors import NeedsLogin
from app.runs.progress import Progress
from app.jobs.registry import JobContext, TaskError, task
from app.pipeline.library import import_liked, match_and_enrich
from app.pipeline.providers.run import RunClients
from app.runs.summary import RunSummary
from app.services.sync import PAUSED_LOGIN, base_sort, pause, sync_user
from app.storage.tables import LibraryItem, SyncRun, TrainedModel, utcnow
from app.storage.ownership import get_owned, owned

FALLBACK_PROVIDERS = ("deezer", "reccobeats")


@task("sync")
def sync_task(ctx: JobContext) -> dict[str, Any]:
    """Run the sync claimed as `sync_run_id` (see app.services.sync); params: sync_run_id, dry_run."""
    user_id = ctx.require_user()
    try:
        sync_run_id = int(ctx.params["sync_run_id"])
    except (KeyError, TypeError, ValueError):
        raise TaskError("This sync has no run to record; start it again from the Save page.") from None
    result = run_claimed(ctx.session_factory, ctx.config, user_id, sync_run_id,
                         dry_run=bool(ctx.params.get("dry_run")), progress=ctx.progress,
                         check_stop=ctx.check_cancelled)
    ctx.note(result["message"])
    return result


def run_claimed(session_factory: Callable[[], Session], config: Mapping[str, Any], user_id: int, sync_run_id: int,
                *, dry_run: bool = False, progress: Progress | None = None,
                check_stop: Callable[[], None] | None = None) -> dict[str, Any]:
    """Run one claimed sync as the user (their stored Spotify login); a login that is gone pauses their sync."""
    from app.auth.spotify import spotify_for_user

    progress = progress or Progress()
    with session_factory() as session:
        run = get_owned(session, SyncRun, user_id, sync_run_id)
        if run is None:
            raise TaskError("There is no such sync of yours.")
        if base_sort(session, user_id) is None:  # nothing saved yet: no need for Spotify at all
            outcome = sync_user(session, user_id, run, None)
            return {"sync_run_id": sync_run_id, "status": outcome.status, "message": outcome.message}
        try:
            client = spotify_for_user(user_id, config, session_factory)
        except NeedsLogin:
            pause(session, user_id, PAUSED_LOGIN)
            run.status, run.message, run.finished_at = "paused", PAUSED_LOGIN, utcnow()
            session.commit()
            return {"sync_run_id": sync_run_id, "status": "paused", "message": PAUSED_LOGIN}

        def import_new() -> None:
            import_and_enrich(session_factory, config, user_id, client, progress, check_stop)

        outcome = sync_user(session, user_id, run, client, import_new=import_new, dry_run=dry_run)
    return {"sync_run_id": sync_run_id, "status": outcome.status, "message": outcome.message,
            "added": outcome.added, "queued": outcome.queued, "duplicates": outcome.duplicates,
            "stale": outcome.stale}


def import_and_enrich(session_factory: Callable[[], Session], config: Mapping[str, Any], user_id: int,
                      client, progress: Progress,  # noqa: ANN001  (a SpotifyClient)
                      check_stop: Callable[[], None] | None = None) -> None:
    """Read the new Liked Songs (incrementally), then match and enrich only them, with the model's providers."""
    summary = RunSummary("sync")
    with session_factory() as session:
        before = set(session.scalars(owned(LibraryItem, user_id).where(LibraryItem.collection == "liked")
                                     .with_only_columns(LibraryItem.track_id)))
        base = base_sort(session, user_id)
        model = session.get(TrainedModel, base.model_id) if base is not None else None
        names = tuple(((model.versions or {}).get("providers") or {}) if model else ()) or FALLBACK_PROVIDERS
    import_liked(session_factory, user_id, client, summary, progress, check_stop=check_stop)
    with session_factory() as session:
        new = sorted(set(session.scalars(owned(LibraryItem, user_id).where(LibraryItem.collection == "liked")
                                         .with_only_columns(LibraryItem.track_id))) - before)
    if not new:
        return
    clients = RunClients.from_config(config, spotify=client)
    try:
        match_and_enrich(session_factory, new, config, summary, progress, clients, providers=names,
                         check_stop=check_stop)
    finally:
        clients.close()
