"""The Library page: import Liked Songs from Spotify or upload an export file, and see what the library holds."""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State, ctx, dcc, html, no_update
from flask import current_app

from app.auth.session import require_user_id
from app.dash_views import ids
from app.dash_views.components import page_header, table
from app.dash_views.harvests import format_when
from app.dash_views.jobs_view import JobIds, JobRefused, current_job, job_card, register_follow, start_job
from app.dash_views.library_view import (
    ACCEPTED, KIND, LibrarySummary, UploadError, discard_upload, import_sentence, library_summary, save_upload,
)
from app.extensions import db
from app.pipeline.files import MAX_BYTES

PAGE = {"path": "/library", "name": "Library", "title": "contextify · Library", "order": 3}
JOB = JobIds(ids.LIBRARY_JOB_STORE, ids.LIBRARY_DONE_STORE, ids.LIBRARY_INTERVAL, ids.LIBRARY_STATUS,
             ids.LIBRARY_PROGRESS, ids.LIBRARY_LOG)
WHAT = "An import"


def layout(**_query: Any) -> html.Div:
    user_id = require_user_id()
    return html.Div([
        page_header("Library", "Bring in the songs to sort: your Liked Songs and playlists from Spotify, or a file "
                    "you exported.", step="Step 3 of 6"),
        html.Div([_spotify_card(), _upload_card()], className="card-grid"),
        html.P(id=ids.LIBRARY_MESSAGE, className="form-error", role="alert"),
        job_card("Progress", JOB, current_job(user_id, KIND)),
        html.Section([html.H2("What's in your library"),
                      html.Div(summary_view(library_summary(db.session, user_id)), id=ids.LIBRARY_SUMMARY)],
                     className="card"),
    ], className="page library-page")


def _spotify_card() -> html.Section:
    return html.Section([
        html.H2("From Spotify"),
        html.P("Reads your Liked Songs and the playlists you made. A second import only reads what changed."),
        dcc.Checklist(id=ids.LIBRARY_FULL, value=[], className="checkbox",
                      options=[{"label": " Read every Liked Song again (slower)", "value": "full"}]),
        html.Button("Import from Spotify", id=ids.LIBRARY_IMPORT, n_clicks=0, className="button"),
    ], className="card")


def _upload_card() -> html.Section:
    return html.Section([
        html.H2("From a file"),
        html.P("Spotify's privacy export (YourLibrary.json, Playlist1.json …), an Exportify CSV, or a CSV with "
               "artist and title columns."),
        dcc.Upload(id=ids.LIBRARY_UPLOAD, accept=ACCEPTED, max_size=MAX_BYTES, multiple=False,
                   className="upload-zone",
                   children=html.Div(["Drop a file here or ", html.Span("choose one", className="link")])),
        html.Small(f"Up to {MAX_BYTES // 1024 // 1024} MB.", className="hint"),
    ], className="card")


def summary_view(summary: LibrarySummary) -> html.Div:
    if not summary.tracks:
        return html.Div(html.P("Your library is empty so far.", className="muted"))
    counts = [("Liked Songs", summary.liked), ("playlists", summary.playlists), ("files", summary.files),
              ("tracks in all", summary.tracks), ("matched to Deezer", summary.matched),
              ("not matched", summary.unmatched)]
    if summary.waiting:
        counts.append(("waiting to be matched", summary.waiting))
    reasons = table([{"reason": reason, "tracks": f"{n:,}"} for reason, n in summary.reasons],
                    {"reason": "Why a track did not match", "tracks": "Tracks"}, "Every track matched.")
    return html.Div([
        html.Ul([html.Li([html.Strong(f"{n:,}"), f" {label}"]) for label, n in counts], className="counts"),
        html.P(f"Last sync: {format_when(summary.last_sync.isoformat()) if summary.last_sync else 'never'}.",
               className="muted"),
        html.P("Unmatched tracks cannot be sorted: contextify learns from Deezer's data about each track.",
               className="hint") if summary.unmatched else None,
        reasons,
    ])


def register_callbacks(dash_app) -> None:
    register_follow(dash_app, JOB, import_sentence)

    @dash_app.callback(
        Output(ids.LIBRARY_JOB_STORE, "data"), Output(ids.LIBRARY_MESSAGE, "children"),
        Input(ids.LIBRARY_IMPORT, "n_clicks"), Input(ids.LIBRARY_UPLOAD, "contents"),
        State(ids.LIBRARY_UPLOAD, "filename"), State(ids.LIBRARY_FULL, "value"),
        prevent_initial_call=True)
    def start(_clicks, contents, filename, full):
        user_id = require_user_id()
        try:
            if ctx.triggered_id == ids.LIBRARY_UPLOAD:
                stored = save_upload(current_app.config, user_id, filename, contents)
                try:
                    return start_job(user_id, KIND, {"file": stored}, WHAT), ""
                except JobRefused:
                    discard_upload(current_app.config, user_id, stored)  # a refused upload is not kept
                    raise
            return start_job(user_id, KIND, {"full": "full" in (full or [])}, WHAT), ""
        except (UploadError, JobRefused) as exc:
            return no_update, str(exc)

    @dash_app.callback(Output(ids.LIBRARY_SUMMARY, "children"), Input(ids.LIBRARY_DONE_STORE, "data"),
                       prevent_initial_call=True)
    def refresh(_done):
        return summary_view(library_summary(db.session, require_user_id()))
