"""The Contexts page: name contexts as chips, choose the label source, start a harvest and follow its progress."""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from app.auth.session import require_user_id
from app.dash_views import ids
from app.dash_views.components import job_log, page_header, stage_progress, table
from app.dash_views.harvests import KIND, current_harvest, is_active, recent_jobs, run_rows, stage_rows, status_text
from app.dash_views.jobs_view import JobRefused, start_job
from app.jobs import runner
from app.pipeline.naming import MAX_CONTEXT_CHARS, MAX_CONTEXTS
from app.services.contexts import (
    DEFAULTS, PLAYLISTS_RANGE, SOURCE_HELP, SOURCE_NAMES, TRACKS_RANGE, SettingsError, add_contexts, harvest_params,
    remove_context,
)

PAGE = {"path": "/contexts", "name": "Contexts", "title": "contextify · Contexts", "order": 1}
POLL_MS = 1000
RUN_COLUMNS = {"kind": "Kind", "contexts": "Contexts", "source": "Source", "status": "Status", "when": "Started",
               "duration": "Duration", "results": "Result"}


def start_harvest(user_id: int, params: dict[str, Any]) -> str:
    """Submit the harvest job through the pages' one way of starting jobs (one at a time, rate-limited)."""
    try:
        return start_job(user_id, KIND, params, "A harvest",
                         busy="A harvest is already running. Wait for it to finish, or cancel it first.")
    except JobRefused as exc:
        raise SettingsError(str(exc)) from None


def layout(**_query: Any) -> html.Div:
    job = current_harvest(require_user_id())
    return html.Div([
        page_header("Contexts", "Name the situations you want playlists for. contextify learns what each one "
                    "sounds like from public playlists people made under that name.", step="Step 1 of 6"),
        _names_card(),
        _settings_card(),
        _progress_card(),
        html.Section([html.H2("Past runs"), html.Div(id=ids.HARVEST_RUNS)], className="card"),
        dcc.Store(id=ids.CONTEXT_CHIPS_STORE, data=[]),
        dcc.Store(id=ids.HARVEST_JOB_STORE, data=job["id"] if job else None),
        dcc.Store(id=ids.HARVEST_NUDGE_STORE, data=0),
        dcc.Interval(id=ids.HARVEST_INTERVAL, interval=POLL_MS, disabled=not is_active(job)),
    ], className="page contexts-page")


def _names_card() -> html.Section:
    return html.Section([
        html.H2("Your contexts"),
        html.Label("Add a context", htmlFor=ids.CONTEXT_INPUT),
        html.Div([
            dcc.Input(id=ids.CONTEXT_INPUT, type="text", placeholder="workout, rainy day, 🌙 sleep …",
                      maxLength=MAX_CONTEXT_CHARS * 4, debounce=False, autoComplete="off", className="text-input"),
            html.Button("Add", id=ids.CONTEXT_ADD, n_clicks=0, className="button secondary"),
        ], className="input-row"),
        html.P(id=ids.CONTEXT_MESSAGE, className="form-error", role="alert"),
        html.Ul(id=ids.CONTEXT_CHIPS, className="chips", **{"aria-label": "Contexts to harvest"}),
        html.P(f"Separate several with commas. Up to {MAX_CONTEXTS} contexts of at most {MAX_CONTEXT_CHARS} "
               "characters; names ignore case and spacing, and emoji or any script are fine.", className="hint"),
        html.P("Context names and what was harvested for them are shared: every contextify user sees the names "
               "anyone harvested and learns from the same public playlists. Your library, models, sorts and "
               "playlists stay yours alone.", className="hint", id=ids.CONTEXT_SHARED_NOTE),
    ], className="card")


def _settings_card() -> html.Section:
    options = [{"label": html.Span([html.Strong(SOURCE_NAMES[name]), html.Span(f" — {SOURCE_HELP[name]}")]),
                "value": name} for name in ("deezer", "auto", "spotify")]
    return html.Section([
        html.H2("Where the playlists come from"),
        dcc.RadioItems(id=ids.HARVEST_SOURCE, options=options, value=DEFAULTS["source"], className="radio-list"),
        html.Div([
            _number(ids.HARVEST_PLAYLISTS, "Playlists per context", DEFAULTS["playlists"], PLAYLISTS_RANGE,
                    "More playlists give a broader picture of a context and take longer."),
            _number(ids.HARVEST_TRACKS, "Tracks per playlist", DEFAULTS["tracks"], TRACKS_RANGE,
                    "Read from the top of each playlist, where its owner put the most typical tracks."),
        ], className="number-row"),
        dcc.Checklist(id=ids.HARVEST_REFRESH, options=[{"label": " Search again even for contexts harvested in "
                                                                 "the last 7 days", "value": "refresh"}],
                      value=[], className="checkbox"),
        html.Div([html.Button("Start harvest", id=ids.HARVEST_START, n_clicks=0, className="button"),
                  html.P(id=ids.HARVEST_START_MESSAGE, className="form-error", role="alert")],
                 className="actions"),
    ], className="card")


def _number(component_id: str, label: str, value: int, bounds: tuple[int, int], hint: str) -> html.Div:
    low, high = bounds
    return html.Div([
        html.Label(label, htmlFor=component_id),
        dcc.Input(id=component_id, type="number", value=value, min=low, max=high, step=1, className="number-input"),
        html.Small(f"{hint} {low}–{high}.", className="hint"),
    ], className="number-field")


def _progress_card() -> html.Section:
    return html.Section([
        html.H2("Progress"),
        html.P(id=ids.HARVEST_STATUS, className="job-status", **{"aria-live": "polite"}),
        html.Div(id=ids.HARVEST_PROGRESS),
        html.Div([
            html.Button("Cancel", id=ids.HARVEST_CANCEL, n_clicks=0, className="button danger", hidden=True),
            html.Button("Resume", id=ids.HARVEST_RESUME, n_clicks=0, className="button", hidden=True),
            html.Span(id=ids.HARVEST_ACTION_MESSAGE, className="muted", role="status"),
        ], className="actions"),
        html.Div(id=ids.HARVEST_LOG),
    ], className="card")


# -------------------------------------------------------------------------------------- callbacks


def chip_list(chips: list[str]) -> list[html.Li]:
    """The chips as list items, each with a remove button (Dash escapes the names: no HTML gets through)."""
    return [html.Li([html.Span(name, className="chip-name", dir="auto"),
                     html.Button("×", id={"type": ids.CONTEXT_CHIP_REMOVE, "index": i}, n_clicks=0,
                                 className="chip-remove", title=f"Remove {name}", **{"aria-label": f"Remove {name}"})],
                    className="chip") for i, name in enumerate(chips)]


def register_callbacks(dash_app) -> None:
    @dash_app.callback(
        Output(ids.CONTEXT_CHIPS_STORE, "data"), Output(ids.CONTEXT_INPUT, "value"),
        Output(ids.CONTEXT_MESSAGE, "children"),
        Input(ids.CONTEXT_ADD, "n_clicks"), Input(ids.CONTEXT_INPUT, "n_submit"),
        Input({"type": ids.CONTEXT_CHIP_REMOVE, "index": ALL}, "n_clicks"),
        State(ids.CONTEXT_INPUT, "value"), State(ids.CONTEXT_CHIPS_STORE, "data"),
        prevent_initial_call=True)
    def edit_chips(_add, _submit, _removes, text, chips):
        require_user_id()
        chips = chips or []
        trigger = ctx.triggered_id
        if isinstance(trigger, dict):
            if not ctx.triggered[0]["value"]:  # a chip button just drawn, not clicked
                return no_update, no_update, no_update
            return remove_context(chips, int(trigger["index"])), no_update, ""
        chips, error = add_contexts(chips, text)
        return chips, (no_update if error else ""), error or ""

    @dash_app.callback(Output(ids.CONTEXT_CHIPS, "children"), Input(ids.CONTEXT_CHIPS_STORE, "data"))
    def show_chips(chips):
        require_user_id()
        if not chips:
            return [html.Li("No contexts yet.", className="muted chip-placeholder")]
        return chip_list(chips)

    @dash_app.callback(
        Output(ids.HARVEST_JOB_STORE, "data"), Output(ids.HARVEST_START_MESSAGE, "children"),
        Input(ids.HARVEST_START, "n_clicks"),
        State(ids.CONTEXT_CHIPS_STORE, "data"), State(ids.HARVEST_SOURCE, "value"),
        State(ids.HARVEST_PLAYLISTS, "value"), State(ids.HARVEST_TRACKS, "value"), State(ids.HARVEST_REFRESH, "value"),
        prevent_initial_call=True)
    def start(_clicks, chips, source, playlists, tracks, refresh):
        user_id = require_user_id()
        try:
            params = harvest_params(chips or [], source, playlists, tracks, "refresh" in (refresh or []))
            return start_harvest(user_id, params), ""
        except SettingsError as exc:
            return no_update, str(exc)

    @dash_app.callback(
        Output(ids.HARVEST_NUDGE_STORE, "data"), Output(ids.HARVEST_ACTION_MESSAGE, "children"),
        Input(ids.HARVEST_CANCEL, "n_clicks"), Input(ids.HARVEST_RESUME, "n_clicks"),
        State(ids.HARVEST_JOB_STORE, "data"), State(ids.HARVEST_NUDGE_STORE, "data"),
        prevent_initial_call=True)
    def act(_cancel, _resume, job_id, nudge):
        user_id = require_user_id()
        if not job_id:
            return no_update, "There is no harvest to act on."
        if ctx.triggered_id == ids.HARVEST_CANCEL:
            done = runner.cancel(job_id, user_id)
            message = "Cancelling…" if done else "This harvest has already ended, so there is nothing to cancel."
        else:
            done = runner.resume(job_id, user_id)
            message = "Resumed." if done else "Only an interrupted harvest can be resumed."
        return (nudge or 0) + 1, message

    @dash_app.callback(
        Output(ids.HARVEST_STATUS, "children"), Output(ids.HARVEST_PROGRESS, "children"),
        Output(ids.HARVEST_LOG, "children"), Output(ids.HARVEST_CANCEL, "hidden"),
        Output(ids.HARVEST_RESUME, "hidden"), Output(ids.HARVEST_START, "disabled"),
        Output(ids.HARVEST_INTERVAL, "disabled"), Output(ids.HARVEST_RUNS, "children"),
        Input(ids.HARVEST_INTERVAL, "n_intervals"), Input(ids.HARVEST_JOB_STORE, "data"),
        Input(ids.HARVEST_NUDGE_STORE, "data"))
    def poll(_tick, job_id, _nudge):
        user_id = require_user_id()
        job = runner.job_status(job_id, user_id) if job_id else None
        active = is_active(job)
        progress = stage_progress(stage_rows(job["progress"], finished=not active,
                                             succeeded=job["status"] == "succeeded")) if job else None
        runs = table(run_rows(recent_jobs(user_id)), RUN_COLUMNS, "No runs yet.")
        return (status_text(job), progress, job_log(job["log"] if job else []),
                not (job and job["can_cancel"]), not (job and job["can_resume"]), active, not active, runs)
