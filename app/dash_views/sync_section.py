"""The "Keep my playlists sorted" sections: sync settings (Save page) and the digest with undo (Home and Save)."""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate
from sqlalchemy import select

from app.auth.errors import NeedsLogin
from app.auth.session import require_user_id
from app.auth.spotify import spotify_for_user
from app.dash_views.jobs_view import JobRefused, start_job
from app.extensions import db
from app.services.songs import library_songs, split_song
from app.services.sync import MODES, PERIODS, SyncError, ask_recreate, base_sort, claim, set_sync, sync_settings
from app.services.sync_digest import (
    DigestError,
    DigestRun,
    accept_queued,
    digest,
    dismiss_queued,
    notices,
    undo_item,
    undo_run,
)
from app.storage.tables import ExportedPlaylist, SyncRun, Track, utcnow
from app.storage.ownership import owned

SYNC_ENABLED = "sync-enabled"
SYNC_PERIOD = "sync-period"
SYNC_MODE = "sync-mode"
SYNC_APPLY = "sync-apply"
SYNC_RUN_NOW = "sync-run-now"
SYNC_MESSAGE = "sync-message"
SYNC_DIGEST = "sync-digest"
SYNC_ANSWER = "sync-answer"      # what an undo, add or leave-out did (the digest's own line: Home has no settings)
SYNC_SONGS = "sync-songs"
# `type`s of pattern-matching ids {type, index}
UNDO_ITEM, UNDO_RUN, ACCEPT, DISMISS, SPLIT, RECREATE = ("sync-undo", "sync-undo-run", "sync-accept", "sync-dismiss",
                                                         "sync-split", "sync-recreate")
SHOWN_SONGS = 20


def settings_section(user_id: int) -> html.Section:
    """The opt-in (also on the Account page): on/off, daily or weekly, add at the promise or queue for review."""
    settings = sync_settings(db.session, user_id)
    has_base = base_sort(db.session, user_id) is not None
    return html.Section([
        html.H2("Keep my playlists sorted"),
        html.P("New Liked Songs are sorted with your current model and appended to the playlists contextify saved. "
               "Nothing is ever removed or reordered, and no playlist of yours is touched. Each sync can be undone "
               "for 7 days."),
        dcc.Checklist(id=SYNC_ENABLED, value=["on"] if settings.enabled else [], className="checkbox",
                      options=[{"label": " Keep my saved playlists sorted", "value": "on"}]),
        dcc.RadioItems(id=SYNC_PERIOD, value=settings.period, inline=True, className="radio",
                       options=[{"label": f" {p.title()} ", "value": p} for p in PERIODS]),
        dcc.RadioItems(id=SYNC_MODE, value=settings.mode, inline=True, className="radio",
                       options=[{"label": f" {words[:1].upper()}{words[1:]} ", "value": m} for m, words in MODES.items()]),
        html.Div([html.Button("Apply", id=SYNC_APPLY, n_clicks=0, className="button"),
                  html.Button("Sync now", id=SYNC_RUN_NOW, n_clicks=0, className="button secondary",
                              disabled=not has_base),
                  html.P(id=SYNC_MESSAGE, role="status")], className="actions"),
        html.Div(songs_view(user_id), id=SYNC_SONGS),
    ], className="card", id="sync-settings")


def digest_section(user_id: int) -> html.Section:
    return html.Section([html.H2("What your syncs did"), html.P(id=SYNC_ANSWER, role="status"),
                         html.Div(digest_view(user_id), id=SYNC_DIGEST)], className="card", id="sync-digest-card")


def digest_view(user_id: int) -> html.Div:
    said = [html.P(n, className="form-error", role="alert") for n in notices(db.session, user_id)]
    runs = digest(db.session, user_id)
    if not runs:
        settings = sync_settings(db.session, user_id)
        hint = ("Your first sync runs within its period." if settings.enabled
                else "Turn on \u201cKeep my playlists sorted\u201d on the Save page to have new likes placed for you.")
        return html.Div([*said, html.P(hint, className="muted")])
    return html.Div([*said, *[_run_view(run) for run in runs], _recreate_view(user_id)])


def _button(label: str, kind: str, index: int | str, enabled: bool = True) -> html.Button:
    return html.Button(label, id={"type": kind, "index": index}, n_clicks=0, className="button small secondary",
                       disabled=not enabled)


def _run_view(run: DigestRun) -> html.Div:
    parts: list[Any] = [html.H3([f"Sync of {run.when} ", html.Span(run.status, className=f"badge {run.status}")]),
                        html.P(run.message)]
    if run.stale:
        parts.append(html.P(run.stale, className="hint"))
    for playlist, items in run.playlists.items():
        parts.append(html.H4(playlist))
        parts.append(html.Ul([html.Li([item["track"], " ",
                                       _button("Undo", UNDO_ITEM, item["id"]) if item["status"] == "added"
                                       and run.undoable else html.Span(item["status"], className="muted"),
                                       html.Span(f" {item['note']}", className="muted") if item["note"] else ""])
                              for item in items]))
    if any(i["status"] == "added" for items in run.playlists.values() for i in items) and run.undoable:
        parts.append(_button("Undo this whole sync", UNDO_RUN, run.id))
    if run.queued:
        parts.append(html.H4("Waiting for your review"))
        parts.append(html.Ul([html.Li([f"{item['track']} → {item['playlist']} ",
                                       *([_button("Add", ACCEPT, item["id"]), _button("Leave out", DISMISS, item["id"])]
                                         if item["status"] == "queued" else [html.Span("left out", className="muted")])])
                              for item in run.queued]))
    if run.duplicates:
        parts.append(html.Details([html.Summary(f"{len(run.duplicates)} left out as other versions"),
                                   html.Ul([html.Li(f"{i['track']}: {i['note']}") for i in run.duplicates])]))
    return html.Div(parts, className="sync-run")


def _recreate_view(user_id: int) -> html.Div:
    """Playlists the last sync found deleted on Spotify, each with the button that asks for it to be made again."""
    settings = sync_settings(db.session, user_id)
    last = db.session.scalar(owned(SyncRun, user_id).order_by(SyncRun.id.desc()).limit(1))
    deleted = set(((last.counts or {}).get("deleted") or []) if last else [])
    rows = [r for r in db.session.scalars(owned(ExportedPlaylist, user_id)) if r.context in deleted]
    return html.Div([html.P([f"{row.name} was deleted on Spotify. ",
                             _button("Make it again at the next sync", RECREATE, row.context,
                                     row.context not in (settings.recreate_contexts or []))]) for row in rows])


def songs_view(user_id: int) -> html.Div:
    """Songs shown once for several versions, each later version with a button to split a wrong merge."""
    songs = library_songs(db.session, user_id)
    groups = list(songs.versions.values())[:SHOWN_SONGS]
    if not groups:
        return html.Div()
    names = dict(db.session.execute(select(Track.id, Track.artist + " – " + Track.title)
                                    .where(Track.id.in_([t for g in groups for t in g]))).all())
    return html.Details([
        html.Summary(f"{len(songs.versions)} songs you have in several versions are kept once"),
        html.Ul([html.Li([names.get(group[0], ""), " (liked first); also ",
                          *[html.Span([names.get(t, ""), " ", _button("Not the same song", SPLIT, t)])
                            for t in group[1:]]]) for group in groups]),
    ])


def _clicked() -> dict | None:
    """The pattern-matching button that fired, or None for a re-render (n_clicks still 0)."""
    if not isinstance(ctx.triggered_id, dict) or not any(t.get("value") for t in ctx.triggered):
        return None
    return ctx.triggered_id


def register_callbacks(dash_app) -> None:
    @dash_app.callback(Output(SYNC_MESSAGE, "children"), Output(SYNC_DIGEST, "children", allow_duplicate=True),
                       Input(SYNC_APPLY, "n_clicks"), State(SYNC_ENABLED, "value"), State(SYNC_PERIOD, "value"),
                       State(SYNC_MODE, "value"), prevent_initial_call=True)
    def apply(_clicks, enabled, period, mode):
        user_id = require_user_id()
        try:
            row = set_sync(db.session, user_id, enabled="on" in (enabled or []), period=period, mode=mode)
        except SyncError as exc:
            return str(exc), no_update
        said = (f"On: {row.period}, {MODES[row.mode]}." if row.enabled else "Off: your playlists stay as they are.")
        return said, digest_view(user_id)

    @dash_app.callback(Output(SYNC_MESSAGE, "children", allow_duplicate=True), Input(SYNC_RUN_NOW, "n_clicks"),
                       prevent_initial_call=True)
    def run_now(_clicks):
        user_id = require_user_id()
        run = claim(db.session, user_id, f"{user_id}:page:{utcnow().isoformat()}", "page")
        try:
            start_job(user_id, "sync", {"sync_run_id": run.id}, "A sync")
        except JobRefused as exc:
            db.session.delete(run)
            db.session.commit()
            return str(exc)
        return "Syncing now; the digest below shows what it added when it is done."

    @dash_app.callback(Output(SYNC_DIGEST, "children", allow_duplicate=True),
                       Output(SYNC_ANSWER, "children"),
                       Input({"type": UNDO_ITEM, "index": ALL}, "n_clicks"),
                       Input({"type": UNDO_RUN, "index": ALL}, "n_clicks"),
                       Input({"type": ACCEPT, "index": ALL}, "n_clicks"),
                       Input({"type": DISMISS, "index": ALL}, "n_clicks"),
                       Input({"type": RECREATE, "index": ALL}, "n_clicks"), prevent_initial_call=True)
    def answer(*_clicks):
        clicked = _clicked()
        if clicked is None:
            raise PreventUpdate
        user_id = require_user_id()
        return digest_view(user_id) if (said := act(user_id, clicked["type"], clicked["index"])) else no_update, said

    @dash_app.callback(Output(SYNC_SONGS, "children"), Output(SYNC_MESSAGE, "children", allow_duplicate=True),
                       Input({"type": SPLIT, "index": ALL}, "n_clicks"), prevent_initial_call=True)
    def split(_clicks):
        clicked = _clicked()
        if clicked is None:
            raise PreventUpdate
        user_id = require_user_id()
        # Only a later version the page listed can be split: not a stranger's track, not a made-up id.
        shown = {str(t) for group in library_songs(db.session, user_id).versions.values() for t in group[1:]}
        if str(clicked["index"]) not in shown:
            raise PreventUpdate
        split_song(db.session, user_id, int(clicked["index"]))
        return songs_view(user_id), "Split: that version is its own song from the next sort and sync on."


def act(user_id: int, kind: str, index: Any) -> str:
    """Carry out one digest button; the sentence to show."""
    try:
        if kind == DISMISS:
            return dismiss_queued(db.session, user_id, int(index))
        if kind == RECREATE:
            ask_recreate(db.session, user_id, str(index))
            return "It will be made again, with what contextify last wrote to it, at the next sync."
        client = spotify_for_user(user_id)
        if kind == UNDO_ITEM:
            return undo_item(db.session, user_id, int(index), client)
        if kind == UNDO_RUN:
            return undo_run(db.session, user_id, int(index), client)
        if kind == ACCEPT:
            return accept_queued(db.session, user_id, int(index), client)
    except (DigestError, ValueError, TypeError) as exc:
        return str(exc)
    except NeedsLogin:
        return "Spotify needs you to log in again before contextify can change your playlists."
    raise PreventUpdate
