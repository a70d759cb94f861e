"""The `refine` job: the first model and sort as soon as enough songs are analysed, then better ones as more arrive."""
# It runs beside the harvest and the library import (the user may start all three at once). Each round trains on
# the songs analysed so far and replaces the sort, keeping the user's keeps and drops (`app.models.progressive`); a
# round starts when either side's analysed songs grew by half, and a last one when the harvest, import and
# enrichment jobs have ended. Its progress (songs analysed on each side, rounds done) is on the job row, so the user
# can leave and come back; a resumed job starts with a round on what is there.

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from app.jobs.registry import JobContext, TaskError, task
from app.jobs.tasks import plain_model_errors, providers as job_providers, training_choices
from app.storage.ownership import owned
from app.storage.tables import Job

if TYPE_CHECKING:
    from app.models.progressive import RestsOn

KIND = "refine"
#: The jobs whose work a refinement waits for: while one of the user's is queued or running, more is coming.
FEEDING = ("harvest", "import-library", "enrich")
POLL_S = 5.0
TRAINING_STAGE, LIBRARY_STAGE, ROUNDS_STAGE = "training songs analysed", "your songs analysed", "rounds"


def feeding(ctx: JobContext, user_id: int) -> bool:
    """Whether one of the user's harvest, import or enrichment jobs is still queued or running."""
    with ctx.session_factory() as session:
        return session.scalar(owned(Job, user_id).where(Job.kind.in_(FEEDING), Job.status.in_(("queued", "running")))
                              .with_only_columns(Job.id).limit(1)) is not None


@task(KIND)
def refine_task(ctx: JobContext) -> dict[str, Any]:
    """Rounds of train-and-sort on what is analysed, until the data stops arriving and a last round ran on it.

    params: contexts (two or more), target_precision, best_effort, providers (optional). Result: the last
    round's model_id and sort_run_id, rounds, rests_on, and the decisions carried over.
    """
    # Here, not at the top: the model layer loads scikit-learn (about 1.5 CPU-s), which every worker would pay for
    # at its start, since all task modules are imported to register them.
    from app.models.progressive import refine_round, rests_on

    params = ctx.params
    user_id = ctx.require_user()
    contexts, target = training_choices(params)
    names = list(job_providers(params, ctx.config))
    last: RestsOn | None = None
    result: dict[str, Any] = {"rounds": 0, "carried": 0}
    waiting_said = ""
    ctx.progress.stage(ROUNDS_STAGE)
    while True:
        ctx.check_cancelled()
        more_coming = feeding(ctx, user_id)
        with ctx.session_factory() as session:
            state, ready = rests_on(session, user_id, contexts, names, final=not more_coming)
        _show(ctx, state)
        due = (state.enough_for_a_first_sort() or not more_coming) if last is None else (
            state.grew_enough_since(last) or (not more_coming and not state.same_data(last)))
        if due:
            try:
                with plain_model_errors(), ctx.session_factory() as session:
                    model_id, run_id, carried = refine_round(
                        session, user_id, contexts, state, ready, instance_dir=ctx.config["INSTANCE_DIR"],
                        target_precision=target, providers=names, best_effort=params.get("best_effort") is True,
                        job_id=ctx.job_id)
            except TaskError as exc:
                if not more_coming:
                    raise TaskError(f"{exc} Nothing more is being analysed, so there is no playlist yet.") from None
                if str(exc) != waiting_said:  # said once, not every few seconds
                    ctx.note(f"Not enough yet for a first model: {exc} It tries again as songs arrive.")
                    waiting_said = str(exc)
            else:
                last = state
                result.update(model_id=model_id, sort_run_id=run_id, rests_on=state.to_dict(),
                              rounds=result["rounds"] + 1, carried=result["carried"] + carried)
                ctx.progress.advance(ROUNDS_STAGE)
                ctx.note(f"Round {result['rounds']}: {_counts(state)}"
                         + (f"; {carried} of your keeps and drops carried over." if carried else "."))
        if not more_coming and (last is None or state.same_data(last)):
            break
        _wait(ctx, POLL_S)
    if last is None:
        raise TaskError("No model could be trained on what is analysed.")
    return result


def _counts(state: RestsOn) -> str:
    return (f"{state.training_analysed:,} of {state.training_total:,} training songs analysed, "
            f"{state.library_analysed:,} of your {state.library_total:,} songs")


def _show(ctx: JobContext, state: RestsOn) -> None:
    """The analysed counts as two progress stages (done/total), so the job card draws them as bars."""
    for name, done, total in ((TRAINING_STAGE, state.training_analysed, state.training_total),
                              (LIBRARY_STAGE, state.library_analysed, state.library_total)):
        shown = ctx.progress.snapshot().get(name)
        ctx.progress.stage(name, total=total)
        ctx.progress.advance(name, done - (shown["done"] if shown else 0))


def _wait(ctx: JobContext, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(min(1.0, max(end - time.monotonic(), 0)))
        ctx.check_cancelled()
