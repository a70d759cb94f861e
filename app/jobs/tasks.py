"""The real job tasks: harvest (then enrich), import-library (Spotify or an uploaded file, then match and enrich), enrich,
train (a context model for the owner) and sort (the owner's library, stored for review).

The matching `flask` commands run these same tasks (`app.jobs.local.run_here`), so a job started from the
command line and one started from a page do the same work and look alike in the jobs table.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.auth.errors import NeedsLogin
from app.auth.spotify import spotify_for_user
from app.jobs.registry import JobContext, TaskError, task
from app.pipeline.catalog import spread_over_playlists
from app.pipeline.charts import add_background
from app.pipeline.clients.base import ServiceError
from app.pipeline.clients.deezer import DeezerClient
from app.pipeline.enrich import enrich_tracks
from app.pipeline.file_records import FileImportError
from app.pipeline.harvest import (
    DEFAULT_PLAYLISTS_PER_CONTEXT, DEFAULT_TRACKS_PER_PLAYLIST, Clients, HarvestError, HarvestOptions, harvest,
)
from app.pipeline.library import import_spotify_library, library_track_ids_recent_first, match_and_enrich
from app.pipeline.library_file import import_file
from app.pipeline.naming import ContextNameError, validate_contexts
from app.pipeline.providers import PROVIDER_CLASSES, configured_providers
from app.pipeline.clients.factory import build_clients
from app.runs.summary import RunSummary
from app.services.library import upload_dir
from app.storage.tables import Track, User

# The model layer (app.models) loads scikit-learn and SciPy, about 1.5 CPU-s: the train and sort tasks import it, so a
# worker or web process that only harvests, imports or enriches never does.


@contextlib.contextmanager
def plain_errors() -> Iterator[None]:
    """Turn the pipeline's expected refusals (already in plain words) into TaskError for the job row."""
    try:
        yield
    except (HarvestError, ContextNameError, FileImportError, NeedsLogin) as exc:
        raise TaskError(str(exc)) from None


@contextlib.contextmanager
def plain_model_errors() -> Iterator[None]:
    """The model layer's refusals (unharvested contexts, missing features, a lost model) as TaskError."""
    from app.models.dataset import DatasetError
    from app.models.model import ModelInputError
    from app.models.persistence import ArtifactError
    from app.models.service import ReviewError

    try:
        yield
    except (DatasetError, ModelInputError, ReviewError) as exc:
        raise TaskError(_sentence(str(exc))) from None
    except ArtifactError as exc:
        raise TaskError(f"The saved model cannot be used: {exc}") from None


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


@task("harvest")
def harvest_task(ctx: JobContext) -> dict[str, Any]:
    """Label tracks for `contexts` from public playlists, then enrich them unless `enrich` is false.

    params: contexts (list of names), source (deezer | auto | spotify), playlists_per_context,
    tracks_per_playlist, refresh, enrich, background (default true: songs of every genre from Deezer's charts,
    which a model learns "none of these" from), providers (optional list). Leaves the HarvestResult in
    `ctx.local["harvest"]` for `flask harvest`'s report.
    """
    params = ctx.params
    summary = ctx.local.setdefault("summary", RunSummary("harvest"))
    with plain_errors():
        contexts = validate_contexts(params.get("contexts") or [])
        options = harvest_options(params)
        clients = build_clients(ctx.config, app_spotify=options.source != "deezer")
        try:
            result = harvest(ctx.session_factory, contexts, Clients(clients.deezer, clients.spotify), options,
                             ctx.progress, summary, on_note=ctx.note, check_stop=ctx.check_cancelled)
            background = background_songs(ctx, clients.deezer, summary) if params.get("background", True) else []
        finally:
            clients.close()
        ctx.local["harvest"] = result
        if params.get("enrich", True):
            ctx.check_cancelled()
            with ctx.session_factory() as session:
                order = spread_over_playlists(session, result.track_ids, background)
            enrich_tracks(ctx.session_factory, order, ctx.config, summary, ctx.progress,
                          providers=providers(params, ctx.config), check_stop=ctx.check_cancelled)
    return summary.as_dict()


def background_songs(ctx: JobContext, deezer: DeezerClient, summary: RunSummary) -> list[int]:
    """Songs of no context from Deezer's genre charts; a failure is said and the harvest goes on without them."""
    before = deezer.calls
    try:
        background = add_background(ctx.session_factory, deezer, progress=ctx.progress)
        ctx.note(f"{len(background):,} songs of every genre from Deezer's charts are in the catalog, for the model to "
                 "learn what fits none of your contexts.")
        return background
    except ServiceError as exc:
        ctx.note(f"Deezer's charts could not be read ({exc.reason}), so no songs of other kinds were added: "
                 "until the catalog holds some, playlists are offered at best effort only, with no promised "
                 "precision.")
        return []
    finally:
        summary.add_calls("deezer", deezer.calls - before)


@task("import-library")
def import_library_task(ctx: JobContext) -> dict[str, Any]:
    """Import the owner's Liked Songs and playlists from Spotify, or a file they uploaded; then match and enrich.

    params: file (optional: a path inside `upload_dir(config, user_id)`), full (re-read every page of Liked
    Songs), match (default true; false reads the library only), enrich, providers (optional list).
    `flask import-library` hands in through `ctx.local`: "file" (a path anywhere), "spotify" (a client whose
    /me it checked) and "summary" (with that check's call counted).
    """
    params = ctx.params
    user_id = ctx.require_user()
    names = providers(params, ctx.config)
    summary = ctx.local.setdefault("summary", RunSummary("import-library"))
    with plain_errors():
        path = ctx.local.get("file") or (uploaded_file(ctx.config, user_id, params["file"]) if params.get("file")
                                         else None)
        spotify = None if path else (ctx.local.get("spotify")
                                     or spotify_for_user(user_id, ctx.config, ctx.session_factory))
        clients = build_clients(ctx.config, spotify=spotify)
        try:
            if path is None:
                import_spotify_library(ctx.session_factory, user_id, _spotify_id(ctx, user_id), spotify, summary,
                                       ctx.progress, full=bool(params.get("full")), check_stop=ctx.check_cancelled)
            else:
                import_file(ctx.session_factory, user_id, path, summary, ctx.progress, ctx.check_cancelled)
                if "file" not in ctx.local:
                    # An upload's rows are stored now; the user's file is not kept longer than it is needed
                    # (a file an operator names on the command line is theirs, and stays).
                    path.unlink(missing_ok=True)
            ctx.check_cancelled()
            with ctx.session_factory() as session:
                track_ids = library_track_ids_recent_first(session, user_id)
            if params.get("match", True):
                match_and_enrich(ctx.session_factory, track_ids, ctx.config, summary, ctx.progress, clients,
                                 providers=names, enrich=bool(params.get("enrich", True)),
                                 check_stop=ctx.check_cancelled)
                _note_unmatched(ctx, track_ids, summary)
        finally:
            clients.close()
    for note in summary.notes:
        ctx.note(note)
    return summary.as_dict()


@task("enrich")
def enrich_task(ctx: JobContext) -> dict[str, Any]:
    """Fetch features for every catalog track whose row is missing or stale. params: providers (optional list)."""
    names = providers(ctx.params, ctx.config)
    summary = ctx.local.setdefault("summary", RunSummary("enrich"))
    with ctx.session_factory() as session:
        track_ids = list(session.scalars(select(Track.id).order_by(Track.id)))
    clients = build_clients(ctx.config, app_spotify="spotify" in names)
    try:
        enrich_tracks(ctx.session_factory, track_ids, ctx.config, summary, ctx.progress, providers=names,
                      clients=clients, check_stop=ctx.check_cancelled)
    finally:
        clients.close()
    summary.new_tracks = summary.stages.get("tracks needing enrichment", 0)
    for note in summary.notes:
        ctx.note(note)
    return summary.as_dict()


@task("train")
def train_task(ctx: JobContext) -> dict[str, Any]:
    """Train a context model on the harvested `contexts`, with the features the owner's library has.

    params: contexts (list of names), target_precision (optional), providers (optional list), best_effort
    (optional: playlists also for contexts that cannot keep the target, labelled as not promised).
    Result: model_id, and per context the cutoff and the precision it promises.
    """
    from app.models.service import train_for_user

    params = ctx.params
    user_id = ctx.require_user()
    contexts, target = training_choices(params)
    with plain_model_errors(), ctx.session_factory() as session:
        row = train_for_user(session, user_id, contexts, instance_dir=ctx.config["INSTANCE_DIR"],
                             target_precision=target, providers=params.get("providers"),
                             job_id=ctx.job_id, progress=ctx.progress,
                             best_effort=params.get("best_effort") is True)
        metrics, model_id = row.metrics, row.id
    for message in metrics["data"]["messages"]:
        ctx.note(message)
    return {"model_id": model_id, "contexts": {
        name: {"cutoff": section["cutoff"], "promised_precision": section["promised_precision"],
               "reached": section["reached"]} for name, section in metrics["contexts"].items()}}


@task("sort")
def sort_task(ctx: JobContext) -> dict[str, Any]:
    """Sort the owner's library with one of their models and store the result for review.

    params: model_id. Result: sort_run_id, coverage, and per context the cutoff, promise and count.
    """
    user_id = ctx.require_user()
    try:
        model_id = int(ctx.params["model_id"])
    except (KeyError, TypeError, ValueError):
        raise TaskError("Choose a trained model to sort with.") from None
    from app.models.service import sort_for_user, sort_summary

    with plain_model_errors(), ctx.session_factory() as session:
        run = sort_for_user(session, user_id, model_id, job_id=ctx.job_id, progress=ctx.progress)
        return sort_summary(session, user_id, run.id)


# ------------------------------------------------------------------------------------ parameters


def training_choices(params: Mapping[str, Any]) -> tuple[list[str], float]:
    """The contexts (two or more) and the target precision a training job was given (train, refine)."""
    contexts = [str(name) for name in params.get("contexts") or []]
    if len(contexts) < 2:
        raise TaskError("Choose at least two contexts to train on.")
    return contexts, _target_precision(params)


def _target_precision(params: Mapping[str, Any]) -> float:
    from app.models.cutoffs import DEFAULT_TARGET_PRECISION

    try:
        value = float(params.get("target_precision", DEFAULT_TARGET_PRECISION))
    except (TypeError, ValueError):
        value = -1.0
    if not 0 < value <= 1:
        raise TaskError("The target precision must be a number above 0 and at most 1.")
    return value


def harvest_options(params: Mapping[str, Any]) -> HarvestOptions:
    try:
        return HarvestOptions(
            source=str(params.get("source", "deezer")),
            playlists_per_context=int(params.get("playlists_per_context", DEFAULT_PLAYLISTS_PER_CONTEXT)),
            tracks_per_playlist=int(params.get("tracks_per_playlist", DEFAULT_TRACKS_PER_PLAYLIST)),
            refresh=bool(params.get("refresh", False)))
    except (TypeError, ValueError) as exc:
        raise TaskError(f"The harvest settings are not valid: {exc}.") from None


def providers(params: Mapping[str, Any], config: Mapping[str, Any]) -> tuple[str, ...]:
    """The job's providers: its `providers` parameter, else the deployment's default (CONTEXTIFY_PROVIDERS)."""
    names = tuple(params.get("providers") or configured_providers(config))
    unknown = [name for name in names if name not in PROVIDER_CLASSES]
    if unknown:
        raise TaskError(f"Unknown feature provider(s): {', '.join(map(str, unknown))}. "
                        f"Choose from {', '.join(PROVIDER_CLASSES)}.")
    return names


def uploaded_file(config: Mapping[str, Any], user_id: int, name: str) -> Path:
    """The user's uploaded file `name`; refuses anything outside their upload folder (another user's, /etc/...)."""
    folder = upload_dir(config, user_id).resolve()
    path = (folder / name).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        raise TaskError("The library file to import was not found among your uploads. Upload it again.")
    return path


def _note_unmatched(ctx: JobContext, track_ids: list[int], summary: RunSummary) -> None:
    """A note on the library's tracks Deezer does not have (kept, but without Deezer or preview features)."""
    with ctx.session_factory() as session:
        methods = []
        for start in range(0, len(track_ids), 500):
            methods += session.scalars(select(Track.match_method).where(
                Track.id.in_(track_ids[start:start + 500]), Track.deezer_id.is_(None),
                Track.canonical_id.is_(None))).all()
    not_on_deezer = methods.count("none")
    if not_on_deezer:
        summary.notes.append(f"{not_on_deezer} track(s) are not on Deezer: kept in the library without Deezer or "
                             "preview features (reasons in tracks.match_note).")


def _spotify_id(ctx: JobContext, user_id: int) -> str:
    with ctx.session_factory() as session:
        user = session.get(User, user_id)
    if user is None:
        raise TaskError("Your account no longer exists.")
    return user.spotify_id
