"""The Save page: preview exactly what will be written, save one Spotify playlist per context, or export files."""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

import app.jobs.save_task  # noqa: F401  (registers the `save` task in the web process)
from app.auth.session import require_user_id
from app.dash_views import ids, sync_section
from app.dash_views.components import empty_state, page_header, table
from app.dash_views.harvests import format_when
from app.dash_views.jobs_view import (
    JobIds,
    JobRefused,
    current_job,
    job_card,
    job_follow,
    job_sentence,
    register_follow,
    start_job,
)
from app.extensions import db
from app.services.export import FORMATS
from app.jobs import runner
from app.services.save import SaveError, exported, plan_save, plan_summary
from app.services.selection import kept_tracks, latest_sort_run

PAGE = {"path": "/save", "name": "Save", "title": "contextify · Save", "order": 6}
KIND = "save"
CHECK_KIND = "save-dry-run"
CHECK = JobIds(ids.SAVE_CHECK_JOB_STORE, ids.SAVE_CHECK_DONE_STORE, ids.SAVE_CHECK_INTERVAL, ids.SAVE_CHECK_STATUS,
               ids.SAVE_CHECK_PROGRESS, ids.SAVE_CHECK_LOG)
JOB = JobIds(ids.SAVE_JOB_STORE, ids.SAVE_DONE_STORE, ids.SAVE_INTERVAL, ids.SAVE_STATUS, ids.SAVE_PROGRESS,
             ids.SAVE_LOG)
NO_SORT = "Nothing to save yet: sort your library first."
ACTIONS = {"create": "New playlist", "update": "Update", "unchanged": "Already up to date", "skip": "Nothing to save"}
STATUS_WORDS = {"saved": "Saved and checked", "failed": "Not saved", "pending": "Being written"}
EXPORT_BUTTONS = {ids.SAVE_EXPORT_CSV: "csv", ids.SAVE_EXPORT_M3U: "m3u", ids.SAVE_EXPORT_JSON: "json"}


def layout(**_query: Any) -> html.Div:
    user_id = require_user_id()
    run = latest_sort_run(db.session, user_id)
    return html.Div([
        page_header("Save", "See exactly what will change, then write one playlist per context to your Spotify "
                    "account, or download them as files.", step="Step 6 of 6"),
        html.Section([
            html.H2("What will be written"),
            html.Div(preview_view([plan_summary(p) for p in plan_save(db.session, user_id, run.id)]) if run
                     else empty_state(NO_SORT), id=ids.SAVE_PREVIEW),
            html.Button("Compare with Spotify now", id=ids.SAVE_CHECK, n_clicks=0, className="button secondary",
                        disabled=run is None),
            html.P(id=ids.SAVE_CHECK_MESSAGE, className="form-error", role="alert"),
            *job_follow(CHECK, current_job(user_id, CHECK_KIND)),
        ], className="card"),
        html.Section([
            html.H2("Save to Spotify"),
            html.P("contextify only ever changes playlists it created; saving again updates them."),
            dcc.Checklist(id=ids.SAVE_PUBLIC, value=[], className="checkbox",
                          options=[{"label": " Make new playlists public", "value": "public"}]),
            html.Div([html.Button("Save to Spotify", id=ids.SAVE_START, n_clicks=0, className="button",
                                  disabled=run is None),
                      html.P(id=ids.SAVE_MESSAGE, className="form-error", role="alert")], className="actions"),
        ], className="card"),
        job_card("Saving", JOB, current_job(user_id, KIND)),
        html.Section([html.H2("Your contextify playlists"), html.Div(playlists_view(user_id), id=ids.SAVE_PLAYLISTS)],
                     className="card"),
        sync_section.settings_section(user_id),
        sync_section.digest_section(user_id),
        html.Section([
            html.H2("Export"),
            html.P("The kept tracks of every playlist, for any player or a spreadsheet."),
            html.Div([html.Button(f"Download {name.upper()}", id=button, n_clicks=0, className="button secondary",
                                  disabled=run is None) for button, name in EXPORT_BUTTONS.items()],
                     className="actions"),
            dcc.Download(id=ids.SAVE_DOWNLOAD),
        ], className="card"),
    ], className="page save-page")


def preview_view(plans: list[dict]) -> html.Div:
    """The dry run, from `plan_summary` dicts (the page's own plan, or a `save-dry-run` job's result)."""
    if not plans:
        return empty_state(NO_SORT)
    return html.Div([_plan_view(plan) for plan in plans])


def _plan_view(plan: dict) -> html.Div:
    changes = [f"{plan['tracks']:,} tracks in all"]
    if plan["action"] == "update":
        changes += [f"{plan['add']:,} to add", f"{plan['remove']:,} to remove"]
        if plan["reordered"]:
            changes.append("same tracks, new order")
    details = [html.H3([plan["name"], " ", html.Span(ACTIONS[plan["action"]], className=f"badge {plan['action']}")]),
               html.P(" · ".join(changes))]
    if plan["without_uri_count"]:
        details.append(html.P(f"{plan['without_uri_count']:,} kept tracks have no Spotify id (they came from a file "
                              "and are not on Spotify) and are only exported: " + ", ".join(plan["without_uri"])
                              + ("…" if plan["without_uri_count"] > len(plan["without_uri"]) else ""),
                              className="hint"))
    if plan["note"]:
        details.append(html.P(plan["note"], className="muted"))
    return html.Div(details, className="plan")


def playlists_view(user_id: int) -> html.Div:
    rows = [{"name": row.name, "status": STATUS_WORDS.get(row.status, row.status), "tracks": f"{len(row.track_uris):,}",
             "when": format_when(row.saved_at.isoformat()) if row.saved_at else "–",
             "id": row.spotify_playlist_id or "–"}
            for row in sorted(exported(db.session, user_id).values(), key=lambda r: r.name)]
    return table(rows, {"name": "Playlist", "status": "Status", "tracks": "Tracks checked", "when": "Last saved",
                        "id": "Spotify id"}, "contextify has not written any playlist for you yet.")


def _save_sentence(job):
    return job_sentence(job, "Saving to Spotify", "Nothing has been saved yet.")


def _check_sentence(job):
    return job_sentence(job, "Comparing with Spotify", "")


def register_callbacks(dash_app) -> None:
    register_follow(dash_app, JOB, _save_sentence)
    register_follow(dash_app, CHECK, _check_sentence)
    sync_section.register_callbacks(dash_app)  # its sections are on this page and on Home

    @dash_app.callback(Output(ids.SAVE_CHECK_JOB_STORE, "data"), Output(ids.SAVE_CHECK_MESSAGE, "children"),
                       Input(ids.SAVE_CHECK, "n_clicks"), prevent_initial_call=True)
    def compare(_clicks):
        # Reading Spotify is a job (`save-dry-run`): the callback only starts it; `compared` shows its result.
        user_id = require_user_id()
        run = latest_sort_run(db.session, user_id)
        if run is None:
            return no_update, NO_SORT
        try:
            return start_job(user_id, CHECK_KIND, {"sort_run_id": run.id}, "A comparison with Spotify"), ""
        except JobRefused as exc:
            return no_update, str(exc)

    @dash_app.callback(Output(ids.SAVE_PREVIEW, "children"), Input(ids.SAVE_CHECK_DONE_STORE, "data"),
                       prevent_initial_call=True)
    def compared(done):
        # The result is read from the job row, not trusted from the browser's copy.
        job = runner.job_status(done["id"], require_user_id()) if isinstance(done, dict) and done.get("id") else None
        if job is None or job["status"] != "succeeded":
            raise PreventUpdate
        return preview_view((job.get("result") or {}).get("plans") or [])

    @dash_app.callback(
        Output(ids.SAVE_JOB_STORE, "data"), Output(ids.SAVE_MESSAGE, "children"),
        Input(ids.SAVE_START, "n_clicks"), State(ids.SAVE_PUBLIC, "value"), prevent_initial_call=True)
    def save(_clicks, public):
        user_id = require_user_id()
        run = latest_sort_run(db.session, user_id)
        if run is None:
            return no_update, NO_SORT
        try:
            return start_job(user_id, KIND, {"sort_run_id": run.id, "public": "public" in (public or [])},
                             "A save"), ""
        except (JobRefused, SaveError) as exc:
            return no_update, str(exc)

    @dash_app.callback(Output(ids.SAVE_PLAYLISTS, "children"), Input(ids.SAVE_DONE_STORE, "data"),
                       prevent_initial_call=True)
    def saved(_done):
        return playlists_view(require_user_id())

    @dash_app.callback(
        Output(ids.SAVE_DOWNLOAD, "data"),
        *(Input(button, "n_clicks") for button in EXPORT_BUTTONS), prevent_initial_call=True)
    def download(*_clicks):
        user_id = require_user_id()
        run = latest_sort_run(db.session, user_id)
        if run is None or ctx.triggered_id not in EXPORT_BUTTONS:
            raise PreventUpdate
        name = EXPORT_BUTTONS[ctx.triggered_id]
        render, mime = FORMATS[name]
        return {"content": render(kept_tracks(db.session, user_id, run.id)), "filename": f"contextify-playlists.{name}",
                "type": mime, "base64": False}
