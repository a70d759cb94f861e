"""The Enhance page: learn the user's own playlists, suggest liked songs for each, and add the accepted ones."""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, html, no_update

import app.jobs.enhance_task  # noqa: F401  (registers the `enhance` tasks in the web process)
from app.auth.session import require_user_id
from app.dash_views import ids
from app.dash_views.components import empty_state, page_header
from app.dash_views.enhance_view import analysis_view, suggestions_section
from app.dash_views.jobs_view import JobIds, JobRefused, current_job, job_card, job_sentence, register_follow, \
    start_job
from app.extensions import db
from app.services import enhance

PAGE = {"path": "/enhance", "name": "Enhance", "title": "contextify · Enhance", "order": 7}
KIND = "enhance"
ADD_KIND = "enhance-add"
JOB = JobIds(ids.ENHANCE_JOB_STORE, ids.ENHANCE_DONE_STORE, ids.ENHANCE_INTERVAL, ids.ENHANCE_STATUS,
             ids.ENHANCE_PROGRESS, ids.ENHANCE_LOG)
ADD_JOB = JobIds(ids.ENHANCE_ADD_JOB_STORE, ids.ENHANCE_ADD_DONE_STORE, ids.ENHANCE_ADD_INTERVAL,
                 ids.ENHANCE_ADD_STATUS, ids.ENHANCE_ADD_PROGRESS, ids.ENHANCE_ADD_LOG)


def readiness(user_id: int) -> str | None:
    """None when Enhance can learn this user's playlists, else why not in plain words."""
    try:
        enhance.check_ready(db.session, user_id)
    except enhance.EnhanceError as exc:
        return str(exc)
    return None


def layout(**_query: Any) -> html.Div:
    user_id = require_user_id()
    refusal = readiness(user_id)
    model = enhance.latest_model(db.session, user_id)
    return html.Div([
        page_header("Enhance my playlists", "contextify learns what each of the playlists you made sounds like, and "
                    "suggests liked songs that belong in one but are not in it yet."),
        html.Section([
            html.H2("Learn my playlists"),
            empty_state(refusal, "Go to Library", "/app/library") if refusal else html.P(
                "contextify compares five kinds of model on your playlists, keeps the best one, and shows how it was "
                "chosen below. It takes about a minute."),
            html.Div([html.Button("Learn my playlists", id=ids.ENHANCE_START, n_clicks=0, className="button",
                                  disabled=refusal is not None),
                      html.P(id=ids.ENHANCE_MESSAGE, className="form-error", role="alert")], className="actions"),
        ], className="card"),
        job_card("Learning", JOB, current_job(user_id, KIND)),
        html.Div(suggestions_section(model, _suggestions(user_id, model)), id=ids.ENHANCE_RESULTS),
        html.Section([
            html.H2("Add to Spotify"),
            html.P("The ticked songs are added to the end of their playlists on Spotify; nothing is removed or "
                   "reordered. Each playlist is read back to check."),
            html.Div([html.Button("Add the ticked songs", id=ids.ENHANCE_ADD, n_clicks=0, className="button",
                                  disabled=model is None),
                      html.P(id=ids.ENHANCE_ADD_MESSAGE, className="form-error", role="alert")], className="actions"),
        ], className="card"),
        job_card("Adding", ADD_JOB, current_job(user_id, ADD_KIND)),
        html.Div(_analysis(user_id, model), id=ids.ENHANCE_ANALYSIS),
    ], className="page enhance-page")


def _suggestions(user_id: int, model) -> list:
    return enhance.suggestions(db.session, user_id, model.id) if model else []


def _analysis(user_id: int, model) -> list:
    runs = enhance.model_runs(db.session, user_id, model.id) if model else []
    return analysis_view(model, runs, enhance.runs(db.session, user_id))


def _learn_sentence(job):
    return job_sentence(job, "Learning your playlists", "Your playlists have not been learned yet.")


def _add_sentence(job):
    return job_sentence(job, "Adding songs to Spotify", "Nothing has been added yet.")


def register_callbacks(dash_app) -> None:
    register_follow(dash_app, JOB, _learn_sentence)
    register_follow(dash_app, ADD_JOB, _add_sentence)

    @dash_app.callback(Output(ids.ENHANCE_JOB_STORE, "data"), Output(ids.ENHANCE_MESSAGE, "children"),
                       Input(ids.ENHANCE_START, "n_clicks"), prevent_initial_call=True)
    def learn(_clicks):
        user_id = require_user_id()
        refusal = readiness(user_id)
        if refusal:
            return no_update, refusal
        try:
            return start_job(user_id, KIND, {}, "Learning your playlists"), ""
        except JobRefused as exc:
            return no_update, str(exc)

    @dash_app.callback(Output(ids.ENHANCE_RESULTS, "children"), Output(ids.ENHANCE_ANALYSIS, "children"),
                       Output(ids.ENHANCE_ADD, "disabled"),
                       Input(ids.ENHANCE_DONE_STORE, "data"), Input(ids.ENHANCE_ADD_DONE_STORE, "data"),
                       prevent_initial_call=True)
    def refresh(_learned, _added):
        user_id = require_user_id()
        model = enhance.latest_model(db.session, user_id)
        return suggestions_section(model, _suggestions(user_id, model)), _analysis(user_id, model), model is None

    @dash_app.callback(Output(ids.ENHANCE_ADD_JOB_STORE, "data"), Output(ids.ENHANCE_ADD_MESSAGE, "children"),
                       Input(ids.ENHANCE_ADD, "n_clicks"), State({"type": ids.ENHANCE_PICK, "playlist": ALL}, "value"),
                       prevent_initial_call=True)
    def add(_clicks, picks):
        user_id = require_user_id()
        chosen = [value for values in picks or [] for value in values or []]
        try:
            accepted = enhance.accept(db.session, user_id, chosen)
            return start_job(user_id, ADD_KIND, {"suggestion_ids": accepted}, "Adding songs"), ""
        except (enhance.EnhanceError, JobRefused) as exc:
            return no_update, str(exc)
