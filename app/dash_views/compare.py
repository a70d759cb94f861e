"""The Compare page: invite a second listener (or pick an imported file), train a network on whose song is whose, and
see where the two tastes meet."""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate
from flask import request

import app.jobs.compare_task  # noqa: F401  (registers the compare tasks in the web process)
from app.auth.session import require_user_id
from app.dash_views import ids
from app.dash_views.compare_view import invite_link, invites_view, other_options, results_view
from app.dash_views.components import page_header
from app.dash_views.jobs_view import JobIds, JobRefused, current_job, job_card, job_sentence, register_follow, start_job
from app.extensions import db
from app.jobs.compare_task import DEFAULT_SIZE, PLAYLIST_CONTEXT, SIZE
from app.models.whose_song import ACTIVATIONS, DEFAULTS, LAYERS, UNITS, CompareInputError, network_settings
from app.services import compare
from app.storage.tables import ExportedPlaylist
from app.storage.ownership import owned

PAGE = {"path": "/compare", "name": "Compare", "title": "contextify · Compare", "order": 10}
KIND, SAVE_KIND = "compare", "compare-save"
JOB = JobIds(ids.COMPARE_JOB_STORE, ids.COMPARE_DONE_STORE, ids.COMPARE_INTERVAL, ids.COMPARE_STATUS,
             ids.COMPARE_PROGRESS, ids.COMPARE_LOG)
SAVE_JOB = JobIds(ids.COMPARE_SAVE_JOB_STORE, ids.COMPARE_SAVE_DONE_STORE, ids.COMPARE_SAVE_INTERVAL,
                  ids.COMPARE_SAVE_STATUS, ids.COMPARE_SAVE_PROGRESS, ids.COMPARE_SAVE_LOG)


def layout(**_query: Any) -> html.Div:
    user_id = require_user_id()
    others = compare.choices(db.session, user_id)
    run = compare.latest_run(db.session, user_id)
    return html.Div([
        page_header("Compare", "Two libraries, yours and someone else's: a small neural network learns whose song "
                    "a track is, and shows where your tastes meet."),
        html.Section([
            html.H2("Invite someone"),
            html.P("They open the link, log in with Spotify and agree to share. You will see the names of the "
                   "tracks in their library, nothing else."),
            html.Button("Create an invite link", id=ids.COMPARE_INVITE_CREATE, n_clicks=0, className="button"),
            html.Div(id=ids.COMPARE_INVITE_LINK),
            html.Div(invites_view(compare.invite_rows(db.session, user_id)), id=ids.COMPARE_INVITES),
        ], className="card"),
        html.Section([
            html.H2("Compare"),
            html.Label("Compare your library with", htmlFor=ids.COMPARE_OTHER),
            dcc.Dropdown(id=ids.COMPARE_OTHER, options=other_options(others),
                         value=others[0].key if others else None, clearable=False,
                         placeholder="An accepted invite, or a file imported on the Library page"),
            html.Div([
                _number("Hidden layers", ids.COMPARE_LAYERS, LAYERS, DEFAULTS["layers"]),
                _number("Units per layer", ids.COMPARE_UNITS, UNITS, DEFAULTS["units"]),
                html.Label(["Activation", dcc.Dropdown(id=ids.COMPARE_ACTIVATION, value=DEFAULTS["activation"],
                                                       options=list(ACTIVATIONS), clearable=False)]),
                _number("Songs in the 'both' list", ids.COMPARE_SIZE, SIZE, DEFAULT_SIZE),
            ], className="compare-form"),
            dcc.Checklist(id=ids.COMPARE_ENRICH, value=["enrich"], className="checkbox",
                          options=[{"label": " Fetch missing features first (slower, better)", "value": "enrich"}]),
            html.Div([html.Button("Compare", id=ids.COMPARE_START, n_clicks=0, className="button"),
                      html.P(id=ids.COMPARE_MESSAGE, className="form-error", role="alert")], className="actions"),
        ], className="card"),
        job_card("Comparing", JOB, current_job(user_id, KIND)),
        html.Div(results_view(run, compare.both_tracks(db.session, user_id, run.model_id) if run else []),
                 id=ids.COMPARE_RESULTS),
        html.Section([
            html.H2("Save 'songs you would both like'"),
            html.P("Writes the list to a private playlist in your Spotify account; saving again updates it."),
            html.Div([html.Button("Save to Spotify", id=ids.COMPARE_SAVE, n_clicks=0, className="button"),
                      html.P(id=ids.COMPARE_SAVE_MESSAGE, className="form-error", role="alert")],
                     className="actions"),
            html.Div(saved_view(user_id), id=ids.COMPARE_SAVED),
        ], className="card"),
        job_card("Saving", SAVE_JOB, current_job(user_id, SAVE_KIND)),
    ], className="page compare-page")


def _number(label: str, component_id: str, bounds: tuple[int, int], value: int) -> html.Label:
    return html.Label([label, dcc.Input(id=component_id, type="number", min=bounds[0], max=bounds[1], step=1,
                                        value=value)])


def saved_view(user_id: int) -> html.P:
    row = db.session.scalar(owned(ExportedPlaylist, user_id).where(ExportedPlaylist.context == PLAYLIST_CONTEXT))
    if row is None or row.status != "saved":
        return html.P("Not saved yet.", className="muted")
    return html.P(f"Saved as '{row.name}' with {len(row.track_uris)} songs, read back and checked "
                  f"(Spotify id {row.spotify_playlist_id}).", id="compare-saved-playlist")


def start_params(user_id: int, other: Any, layers: Any, units: Any, activation: Any, size: Any,
                 enrich: Any) -> dict[str, Any]:
    """The job's parameters, checked here so a bad form is answered at once (the job checks them again)."""
    settings = network_settings({"layers": layers, "units": units, "activation": activation})
    chosen = compare.resolve_other(db.session, user_id, other)
    return {"other": chosen.key, **settings.as_dict(), "size": size if size is not None else DEFAULT_SIZE,
            "enrich": "enrich" in (enrich or [])}


def register_callbacks(dash_app) -> None:
    register_follow(dash_app, JOB, lambda job: job_sentence(job, "The comparison", "No comparison has run yet."))
    register_follow(dash_app, SAVE_JOB, lambda job: job_sentence(job, "Saving the playlist", "Nothing saved yet."))

    @dash_app.callback(
        Output(ids.COMPARE_INVITE_LINK, "children"), Output(ids.COMPARE_INVITES, "children"),
        Output(ids.COMPARE_OTHER, "options"),
        Input(ids.COMPARE_INVITE_CREATE, "n_clicks"), Input({"type": ids.COMPARE_REVOKE, "invite": ALL}, "n_clicks"),
        prevent_initial_call=True)
    def invites(_create, _revokes):
        user_id = require_user_id()
        trigger = ctx.triggered_id
        link = no_update
        if trigger == ids.COMPARE_INVITE_CREATE:
            _invite, token = compare.create_invite(db.session, user_id)
            link = invite_link(request.host_url, token)
        elif isinstance(trigger, dict) and trigger.get("type") == ids.COMPARE_REVOKE:
            if not ctx.triggered[0].get("value"):
                raise PreventUpdate  # a button just drawn, not clicked
            compare.revoke_invite(db.session, user_id, int(trigger["invite"]))
            link = None
        else:
            raise PreventUpdate
        return (link, invites_view(compare.invite_rows(db.session, user_id)),
                other_options(compare.choices(db.session, user_id)))

    @dash_app.callback(
        Output(ids.COMPARE_JOB_STORE, "data"), Output(ids.COMPARE_MESSAGE, "children"),
        Input(ids.COMPARE_START, "n_clicks"),
        State(ids.COMPARE_OTHER, "value"), State(ids.COMPARE_LAYERS, "value"), State(ids.COMPARE_UNITS, "value"),
        State(ids.COMPARE_ACTIVATION, "value"), State(ids.COMPARE_SIZE, "value"), State(ids.COMPARE_ENRICH, "value"),
        prevent_initial_call=True)
    def start(_clicks, other, layers, units, activation, size, enrich):
        user_id = require_user_id()
        try:
            params = start_params(user_id, other, layers, units, activation, size, enrich)
            return start_job(user_id, KIND, params, "A comparison"), ""
        except (CompareInputError, compare.CompareError, JobRefused) as exc:
            return no_update, str(exc)

    @dash_app.callback(Output(ids.COMPARE_RESULTS, "children"), Input(ids.COMPARE_DONE_STORE, "data"),
                       prevent_initial_call=True)
    def results(_done):
        user_id = require_user_id()
        run = compare.latest_run(db.session, user_id)
        return results_view(run, compare.both_tracks(db.session, user_id, run.model_id) if run else [])

    @dash_app.callback(
        Output(ids.COMPARE_SAVE_JOB_STORE, "data"), Output(ids.COMPARE_SAVE_MESSAGE, "children"),
        Input(ids.COMPARE_SAVE, "n_clicks"), prevent_initial_call=True)
    def save(_clicks):
        user_id = require_user_id()
        if compare.latest_run(db.session, user_id) is None:
            return no_update, "There is no comparison to save yet: run one first."
        try:
            return start_job(user_id, SAVE_KIND, {}, "A save"), ""
        except JobRefused as exc:
            return no_update, str(exc)

    @dash_app.callback(Output(ids.COMPARE_SAVED, "children"), Input(ids.COMPARE_SAVE_DONE_STORE, "data"),
                       prevent_initial_call=True)
    def saved(_done):
        return saved_view(require_user_id())
