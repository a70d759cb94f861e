"""The Discover page's plain functions: starting its jobs (or refusing in words), and the runs, ranking and playlist."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import html
from sqlalchemy.orm import Session

from app.dash_views.components import empty_state, table
from app.dash_views.harvests import format_duration, format_when
from app.dash_views.jobs_view import start_job
from app.services.discover import (
    DEFAULT_PLAYLIST_SIZE, MAX_PLAYLIST_SIZE, PLAYLIST_NAME, ShownSuggestion, discover_playlist, latest_model,
    model_runs, readiness, suggestions,
)
from app.storage.tables import ExportedPlaylist, ModelRun, TrainedModel

KIND = "discover"
SAVE_KIND = "discover-save"
SHOWN = 50
NO_SUGGESTIONS = "No suggestions yet: run Discover to rank the tracks you have never saved."
STATUS_WORDS = {"saved": "Saved and checked", "failed": "Not saved", "pending": "Being written"}


def start_discover(session: Session, user_id: int, charts: bool) -> str:
    """Start the discover job; JobRefused / a plain sentence (ValueError) when it cannot run now."""
    refusal = readiness(session, user_id, charts=charts)
    if refusal:
        raise ValueError(refusal)
    return start_job(user_id, KIND, {"charts": charts}, "Discover")


def start_save(session: Session, user_id: int, size: Any, public: bool) -> str:
    """Start the discover-save job after checking the size and that there is something to save."""
    try:
        size = int(size if size is not None else DEFAULT_PLAYLIST_SIZE)
    except (TypeError, ValueError):
        raise ValueError(f"Give the playlist's size as a number from 1 to {MAX_PLAYLIST_SIZE}.") from None
    if not 1 <= size <= MAX_PLAYLIST_SIZE:
        raise ValueError(f"Give the playlist's size as a number from 1 to {MAX_PLAYLIST_SIZE}.")
    if not suggestions(session, user_id, limit=1):
        raise ValueError(NO_SUGGESTIONS)
    return start_job(user_id, SAVE_KIND, {"size": size, "public": public}, "Saving the Discover playlist")


def runs_view(model: TrainedModel | None, runs: Sequence[ModelRun]) -> html.Div:
    """The two estimators side by side: the grid's best settings, scores across folds and on unseen artists."""
    if model is None or not runs:
        return html.P("Discover has not trained yet.", className="muted")
    rows = [{"name": run.name + (" (kept)" if (run.metrics or {}).get("chosen") else ""),
             "params": ", ".join(f"{k} {v}" for k, v in (run.params or {}).get("best", {}).items()),
             "cv": _score(run.metrics, "cv_roc_auc", "cv_std"), "auc": _num(run.metrics, "roc_auc"),
             "ap": _num(run.metrics, "average_precision"), "acc": _num(run.metrics, "accuracy"),
             "f1": _num(run.metrics, "f1"), "time": format_duration(run.seconds)} for run in runs]
    counts = (model.metrics or {}).get("counts", {})
    lead = (f"Trained on {counts.get('positives', 0):,} of your saved songs against as many tracks you never saved, "
            f"picked at random from the catalog. Scores are ROC AUC (1 is perfect, 0.5 is a coin toss), tested on "
            f"artists the model did not see while learning, so a taste for one artist does not flatter them.")
    notes = [html.P(message, className="hint") for message in (model.metrics or {}).get("messages", [])]
    return html.Div([
        html.P(lead),
        table(rows, {"name": "Model", "params": "Best settings", "cv": "ROC AUC across folds",
                     "auc": "ROC AUC, unseen artists", "ap": "Average precision", "acc": "Accuracy", "f1": "F1",
                     "time": "Time"}, "No runs recorded.", caption=f"Model comparison, {format_when(_iso(model))}"),
        *notes,
    ])


def suggestions_view(shown: Sequence[ShownSuggestion]) -> html.Div:
    if not shown:
        return empty_state(NO_SUGGESTIONS)
    rows = [{"rank": str(s.rank), "track": f"{s.artist} – {s.title}", "p": f"{s.probability:.0%}",
             "why": ", ".join(s.reasons) or "–"} for s in shown]
    return table(rows, {"rank": "#", "track": "Track", "p": "Liking", "why": "Why"}, NO_SUGGESTIONS,
                 caption="Tracks you have never saved, most likely liked first")


def playlist_view(row: ExportedPlaylist | None) -> html.Div:
    if row is None:
        return html.P(f"{PLAYLIST_NAME} is not on your Spotify account yet.", className="muted")
    when = format_when(row.saved_at.isoformat()) if row.saved_at else "not yet"
    return html.P(f"{row.name}: {STATUS_WORDS.get(row.status, row.status)}, {len(row.track_uris or []):,} tracks, "
                  f"last saved {when}.")


def page_data(session: Session, user_id: int) -> dict[str, Any]:
    model = latest_model(session, user_id)
    return {"model": model, "runs": model_runs(session, user_id, model.id) if model else [],
            "shown": suggestions(session, user_id, limit=SHOWN), "playlist": discover_playlist(session, user_id)}


def _num(metrics: dict | None, key: str) -> str:
    value = (metrics or {}).get(key)
    return "–" if value is None else f"{value:.2f}"


def _score(metrics: dict | None, key: str, spread: str) -> str:
    value, std = (metrics or {}).get(key), (metrics or {}).get(spread)
    if value is None:
        return "–"
    return f"{value:.2f} ± {std:.2f}" if std is not None else f"{value:.2f}"


def _iso(model: TrainedModel) -> str | None:
    return model.created_at.isoformat() if model.created_at else None
