"""The `save` job (write the owner's sorted playlists to Spotify, verifying each) and `save-dry-run` (the dry run)."""

from __future__ import annotations

from typing import Any

from app.jobs.registry import JobContext, TaskError, task
from app.pipeline.playlist_writer import PlaylistWriter
from app.services.save import SaveError, SaveOutcome, plan_save, plan_summary, save_playlists

STAGE = "playlists saved"
READ_STAGE = "playlists read"


@task("save")
def save_task(ctx: JobContext) -> dict[str, Any]:
    """Create or update one Spotify playlist per context of a sort, then read each back.

    params: sort_run_id (optional: the latest sort), public (bool). Result: one outcome per context. A job
    where any playlist failed fails itself, naming each one, so nothing half-written reads as saved.
    """
    user_id = ctx.require_user()
    sort_run_id = _optional_int(ctx.params.get("sort_run_id"))
    client = ctx.spotify("save playlists")

    def report(outcome: SaveOutcome) -> None:
        ctx.progress.advance(STAGE)
        ctx.note(f"{outcome.name}: {outcome.message}")

    with ctx.session_factory() as session:
        try:
            ctx.progress.stage(STAGE, total=len(plan_save(session, user_id, sort_run_id)))
            outcomes = save_playlists(session, user_id, sort_run_id, client,
                                      public=bool(ctx.params.get("public")), after_each=report)
        except SaveError as exc:
            raise TaskError(str(exc)) from None
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        saved = sum(o.status == "saved" for o in outcomes)
        raise TaskError(f"{saved} of {len(outcomes)} playlists saved. Not saved: "
                        + " ".join(f"{o.name}: {o.message}" for o in failed))
    return {"playlists": [o.as_dict() for o in outcomes]}


@task("save-dry-run")
def save_dry_run_task(ctx: JobContext) -> dict[str, Any]:
    """The Save page's dry run against Spotify: read each playlist contextify saved and compare it with the sort.

    Writes nothing. params: sort_run_id (optional: the latest sort). Result: {"plans": [plan_summary, ...]}.
    """
    user_id = ctx.require_user()
    sort_run_id = _optional_int(ctx.params.get("sort_run_id"))
    writer = PlaylistWriter(ctx.spotify("read your playlists"))

    def read(playlist_id: str) -> list[str]:
        try:
            return writer.read(playlist_id)
        finally:
            ctx.progress.advance(READ_STAGE)

    with ctx.session_factory() as session:
        try:
            known = plan_save(session, user_id, sort_run_id)  # from the store only: how many playlists to read
            ctx.progress.stage(READ_STAGE, total=sum(p.spotify_playlist_id is not None for p in known))
            plans = plan_save(session, user_id, sort_run_id, read)
        except SaveError as exc:
            raise TaskError(str(exc)) from None
    return {"plans": [plan_summary(p) for p in plans]}


def _optional_int(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise TaskError("The sort to save is not valid; open the Save page again.") from None
