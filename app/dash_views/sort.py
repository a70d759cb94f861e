"""The Library & sort page: sort the library with the latest model, then review each playlist track by track."""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from app.auth.session import require_user_id
from app.dash_views import ids
from app.dash_views.components import empty_state, page_header
from app.dash_views.jobs_view import JobIds, JobRefused, current_job, job_card, job_sentence, register_follow, start_job
from app.services.training import model_label
from app.services.sort_review import (
    KIND, SHOWN_PER_PLAYLIST, PlaylistReview, give_verdict, latest_model, move_cutoff, review, sort_params,
    unsorted_tracks,
)
from app.extensions import db
from app.models.service import ReviewError
from app.services.selection import latest_sort_run

PAGE = {"path": "/sort", "name": "Library & sort", "title": "contextify · Library & sort", "order": 5}
JOB = JobIds(ids.SORT_JOB_STORE, ids.SORT_DONE_STORE, ids.SORT_INTERVAL, ids.SORT_STATUS, ids.SORT_PROGRESS,
             ids.SORT_LOG)
NO_SORT = "No sort yet. Import your library, train a model, then sort."


def layout(**_query: Any) -> html.Div:
    user_id = require_user_id()
    model = latest_model(db.session, user_id)
    run = latest_sort_run(db.session, user_id)
    return html.Div([
        page_header("Library & sort", "The model places each of your songs in the playlists it fits. Move a "
                    "playlist's cutoff, keep or drop single tracks, then save.", step="Step 5 of 6"),
        html.Section([
            html.P(f"Sorts with your latest model, {model_label(model)}." if model else
                   "You have no model yet: train one on the Model page first.", id=ids.SORT_MODEL),
            html.Div([html.Button("Sort my library", id=ids.SORT_START, n_clicks=0, className="button",
                                  disabled=model is None),
                      html.P(id=ids.SORT_MESSAGE, className="form-error", role="alert")], className="actions"),
            html.P([dcc.Link("Import or refresh your library", href="/app/library"), " before sorting if it "
                    "changed."], className="hint"),
        ], className="card"),
        job_card("Sorting", JOB, current_job(user_id, KIND)),
        dcc.Store(id=ids.SORT_RUN_STORE, data=run.id if run else None),
        html.P(id=ids.SORT_REVIEW_MESSAGE, className="muted", role="status", **{"aria-live": "polite"}),
        html.Div(panels(review(db.session, user_id, run.id)) if run else empty_state(NO_SORT), id=ids.SORT_PANELS),
        html.Section([html.H2("Unsorted"), html.Div(unsorted_view(user_id, run.id if run else None),
                                                     id=ids.SORT_UNSORTED)], className="card"),
        html.P(dcc.Link("Next: save the playlists →", href="/app/save", className="button"), className="actions"),
    ], className="page sort-page")


def panels(playlists: list[PlaylistReview]) -> list[html.Section]:
    return [html.Section([
        html.H2(playlist.title),
        html.Label(f"Cutoff for {playlist.title}", htmlFor=f"cutoff-{i}", className="visually-hidden"),
        dcc.Slider(id={"type": ids.SORT_CUTOFF, "context": playlist.context}, min=0.05, max=1.0, step=0.01,
                   value=round(playlist.cutoff if playlist.cutoff is not None else 1.0, 2), updatemode="mouseup",
                   marks={0.05: "0.05", 0.5: "0.5", 1.0: "1"}, tooltip={"placement": "bottom"}),
        html.Div(track_list(playlist), id={"type": ids.SORT_LIST, "context": playlist.context}),
    ], className="card playlist-panel") for i, playlist in enumerate(playlists)]


def track_list(playlist: PlaylistReview) -> html.Div:
    head = []
    if playlist.words:
        head.append(html.P(playlist.words[0].upper() + playlist.words[1:] + ".", className="promise-words"))
    if playlist.cutoff is None:
        head.append(html.P(["No playlist because ", _because(playlist.reason)], className="warning no-playlist",
                           role="status"))
    elif playlist.best_effort:
        head.append(html.P(["Best effort, not promised: ", _because(playlist.reason)], className="warning best-effort",
                           role="status"))
    head.append(html.P(f"{playlist.kept_count:,} tracks kept"
                       + (f" at a cutoff of {playlist.cutoff:.2f}, promising a precision of at least "
                          f"{playlist.promised:.0%}." if playlist.cutoff is not None and playlist.promised is not None
                          and not playlist.best_effort else "."), className="chart-reading"))
    if playlist.looks_off:
        head.append(html.P(f"Looks off: these tracks sit {playlist.distance_ratio:.1f}× as far from the "
                           f"{playlist.title} playlists contextify learned from as those do from each other. "
                           "Listen before saving, or raise the cutoff.", className="warning", role="alert"))
    rows = [_row(row) for row in playlist.rows[:SHOWN_PER_PLAYLIST]]
    more = playlist.total - len(rows)
    return html.Div([*head, html.Div(html.Table([
        html.Thead(html.Tr([html.Th(h, scope="col") for h in ("Title", "Artist", "Probability", "Why", "")])),
        html.Tbody(rows)], className="data-table"), className="table-scroll") if rows else
        html.P("No tracks reach this cutoff.", className="muted"),
        html.P(f"And {more:,} more below, all of which are saved and exported as shown.", className="hint")
        if more > 0 else None])


def _because(message: str | None) -> str:
    """The reason of a cutoff message, without the context's name that leads it."""
    if not message:
        return "it cannot keep its target precision."
    reason = message.split(": ", 1)[-1]
    return reason.split("because ", 1)[-1]


def _row(row) -> html.Tr:
    buttons = [html.Button(label, id={"type": ids.SORT_DECIDE, "assignment": row.assignment_id, "verdict": verdict},
                           n_clicks=0, className="button small" + (" active" if row.decision == state else ""),
                           **{"aria-pressed": "true" if row.decision == state else "false"})
               for label, verdict, state in (("Keep", "accept", "accepted"), ("Drop", "reject", "rejected"))]
    return html.Tr([html.Td(row.title, dir="auto"), html.Td(row.artist, dir="auto"), html.Td(f"{row.probability:.2f}"),
                    html.Td(", ".join(row.reasons) or "–", className="muted"), html.Td(buttons, className="verdicts")],
                   className="kept" if row.kept else "not-kept")


def unsorted_view(user_id: int, sort_run_id: int | None) -> html.Div:
    if sort_run_id is None:
        return html.Div()
    count, shown = unsorted_tracks(db.session, user_id, sort_run_id)
    if not count:
        return html.P("Every track of your library sits in at least one playlist.", className="muted")
    return html.Div([html.P(f"{count:,} tracks fit no playlist at these cutoffs."),
                     html.Ul([html.Li(f"{artist} – {title}", dir="auto") for artist, title in shown],
                             className="compact-list"),
                     html.P(f"And {count - len(shown):,} more.", className="hint") if count > len(shown) else None])


def _sort_sentence(job):
    return job_sentence(job, "The sort", "No sort has run yet.")


def register_callbacks(dash_app) -> None:
    register_follow(dash_app, JOB, _sort_sentence)

    @dash_app.callback(
        Output(ids.SORT_JOB_STORE, "data"), Output(ids.SORT_MESSAGE, "children"),
        Input(ids.SORT_START, "n_clicks"), prevent_initial_call=True)
    def start(_clicks):
        user_id = require_user_id()
        try:
            return start_job(user_id, KIND, sort_params(db.session, user_id), "A sort"), ""
        except (ReviewError, JobRefused) as exc:
            return no_update, str(exc)

    @dash_app.callback(Output(ids.SORT_RUN_STORE, "data"), Input(ids.SORT_DONE_STORE, "data"),
                       prevent_initial_call=True)
    def sorted_(done):
        require_user_id()
        if not done or done["status"] != "succeeded":
            raise PreventUpdate
        return done["result"]["sort_run_id"]

    @dash_app.callback(
        Output(ids.SORT_PANELS, "children"), Output(ids.SORT_UNSORTED, "children", allow_duplicate=True),
        Input(ids.SORT_RUN_STORE, "data"), prevent_initial_call=True)
    def show_run(run_id):
        user_id = require_user_id()
        playlists = review(db.session, user_id, run_id)
        return (panels(playlists) if playlists else empty_state(NO_SORT)), unsorted_view(user_id, run_id)

    @dash_app.callback(
        Output({"type": ids.SORT_LIST, "context": ALL}, "children"), Output(ids.SORT_UNSORTED, "children"),
        Output(ids.SORT_REVIEW_MESSAGE, "children"),
        Input({"type": ids.SORT_CUTOFF, "context": ALL}, "value"),
        Input({"type": ids.SORT_DECIDE, "assignment": ALL, "verdict": ALL}, "n_clicks"),
        State(ids.SORT_RUN_STORE, "data"), prevent_initial_call=True)
    def edit(_cutoffs, _clicks, run_id):
        user_id = require_user_id()
        trigger = ctx.triggered_id
        if not isinstance(trigger, dict) or not ctx.triggered[0]["value"]:
            raise PreventUpdate  # a component only drawn again
        try:
            if trigger["type"] == ids.SORT_CUTOFF:
                message = move_cutoff(db.session, user_id, run_id, trigger["context"], ctx.triggered[0]["value"])
            else:
                message = give_verdict(db.session, user_id, trigger["assignment"], trigger["verdict"])
        except (ReviewError, ValueError) as exc:
            return [no_update] * len(ctx.outputs_list[0]), no_update, _sentence(str(exc))
        # A cutoff changes its own playlist only; a verdict's playlist is not known here, so all are drawn again.
        only = trigger["context"] if trigger["type"] == ids.SORT_CUTOFF else None
        by_context = {playlist.context: playlist for playlist in review(db.session, user_id, run_id, only=only)}
        lists = [track_list(by_context[o["id"]["context"]]) if o["id"]["context"] in by_context else no_update
                 for o in ctx.outputs_list[0]]
        return lists, unsorted_view(user_id, run_id), message


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
