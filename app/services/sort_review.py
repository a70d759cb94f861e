"""The Library & sort page's plain functions: the review of a sort per playlist, cutoffs, verdicts, the sanity check."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from flask import current_app
from sqlalchemy import case, func, not_, select
from sqlalchemy.orm import Session

from app.analysis.cache import FolderCache, TTLCache
from app.services.training import loaded_model, user_models
from app.services.selection import display_context, kept_clause, owned_run, run_contexts
from app.services.songs import SongIndex, library_songs
from app.storage.tables import LibraryItem, SortAssignment, SortRun, Track, TrackFeatures, TrainedModel
from app.storage.ownership import owned

if TYPE_CHECKING:
    from app.models.model import ContextModel

# The model layer (app.models) loads scikit-learn and SciPy, about 1.5 CPU-s: each function imports what it uses, so
# the web app (whose Sort page imports this module) starts without it.
KIND = "sort"
SHOWN_PER_PLAYLIST = 50      # Dash renders each row's buttons as pattern-matching components: 200 took a browser ~1 min
SHOWN_UNSORTED = 50
VERDICTS = ("accept", "reject")
SCORES = "contextify.sort_scores"   # app.extensions key of the per-user library scores
STATES = "contextify.sort_states"   # app.extensions key of each user's library state, as last read
RECENT_STATE_S = 20


def latest_model(session: Session, user_id: int) -> TrainedModel | None:
    models = user_models(session, user_id)
    return models[0] if models else None


def sort_params(session: Session, user_id: int) -> dict[str, Any]:
    """The `sort` job's params: the user's latest model; ReviewError when they have none."""
    from app.models.service import ReviewError

    model = latest_model(session, user_id)
    if model is None:
        raise ReviewError("Train a model first, on the Model page.")
    return {"model_id": model.id}


@dataclass
class TrackRow:
    assignment_id: int
    title: str
    artist: str
    probability: float
    reasons: list[str]
    decision: str
    assigned: bool

    @property
    def kept(self) -> bool:
        return self.decision == "accepted" or (self.assigned and self.decision != "rejected")


@dataclass
class PlaylistReview:
    context: str
    title: str
    cutoff: float | None
    promised: float | None
    target: float | None
    rows: list[TrackRow] = field(default_factory=list)    # those shown: kept first, then near misses, most likely first
    looks_off: bool = False
    distance_ratio: float | None = None
    total: int = 0                                          # stored rows of the context, shown or not
    kept_count: int = 0                                     # of which the playlist keeps
    words: str | None = None        # the promise on this library, in plain words
    reason: str | None = None       # why there is no playlist, or why it is only best effort
    best_effort: bool = False       # the user opted in to a playlist that does not keep the target
    share: float | None = None      # estimated share of the library that fits the context


def review(session: Session, user_id: int, sort_run_id: Any, shown: int = SHOWN_PER_PLAYLIST,
           only: str | None = None, offset: int = 0, recent: bool = False) -> list[PlaylistReview]:
    """One review per context of the user's sort (empty for a sort that is not theirs): each context's
    `shown` rows after the first `offset` (a page), kept first and then most likely first, with how many rows it
    holds and keeps in all. `sort_run_id` may be the run itself, already read. `only` names the one context to
    review (a moved cutoff changes no other playlist); `recent` lets a review action re-use library scores
    checked in the last few seconds (see library_scores)."""
    run = sort_run_id if isinstance(sort_run_id, SortRun) else _run(session, user_id, sort_run_id)
    if run is None:
        return []
    shares = run.params.get("shares", {})
    playlists = {context: _playlist(context, run.params["cutoffs"][context], shares.get(context, {}))
                 for context in run_contexts(run) if only is None or context == only}
    songs = library_songs(session, user_id)  # one entry per song: later versions are shown through the first
    pages = {context: _page(session, user_id, run.id, playlists[context], songs.hidden, offset, shown)
             for context in playlists}
    # Read apart, by id: only the shown rows' reasons and names are ever parsed.
    wanted = [i for ids_ in pages.values() for i in ids_]
    details = {row.id: row for row in session.execute(
        select(SortAssignment.id, SortAssignment.probability, SortAssignment.reasons, SortAssignment.decision,
               SortAssignment.assigned, SortAssignment.track_id, Track.title, Track.artist)
        .join(Track, Track.id == SortAssignment.track_id).where(SortAssignment.id.in_(wanted)))} if wanted else {}
    for context, ids_ in pages.items():
        for assignment_id in ids_:
            detail = details[assignment_id]
            reasons = list(detail.reasons or []) + collapsed_note(session, songs, detail.track_id)
            playlists[context].rows.append(TrackRow(assignment_id, detail.title, detail.artist, detail.probability,
                                                    reasons, detail.decision, detail.assigned))
    for context, check in sanity(session, user_id, run, recent=recent, only=only).items():
        if context in playlists:
            playlists[context].looks_off = check["looks_off"]
            playlists[context].distance_ratio = check["distance_ratio"]
    return list(playlists.values())


def _page(session: Session, user_id: int, run_id: int, playlist: PlaylistReview, hidden: Any, offset: int,
          shown: int) -> list[int]:
    """The ids of one page of a playlist's review, kept songs first, each part most likely first; fills the
    playlist's counts. Each part walks the (run, context, probability) index from the top and stops after the
    page, so a page costs the same at 500 songs or 50,000 (ranking every row took ~50 ms a move)."""
    kept = kept_clause()
    mine = owned(SortAssignment, user_id).where(SortAssignment.sort_run_id == run_id,
                                                SortAssignment.context == playlist.context)
    if hidden:
        mine = mine.where(SortAssignment.track_id.not_in(hidden))
    total, kept_count = session.execute(mine.with_only_columns(
        func.count(), func.coalesce(func.sum(case((kept, 1), else_=0)), 0))).one()
    playlist.total, playlist.kept_count = int(total), int(kept_count)
    order = (SortAssignment.probability.desc(), SortAssignment.id)
    ids_: list[int] = []
    if offset < playlist.kept_count:
        ids_ += session.scalars(mine.where(kept).with_only_columns(SortAssignment.id).order_by(*order)
                                .offset(offset).limit(shown)).all()
    if len(ids_) < shown and offset + shown > playlist.kept_count:
        ids_ += session.scalars(mine.where(not_(kept)).with_only_columns(SortAssignment.id).order_by(*order)
                                .offset(max(offset - playlist.kept_count, 0)).limit(shown - len(ids_))).all()
    return ids_


def collapsed_note(session: Session, songs: SongIndex, track_id: int) -> list[str]:
    """The review's mark on a track that stands for other versions of its song (split them on the Save page)."""
    others = songs.others(track_id)
    if not others:
        return []
    names = session.execute(select(Track.artist, Track.title).where(Track.id.in_(others))).all()
    return ["One entry for " + str(len(others) + 1) + " versions of this song (you liked this one first); also: "
            + "; ".join(f"{artist} – {title}" for artist, title in names) + "."]


def _playlist(context: str, choice: Mapping[str, Any], share: Mapping[str, Any]) -> PlaylistReview:
    best_effort = bool(choice.get("best_effort"))
    unpromised = choice.get("cutoff") is None or best_effort
    return PlaylistReview(context, display_context(context), choice.get("cutoff"), choice.get("promised_precision"),
                          choice.get("target_precision"), words=share.get("words"),
                          reason=choice.get("message") if unpromised else None, best_effort=best_effort,
                          share=share.get("share"))


def _run(session: Session, user_id: int, sort_run_id: Any) -> SortRun | None:
    try:
        return owned_run(session, user_id, None if sort_run_id is None else int(sort_run_id))
    except (TypeError, ValueError):
        return None


def sanity(session: Session, user_id: int, run: SortRun, recent: bool = False,
           only: str | None = None) -> dict[str, dict[str, Any]]:
    """The centroid check at the sort's current cutoffs: per context (or the `only` one), how far its tracks sit
    from its training tracks (`distance_ratio`) and whether that `looks_off`. {} when the model or library
    cannot be read."""
    from app.models.dataset import DatasetError
    from app.models.model import ModelInputError
    from app.models.persistence import ArtifactError
    from app.models.service import ReviewError, adapted_model

    try:
        model = loaded_model(session, user_id, run.model_id)
        scaled, proba = library_scores(session, user_id, run.model_id, model, recent=recent)
    except (ReviewError, ArtifactError, DatasetError, ModelInputError):
        return {}
    # Under the library mix the sort estimated, as the stored cutoffs were chosen for it.
    adapted = adapted_model(model, run)
    placed = adapted.assign(adapted.adjusted(proba))
    return {context: shape_check(model, scaled, placed, j) for j, context in enumerate(model.contexts)
            if only is None or context == only}


def library_scores(session: Session, user_id: int, model_id: int, model: ContextModel, recent: bool = False
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The user's library as the model sees it: its preprocessed features and calibrated probabilities (contexts,
    then "none of these", under the training mix).

    Re-reading and re-scoring the whole library is the slow part of a review; a slider move only changes the
    cutoffs, so the scores are kept per user, model and library state, in memory and in the user's own model
    folder (a new import or new features change the key, so nobody sees scores of a library they no longer have).
    """
    from app.models.service import MODELS_DIR

    cache: TTLCache[tuple[np.ndarray, np.ndarray]] = current_app.extensions.setdefault(
        SCORES, TTLCache(maxsize=8, ttl_s=900))
    # Reading the library's state scans the feature table (~40 ms at 50,000 tracks); a keep, drop or cutoff a few
    # seconds after the page read it cannot have changed the library, so those re-use the state just read.
    states: dict[tuple[int, int], tuple[float, tuple[Any, ...]]] = current_app.extensions.setdefault(STATES, {})
    seen = states.get((user_id, model_id))
    if recent and seen is not None and time.monotonic() - seen[0] < RECENT_STATE_S:
        state = seen[1]
    else:
        state = library_state(session, user_id)
        states[(user_id, model_id)] = (time.monotonic(), state)
    key = ("scores", user_id, model_id, state)
    # Also kept beside the user's model artifacts, so the server's other worker processes do not score again.
    shared: FolderCache[tuple[np.ndarray, np.ndarray]] = FolderCache(
        Path(current_app.instance_path) / MODELS_DIR / str(user_id) / "scores")

    def build() -> tuple[np.ndarray, np.ndarray]:
        # The same steps as ContextModel.sort, stopped before the cutoffs: the check needs the scaled features.
        frame = library_frame(session, user_id, model).reset_index()
        scaled = model.pipeline.named_steps["preprocess"].transform(model._inputs(frame))
        return scaled, model.posterior(frame)

    return cache.get(key, lambda: shared.get(f"posterior-{model_id}", key, build))


def library_frame(session: Session, user_id: int, model: ContextModel) -> Any:
    """The user's library tracks with the model's features (app.models.service.library_frame), read for the scores."""
    from app.models.service import library_frame as frame

    return frame(session, user_id, model)


def library_state(session: Session, user_id: int) -> tuple[Any, ...]:
    """Changes when the user's library or any feature row changes (features are refreshed in place, so their
    fetch time counts too): the scores' cache key part."""
    items = session.execute(owned(LibraryItem, user_id).with_only_columns(
        func.count(LibraryItem.id), func.max(LibraryItem.id), func.sum(LibraryItem.track_id))).one()
    features = session.execute(select(func.count(TrackFeatures.id), func.max(TrackFeatures.id),
                                      func.max(TrackFeatures.fetched_at))).one()
    return (*items, *features)


def shape_check(model: ContextModel, scaled: np.ndarray, placed: np.ndarray, j: int) -> dict[str, Any]:
    """ContextModel.sort's centroid check for context `j` given which tracks it places (`placed`)."""
    from app.models.model import DISTANCE_RATIO_LIMIT, MIN_TRACKS_FOR_DISTANCE

    rows = np.flatnonzero(placed[:, j])
    ratio = None
    if rows.size:
        distance = np.linalg.norm(scaled[rows] - model.centroids[j], axis=1).mean()
        ratio = float(distance / model.train_distance[j])
    looks_off = bool(ratio is not None and rows.size >= MIN_TRACKS_FOR_DISTANCE and ratio > DISTANCE_RATIO_LIMIT)
    return {"looks_off": looks_off, "distance_ratio": ratio}


def unsorted_tracks(session: Session, user_id: int, sort_run_id: Any) -> tuple[int, list[tuple[str, str]]]:
    """Library tracks no playlist of the sort keeps: how many, and the first few as (artist, title)."""
    run = _run(session, user_id, sort_run_id)
    if run is None:
        return 0, []
    kept = select(SortAssignment.track_id).where(
        SortAssignment.user_id == user_id, SortAssignment.sort_run_id == run.id, kept_clause())
    library = owned(LibraryItem, user_id).with_only_columns(LibraryItem.track_id)
    # One pass: the first rows, each carrying how many there are in all.
    shown = session.execute(select(Track.artist, Track.title, func.count().over())
                            .where(Track.id.in_(library), Track.id.not_in(kept))
                            .order_by(Track.artist, Track.title).limit(SHOWN_UNSORTED)).all()
    return (shown[0][2] if shown else 0), [(artist, title) for artist, title, _ in shown]

