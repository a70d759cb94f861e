"""The Library & sort page's plain functions: the review of a sort per playlist, cutoffs, verdicts, the sanity check."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.analysis.cache import TTLCache
from app.dash_views.model_view import CACHE, loaded_model, user_models
from app.models.cutoffs import CutoffChoice
from app.models.dataset import DatasetError
from app.models.model import ModelInputError
from app.models.persistence import ArtifactError
from app.models.service import ReviewError, decide, library_frame, set_cutoff
from app.pipeline.library import library_track_ids
from app.services.selection import display_context, owned_run, run_contexts
from app.storage.models import SortAssignment, SortRun, Track, TrainedModel
from app.storage.ownership import get_owned, owned

KIND = "sort"
SHOWN_PER_PLAYLIST = 50      # Dash renders each row's buttons as pattern-matching components: 200 took a browser ~1 min
SHOWN_UNSORTED = 50
VERDICTS = ("accept", "reject")


def latest_model(session: Session, user_id: int) -> TrainedModel | None:
    models = user_models(session, user_id)
    return models[0] if models else None


def sort_params(session: Session, user_id: int) -> dict[str, Any]:
    """The `sort` job's params: the user's latest model; ReviewError when they have none."""
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
    rows: list[TrackRow] = field(default_factory=list)    # kept first, then near misses, most likely first
    looks_off: bool = False
    distance_ratio: float | None = None

    @property
    def kept(self) -> list[TrackRow]:
        return [row for row in self.rows if row.kept]


def review(session: Session, user_id: int, sort_run_id: Any) -> list[PlaylistReview]:
    """One review per context of the user's sort (empty for a sort that is not theirs)."""
    run = _run(session, user_id, sort_run_id)
    if run is None:
        return []
    playlists = {context: _playlist(context, run.params["cutoffs"][context]) for context in run_contexts(run)}
    rows = session.execute(owned(SortAssignment, user_id).where(SortAssignment.sort_run_id == run.id)
                           .join(Track, Track.id == SortAssignment.track_id)
                           .with_only_columns(SortAssignment, Track.title, Track.artist)
                           .order_by(SortAssignment.probability.desc(), SortAssignment.id)).all()
    for assignment, title, artist in rows:
        playlists[assignment.context].rows.append(TrackRow(
            assignment.id, title, artist, assignment.probability, list(assignment.reasons or []),
            assignment.decision, assignment.assigned))
    for playlist in playlists.values():
        playlist.rows.sort(key=lambda row: (not row.kept, -row.probability))
    for context, check in sanity(session, user_id, run).items():
        playlists[context].looks_off, playlists[context].distance_ratio = check["looks_off"], check["distance_ratio"]
    return list(playlists.values())


def _playlist(context: str, choice: Mapping[str, Any]) -> PlaylistReview:
    return PlaylistReview(context, display_context(context), choice.get("cutoff"), choice.get("promised_precision"),
                          choice.get("target_precision"))


def _run(session: Session, user_id: int, sort_run_id: Any) -> SortRun | None:
    try:
        return owned_run(session, user_id, None if sort_run_id is None else int(sort_run_id))
    except (TypeError, ValueError):
        return None


def sanity(session: Session, user_id: int, run: SortRun) -> dict[str, dict[str, Any]]:
    """The centroid check at the sort's current cutoffs: per context, how far its tracks sit from its training
    tracks (`distance_ratio`) and whether that `looks_off`. {} when the model or library cannot be read."""
    # Re-scoring the whole library is the slow part of a review render: keep the answer per run and
    # cutoffs, so only a moved slider (new cutoffs) pays for it again.
    key = ("sanity", user_id, run.id, json.dumps(run.params["cutoffs"], sort_keys=True, default=str))
    cache: TTLCache[dict] = current_app.extensions.setdefault(CACHE, TTLCache(maxsize=16, ttl_s=300))
    return cache.get(key, lambda: _sanity(session, user_id, run))


def _sanity(session: Session, user_id: int, run: SortRun) -> dict[str, dict[str, Any]]:
    try:
        model = loaded_model(session, user_id, run.model_id)
        frame = library_frame(session, user_id, model)
    except (ReviewError, ArtifactError, DatasetError, ModelInputError):
        return {}
    cutoffs = {context: CutoffChoice(**choice) for context, choice in run.params["cutoffs"].items()
               if context in model.contexts}
    result = dataclasses.replace(model, cutoffs={**model.cutoffs, **cutoffs}).sort(frame.reset_index(),
                                                                                  id_col="track_id")
    return {context: {"looks_off": summary["looks_off"], "distance_ratio": summary["distance_ratio"]}
            for context, summary in result.contexts.items()}


def unsorted_tracks(session: Session, user_id: int, sort_run_id: Any) -> tuple[int, list[tuple[str, str]]]:
    """Library tracks no playlist of the sort keeps: how many, and the first few as (artist, title)."""
    run = _run(session, user_id, sort_run_id)
    if run is None:
        return 0, []
    kept = select(SortAssignment.track_id).where(
        SortAssignment.user_id == user_id, SortAssignment.sort_run_id == run.id,
        (SortAssignment.decision == "accepted")
        | (SortAssignment.assigned.is_(True) & (SortAssignment.decision != "rejected")))
    library = library_track_ids(session, user_id)
    left = session.execute(select(Track.artist, Track.title).where(Track.id.in_(library), Track.id.not_in(kept))
                           .order_by(Track.artist, Track.title)).all()
    return len(left), [(artist, title) for artist, title in left[:SHOWN_UNSORTED]]


def move_cutoff(session: Session, user_id: int, sort_run_id: Any, context: str, value: Any) -> str:
    """Set a playlist's cutoff (persisted through the model service); returns what it now promises, in words."""
    run = _run(session, user_id, sort_run_id)
    if run is None:
        raise ReviewError("there is no such sort among yours")
    current = (run.params["cutoffs"].get(context) or {}).get("cutoff")
    if current is not None and abs(float(value) - current) < 0.005:
        return ""  # the slider was only drawn again, not moved
    choice = set_cutoff(session, user_id, run.id, context, cutoff=float(value),
                        model=loaded_model(session, user_id, run.model_id))
    return (f"{display_context(context)}: cutoff {choice.cutoff:.2f}, promising a precision of at least "
            f"{choice.promised_precision:.0%}." if choice.cutoff is not None else
            f"{display_context(context)}: no track is assigned at this cutoff.")


def give_verdict(session: Session, user_id: int, assignment_id: Any, verdict: str) -> str:
    """Accept or reject one track; giving the same verdict again undoes it. Returns what happened, in words."""
    assignment = get_owned(session, SortAssignment, user_id, _int(assignment_id))
    if assignment is None:
        raise ReviewError("there is no such track among your sorts")
    same = assignment.decision == {"accept": "accepted", "reject": "rejected"}.get(verdict)
    decided = decide(session, user_id, assignment.id, "pending" if same else verdict)
    title = session.scalar(select(Track.title).where(Track.id == decided.track_id))
    words = {"pending": "back to the model's choice", "accepted": "kept", "rejected": "left out"}[decided.decision]
    return f"“{title}” in {display_context(decided.context)}: {words}."


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1
