"""The Compare page: invite a second listener (or pick an imported file), train a network on whose song is whose, and
see where the two tastes meet."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate
from flask import request

import app.jobs.compare_task  # noqa: F401  (registers the compare tasks in the web process)
from app.auth.session import require_user_id
from app.dash_views import ids
from app.dash_views.components import empty_state, measured, page_header, table
from app.dash_views.figures import LAYOUT, PALETTE, empty_figure
from app.dash_views.jobs_view import JobIds, JobRefused, current_job, job_card, job_sentence, register_follow, start_job
from app.extensions import db
from app.jobs.compare_task import DEFAULT_SIZE, SIZE
from app.services import compare
from app.services.compare import BothTrack, InviteRow, Other

PAGE = {"path": "/compare", "name": "Compare", "title": "contextify · Compare", "order": 10}
KIND, SAVE_KIND = "compare", "compare-save"
JOB = JobIds(ids.COMPARE_JOB_STORE, ids.COMPARE_DONE_STORE, ids.COMPARE_INTERVAL, ids.COMPARE_STATUS,
             ids.COMPARE_PROGRESS, ids.COMPARE_LOG)
SAVE_JOB = JobIds(ids.COMPARE_SAVE_JOB_STORE, ids.COMPARE_SAVE_DONE_STORE, ids.COMPARE_SAVE_INTERVAL,
                  ids.COMPARE_SAVE_STATUS, ids.COMPARE_SAVE_PROGRESS, ids.COMPARE_SAVE_LOG)
STATUS_WORDS = {"waiting": "Waiting for them to agree", "accepted": "Accepted", "expired": "Expired",
                "revoked": "Withdrawn"}


def layout(**_query: Any) -> html.Div:
    # The network's settings live with the model (app.models.whose_song, scikit-learn): imported when the page is
    # drawn, not when the web app starts.
    from app.models.whose_song import ACTIVATIONS, DEFAULTS, LAYERS, UNITS

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
    row = compare.saved_playlist(db.session, user_id)
    if row is None or row.status != "saved":
        return html.P("Not saved yet.", className="muted")
    return html.P(f"Saved as '{row.name}' with {len(row.track_uris)} songs, read back and checked "
                  f"(Spotify id {row.spotify_playlist_id}).", id="compare-saved-playlist")


def start_params(user_id: int, other: Any, layers: Any, units: Any, activation: Any, size: Any,
                 enrich: Any) -> dict[str, Any]:
    """The job's parameters, checked here so a bad form is answered at once (the job checks them again)."""
    from app.models.whose_song import network_settings

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
        from app.models.whose_song import CompareInputError

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


# ------------------------------------------------------------------------------------------ drawing


def invite_link(root_url: str, token: str) -> html.Div:
    """The link, shown once: only its hash is kept, so it cannot be shown again."""
    url = f"{root_url.rstrip('/')}/invite/{token}"
    return html.Div([
        html.P("Send this link to the person you want to compare with. It is shown only now; it works for 7 days "
               "and only once."),
        html.Code(url, id="compare-invite-url", className="compare-link"),
    ], className="compare-invite-new", role="status")


def invites_view(rows: Sequence[InviteRow]) -> html.Div:
    if not rows:
        return html.P("You have not invited anyone yet.", className="muted")
    items = []
    for row in rows:
        who = f" by {row.guest}" if row.guest else ""
        when = row.created_at.strftime("%d %b %Y") if row.created_at else ""
        parts: list[Any] = [html.Span(f"Invite of {when}: {STATUS_WORDS[row.status]}{who}.")]
        if row.status in ("waiting", "accepted"):
            parts.append(html.Button("Withdraw", id={"type": ids.COMPARE_REVOKE, "invite": row.id}, n_clicks=0,
                                     className="button secondary compare-revoke"))
        items.append(html.Li(parts))
    return html.Div(html.Ul(items, className="compare-invite-list"))


def other_options(others: Sequence[Other]) -> list[dict[str, str]]:
    return [{"label": (f"{o.name} (invite accepted)" if o.kind == "invite" else o.name), "value": o.key}
            for o in others]


def scores_view(metrics: dict[str, Any], other: str) -> html.Div:
    """ROC AUC and F1 on the held-out tracks, and the confusion matrix as a small table."""
    (tp, fn), (fp, tn) = metrics["confusion"]
    counts = metrics["counts"]
    rows = [{"truth": "Your songs", "as_owner": f"{tp:,}", "as_other": f"{fn:,}"},
            {"truth": f"{other}'s songs", "as_owner": f"{fp:,}", "as_other": f"{tn:,}"}]
    return html.Div([
        html.P(tastes_sentence(metrics["roc_auc"], other), className="chart-reading", id="compare-plain"),
        html.P(f"Libraries: {counts['owner']:,} songs only yours, {counts['other']:,} only {other}'s, "
               f"{metrics['n_shared']:,} in both.", className="muted"),
        measured(
            html.Dl([
                html.Dt("ROC AUC"), html.Dd(f"{metrics['roc_auc']:.2f}", id="compare-auc"),
                html.Dt("F1 (your songs)"), html.Dd(f"{metrics['f1']:.2f}", id="compare-f1"),
            ], className="compare-scores"),
            html.P(f"Scored on {metrics['n_test']:,} held-out tracks the network never saw; it learned from "
                   f"{metrics['n_train']:,}. An AUC of 0.5 means the two tastes cannot be told apart, 1.0 that they "
                   f"never meet. Songs in both libraries were left out of training.", className="chart-reading"),
            table(rows, {"truth": "Held-out tracks", "as_owner": "judged yours", "as_other": f"judged {other}'s"},
                  "", caption="Confusion matrix")),
    ], id="compare-scores")


def tastes_sentence(auc: float, other: str) -> str:
    """How far apart two tastes are, in words (the score behind it is under "How this was measured")."""
    if auc >= 0.85:
        return f"Your taste and {other}'s are easy to tell apart: your songs rarely sound like theirs."
    if auc >= 0.7:
        return f"Your taste and {other}'s overlap a little: most songs sound like one of you."
    if auc >= 0.6:
        return f"Your taste and {other}'s overlap a lot: many songs could belong to either of you."
    return f"Your taste and {other}'s sound alike: your songs and theirs can hardly be told apart."


def map_figure(points: Sequence[dict[str, Any]], owner: str, other: str) -> go.Figure:
    """The t-SNE map of the last hidden layer, one colour per owner (`owner`, `other`: the legend's words);
    hovering names the song."""
    if not points:
        return empty_figure("No comparison yet.")
    groups = {1: owner, 0: other, "both": "In both libraries"}
    figure = go.Figure(layout=LAYOUT)
    for (key, label), colour in zip(groups.items(), PALETTE):
        chosen = [p for p in points if p["owner"] == key]
        if not chosen:
            continue
        figure.add_trace(go.Scattergl(
            x=[p["x"] for p in chosen], y=[p["y"] for p in chosen], mode="markers", name=label,
            text=[p["name"] for p in chosen], marker={"color": colour, "size": 6, "opacity": 0.75},
            hovertemplate="%{text}<extra>" + label + "</extra>"))
    figure.update_layout(height=520, xaxis={"visible": False}, yaxis={"visible": False},
                         legend={"orientation": "h", "y": -0.05})
    return figure


def map_reading() -> str:
    return ("Each dot is a song, placed by what the network's last hidden layer makes of it (t-SNE keeps songs "
            "the network sees alike close together). Where the colours mix, the two tastes overlap.")


def both_view(tracks: Sequence[BothTrack], other: str) -> html.Div:
    rows = [{"rank": str(t.rank), "name": t.name, "p": f"{t.probability:.0%} yours · {1 - t.probability:.0%} {other}'s",
             "why": " ".join(t.reasons[1:])} for t in tracks]
    return table(rows, {"rank": "#", "name": "Song", "p": "Network's guess", "why": "From"},
                 "No songs yet: run a comparison first.")


def results_view(run, tracks: Sequence[BothTrack]) -> html.Div:
    """Everything a finished comparison shows; an empty state before the first one."""
    if run is None:
        return empty_state("No comparison yet: choose a second library and start one above.")
    params = run.params or {}
    other = params.get("other_name", "the other library")
    return html.Div([
        html.Section([html.H2(f"You and {other}"),
                      html.P(f"{params.get('layers')} hidden layer(s) of {params.get('units')} units, "
                             f"{params.get('activation')} activation; {run.seconds or 0:.1f} s.", className="muted"),
                      scores_view(run.metrics, other)], className="card"),
        html.Section([html.H2("Where your tastes meet"),
                      _graph(map_figure((run.result or {}).get("points", []), "Your songs", f"{other}'s songs")),
                      html.P(map_reading(), className="chart-reading")], className="card"),
        html.Section([html.H2("Songs you would both like"),
                      html.P("The songs the network is least sure about: it cannot say whose they are, so they sit "
                             "where the two tastes meet.", className="chart-reading"),
                      both_view(tracks, other)], className="card"),
    ])


def _graph(figure: go.Figure) -> dcc.Graph:
    return dcc.Graph(id=ids.COMPARE_MAP, figure=figure, config={"displaylogo": False, "responsive": True})
