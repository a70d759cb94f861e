"""The Compare jobs: learn whose song a track is (`compare`), and save the "both" list to Spotify (`compare-save`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from app.auth.errors import NeedsLogin
from app.auth.spotify import spotify_for_user
from app.jobs.registry import JobContext, TaskError, task
from app.jobs.tasks import providers
from app.pipeline.clients.base import ServiceError
from app.pipeline.features_table import feature_frame
from app.pipeline.library import import_liked, import_spotify_library, match_and_enrich
from app.pipeline.playlist_writer import PlaylistWriter
from app.pipeline.providers.run import RunClients
from app.runs.summary import RunSummary
from app.services import compare
from app.services.save import service_problem, write_exported
from app.storage.tables import ExportedPlaylist, ModelRun, Suggestion, TrainedModel, User

SIZE = (5, 100)          # bounds of the "both" list's length
MAP_POINTS = (100, 5000)  # bounds of how many songs the map may show
DEFAULT_SIZE = 25
PLAYLIST_NAME = "contextify · Both of us"
DESCRIPTION = "Songs two tastes might share, picked by contextify's Compare page."
#: Most songs on the map when the job does not say; None: the model's own (whose_song.MAX_MAP_POINTS).
MAX_MAP_POINTS: int | None = None
# The network (app.models.whose_song) loads scikit-learn, about 1.5 CPU-s: the compare job imports it when it runs,
# so a worker or web process that registers this task but never compares starts without it.


def run_clients(config: Mapping[str, Any]) -> RunClients:
    """The Deezer and ReccoBeats clients for fetching missing features (tests swap in faster limiters)."""
    return RunClients.from_config(config)


@task("compare")
def compare_task(ctx: JobContext) -> dict[str, Any]:
    """Train the perceptron the owner configured on their library against a second one, and store what it found.

    params: other ("invite:<id>" or "file:<id>"), layers, units, activation, size (length of the "both"
    list), map_points (most songs on the map), enrich (fetch missing features, default true), providers
    (optional list). Result: model_run_id.
    """
    from app.models import whose_song
    from app.models.whose_song import CompareInputError, network_settings, two_libraries

    owner_id = ctx.require_user()
    params = ctx.params
    started = time.perf_counter()
    try:
        settings = network_settings(params)
    except CompareInputError as exc:
        raise TaskError(str(exc)) from None
    size = _bounded(params.get("size", DEFAULT_SIZE), SIZE, "The 'both' list must hold from {} to {} songs.")
    most = whose_song.MAX_MAP_POINTS if MAX_MAP_POINTS is None else MAX_MAP_POINTS
    map_points = _bounded(params.get("map_points", most), MAP_POINTS,
                          "The map can show from {} to {} songs.")
    minimum = int(ctx.config["CONTEXTIFY_COMPARE_MIN_TRACKS"])
    summary = RunSummary("compare")

    with ctx.session_factory() as session:
        other = _other(session, owner_id, params.get("other"))
        owner_name = compare.display_name(session, owner_id)
        other_ids = compare.other_track_ids(session, owner_id, other)
    if not other_ids and other.guest_id is not None:
        _import_from_spotify(ctx, other.guest_id, other.name, summary, own=False)
        with ctx.session_factory() as session:
            other_ids = compare.other_track_ids(session, owner_id, other)
    with ctx.session_factory() as session:
        owner_ids = compare.owner_track_ids(session, owner_id)
    if len(other_ids) < minimum:
        raise TaskError(f"{_cap(other.library)} has {len(other_ids)} tracks, fewer than the {minimum} a "
                        f"comparison needs (your Liked Songs have {len(owner_ids)}). Compare with a bigger library.")
    if not owner_ids:
        _import_from_spotify(ctx, owner_id, "your", summary, own=True)
        with ctx.session_factory() as session:
            owner_ids = compare.owner_track_ids(session, owner_id)
    if len(owner_ids) < minimum:
        raise TaskError(f"Your Liked Songs have {len(owner_ids)} tracks, fewer than the {minimum} a comparison "
                        f"needs ({other.library} has {len(other_ids)}). Import your library on the Library page "
                        "first.")
    ctx.note(f"Comparing your {len(owner_ids):,} liked songs with {other.library} ({len(other_ids):,}).")

    everything = sorted(set(owner_ids) | set(other_ids))
    if params.get("enrich", True):
        ctx.check_cancelled()
        clients = run_clients(ctx.config)
        try:
            match_and_enrich(ctx.session_factory, everything, ctx.config, summary, ctx.progress, clients,
                             providers=providers(params, ctx.config))
        except ServiceError as exc:
            ctx.note(f"Some features could not be fetched ({exc}); comparing with what is known.")
        finally:
            clients.close()
    ctx.check_cancelled()

    ctx.progress.stage("network trained", total=1)
    with ctx.session_factory() as session:
        features = feature_frame(session, everything)
    try:
        libraries = two_libraries(features, owner_ids, other_ids)
        shared = features.loc[libraries.shared] if libraries.shared else None
        result = whose_song.compare(libraries, settings, max_map_points=map_points, shared_features=shared)
    except CompareInputError as exc:
        raise TaskError(str(exc)) from None
    ctx.progress.advance("network trained")
    if libraries.shared:
        ctx.note(f"{len(libraries.shared):,} tracks are in both libraries: they cannot say whose taste they belong "
                 "to, so the network did not learn from them; they show as 'both' on the map.")

    with ctx.session_factory() as session:
        run_id, model_id = _store(session, ctx, owner_id, owner_name, other, settings, libraries, result, size,
                                  time.perf_counter() - started)
    metrics = result.metrics
    ctx.note(f"Held-out ROC AUC {metrics['roc_auc']:.2f}, F1 {metrics['f1']:.2f}.")
    return {"model_run_id": run_id, "model_id": model_id, "roc_auc": metrics["roc_auc"], "f1": metrics["f1"],
            "shared": len(libraries.shared), "both": size, **summary.as_dict()}


def _store(session, ctx: JobContext, owner_id: int, owner_name: str, other: compare.Other, settings, libraries,
           result, size: int, seconds: float) -> tuple[int, int]:
    """One TrainedModel (the comparison's identity), one ModelRun (parameters, metrics, the map) and the "both"
    list as Suggestion rows."""
    from app.models.whose_song import OWNER, least_sure

    names = compare.track_names(session, [p["track_id"] for p in result.points] + list(result.probabilities.index))
    params = {"other": other.key, "other_name": other.name, "owner_name": owner_name, **settings.as_dict(),
              "size": size}
    model = TrainedModel(user_id=owner_id, kind="compare", name=f"you and {other.name}", params=params,
                         metrics=result.metrics, features=libraries.spec.columns, job_id=ctx.job_id)
    session.add(model)
    session.flush()
    points = [{**p, "name": names.get(p["track_id"], "?")} for p in result.points]
    run = ModelRun(user_id=owner_id, mode="compare", name="multi-layer perceptron", params=params,
                   metrics=result.metrics, result={"points": points}, seconds=round(seconds, 2),
                   model_id=model.id, job_id=ctx.job_id)
    session.add(run)
    whose = dict(zip(libraries.frame.index, libraries.y))
    for rank, (track_id, p) in enumerate(least_sure(result.probabilities, size).items(), start=1):
        held_by = "your Liked Songs" if whose[track_id] == OWNER else other.library
        reasons = [f"The network cannot tell whose it is: {p:.0%} yours, {1 - p:.0%} {other.name}'s.",
                   f"It is in {held_by}."]
        session.add(Suggestion(user_id=owner_id, mode="compare", model_id=model.id, target=compare.BOTH,
                               track_id=int(track_id), probability=float(p), rank=rank, reasons=reasons))
    session.commit()
    return run.id, model.id


def _other(session, owner_id: int, value: Any) -> compare.Other:
    try:
        return compare.resolve_other(session, owner_id, value)
    except compare.CompareError as exc:
        raise TaskError(str(exc)) from None


def _import_from_spotify(ctx: JobContext, user_id: int, name: str, summary: RunSummary, *, own: bool) -> None:
    """Import from Spotify with the holder's own token: the owner's whole library; of a guest only the Liked Songs
    they agreed to share."""
    who = "your" if own else f"{name}'s"
    ctx.note(f"contextify has not imported {who} Liked Songs yet: importing them from Spotify now.")
    with ctx.session_factory() as session:
        spotify_user_id = session.get(User, user_id).spotify_id
    try:
        spotify = spotify_for_user(user_id, ctx.config, ctx.session_factory)
        if own:
            import_spotify_library(ctx.session_factory, user_id, spotify_user_id, spotify, summary, ctx.progress)
        else:
            import_liked(ctx.session_factory, user_id, spotify, summary, ctx.progress)
    except NeedsLogin:
        if own:
            raise TaskError("Spotify needs you to log in again before contextify can import your library.") from None
        raise TaskError(f"{_cap(name)} has not imported their library, and their Spotify login can no longer be used. "
                        "Ask them to open contextify once (or import their library) and start again.") from None
    except ServiceError as exc:
        raise TaskError(f"{_cap(who)} library could not be imported from Spotify: {service_problem(exc)}.") from None


def _bounded(value: Any, bounds: tuple[int, int], message: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = bounds[0] - 1
    if not bounds[0] <= number <= bounds[1]:
        raise TaskError(message.format(*bounds))
    return number


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


# -------------------------------------------------------------------------------------- saving "both"


@task("compare-save")
def compare_save_task(ctx: JobContext) -> dict[str, Any]:
    """Write the latest comparison's "both" list to one playlist in the owner's Spotify account and read it back.

    params: none. Result: playlist id, the URIs written, and how many tracks had no Spotify id.
    """
    owner_id = ctx.require_user()
    with ctx.session_factory() as session:
        run = compare.latest_run(session, owner_id)
        if run is None:
            raise TaskError("There is no comparison to save yet: run one first.")
        tracks = compare.both_tracks(session, owner_id, run.model_id)
    uris = [f"spotify:track:{t.spotify_id}" for t in tracks if t.spotify_id]
    if not uris:
        raise TaskError("None of the songs in the list is on Spotify, so there is nothing to save.")
    client = ctx.spotify("save playlists", owner_id)
    ctx.progress.stage("playlist saved", total=1)
    with ctx.session_factory() as session:
        row = compare.saved_playlist(session, owner_id)
        if row is None:
            row = ExportedPlaylist(user_id=owner_id, context=compare.PLAYLIST_CONTEXT, name=PLAYLIST_NAME, track_uris=[])
            session.add(row)
            session.commit()
        try:
            problem = write_exported(session, row, uris, PlaylistWriter(client), description=DESCRIPTION)
        except ServiceError as exc:
            row.status = "failed"
            session.commit()
            raise TaskError(f"The playlist was not saved: {service_problem(exc)}.") from None
        if problem:
            row.status = "failed"
            session.commit()
            raise TaskError(problem)
        playlist_id = row.spotify_playlist_id
    ctx.progress.advance("playlist saved")
    skipped = len(tracks) - len(uris)
    ctx.note(f"{PLAYLIST_NAME}: {len(uris)} songs written, read back and checked"
             + (f"; {skipped} had no Spotify id and were left out." if skipped else "."))
    return {"playlist_id": playlist_id, "uris": uris, "without_spotify_id": skipped}
