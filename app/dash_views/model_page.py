"""The Model page: train a context model with live progress, then read how good it is and move its targets."""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, dcc, html, no_update

from app.analysis.explore import harvested_contexts
from app.auth.session import require_user_id
from app.dash_views import figures, ids, refine_section
from app.dash_views.components import chart_card, empty_state, measured, page_header, table
from app.dash_views.explore import default_contexts
from app.dash_views.harvests import latest_harvest_contexts
from app.dash_views.jobs_view import JobIds, JobRefused, current_job, job_card, job_sentence, register_follow, start_job
from app.services.training import (
    BEST_EFFORT, KIND, TARGET_RANGE, TrainSettingsError, co_assignment_frame, co_assignment_sentence, curve_frame, cutoff_sentence,
    default_target, feature_sentences, grid_rows, grouping_sentence, holdout_rows, holdout_sentence, model_label, owned_model,
    promise_lines, reliability_frame, reliability_sentence, retarget,
    train_params, user_models,
)
from app.extensions import db

PAGE = {"path": "/model", "name": "Model", "title": "contextify · Model", "order": 4}
JOB = JobIds(ids.MODEL_JOB_STORE, ids.MODEL_DONE_STORE, ids.MODEL_INTERVAL, ids.MODEL_STATUS, ids.MODEL_PROGRESS,
             ids.MODEL_LOG)
GRID_COLUMNS = {"params": "Settings", "score": "Average precision (cross-validated)", "best": ""}
HOLDOUT_COLUMNS = {"context": "Context", "tracks": "Test tracks", "share": "Share: estimated (true)",
                   "assigned": "Assigned", "precision": "Precision", "promised": "Promised", "recall": "Recall",
                   "kept": "Promise kept"}
NO_MODEL = "No model yet. Choose contexts above and train one."


def layout(**_query: Any) -> html.Div:
    user_id = require_user_id()
    available = [name for name, _ in harvested_contexts(db.session)]
    models = user_models(db.session, user_id)
    return html.Div([
        page_header("Model", "Teach contextify what each context sounds like, with the precision each playlist "
                    "should keep.", step="Step 4 of 6"),
        _train_card(available, default_contexts(latest_harvest_contexts(user_id), available)),
        job_card("Training", JOB, current_job(user_id, KIND)),
        refine_section.start_card(user_id),
        html.Section([
            html.Label("Model", htmlFor=ids.MODEL_CHOICE),
            dcc.Dropdown(id=ids.MODEL_CHOICE, clearable=False, options=_options(models),
                         value=models[0].id if models else None, placeholder="No models yet"),
            html.P(id=ids.MODEL_SUMMARY, className="chart-reading"),
        ], className="card"),
        html.Section([html.H2("What speaks for each context"), html.Div(id=ids.MODEL_FEATURES)], className="card"),
        measured(
            chart_card("Precision, recall and F1 by cutoff", ids.MODEL_CURVE, ids.MODEL_CURVE_TEXT, controls=[
                html.Div([
                    html.Div([html.Label("Context", htmlFor=ids.MODEL_CURVE_CONTEXT),
                              dcc.Dropdown(id=ids.MODEL_CURVE_CONTEXT, clearable=False)], className="number-field"),
                    html.Div([html.Label("Target precision", htmlFor=ids.MODEL_CURVE_TARGET),
                              dcc.Slider(id=ids.MODEL_CURVE_TARGET, min=TARGET_RANGE[0], max=TARGET_RANGE[1],
                                         step=0.01, value=default_target(), updatemode="mouseup",
                                         marks={0.5: "0.5", 0.7: "0.7", 0.9: "0.9"},
                                         tooltip={"placement": "bottom"})], className="slider-field"),
                ], className="number-row")]),
            html.Section([html.H2("Held-out playlists"), html.Div(id=ids.MODEL_HOLDOUT)], className="card"),
            chart_card("Tracks placed in two contexts", ids.MODEL_COASSIGN, ids.MODEL_COASSIGN_TEXT),
            html.Section([html.H2("Grid search"), html.Div(id=ids.MODEL_GRID)], className="card"),
            open_=True, extra_class="model-report"),
    ], className="page model-page")


def _train_card(available: list[str], chosen: list[str]) -> html.Section:
    low, high = TARGET_RANGE
    return html.Section([
        html.H2("Train"),
        html.Label("Contexts", htmlFor=ids.MODEL_CONTEXTS),
        dcc.Dropdown(id=ids.MODEL_CONTEXTS, multi=True, value=chosen, options=available,
                     placeholder="Choose harvested contexts…"),
        html.P("Defaults to the contexts of your latest harvest." if available else
               "Nothing is harvested yet: start on the Contexts page.", className="hint"),
        html.Div([
            html.Label("Target precision", htmlFor=ids.MODEL_TARGET),
            dcc.Input(id=ids.MODEL_TARGET, type="number", min=low, max=high, step=0.01, value=default_target(),
                      className="number-input"),
            html.Small(f"The share of a playlist's tracks that should truly belong there, {low}–{high}. Higher "
                       "means shorter, surer playlists.", className="hint"),
        ], className="number-field"),
        dcc.Checklist(id=ids.MODEL_BEST_EFFORT, value=[], className="checkbox", options=[{
            "label": " Best effort: also make playlists for contexts that cannot keep the target. They are labelled "
                     "\u201cbest effort, not promised\u201d on the Sort page, in exports and in the saved playlist's "
                     "description.", "value": BEST_EFFORT}]),
        html.Div([html.Button("Train", id=ids.MODEL_TRAIN, n_clicks=0, className="button"),
                  html.P(id=ids.MODEL_MESSAGE, className="form-error", role="alert")], className="actions"),
    ], className="card")


def _options(models) -> list[dict[str, Any]]:
    return [{"label": model_label(row), "value": row.id} for row in models]


def _train_sentence(job):
    contexts = ", ".join(job["params"].get("contexts") or []) if job else ""
    return job_sentence(job, f"Training on {contexts}", "No training yet.")


def promise_view(metrics) -> html.Div:
    """Held-out check, what each context can promise (or why it gets no playlist) and the reliability curve."""
    reliability = reliability_frame(metrics)
    return html.Div([
        html.P(holdout_sentence(metrics)), html.P(grouping_sentence(metrics), className="hint"),
        table(holdout_rows(metrics), HOLDOUT_COLUMNS, "No held-out playlists."),
        html.H3("The promise per context"),
        html.Ul([html.Li(line, className="warning" if "no playlist" in line else None)
                 for line in promise_lines(metrics)], className="promise-lines"),
        html.H3("Do the probabilities mean what they say?"),
        dcc.Graph(id=ids.MODEL_RELIABILITY, figure=figures.reliability_figure(reliability),
                  config={"displayModeBar": False}),
        html.P(reliability_sentence(reliability), className="chart-reading"),
    ])


def features_view(metrics) -> html.Div:
    return html.Div([html.Div([html.H3(context), html.P([html.Strong("For: "), good]),
                               html.P([html.Strong("Against: "), bad], className="muted")], className="feature-words")
                     for context, (good, bad) in feature_sentences(metrics).items()])


def register_callbacks(dash_app) -> None:
    register_follow(dash_app, JOB, _train_sentence)
    refine_section.register_model_callbacks(dash_app)  # its card is on this page

    @dash_app.callback(
        Output(ids.MODEL_JOB_STORE, "data"), Output(ids.MODEL_MESSAGE, "children"),
        Input(ids.MODEL_TRAIN, "n_clicks"), State(ids.MODEL_CONTEXTS, "value"), State(ids.MODEL_TARGET, "value"),
        State(ids.MODEL_BEST_EFFORT, "value"), prevent_initial_call=True)
    def train(_clicks, contexts, target, best_effort):
        user_id = require_user_id()
        try:
            return start_job(user_id, KIND, train_params(contexts, target, best_effort), "A training"), ""
        except (TrainSettingsError, JobRefused) as exc:
            return no_update, str(exc)

    @dash_app.callback(
        Output(ids.MODEL_CHOICE, "options"), Output(ids.MODEL_CHOICE, "value"),
        Input(ids.MODEL_DONE_STORE, "data"), prevent_initial_call=True)
    def trained(done):
        models = user_models(db.session, require_user_id())
        if not done or done["status"] != "succeeded":
            return _options(models), no_update
        return _options(models), done["result"]["model_id"]

    @dash_app.callback(
        Output(ids.MODEL_SUMMARY, "children"), Output(ids.MODEL_GRID, "children"),
        Output(ids.MODEL_HOLDOUT, "children"), Output(ids.MODEL_FEATURES, "children"),
        Output(ids.MODEL_COASSIGN, "figure"), Output(ids.MODEL_COASSIGN_TEXT, "children"),
        Output(ids.MODEL_CURVE_CONTEXT, "options"), Output(ids.MODEL_CURVE_CONTEXT, "value"),
        Output(ids.MODEL_CURVE_TARGET, "value"),
        Input(ids.MODEL_CHOICE, "value"))
    def show_model(model_id):
        row = owned_model(db.session, require_user_id(), model_id)
        if row is None:
            return (empty_state(NO_MODEL), None, None, None, figures.empty_figure(NO_MODEL), "", [], None,
                    no_update)
        metrics = row.metrics
        contexts = list(metrics["contexts"])
        co = co_assignment_frame(metrics)
        summary = (f"Trained on {metrics['data']['tracks']:,} tracks of {', '.join(contexts)} in "
                   f"{metrics['seconds']:.0f} s, for a target precision of {metrics['target_precision']:.2f}.")
        return (summary, table(grid_rows(metrics), GRID_COLUMNS, "No grid was searched."),
                promise_view(metrics),
                features_view(metrics), figures.co_assignment_figure(co), co_assignment_sentence(co),
                contexts, contexts[0] if contexts else None, metrics["target_precision"])

    @dash_app.callback(
        Output(ids.MODEL_CURVE, "figure"), Output(ids.MODEL_CURVE_TEXT, "children"),
        Input(ids.MODEL_CHOICE, "value"), Input(ids.MODEL_CURVE_CONTEXT, "value"),
        Input(ids.MODEL_CURVE_TARGET, "value"))
    def show_curve(model_id, context, target):
        from app.models.persistence import ArtifactError  # the model layer loads scikit-learn: not at app start
        from app.models.service import ReviewError

        user_id = require_user_id()
        row = owned_model(db.session, user_id, model_id)
        if row is None or context not in (row.metrics or {}).get("contexts", {}):
            return figures.empty_figure(NO_MODEL if row is None else "Choose a context."), ""
        try:
            choice = retarget(db.session, user_id, row.id, context, float(target))
        except (ReviewError, ArtifactError) as exc:
            # The report still shows the cutoffs chosen at training time.
            choice = row.metrics["contexts"][context]
            note = f" Other targets cannot be tried: {exc}."
        else:
            note = ""
        return (figures.cutoff_curve_figure(curve_frame(row.metrics, context), choice["cutoff"],
                                            choice["target_precision"]),
                cutoff_sentence(choice) + note)
