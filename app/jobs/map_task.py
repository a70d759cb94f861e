"""The Map page's jobs: clustering, the genre model and a prediction, and two quick Deezer lookups (preview, search)."""

from __future__ import annotations

from typing import Any

from app.jobs.registry import JobContext, TaskError, task
from app.pipeline.clients.base import ServiceError
from app.services.catalog_lookup import preview_url, search_tracks
from app.services.catalog_map import (
    MapError, fetch_and_enrich, genre_model_row, predict_genre, run_clustering, run_summary, train_genre_model,
)


@task("map-clusters")
def map_clusters_task(ctx: JobContext) -> dict[str, Any]:
    """Cluster the catalog and record the run (ModelRun mode="map").

    params: method (ap | kmeans), preference_percentile (ap), k (kmeans), sample (ap on a sample of a large
    catalog), features (optional list). Result: run_id, n_clusters, and the run's summary sentence.
    """
    user_id = ctx.require_user()
    with ctx.session_factory() as session:
        try:
            run = run_clustering(session, user_id, ctx.params, job_id=ctx.job_id, progress=ctx.progress)
        except MapError as exc:
            raise TaskError(str(exc)) from None
        for note in (run.result or {}).get("notes") or []:
            ctx.note(note)
        return {"run_id": run.id, "n_clusters": run.metrics["n_clusters"], "summary": run_summary(run)}


@task("genre-model")
def genre_model_task(ctx: JobContext) -> dict[str, Any]:
    """Train the owner's genre model on the catalog (TrainedModel kind="genre"). Result: model_id and metrics."""
    user_id = ctx.require_user()
    with ctx.session_factory() as session:
        try:
            model = train_genre_model(session, user_id, job_id=ctx.job_id, progress=ctx.progress)
        except MapError as exc:
            raise TaskError(str(exc)) from None
        for note in (model.params or {}).get("notes") or []:
            ctx.note(note)
        return {"model_id": model.id, "metrics": model.metrics}


@task("genre-predict")
def genre_predict_task(ctx: JobContext) -> dict[str, Any]:
    """Fetch a Deezer track (params: deezer_id), store and enrich it, and predict its genre with the owner's model.

    Result: the prediction with probabilities, beside the genre Deezer gives the track's album.
    """
    user_id = ctx.require_user()
    try:
        deezer_id = int(ctx.params["deezer_id"])
    except (KeyError, TypeError, ValueError):
        raise TaskError("Pick a track from the search results first.") from None
    with ctx.session_factory() as session:
        model = genre_model_row(session, user_id)
        if model is None:
            # Refuse before any call to Deezer: without a model there is nothing to predict with.
            raise TaskError("Train the genre model first (the button above).")
        providers = list((model.params or {}).get("providers") or ["deezer"])
    ctx.progress.stage("track fetched", total=1)
    try:
        track_id = fetch_and_enrich(ctx.session_factory, ctx.config, deezer_id, providers, ctx.progress)
    except MapError as exc:
        raise TaskError(str(exc)) from None
    except ServiceError as exc:
        raise TaskError(f"Deezer could not be reached, so the track's features are missing: {exc}") from None
    ctx.progress.advance("track fetched")
    ctx.check_cancelled()
    with ctx.session_factory() as session:
        try:
            return predict_genre(session, user_id, track_id)
        except MapError as exc:
            raise TaskError(str(exc)) from None


@task("map-preview")
def map_preview_task(ctx: JobContext) -> dict[str, Any]:
    """A fresh preview link for a catalog track (params: track_id): one quick Deezer request, never stored.

    Result: {"url": link or None, "message": what the player says}; a missing preview is a result, not a failure.
    """
    ctx.require_user()
    with ctx.session_factory() as session:
        url, message = preview_url(session, ctx.config, ctx.params.get("track_id"))
    return {"url": url, "message": message}


@task("map-search")
def map_search_task(ctx: JobContext) -> dict[str, Any]:
    """Deezer's track search (params: query). Result: {"found": [{deezer_id, label}, ...]}; fails in plain words."""
    ctx.require_user()
    try:
        return {"found": search_tracks(ctx.config, ctx.params.get("query"))}
    except MapError as exc:
        raise TaskError(str(exc)) from None
