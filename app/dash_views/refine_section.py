"""Progressive work on the pages: the Model page's "start now and improve" card and the Sort page's "rests on" line."""

from __future__ import annotations

from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from app.auth.session import require_user_id
from app.dash_views import ids
from app.dash_views.harvests import is_active
from app.dash_views.jobs_view import (
    JobIds, JobRefused, current_job, job_follow, job_sentence, register_follow, start_job,
)
from app.extensions import db
from app.services.progressive import KIND, current_sort_state, refine_params
from app.services.training import TrainSettingsError

REFINE_START = "refine-start"
REFINE_MESSAGE = "refine-message"
REFINE_RESTS_ON = "refine-rests-on"
REFINE_SORT_POLL = "refine-sort-poll"
JOB = JobIds("refine-job-store", "refine-done-store", "refine-interval", "refine-status", "refine-progress",
             "refine-log")
SORT_POLL_MS = 5000


def start_card(user_id: int) -> html.Section:
    """The Model page's card: train and sort on what is analysed now, then again as more arrives."""
    return html.Section([
        html.H2("Start now, improve as songs arrive"),
        html.P("No need to wait for every preview: contextify trains on the songs analysed so far, sorts the ones of "
               "your library that are ready (your most recent likes first), and sorts again with a better model as "
               "more are analysed. Your keeps and drops carry over. It uses the contexts and target chosen above.",
               className="hint"),
        html.Div([html.Button("Start now and improve", id=REFINE_START, n_clicks=0, className="button secondary"),
                  html.P(id=REFINE_MESSAGE, className="form-error", role="alert")], className="actions"),
        *job_follow(JOB, current_job(user_id, KIND)),
    ], className="card")


def _sentence(job):
    return job_sentence(job, "Progressive sorting", "Not started.")


def register_model_callbacks(dash_app) -> None:
    register_follow(dash_app, JOB, _sentence)

    @dash_app.callback(
        Output(JOB.store, "data"), Output(REFINE_MESSAGE, "children"),
        Input(REFINE_START, "n_clicks"), State(ids.MODEL_CONTEXTS, "value"), State(ids.MODEL_TARGET, "value"),
        State(ids.MODEL_BEST_EFFORT, "value"), prevent_initial_call=True)
    def start(_clicks, contexts, target, best_effort):
        user_id = require_user_id()
        try:
            return start_job(user_id, KIND, refine_params(contexts, target, best_effort), "Progressive sorting"), ""
        except (TrainSettingsError, JobRefused) as exc:
            return no_update, str(exc)


def rests_on_view(user_id: int) -> html.Div:
    """The Sort page's line on what the playlists rest on; polled while a refinement is at work."""
    improving = is_active(current_job(user_id, KIND))
    _run_id, sentence = current_sort_state(db.session, user_id, improving)
    return html.Div([html.P(sentence, id=REFINE_RESTS_ON, className="rests-on", role="status",
                            **{"aria-live": "polite"}),
                     dcc.Interval(id=REFINE_SORT_POLL, interval=SORT_POLL_MS, disabled=not improving)])


def register_sort_callbacks(dash_app) -> None:
    @dash_app.callback(
        Output(REFINE_RESTS_ON, "children"), Output(ids.SORT_RUN_STORE, "data", allow_duplicate=True),
        Output(REFINE_SORT_POLL, "disabled"),
        Input(REFINE_SORT_POLL, "n_intervals"), State(ids.SORT_RUN_STORE, "data"), prevent_initial_call=True)
    def follow(_tick, shown_run):
        user_id = require_user_id()
        improving = is_active(current_job(user_id, KIND))
        run_id, sentence = current_sort_state(db.session, user_id, improving)
        if run_id is None:
            raise PreventUpdate
        # A refined sort replaces the one shown (its keeps and drops were carried over by the job).
        return sentence, (run_id if run_id != shown_run else no_update), not improving
