"""The Discover jobs: `discover` (charts in, train the like model, rank; also `flask discover`) and `discover-save`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from app.runs.progress import Progress
from app.jobs.registry import JobContext, TaskError, task
from app.jobs.tasks import providers
from app.pipeline.charts import DEFAULT_CHART_LIMIT, add_chart_tracks
from app.pipeline.clients.base import ServiceError
from app.pipeline.enrich import enrich_tracks
from app.pipeline.providers.run import RunClients
from app.pipeline.clients.factory import deezer_client
from app.runs.summary import RunSummary
from app.services.discover import DEFAULT_LIMIT, train_discover
from app.services.discover_data import DEFAULT_MIN_CATALOG, DiscoverError, SavedIndex, library_refusal
from app.services.discover_playlist import DEFAULT_PLAYLIST_SIZE, save_discover
from app.services.save import service_problem

SAVE_STAGE = "tracks found on Spotify"
#: The random forest's grid where the job gives none; None: the like model's own (app.models.discover.DEFAULT_RF_GRID).
DEFAULT_RF_GRID: Mapping[str, list] | None = None


@task("discover")
def discover_task(ctx: JobContext) -> dict[str, Any]:
    """Add Deezer's charts to the catalog (enriched), train the like model and store the user's ranking.

    params: charts (bool, default true), chart_genres (Deezer genre ids, default [0]: all), chart_limit,
    providers (feature providers, default all), n_estimators / min_samples_leaf / max_features (the random
    forest's grid), C (the logistic regression's), folds, min_catalog, limit (suggestions kept), seed.
    Result: the chosen model, both runs' scores, counts and notes.
    """
    return run_discover(ctx.session_factory, ctx.config, ctx.require_user(), ctx.params, ctx.progress, ctx.note,
                        ctx.check_cancelled, job_id=ctx.job_id)


def run_discover(session_factory: Callable[[], Session], config: Mapping[str, Any], user_id: int,
                 params: Mapping[str, Any], progress: Progress, note: Callable[[str], None],
                 check_cancelled: Callable[[], None] = lambda: None, job_id: str | None = None) -> dict[str, Any]:
    """The discover job's work, shared with `flask discover`; refusals are TaskError in plain words."""
    names = providers(params, config)
    with session_factory() as session:
        refusal = library_refusal(SavedIndex.for_user(session, user_id))
    if refusal:
        raise TaskError(refusal)
    chart_ids: list[int] = []
    summary = RunSummary("discover")
    if params.get("charts", True):
        clients = RunClients.from_config(config)
        try:
            chart_ids = add_chart_tracks(session_factory, clients.deezer, _ints(params, "chart_genres", [0]),
                                         _int(params, "chart_limit", DEFAULT_CHART_LIMIT), progress)
            note(f"{len(chart_ids):,} tracks from Deezer's charts are in the catalog as candidates.")
            check_cancelled()
            enrich_tracks(session_factory, chart_ids, config, summary, progress, providers=names, clients=clients,
                          check_stop=check_cancelled)
        except ServiceError as exc:
            note(f"Deezer's charts could not be added ({exc.reason}); Discover ranks the harvested catalog only.")
        finally:
            clients.close()
        for line in summary.notes:
            note(line)
    check_cancelled()
    # Here, not at the top: the like model loads scikit-learn (about 1.5 CPU-s), which every worker would pay for at
    # its start, since all task modules are imported to register them.
    from app.models import discover as like_model

    rf_default = like_model.DEFAULT_RF_GRID if DEFAULT_RF_GRID is None else DEFAULT_RF_GRID
    with session_factory() as session:
        try:
            outcome = train_discover(
                session, user_id, instance_dir=config["INSTANCE_DIR"], providers=names, chart_track_ids=chart_ids,
                rf_grid=_grid(params, rf_default), lr_grid={"C": list(params["C"])} if params.get("C") else None,
                folds=_int(params, "folds", 3), min_catalog=_int(params, "min_catalog", DEFAULT_MIN_CATALOG),
                limit=_int(params, "limit", DEFAULT_LIMIT), seed=_int(params, "seed", 0), job_id=job_id,
                progress=progress)
        except (DiscoverError, like_model.DiscoverModelError) as exc:
            raise TaskError(str(exc)) from None
    for message in outcome.messages:
        note(message)
    best = next(run for run in outcome.runs if run["chosen"])
    note(f"Kept the {outcome.chosen} (ROC AUC {best['cv_roc_auc']:.2f} across folds, {best['roc_auc']:.2f} on "
         f"artists it never saw); {outcome.suggestions:,} tracks ranked.")
    return outcome.as_dict()


@task("discover-save")
def discover_save_task(ctx: JobContext) -> dict[str, Any]:
    """Create or replace the user's Discover playlist on Spotify and read it back. params: size, public."""
    user_id = ctx.require_user()
    size = _int(ctx.params, "size", DEFAULT_PLAYLIST_SIZE)
    spotify = ctx.spotify("save the playlist")
    ctx.progress.stage(SAVE_STAGE, total=size)
    deezer = deezer_client(ctx.config)
    with ctx.session_factory() as session:
        try:
            outcome = save_discover(session, user_id, spotify, deezer=deezer, size=size,
                                    public=bool(ctx.params.get("public")),
                                    after_each=lambda: ctx.progress.advance(SAVE_STAGE))
        except DiscoverError as exc:
            raise TaskError(str(exc)) from None
        except ServiceError as exc:
            raise TaskError(service_problem(exc) + ".") from None
    for line in [*outcome.notes, *(f"Left out {item}." for item in outcome.left_out[:10])]:
        ctx.note(line)
    if len(outcome.left_out) > 10:
        ctx.note(f"And {len(outcome.left_out) - 10:,} more left out.")
    if outcome.status != "saved":
        raise TaskError(f"The Discover playlist was not saved: {outcome.message}")
    ctx.note(outcome.message)
    return outcome.as_dict()


def _int(params: Mapping[str, Any], name: str, default: int) -> int:
    try:
        return int(params.get(name, default))
    except (TypeError, ValueError):
        raise TaskError(f"The setting {name} must be a whole number.") from None


def _ints(params: Mapping[str, Any], name: str, default: list[int]) -> list[int]:
    values = params.get(name, default)
    try:
        return [int(value) for value in values]
    except (TypeError, ValueError):
        raise TaskError(f"The setting {name} must be a list of whole numbers.") from None


def _grid(params: Mapping[str, Any], default: Mapping[str, list]) -> dict[str, list]:
    """The random forest's grid: each parameter from the job's params when given, else the default values."""
    return {name: list(params[name]) if params.get(name) else list(values) for name, values in default.items()}
