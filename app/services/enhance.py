"""Enhance from the store: learn the user's own playlists, suggest liked songs for each, and add the accepted ones.

Every read of user rows goes through ``owned``/``get_owned``. Adding accepted suggestions to the user's
playlists is app/services/enhance_add.py.
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from threadpoolctl import threadpool_limits

from app.runs.progress import Progress
from app.models.enhance_reasons import profiles
from app.models.features import FeatureSpec
from app.models.store_dataset import usable_columns
from app.pipeline.features_table import CATEGORICAL, feature_frame
from app.storage.tables import LibraryImport, LibraryItem, LibraryPlaylist, ModelRun, Suggestion, Track, TrainedModel
from app.storage.ownership import get_owned, owned

if TYPE_CHECKING:
    from app.models import playlist_classifier

# The learning side (app.models.playlist_classifier: scikit-learn, imbalanced-learn, about 2 CPU-s to import) is
# imported by the functions that learn, so the web app, whose Enhance page imports this module, starts without it.

MODE = "enhance"
LIKED = "liked"
#: Suggestions kept per playlist, best first.
MAX_SUGGESTIONS = 20
STAGES = ("dataset", "imbalance study", "model comparison", "chosen model", "suggestions")

NOT_IMPORTED = ("Your library has not been imported yet. Import it on the Library page first: Enhance learns from "
                "the playlists you made and suggests from your Liked Songs.")
NO_PLAYLISTS = ("You have no playlists of your own in contextify. Enhance learns from playlists you made on Spotify "
                "(Spotify does not let contextify read playlists you only follow). Make one, then import your "
                "library again on the Library page.")
NO_LIKED = "You have no Liked Songs in contextify, so there is nothing to suggest. Like some songs, then import again."
NO_FEATURES = ("None of your tracks has features yet, so there is nothing to learn from. Import your library again "
               "with enrichment on the Library page.")

_NO_PROGRESS = Progress()


class EnhanceError(LookupError):
    """Enhance cannot run or act for this user now; the message is plain words for them."""


def collection(playlist_id: int) -> str:
    """The library collection (and suggestion target) of one of the user's playlists."""
    return f"playlist:{playlist_id}"


def own_playlists(session: Session, user_id: int) -> list[LibraryPlaylist]:
    """The playlists the user owns (or collaborates on), by name."""
    return list(session.scalars(owned(LibraryPlaylist, user_id).where(LibraryPlaylist.owned_by_user.is_(True))
                                .order_by(LibraryPlaylist.name, LibraryPlaylist.id)))


def check_ready(session: Session, user_id: int) -> list[LibraryPlaylist]:
    """The user's own playlists; an EnhanceError in plain words when the library is not imported, or lacks
    own playlists or liked songs."""
    imported = session.scalar(owned(LibraryImport, user_id).where(LibraryImport.status == "done")
                              .with_only_columns(func.count()))
    items = session.scalar(owned(LibraryItem, user_id).with_only_columns(func.count()))
    if not imported and not items:
        raise EnhanceError(NOT_IMPORTED)
    playlists = own_playlists(session, user_id)
    if not playlists:
        raise EnhanceError(NO_PLAYLISTS)
    liked = session.scalar(owned(LibraryItem, user_id).where(LibraryItem.collection == LIKED)
                           .with_only_columns(func.count()))
    if not liked:
        raise EnhanceError(NO_LIKED)
    return playlists


@dataclass
class Library:
    """The user's tracks with features, which collections hold each, and the learning rows built from them."""

    frame: pd.DataFrame                      # every library track with features, index track_id
    memberships: dict[int, list[str]]        # track id -> playlist keys holding it
    liked: list[int]
    names: dict[str, str]                    # playlist key -> name
    data: playlist_classifier.EnhanceData
    notes: list[str] = field(default_factory=list)


def load_library(session: Session, user_id: int) -> Library:
    """Build Enhance's learning rows from the user's own playlists and Liked Songs.

    Raises
    ------
    EnhanceError
        Not imported, no own playlists, no liked songs, no features, or no playlist big enough.
    """
    from app.models import playlist_classifier

    playlists = check_ready(session, user_id)
    keys = {collection(p.id): p for p in playlists}
    names = {key: p.name for key, p in keys.items()}
    rows = session.execute(owned(LibraryItem, user_id).with_only_columns(LibraryItem.track_id, LibraryItem.collection)
                           .where(LibraryItem.collection.in_([LIKED, *keys]))).all()
    memberships: dict[int, list[str]] = {}
    liked: list[int] = []
    for track_id, where in rows:
        if where == LIKED:
            liked.append(track_id)
        else:
            memberships.setdefault(track_id, []).append(where)
    track_ids = sorted({t for t, _ in rows})
    frame = feature_frame(session, track_ids)
    columns, notes = usable_columns(frame, None)
    if not columns:
        raise EnhanceError(NO_FEATURES)
    spec = FeatureSpec(numeric=tuple(c for c in columns if c not in CATEGORICAL),
                       categorical=tuple(c for c in columns if c in CATEGORICAL))
    artists = dict(session.execute(select(Track.id, func.lower(Track.artist)).where(Track.id.in_(track_ids))).all())
    try:
        data = playlist_classifier.assemble(frame, memberships, artists, spec, list(keys), names)
    except playlist_classifier.EnhanceDataError as exc:
        raise EnhanceError(str(exc)) from None
    return Library(frame[spec.columns], memberships, sorted(set(liked)), names, data, [*data.notes, *notes])


def train_and_suggest(session: Session, user_id: int, *, job_id: str | None = None,
                      progress: Progress = _NO_PROGRESS, check: Callable[[], None] = lambda: None,
                      estimators: Sequence[str] | None = None) -> TrainedModel:
    """The study, the comparison, the chosen model and its suggestions, all recorded for this user.

    Writes one ModelRun per evaluated run (mode "enhance"), a TrainedModel (kind "enhance") holding the
    chosen pipeline, and the Suggestions of each playlist; commits. `estimators`: the models compared (default:
    all of playlist_classifier.ESTIMATOR_NAMES).
    """
    from app.models import playlist_classifier

    estimators = playlist_classifier.ESTIMATOR_NAMES if estimators is None else estimators
    progress.stage(STAGES[0], total=1)
    library = load_library(session, user_id)
    data = library.data
    progress.advance(STAGES[0])
    results: list[tuple[playlist_classifier.RunResult, dict]] = []

    def record(stage: str) -> Callable[[playlist_classifier.RunResult], None]:
        def after(result: playlist_classifier.RunResult) -> None:
            results.append((result, {}))
            progress.advance(stage)
            check()
        return after

    # Scikit-learn's native threads fight the other jobs on a small machine; one thread each is faster here.
    with threadpool_limits(limits=1), _quiet():
        progress.stage(STAGES[1], total=len(playlist_classifier.STUDY_RUNS))
        study = playlist_classifier.imbalance_study(data, after_each=record(STAGES[1]))
        progress.stage(STAGES[2], total=len(estimators))
        compared = playlist_classifier.compare_models(data, estimators, after_each=record(STAGES[2]), done=study)
        progress.stage(STAGES[3], total=3)
        chosen = playlist_classifier.choose(compared)
        name, balance = chosen.params["estimator"], chosen.params["balance"]
        started = time.perf_counter()
        importance = playlist_classifier.feature_importance(data, name, balance)
        progress.advance(STAGES[3])
        model = playlist_classifier.fit_final(data, name, balance)
        progress.advance(STAGES[3])
        chosen_seconds = time.perf_counter() - started
    classes = data.classes
    labels = [library.names.get(c, "in none of your playlists") for c in classes]
    details = {"chosen": True, "classes": labels, "confusion": playlist_classifier.confusion(chosen, classes),
               "importance": importance}
    row = _store_model(session, user_id, library, chosen, details, model, job_id)
    for result, _ in results:
        extra = details if result is chosen else {}
        session.add(ModelRun(user_id=user_id, mode=MODE, name=result.name, params=_jsonable(result.params),
                             metrics=_jsonable(result.metrics), result=_jsonable({"study": result.params["study"],
                                                                                  **extra}),
                             seconds=result.seconds + (chosen_seconds if result is chosen else 0.0),
                             model_id=row.id, job_id=job_id))
    session.commit()
    progress.advance(STAGES[3])
    progress.stage(STAGES[4], total=1)
    count = _suggest(session, user_id, row, library, model, chosen.metrics["cutoff"], importance)
    row.metrics = {**row.metrics, "suggestions": count}
    session.commit()
    progress.advance(STAGES[4])
    return row


def _store_model(session: Session, user_id: int, library: Library, chosen: playlist_classifier.RunResult, details: dict,
                 model: Any, job_id: str | None) -> TrainedModel:
    import joblib

    from app.models.persistence import library_versions

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    data = library.data
    row = TrainedModel(
        user_id=user_id, kind=MODE, name=f"Enhance: {chosen.params['estimator']}", artifact=buffer.getvalue(),
        params=_jsonable({**chosen.params, "playlists": library.names, "classes": data.classes}),
        metrics=_jsonable({**chosen.metrics, "rows": len(data), "class_counts": data.class_counts(),
                           "notes": library.notes, **details}),
        features=data.spec.columns, versions={"libraries": library_versions()}, job_id=job_id)
    session.add(row)
    session.flush()
    return row


def _suggest(session: Session, user_id: int, row: TrainedModel, library: Library, model: Any, cutoff: float,
             importance: list[dict]) -> int:
    """Store, per playlist, the liked songs not in it whose probability reaches the cutoff, with reasons."""
    from app.models import playlist_classifier

    frame = library.frame
    liked = [t for t in library.liked if t in frame.index]
    if not liked:
        return 0
    playlists = [c for c in library.data.classes if c != playlist_classifier.NONE]
    proba = playlist_classifier.class_probabilities(model, frame.loc[liked], playlists)
    members = {key: [t for t, held in library.memberships.items() if key in held] for key in playlists}
    explain = profiles(frame, members, library.data.spec, {r["feature"]: r["importance"] for r in importance})
    count = 0
    for key in playlists:
        already = set(members[key])
        ranked = proba[key][~proba.index.isin(already)].sort_values(ascending=False, kind="stable")
        ranked = ranked[ranked >= cutoff].head(MAX_SUGGESTIONS)
        for rank, (track_id, probability) in enumerate(ranked.items(), start=1):
            session.add(Suggestion(user_id=user_id, mode=MODE, model_id=row.id, target=key, track_id=int(track_id),
                                   probability=float(probability), rank=rank,
                                   reasons=explain[key].reasons(frame.loc[track_id]), decision="pending"))
            count += 1
    return count


# ------------------------------------------------------------------------------------------- reading


def latest_model(session: Session, user_id: int) -> TrainedModel | None:
    return session.scalars(owned(TrainedModel, user_id).where(TrainedModel.kind == MODE)
                           .order_by(TrainedModel.created_at.desc(), TrainedModel.id.desc()).limit(1)).first()


@dataclass
class SuggestedTrack:
    id: int
    title: str
    artist: str
    probability: float
    reasons: list[str]
    decision: str


@dataclass
class PlaylistSuggestions:
    playlist_id: int
    name: str
    tracks: list[SuggestedTrack]


def suggestions(session: Session, user_id: int, model_id: int) -> list[PlaylistSuggestions]:
    """The model's suggestions per playlist (playlists by name, tracks best first); every playlist it learned."""
    model = get_owned(session, TrainedModel, user_id, model_id)
    if model is None or model.kind != MODE:
        return []
    rows = session.execute(owned(Suggestion, user_id).where(Suggestion.model_id == model.id)
                           .join(Track, Track.id == Suggestion.track_id)
                           .with_only_columns(Suggestion, Track.title, Track.artist)
                           .order_by(Suggestion.target, Suggestion.rank)).all()
    by_target: dict[str, list[SuggestedTrack]] = {}
    for suggestion, title, artist in rows:
        by_target.setdefault(suggestion.target, []).append(SuggestedTrack(
            suggestion.id, title, artist, suggestion.probability, list(suggestion.reasons or []), suggestion.decision))
    playlists = {collection(p.id): p for p in own_playlists(session, user_id)}
    learned = [k for k in (model.params or {}).get("classes", []) if k in playlists]
    return sorted((PlaylistSuggestions(playlists[k].id, playlists[k].name, by_target.get(k, [])) for k in learned),
                  key=lambda p: p.name.casefold())


def runs(session: Session, user_id: int, limit: int = 60) -> list[ModelRun]:
    """The user's recorded Enhance runs, newest first."""
    return list(session.scalars(owned(ModelRun, user_id).where(ModelRun.mode == MODE)
                                .order_by(ModelRun.created_at.desc(), ModelRun.id.desc()).limit(limit)))


def model_runs(session: Session, user_id: int, model_id: int) -> list[ModelRun]:
    """The runs recorded by the job that made this model, in the order they ran."""
    return list(session.scalars(owned(ModelRun, user_id).where(ModelRun.mode == MODE, ModelRun.model_id == model_id)
                                .order_by(ModelRun.id)))


# ------------------------------------------------------------------------------------------- helpers


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence scikit-learn's convergence and small-class warnings in the study: they are expected on a few
    hundred songs, and the recorded scores already show how well each run did."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        yield
