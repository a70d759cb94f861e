"""Discover for one user: train the like model on what they saved, rank the tracks they never saved, read it back.

The data side (the never-saved rule, charts, training rows) is app/services/discover_data.py; writing the
Discover playlist is app/services/discover_playlist.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.runs.progress import Progress
from app.services.discover_data import DEFAULT_MIN_CATALOG, DiscoverData, SavedIndex, assemble
from app.storage.tables import ExportedPlaylist, ModelRun, Suggestion, Track, TrainedModel
from app.storage.ownership import owned

if TYPE_CHECKING:
    from app.models.discover import DiscoverFit

# The like model and the model store (app.models) load scikit-learn, about 1.5 CPU-s: imported where a model is
# trained or stored, so the web app, whose Discover page imports this module, starts without them.
MODE = "discover"
TARGET = "discover"
#: The `exported_playlists.context` of the Discover playlist: not a context name anyone harvests.
DISCOVER_KEY = "mode:discover"
CHART_REASON = "On Deezer's charts now"
#: Ranked suggestions stored per run.
DEFAULT_LIMIT = 200
_NO_PROGRESS = Progress()


# ----------------------------------------------------------------------------------- train and rank


@dataclass
class DiscoverOutcome:
    model_id: int
    chosen: str
    suggestions: int
    counts: dict[str, int]
    runs: list[dict[str, Any]]
    messages: list[str]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def train_discover(
    session: Session, user_id: int, *, instance_dir: str | Path, providers: Sequence[str] | None = None,
    chart_track_ids: Iterable[int] = (), rf_grid: Mapping[str, Sequence] | None = None,
    lr_grid: Mapping[str, Sequence] | None = None, folds: int = 3, min_catalog: int = DEFAULT_MIN_CATALOG,
    limit: int = DEFAULT_LIMIT, seed: int = 0, n_jobs: int = 1, job_id: str | None = None,
    progress: Progress = _NO_PROGRESS,
) -> DiscoverOutcome:
    """Train the like model for the user, record both estimators' runs, keep the better and store its ranking.

    Writes a TrainedModel (kind "discover") with its artifact, one ModelRun per estimator (mode "discover")
    and up to ``limit`` Suggestions (replacing the user's earlier Discover suggestions), and commits.
    """
    from app.models.discover import feature_spec, fit_discover

    chart = list(dict.fromkeys(chart_track_ids))
    progress.stage("dataset", total=1)
    index = SavedIndex.for_user(session, user_id)
    data = assemble(session, user_id, providers=providers, chart_track_ids=chart, min_catalog=min_catalog,
                    seed=seed, index=index)
    progress.advance("dataset")
    progress.stage("model comparison", total=2)
    fit = fit_discover(data.X, data.y, data.groups, feature_spec(data.columns), rf_grid=rf_grid, lr_grid=lr_grid,
                       folds=folds, random_state=seed, n_jobs=n_jobs,
                       on_step=lambda _name: progress.advance("model comparison"))
    progress.stage("ranking", total=1)
    ranked = rank(fit, data, chart, limit)
    progress.advance("ranking")
    progress.stage("saving", total=1)
    outcome = _store(session, user_id, fit, data, ranked, instance_dir=instance_dir, job_id=job_id,
                     params={"providers": list(providers) if providers else None, "charts": len(chart),
                             "folds": folds, "min_catalog": min_catalog, "limit": limit, "seed": seed})
    progress.advance("saving")
    return outcome


def rank(fit: DiscoverFit, data: DiscoverData, chart_track_ids: Iterable[int], limit: int) -> pd.DataFrame:
    """The candidates most likely liked first, with reasons; a training negative is scored out of fold."""
    proba = pd.Series(fit.proba(data.candidates), index=data.candidates.index)
    negatives = data.X.index[data.y == 0]
    proba.loc[negatives] = fit.oof_proba[data.y == 0]
    order = proba.sort_values(ascending=False, kind="stable")
    top = order.index[:max(1, int(limit))]
    chart = set(chart_track_ids)
    reasons = fit.reasons(data.candidates.loc[top])
    return pd.DataFrame({"track_id": top, "probability": order.loc[top].to_numpy(),
                         "reasons": [([CHART_REASON] if tid in chart else []) + words
                                     for tid, words in zip(top, reasons)]})


def _store(session: Session, user_id: int, fit: DiscoverFit, data: DiscoverData, ranked: pd.DataFrame, *,
           instance_dir: str | Path, job_id: str | None, params: dict[str, Any]) -> DiscoverOutcome:
    from app.models.persistence import library_versions, save_payload
    from app.models.service import artifact_path, provider_versions

    runs = [{"name": r.name, "params": r.params, "cv_roc_auc": r.cv_score, "cv_std": r.cv_std, **r.metrics,
             "seconds": r.seconds, "chosen": r.name == fit.chosen} for r in fit.runs]
    versions = {"libraries": library_versions(), "providers": provider_versions(data.columns)}
    row = TrainedModel(user_id=user_id, kind="discover", name=f"Discover · {fit.chosen}", params=params,
                       metrics={"chosen": fit.chosen, "runs": runs, "counts": data.counts,
                                "messages": data.messages + fit.messages},
                       features=data.columns, versions=versions, job_id=job_id)
    session.add(row)
    session.flush()
    for run in fit.runs:
        session.add(ModelRun(user_id=user_id, mode=MODE, name=run.name,
                             params={"best": run.params, "grid": run.grid, "folds": params["folds"]},
                             metrics={"cv_roc_auc": run.cv_score, "cv_std": run.cv_std, **run.metrics,
                                      "chosen": run.name == fit.chosen},
                             result={"grid": run.table}, seconds=run.seconds, model_id=row.id, job_id=job_id))
    session.execute(delete(Suggestion).where(Suggestion.user_id == user_id, Suggestion.mode == MODE))
    for position, item in enumerate(ranked.itertuples(index=False), start=1):
        session.add(Suggestion(user_id=user_id, mode=MODE, model_id=row.id, target=TARGET,
                               track_id=int(item.track_id), probability=float(item.probability), rank=position,
                               reasons=list(item.reasons)))
    path = artifact_path(instance_dir, user_id, row.id)
    try:
        save_payload({"pipeline": fit.pipeline, "columns": data.columns, "versions": versions}, path)
        row.artifact_path = str(path)
        session.commit()
    except BaseException:
        session.rollback()
        path.unlink(missing_ok=True)
        raise
    return DiscoverOutcome(model_id=row.id, chosen=fit.chosen, suggestions=len(ranked), counts=data.counts,
                           runs=runs, messages=data.messages + fit.messages)


# ------------------------------------------------------------------------------------ reading back


def latest_model(session: Session, user_id: int) -> TrainedModel | None:
    return session.scalar(owned(TrainedModel, user_id).where(TrainedModel.kind == "discover")
                          .order_by(TrainedModel.id.desc()).limit(1))


def model_runs(session: Session, user_id: int, model_id: int | None = None) -> list[ModelRun]:
    """The user's Discover runs: those behind one model, or every one, newest first."""
    query = owned(ModelRun, user_id).where(ModelRun.mode == MODE)
    if model_id is not None:
        query = query.where(ModelRun.model_id == model_id)
    return list(session.scalars(query.order_by(ModelRun.id.desc())))


@dataclass(frozen=True)
class ShownSuggestion:
    rank: int
    track_id: int
    title: str
    artist: str
    album: str | None
    spotify_id: str | None
    deezer_id: int | None
    isrc: str | None
    probability: float
    reasons: list[str]


def suggestions(session: Session, user_id: int, limit: int | None = None,
                index: SavedIndex | None = None) -> list[ShownSuggestion]:
    """The user's current Discover ranking, best first, minus anything they have saved since it was made."""
    query = (owned(Suggestion, user_id).where(Suggestion.mode == MODE, Suggestion.decision != "rejected")
             .join(Track, Track.id == Suggestion.track_id).add_columns(Track).order_by(Suggestion.rank))
    if index is None:
        # Reading the whole library into the index is the slow part: skipped when there is no ranking to check.
        if session.scalar(query.with_only_columns(Suggestion.id).limit(1)) is None:
            return []
        index = SavedIndex.for_user(session, user_id)
    shown = []
    for suggestion, track in session.execute(query):
        if index.contains(track):
            continue
        shown.append(ShownSuggestion(len(shown) + 1, track.id, track.title, track.artist, track.album,
                                     track.spotify_id, track.deezer_id, track.isrc, suggestion.probability,
                                     list(suggestion.reasons or [])))
        if limit is not None and len(shown) >= limit:
            break
    return shown


def discover_playlist(session: Session, user_id: int) -> ExportedPlaylist | None:
    return session.scalar(owned(ExportedPlaylist, user_id).where(ExportedPlaylist.context == DISCOVER_KEY))


def page_data(session: Session, user_id: int, shown: int) -> dict[str, Any]:
    """What the Discover page shows: the latest model, its runs, the first `shown` suggestions and the playlist."""
    model = latest_model(session, user_id)
    return {"model": model, "runs": model_runs(session, user_id, model.id) if model else [],
            "shown": suggestions(session, user_id, limit=shown), "playlist": discover_playlist(session, user_id)}
