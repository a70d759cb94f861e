"""What the web app and the jobs do with context models: train for a user, sort their library, review.

Every function takes the owner's id and reads owned rows only through ``owned``/``get_owned``.

What a sort stores: one ``SortAssignment`` per (track, context) whose probability is at least
:data:`REVIEW_FLOOR` (or that made the cut, when a cutoff is lower than that). These are the
assigned tracks plus the near misses a reviewer can pull in by lowering a cutoff on the review
page; tracks below the floor are too unlikely to show. Each row carries its reasons in plain words
and starts "pending".
"""
# Over 400 lines: training, sorting and the review's cutoff moves share the owned-row helpers here.

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import func, insert, select, true, update
from sqlalchemy.orm import Session, aliased

from app.runs.progress import Progress
from app.models.cutoffs import DEFAULT_TARGET_PRECISION, CutoffChoice, manual_cutoff
from app.models.dataset import DEFAULT_MIN_TRACKS, ContextDataset, DatasetError
from app.models.model import ContextModel, ModelInputError, SortResult
from app.models.persistence import library_versions, load_model, save_model
from app.models.report import TrainingReport
from app.models.store_dataset import MIN_COVERAGE, dataset_from_store
from app.pipeline.library import library_track_ids
from app.models.training import DEFAULT_FOLDS, DEFAULT_TEST_SIZE, train_context_model
from app.pipeline.features_table import feature_frame
from app.pipeline.providers import PROVIDER_CLASSES
from app.storage.tables import Dataset, LibraryItem, SortAssignment, SortRun, Track, TrainedModel
from app.storage.ownership import get_owned, owned

#: Near misses at or above this probability are stored for review (see the module docstring).
REVIEW_FLOOR = 0.1
#: Folder under the instance directory holding model artifacts, one subfolder per user.
MODELS_DIR = "models"
#: Verdicts a reviewer can give, and the stored decision of each ("pending" undoes one).
DECISIONS = {"accept": "accepted", "reject": "rejected", "pending": "pending"}

#: A cutoff above every probability: the context is not assigned at all.
NEVER = 2.0

_NO_PROGRESS = Progress()


class ReviewError(LookupError):
    """A model, sort or assignment the user asked for does not exist or is not theirs; plain words."""


@dataclass
class TrainingOutcome:
    """A trained model with the dataset and report it came from."""

    model: ContextModel
    report: TrainingReport
    dataset: ContextDataset


def train_from_store(
    session: Session,
    contexts: Sequence[str],
    *,
    user_id: int | None = None,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    providers: Sequence[str] | None = None,
    min_tracks: int = DEFAULT_MIN_TRACKS,
    context_targets: dict[str, float] | None = None,
    n_splits: int = DEFAULT_FOLDS,
    test_size: float = DEFAULT_TEST_SIZE,
    best_effort: bool = False,
    multi_context: bool = False,
    n_jobs: int = 2,
    progress: Progress = _NO_PROGRESS,
    ready: set[int] | None = None,
    dataset: ContextDataset | None = None,
) -> TrainingOutcome:
    """Assemble the harvested dataset (see :func:`dataset_from_store`) and train on it.

    ``context_targets``, ``n_splits``, ``test_size``, ``best_effort`` and ``multi_context`` are
    passed to :func:`app.models.training.train_context_model`; ``ready`` (the track ids analysed so far, for
    progressive work) to :func:`dataset_from_store`. ``dataset``: one already assembled that way, trained on as it is.

    Raises
    ------
    DatasetError
        Unharvested contexts, too few tracks, or no usable feature; the message says what to run.
    """
    if dataset is None:
        progress.stage("dataset", total=1)
        dataset = dataset_from_store(session, contexts, user_id=user_id, providers=providers,
                                     min_tracks=min_tracks, ready=ready)
        progress.advance("dataset")
    progress.stage("training", total=1)
    unknown = sorted(set(context_targets or {}) - set(dataset.contexts))
    if unknown:
        raise DatasetError(f"a target precision was given for context(s) not being trained: "
                           f"{', '.join(unknown)}")
    model, report = train_context_model(dataset, id_col="track_id",
                                        target_precision=target_precision,
                                        context_targets=context_targets, n_splits=n_splits,
                                        test_size=test_size, best_effort=best_effort,
                                        multi_context=multi_context, n_jobs=n_jobs,
                                        # A model for a user sorts a library, where songs of no context are.
                                        open_world=user_id is not None)
    progress.advance("training")
    return TrainingOutcome(model, report, dataset)


def provider_versions(columns: Sequence[str]) -> dict[str, str]:
    """Version of each feature provider whose ``<provider>_<feature>`` columns the model uses."""
    longest_first = sorted(PROVIDER_CLASSES, key=len, reverse=True)  # reccobeats_audio_x is not reccobeats'
    used = {next(n for n in longest_first if c.startswith(f"{n}_")) for c in columns
            if any(c.startswith(f"{n}_") for n in longest_first)}
    return {name: str(PROVIDER_CLASSES[name].version) for name in sorted(used)}


def artifact_path(instance_dir: str | Path, user_id: int, model_id: int) -> Path:
    """``<instance>/models/<user_id>/<model_id>.joblib``."""
    return Path(instance_dir) / MODELS_DIR / str(user_id) / f"{model_id}.joblib"


def train_for_user(
    session: Session,
    user_id: int,
    contexts: Sequence[str],
    *,
    instance_dir: str | Path,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    providers: Sequence[str] | None = None,
    min_tracks: int = DEFAULT_MIN_TRACKS,
    job_id: str | None = None,
    n_jobs: int = 2,
    progress: Progress = _NO_PROGRESS,
    best_effort: bool = False,
    ready: set[int] | None = None,
    rests_on: dict | None = None,
    reuse: TrainedModel | None = None,
) -> TrainedModel:
    """Train on the harvested ``contexts`` with the features the user's library has, and keep it.

    ``best_effort`` is the user's explicit opt-in: a context that cannot keep the target still gets a
    playlist, labelled "best effort, not promised" wherever it shows.

    Writes a ``Dataset`` row, the artifact file and a ``TrainedModel`` row (kind "context") whose
    ``metrics`` are the training report, and commits. Progressive work (``app.models.progressive``) passes
    ``ready``, the track ids analysed so far, and ``rests_on``, what they are, kept in the model's params.
    ``reuse``: the user's model of the round before; it is returned as it is, untrained again, when it was
    trained with the same choices on a dataset with the same digest (`ContextDataset.digest`), as a last round
    after the final songs of the library arrive often is: the same data train the same model.
    """
    progress.stage("dataset", total=1)
    dataset = dataset_from_store(session, contexts, user_id=user_id, providers=providers,
                                 min_tracks=min_tracks, ready=ready)
    progress.advance("dataset")
    params = {"contexts": list(contexts), "target_precision": target_precision,
              "providers": list(providers) if providers else None, "min_tracks": min_tracks,
              "min_coverage": MIN_COVERAGE, "best_effort": best_effort, "data_digest": dataset.digest()}
    if reuse is not None and _trained_alike(reuse, user_id, params):
        return reuse
    outcome = train_from_store(session, contexts, user_id=user_id,
                               target_precision=target_precision, providers=providers,
                               min_tracks=min_tracks, n_jobs=n_jobs, progress=progress,
                               best_effort=best_effort, ready=ready, dataset=dataset)
    progress.stage("saving", total=1)
    spec, model = outcome.dataset.spec, outcome.model
    if rests_on is not None:
        params["rests_on"] = rests_on
    dataset_row = Dataset(user_id=user_id, name=", ".join(model.contexts), contexts=model.contexts,
                          params=params, feature_columns=spec.columns,
                          n_tracks=len(outcome.dataset), job_id=job_id)
    session.add(dataset_row)
    session.flush()
    versions = {"libraries": library_versions(), "providers": provider_versions(spec.columns)}
    row = TrainedModel(user_id=user_id, kind="context", name=", ".join(model.contexts),
                       dataset_id=dataset_row.id, params=params,
                       metrics=outcome.report.to_dict(), features=spec.columns, versions=versions,
                       target_precision=target_precision, job_id=job_id)
    session.add(row)
    session.flush()
    path = artifact_path(instance_dir, user_id, row.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        save_model(model, path, {"target_precision": target_precision, "versions": versions,
                                 "params": params})
        row.artifact_path = str(path)
        session.commit()
    except BaseException:
        session.rollback()
        path.unlink(missing_ok=True)
        raise
    progress.advance("saving")
    return row


def _trained_alike(row: TrainedModel, user_id: int, params: dict) -> bool:
    """Whether the user's model row was trained with these params (its data's digest among them) and its file is
    still there."""
    return (row.user_id == user_id and row.kind == "context" and bool(row.artifact_path)
            and Path(row.artifact_path).is_file() and all((row.params or {}).get(k) == v for k, v in params.items()))


def load_owned_model(session: Session, user_id: int, model_id: int) -> tuple[TrainedModel, ContextModel]:
    """The user's model row and its loaded artifact.

    Raises
    ------
    ReviewError
        No such model for this user, or its file is gone.
    ArtifactError
        The file is not a compatible artifact.
    """
    row = get_owned(session, TrainedModel, user_id, model_id)
    if row is None or row.kind != "context":
        raise ReviewError(f"there is no context model {model_id} among your models")
    if not row.artifact_path or not Path(row.artifact_path).is_file():
        raise ReviewError(f"the file of model {model_id} is missing; train it again")
    model, _ = load_model(row.artifact_path)
    # Every owned context model sorts a library: one saved before the flag existed promises by the same rule.
    return row, (model if model.open_world else replace(model, open_world=True))


def library_frame(session: Session, user_id: int, model: ContextModel,
                  track_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """The user's library tracks (one row each, indexed by track id) with the model's features.

    ``track_ids``: only these of them (progressive work sorts the songs analysed so far).

    Raises
    ------
    DatasetError
        The library is empty.
    ModelInputError
        The library lacks features the model was trained on, named with their coverage.
    """
    track_ids = library_track_ids(session, user_id) if track_ids is None else list(track_ids)
    if not track_ids:
        raise DatasetError("this user's library is empty: import it first, on the Library page "
                           "or with `flask import-library --user ...` (contextify only learns from features your "
                           "library has too)")
    frame = feature_frame(session, track_ids).reindex(columns=model.spec.columns)
    coverage = frame.notna().mean()
    lacking = [f"{c} ({coverage[c]:.0%})" for c in model.spec.columns if coverage[c] < MIN_COVERAGE]
    if lacking:
        raise ModelInputError(
            f"the library lacks feature(s) the model was trained on (present for less than "
            f"{MIN_COVERAGE:.0%} of its tracks): {', '.join(lacking)}. Enrich the library, or "
            "retrain for this user (`flask train ... --user`) so only features it has are used")
    return frame


def sort_library(session: Session, user_id: int, model: ContextModel, *, explain: bool = False,
                 explain_floor: float | None = None,
                 track_ids: Sequence[int] | None = None) -> tuple[pd.DataFrame, SortResult]:
    """Sort the user's library; returns its tracks (``track_id``, ``spotify_id``) and the result.

    The model first estimates the library's own mix of contexts and "none of these" and re-chooses
    its cutoffs for it (:meth:`ContextModel.sort`), so each promise is about this library.
    ``explain`` and ``explain_floor`` are passed on; the result's ids are store track ids (as text).
    ``track_ids`` sorts only those library tracks (see :func:`library_frame`).
    """
    frame = library_frame(session, user_id, model, track_ids)
    result = model.sort(frame.reset_index(), id_col="track_id", explain=explain,
                        explain_floor=explain_floor)
    spotify = dict(session.execute(select(Track.id, Track.spotify_id)
                                   .where(Track.id.in_(frame.index.tolist()))).all())
    tracks = pd.DataFrame({"track_id": frame.index,
                           "spotify_id": [spotify.get(i) for i in frame.index]})
    return tracks, result


def _cutoff_params(result: SortResult, floor: float) -> dict:
    """What a stored sort keeps of its decision: the adapted cutoffs and the library's mix."""
    return {"floor": floor, "cutoffs": {c: choice.to_dict() for c, choice in result.choices.items()},
            "library_prior": result.prior, "shares": {
                c: {"share": e["share"], "share_se": e["share_se"], "expected": e["expected"], "words": e["words"],
                    "message": e["message"]} for c, e in result.contexts.items()},
            "background_share": result.background_share, "tracks": len(result.table),
            "library_counts": result.counts}


def adapted_model(model: ContextModel, run: SortRun) -> ContextModel:
    """The model as the run stands: its cutoffs (as chosen, or moved by hand), and the library's mix and song counts
    it was sorted under, as far as the run kept them.

    Runs stored before the mix was kept have the training mix; before the counts, a hand-set cutoff reads no library.
    """
    stored = {c: CutoffChoice(**choice) for c, choice in run.params["cutoffs"].items() if c in model.contexts}
    model = replace(model, cutoffs={**model.cutoffs, **stored})
    prior = run.params.get("library_prior")
    if prior is None:
        return model
    counts = run.params.get("library_counts")
    return replace(model, library_prior=np.asarray(prior),
                   library_counts=None if counts is None else np.asarray(counts, dtype=int))


def sort_for_user(
    session: Session,
    user_id: int,
    model_id: int,
    *,
    job_id: str | None = None,
    progress: Progress = _NO_PROGRESS,
    track_ids: Sequence[int] | None = None,
    rests_on: dict | None = None,
) -> SortRun:
    """Sort the user's library with their model and store the run for review (see module docstring).

    Progressive work sorts only ``track_ids`` (the library songs analysed so far) and keeps ``rests_on``.
    """
    progress.stage("sorting", total=1)
    row, model = load_owned_model(session, user_id, model_id)
    _, result = sort_library(session, user_id, model, explain=True, explain_floor=REVIEW_FLOOR,
                             track_ids=track_ids)
    cutoffs = [c.cutoff for c in result.choices.values() if c.cutoff is not None]
    floor = min([REVIEW_FLOOR, *cutoffs])
    if floor < REVIEW_FLOOR:  # a cutoff under the floor: store down to it (rare, re-explained)
        _, result = sort_library(session, user_id, model, explain=True, explain_floor=floor,
                                 track_ids=track_ids)
    progress.advance("sorting")
    progress.stage("saving", total=1)
    extra = {} if rests_on is None else {"rests_on": rests_on}
    run = SortRun(user_id=user_id, model_id=row.id,
                  params={**_cutoff_params(result, floor), "partners": model.partners, **extra},
                  coverage=result.coverage, job_id=job_id)
    session.add(run)
    session.flush()
    rows = [{"user_id": user_id, "sort_run_id": run.id, "track_id": int(a["track_id"]),
             "context": a["context"], "probability": a["probability"], "assigned": a["assigned"],
             "decision": "pending", "reasons": a["reasons"]} for a in result.assignments]
    if rows:
        session.execute(insert(SortAssignment), rows)
    session.commit()
    progress.advance("saving")
    return run


def _owned_run(session: Session, user_id: int, sort_run_id: int) -> SortRun:
    run = get_owned(session, SortRun, user_id, sort_run_id)
    if run is None:
        raise ReviewError(f"there is no sort {sort_run_id} among your sorts")
    return run


def set_cutoff(
    session: Session,
    user_id: int,
    sort_run_id: int,
    context: str,
    *,
    cutoff: float | None = None,
    target_precision: float | None = None,
    model: ContextModel | None = None,
) -> CutoffChoice:
    """Move one context's cutoff in a stored sort, by value or by the precision it should promise.

    Exactly one of ``cutoff`` (a probability) and ``target_precision`` is given. The assignments'
    ``assigned`` flags follow (coverage is counted again by ``sort_summary``); decisions are kept. A cutoff below
    the run's review floor is raised to the floor, because nothing under it was stored. A context
    that takes only the tracks it fits best (``top_only``) keeps doing so under a hand-set cutoff.
    ``model``, when given, is the run's loaded model (a caller that caches it spares a file read per
    slider move); otherwise it is loaded.

    Returns
    -------
    CutoffChoice
        The new cutoff and what it promises (for a hand-set cutoff: the out-of-fold precision bound).

    Raises
    ------
    ValueError
        Neither or both of ``cutoff`` and ``target_precision``, or a value outside (0, 1].
    ReviewError
        Unknown sort or context.
    """
    if (cutoff is None) == (target_precision is None):
        raise ValueError("give either a cutoff or a target precision")
    value = cutoff if cutoff is not None else target_precision
    if not 0 < value <= 1:
        raise ValueError(f"{value} is not between 0 and 1")
    run = _owned_run(session, user_id, sort_run_id)
    if model is None:
        _, model = load_owned_model(session, user_id, run.model_id)
    model = adapted_model(model, run)
    if context not in model.contexts:
        raise ReviewError(f"'{context}' is not one of this sort's contexts: "
                          f"{', '.join(model.contexts)}")
    j = model.contexts.index(context)
    floor = run.params["floor"]
    current = run.params["cutoffs"][context]
    target = target_precision or current["target_precision"]
    # A hand-set cutoff keeps the context's rule; a new target re-decides it.
    top_only = current.get("top_only", False)
    if target_precision is not None:
        choice = model.retarget(context_targets={context: target_precision}).cutoffs[context]
        top_only = choice.top_only
        if choice.cutoff is not None and choice.cutoff < floor:
            cutoff = floor
    if cutoff is not None:
        proba, weights = model._oof_view()
        top = model.eligible(proba)[:, j] if top_only else None
        choice = manual_cutoff(proba[:, j], model.oof_truth[:, j], max(cutoff, floor),
                               groups=model.oof_groups, top=top, weights=weights,
                               context=context,
                               target_precision=target, confidence=model.confidence,
                               unpromisable=model.unpromisable,
                               library=model.library_reading(j, proba, model.eligible(proba)))
    threshold = NEVER if choice.cutoff is None else choice.cutoff
    assigned = SortAssignment.probability >= threshold
    # Same rule: only rows between the old and new cutoff can change (the run/context/probability index finds them).
    low, high = sorted((NEVER if current.get("cutoff") is None else current["cutoff"], threshold))
    band = SortAssignment.probability.between(low, high) if choice.top_only == current.get("top_only") else true()
    if choice.top_only and not model.multi_context:
        # A track's most likely context is always stored (its probability is at least this one's),
        # so the best stored probability of the track is its top one. The context takes the track
        # when it is that top one, or when the top one is a context it genuinely co-occurs with.
        other, top = aliased(SortAssignment), aliased(SortAssignment)
        best = (select(func.max(other.probability))
                .where(other.sort_run_id == run.id, other.track_id == SortAssignment.track_id)
                .scalar_subquery())
        rule = SortAssignment.probability >= best
        partners = model.partners.get(context, [])
        if partners:
            rule = rule | (select(top.id).where(
                top.sort_run_id == run.id, top.track_id == SortAssignment.track_id,
                top.context.in_(partners), top.probability >= best).exists())
        assigned = assigned & rule
    # Only the rows whose flag changes are written: a slider move touches the tracks between the two cutoffs,
    # not every stored row of the context (each a wide row with its reasons).
    session.execute(update(SortAssignment)
                    .where(SortAssignment.user_id == user_id,
                           SortAssignment.sort_run_id == run.id,
                           SortAssignment.context == context, band,
                           SortAssignment.assigned.is_distinct_from(assigned))
                    .values(assigned=assigned))
    run.params = {**run.params, "cutoffs": {**run.params["cutoffs"], context: choice.to_dict()}}
    run.coverage = None  # counted again when a summary reads it (a scan of the whole sort, not per slider move)
    session.commit()
    return choice


def _coverage(session: Session, user_id: int, sort_run_id: int) -> float:
    """Share of the library's tracks assigned to at least one context in this run."""
    placed = session.scalar(
        owned(SortAssignment, user_id)
        .where(SortAssignment.sort_run_id == sort_run_id, SortAssignment.assigned.is_(True))
        .with_only_columns(func.count(SortAssignment.track_id.distinct())))
    total = session.scalar(owned(LibraryItem, user_id).with_only_columns(
        func.count(LibraryItem.track_id.distinct())))
    return placed / total if total else 0.0


def decide(session: Session, user_id: int, assignment_id: int, verdict: str) -> SortAssignment:
    """Record the user's verdict ("accept", "reject", or "pending" to undo) on one assignment."""
    if verdict not in DECISIONS:
        raise ValueError(f"a verdict is one of {', '.join(DECISIONS)}, not {verdict!r}")
    assignment = get_owned(session, SortAssignment, user_id, assignment_id)
    if assignment is None:
        raise ReviewError(f"there is no assignment {assignment_id} among your sorts")
    assignment.decision = DECISIONS[verdict]
    session.commit()
    return assignment


def sort_summary(session: Session, user_id: int, sort_run_id: int) -> dict:
    """Per context of a stored sort: cutoff, promised precision, assigned and decided counts."""
    run = _owned_run(session, user_id, sort_run_id)
    counts = session.execute(
        owned(SortAssignment, user_id).where(SortAssignment.sort_run_id == run.id)
        .with_only_columns(SortAssignment.context, SortAssignment.assigned,
                           SortAssignment.decision, func.count())
        .group_by(SortAssignment.context, SortAssignment.assigned, SortAssignment.decision)).all()
    contexts = {c: {"cutoff": choice["cutoff"], "promised_precision": choice["promised_precision"],
                    "reached": choice["reached"], "top_only": choice.get("top_only", False),
                    "assigned": 0, "accepted": 0, "rejected": 0}
                for c, choice in run.params["cutoffs"].items()}
    for context, assigned, decision, n in counts:
        entry = contexts[context]
        entry["assigned"] += n if assigned else 0
        if decision in ("accepted", "rejected"):
            entry[decision] += n
    coverage = _coverage(session, user_id, run.id) if run.coverage is None else run.coverage  # None: cutoff moved
    return {"sort_run_id": run.id, "model_id": run.model_id, "coverage": coverage,
            "contexts": contexts}

