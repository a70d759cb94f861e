"""The Enhance jobs: learn the owner's playlists and suggest liked songs for each (`enhance`), and add the
accepted suggestions to their Spotify playlists (`enhance-add`)."""

from __future__ import annotations

from typing import Any

from app.jobs.registry import JobContext, TaskError, task
from app.services.enhance import EnhanceError, train_and_suggest
from app.services.enhance_add import AddOutcome, add_accepted

ADD_STAGE = "playlists updated"


@task("enhance")
def enhance_task(ctx: JobContext) -> dict[str, Any]:
    """Run the imbalance study and the model comparison, keep the best model, and store suggestions.

    Result: model_id, the chosen estimator, its scores and the number of suggestions.
    """
    user_id = ctx.require_user()
    with ctx.session_factory() as session:
        try:
            row = train_and_suggest(session, user_id, job_id=ctx.job_id, progress=ctx.progress,
                                    check=ctx.check_cancelled)
        except EnhanceError as exc:
            raise TaskError(str(exc)) from None
        metrics, model_id, name = row.metrics, row.id, row.name
    for note in metrics.get("notes", []):
        ctx.note(note)
    ctx.note(f"Chosen: {name.removeprefix('Enhance: ')} (macro-F1 {metrics['macro_f1']:.2f} on artist-grouped "
             f"cross-validation); {metrics['suggestions']} suggestions.")
    return {"model_id": model_id, "estimator": name, "macro_f1": metrics["macro_f1"],
            "precision_at_cutoff": metrics["precision_at_cutoff"], "cutoff": metrics["cutoff"],
            "suggestions": metrics["suggestions"]}


@task("enhance-add")
def enhance_add_task(ctx: JobContext) -> dict[str, Any]:
    """Append the accepted suggestions (params: suggestion_ids) to their playlists and read each one back.

    Fails, naming each playlist, when any playlist could not be updated, so nothing half-done reads as done.
    """
    user_id = ctx.require_user()
    ids = ctx.params.get("suggestion_ids")
    if ids is not None and not isinstance(ids, list):
        raise TaskError("The songs to add are not valid; open the Enhance page again.")
    client = ctx.spotify("add songs")

    def report(outcome: AddOutcome) -> None:
        ctx.progress.advance(ADD_STAGE)
        ctx.note(f"{outcome.playlist}: {outcome.message}")

    with ctx.session_factory() as session:
        try:
            outcomes = add_accepted(session, user_id, client, ids, after_each=report,
                                    planned=lambda n: ctx.progress.stage(ADD_STAGE, total=n))
        except EnhanceError as exc:
            raise TaskError(str(exc)) from None
    failed = [o for o in outcomes if o.status != "added"]
    if failed:
        raise TaskError(" ".join(f"{o.playlist}: {o.message}" for o in failed))
    return {"playlists": [o.as_dict() for o in outcomes], "added": sum(o.added for o in outcomes)}
