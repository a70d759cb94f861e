"""The Discover page: learn what the user likes, rank tracks they never saved, and save a Discover playlist."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import Input, Output, State, dcc, html, no_update
from sqlalchemy.orm import Session

import app.jobs.discover_task  # noqa: F401  (registers the discover tasks in the web process)
from app.auth.session import require_user_id
from app.dash_views import ids
from app.dash_views.components import empty_state, measured, page_header, table
from app.dash_views.harvests import format_duration, format_when
from app.dash_views.jobs_view import JobIds, JobRefused, current_job, job_card, job_sentence, register_follow, start_job
from app.extensions import db
from app.services.discover import ShownSuggestion, discover_playlist, page_data, suggestions
from app.services.discover_data import readiness
from app.services.discover_playlist import DEFAULT_PLAYLIST_SIZE, MAX_PLAYLIST_SIZE, PLAYLIST_NAME
from app.storage.tables import ExportedPlaylist, ModelRun, TrainedModel

PAGE = {"path": "/discover", "name": "Discover", "title": "contextify · Discover", "order": 8}
KIND = "discover"
SAVE_KIND = "discover-save"
SHOWN = 50
JOB = JobIds(ids.DISCOVER_JOB_STORE, ids.DISCOVER_DONE_STORE, ids.DISCOVER_INTERVAL, ids.DISCOVER_STATUS,
             ids.DISCOVER_PROGRESS, ids.DISCOVER_LOG)
SAVE_JOB = JobIds(ids.DISCOVER_SAVE_JOB_STORE, ids.DISCOVER_SAVE_DONE_STORE, ids.DISCOVER_SAVE_INTERVAL,
                  ids.DISCOVER_SAVE_STATUS, ids.DISCOVER_SAVE_PROGRESS, ids.DISCOVER_SAVE_LOG)
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


def layout(**_query: Any) -> html.Div:
    user_id = require_user_id()
    data = page_data(db.session, user_id, SHOWN)
    return html.Div([
        page_header("Discover", "contextify learns what you like from the songs you saved, then ranks tracks you "
                    "have never saved — from the harvested catalog and Deezer's charts — by how likely you are to "
                    "like them."),
        html.Section([
            html.H2("Find new music"),
            html.P("Your saved songs are compared with as many catalog songs you never saved; two kinds of model "
                   "learn the difference, and the better one ranks the songs you have not heard yet."),
            dcc.Checklist(id=ids.DISCOVER_CHARTS, value=["charts"], className="checkbox",
                          options=[{"label": " Add Deezer's current charts as candidates", "value": "charts"}]),
            html.Div([html.Button("Run Discover", id=ids.DISCOVER_START, n_clicks=0, className="button"),
                      html.P(id=ids.DISCOVER_MESSAGE, className="form-error", role="alert")], className="actions"),
        ], className="card"),
        job_card("Discovering", JOB, current_job(user_id, KIND)),
        html.Section([html.H2("Which model learned your taste best"),
                      html.Div(runs_view(data["model"], data["runs"]), id=ids.DISCOVER_RUNS)], className="card"),
        html.Section([html.H2("Tracks for you"),
                      html.Div(suggestions_view(data["shown"]), id=ids.DISCOVER_LIST)], className="card discover-list"),
        html.Section([
            html.H2("Save to Spotify"),
            html.P(f"Creates {PLAYLIST_NAME} on your account, or replaces what it holds; nothing you already saved "
                   "goes in, checked again as it is written."),
            html.Label("Tracks in the playlist", htmlFor=ids.DISCOVER_SIZE),
            dcc.Input(id=ids.DISCOVER_SIZE, type="number", min=1, max=MAX_PLAYLIST_SIZE, step=1,
                      value=DEFAULT_PLAYLIST_SIZE, className="discover-size"),
            dcc.Checklist(id=ids.DISCOVER_PUBLIC, value=[], className="checkbox",
                          options=[{"label": " Make a new playlist public", "value": "public"}]),
            html.Div([html.Button("Save the Discover playlist", id=ids.DISCOVER_SAVE, n_clicks=0, className="button",
                                  disabled=not data["shown"]),
                      html.P(id=ids.DISCOVER_SAVE_MESSAGE, className="form-error", role="alert")],
                     className="actions"),
            html.Div(playlist_view(data["playlist"]), id=ids.DISCOVER_PLAYLIST),
        ], className="card"),
        job_card("Saving the Discover playlist", SAVE_JOB, current_job(user_id, SAVE_KIND)),
    ], className="page discover-page")


def _sentence(job):
    return job_sentence(job, "Discover", "Discover has not run yet.")


def _save_sentence(job):
    return job_sentence(job, "Saving the Discover playlist", "The Discover playlist has not been saved yet.")


def register_callbacks(dash_app) -> None:
    register_follow(dash_app, JOB, _sentence)
    register_follow(dash_app, SAVE_JOB, _save_sentence)

    @dash_app.callback(Output(ids.DISCOVER_JOB_STORE, "data"), Output(ids.DISCOVER_MESSAGE, "children"),
                       Input(ids.DISCOVER_START, "n_clicks"), State(ids.DISCOVER_CHARTS, "value"),
                       prevent_initial_call=True)
    def start(_clicks, charts):
        user_id = require_user_id()
        try:
            return start_discover(db.session, user_id, "charts" in (charts or [])), ""
        except (JobRefused, ValueError) as exc:
            return no_update, str(exc)

    @dash_app.callback(Output(ids.DISCOVER_RUNS, "children"), Output(ids.DISCOVER_LIST, "children"),
                       Output(ids.DISCOVER_SAVE, "disabled"), Input(ids.DISCOVER_DONE_STORE, "data"),
                       prevent_initial_call=True)
    def trained(_done):
        data = page_data(db.session, require_user_id(), SHOWN)
        return runs_view(data["model"], data["runs"]), suggestions_view(data["shown"]), not data["shown"]

    @dash_app.callback(Output(ids.DISCOVER_SAVE_JOB_STORE, "data"), Output(ids.DISCOVER_SAVE_MESSAGE, "children"),
                       Input(ids.DISCOVER_SAVE, "n_clicks"), State(ids.DISCOVER_SIZE, "value"),
                       State(ids.DISCOVER_PUBLIC, "value"), prevent_initial_call=True)
    def save(_clicks, size, public):
        user_id = require_user_id()
        try:
            return start_save(db.session, user_id, size, "public" in (public or [])), ""
        except (JobRefused, ValueError) as exc:
            return no_update, str(exc)

    @dash_app.callback(Output(ids.DISCOVER_PLAYLIST, "children"), Input(ids.DISCOVER_SAVE_DONE_STORE, "data"),
                       prevent_initial_call=True)
    def saved(_done):
        return playlist_view(discover_playlist(db.session, require_user_id()))


# ------------------------------------------------------------------------------------------ drawing


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
        html.P(f"Learned your taste from {counts.get('positives', 0):,} of your saved songs, and checked it on "
               "artists it had not heard."),
        measured(
            html.P(lead),
            table(rows, {"name": "Model", "params": "Best settings", "cv": "ROC AUC across folds",
                         "auc": "ROC AUC, unseen artists", "ap": "Average precision", "acc": "Accuracy", "f1": "F1",
                         "time": "Time"}, "No runs recorded.", caption=f"Model comparison, {format_when(_iso(model))}"),
            *notes),
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
