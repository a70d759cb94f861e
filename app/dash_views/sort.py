"""The Library & sort page: sort the library with the latest model, then review each playlist track by track."""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from app.auth.session import require_user_id
from app.dash_views import ids, refine_section
from app.dash_views.components import empty_state, page_header
from app.dash_views.jobs_view import JobIds, JobRefused, current_job, job_card, job_sentence, register_follow, start_job
from app.dash_views.review_outputs import ReviewOutputs, kept_words
from app.services.sort_review import KIND, PlaylistReview, latest_model, review, sort_params, unsorted_tracks
from app.services.training import loaded_model, model_label
from app.extensions import db
from app.services.review import PAGE_SIZE, keep_or_drop, move_cutoff, undo
from app.services.review import run_of as review_run
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
        refine_section.rests_on_view(user_id),
        dcc.Store(id=ids.SORT_UNDO_STORE, data=[]),
        html.Div([html.P(id=ids.SORT_REVIEW_MESSAGE, className="muted", role="status", **{"aria-live": "polite"}),
                  html.Button("Undo", id=ids.SORT_UNDO, n_clicks=0, disabled=True, className="button small secondary",
                              title="Undo the last keep, drop or cutoff (up to 20)")], className="review-bar"),
        html.Div(panels(review(db.session, user_id, run.id, shown=PAGE_SIZE)) if run else empty_state(NO_SORT),
                 id=ids.SORT_PANELS),
        html.Section([html.H2("Unsorted"), html.Div(unsorted_view(user_id, run.id if run else None),
                                                     id=ids.SORT_UNSORTED)], className="card"),
        html.P(dcc.Link("Next: save the playlists →", href="/app/save", className="button"), className="actions"),
    ], className="page sort-page")


def panels(playlists: list[PlaylistReview]) -> list[html.Section]:
    return [html.Section([
        html.H2(playlist.title),
        html.Label(f"Cutoff for {playlist.title}", htmlFor=f"cutoff-{i}", className="visually-hidden"),
        # The slider's own number box commits on blur; assets/review_keys.js makes Enter commit too.
        dcc.Slider(id={"type": ids.SORT_CUTOFF, "context": playlist.context}, min=0.05, max=1.0, step=0.01,
                   value=round(playlist.cutoff if playlist.cutoff is not None else 1.0, 2), updatemode="mouseup",
                   marks={0.05: "0.05", 0.5: "0.5", 1.0: "1"}, tooltip={"placement": "bottom"}),
        dcc.Store(id={"type": ids.SORT_PAGE, "context": playlist.context}, data=0),
        html.Div(track_list(playlist), id={"type": ids.SORT_LIST, "context": playlist.context}),
        html.Div([html.Button(label, id={"type": ids.SORT_PAGE_STEP, "context": playlist.context, "step": step},
                              n_clicks=0, className="button small secondary")
                  for label, step in (("← Earlier songs", -1), ("Later songs →", 1))],
                 className="actions pager") if playlist.total > PAGE_SIZE else None,
    ], className="card playlist-panel") for i, playlist in enumerate(playlists)]


def kept_line(playlist: PlaylistReview) -> html.P:
    promise = (f" at a cutoff of {playlist.cutoff:.2f}; at least {playlist.promised:.0%} of them should fit."
               if playlist.cutoff is not None and playlist.promised is not None and not playlist.best_effort else ".")
    return html.P([html.Span(kept_words(playlist.kept_count), id={"type": ids.SORT_KEPT, "context": playlist.context}),
                   promise], className="chart-reading")


def track_list(playlist: PlaylistReview, page: int = 0) -> html.Div:
    head = []
    if playlist.words:
        head.append(html.P(playlist.words[0].upper() + playlist.words[1:] + ".", className="promise-words"))
    if playlist.cutoff is None:
        head.append(html.P(["No playlist because ", _because(playlist.reason)], className="warning no-playlist",
                           role="status"))
    elif playlist.best_effort:
        head.append(html.P(["Best effort, not promised: ", _because(playlist.reason)], className="warning best-effort",
                           role="status"))
    head.append(kept_line(playlist))
    if playlist.looks_off:
        head.append(html.P(f"Looks off: these songs sound further from the {playlist.title} playlists "
                           f"contextify learned from ({playlist.distance_ratio:.1f}× as far) than those playlists do "
                           "from each other. Listen before saving, or raise the cutoff.", className="warning",
                           role="alert"))
    rows = [_row(row) for row in playlist.rows]
    first = page * PAGE_SIZE + 1
    where = (f"Songs {first:,}–{first + len(rows) - 1:,} of {playlist.total:,} in this playlist's review. "
             "Every kept song is saved and exported, not only the ones on this page.") if rows else None
    return html.Div([*head, html.Div(html.Table([
        html.Thead(html.Tr([html.Th(h, scope="col") for h in ("Title", "Artist", "Fit", "Why", "", "")])),
        html.Tbody(rows)], className="data-table"), className="table-scroll") if rows else
        html.P("No songs reach this cutoff.", className="muted"),
        html.P(where, className="hint") if where and playlist.total > len(rows) else None])


def _because(message: str | None) -> str:
    """The reason of a cutoff message, without the context's name that leads it."""
    if not message:
        return "it cannot keep its target precision."
    reason = message.split(": ", 1)[-1].removeprefix("BEST EFFORT, not promised: ")  # the page says it already
    return reason.split("because ", 1)[-1]


def _row(row) -> html.Tr:
    buttons = [html.Button(label, id={"type": ids.SORT_DECIDE, "assignment": row.assignment_id, "verdict": verdict},
                           n_clicks=0, className=verdict_class(row.decision, state),
                           **{"aria-pressed": "true" if row.decision == state else "false"})
               for label, verdict, state in (("Keep", "accept", "accepted"), ("Drop", "reject", "rejected"))]
    return html.Tr([html.Td(row.title, dir="auto"), html.Td(row.artist, dir="auto"), html.Td(f"{row.probability:.2f}"),
                    html.Td(", ".join(row.reasons) or "–", className="muted"), html.Td(buttons, className="verdicts"),
                    html.Td(id={"type": ids.SORT_ROW_NOTE, "assignment": row.assignment_id}, className="row-note",
                            role="status")],
                   className="kept" if row.kept else "not-kept")


def verdict_class(decision: str, state: str) -> str:
    return "button small" + (" active" if decision == state else "")


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
    refine_section.register_sort_callbacks(dash_app)  # the line on what the playlists rest on

    @dash_app.callback(
        Output(ids.SORT_JOB_STORE, "data"), Output(ids.SORT_MESSAGE, "children"),
        Input(ids.SORT_START, "n_clicks"), prevent_initial_call=True)
    def start(_clicks):
        from app.models.service import ReviewError  # the model layer loads scikit-learn: not at app start

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
        Output(ids.SORT_PANELS, "children"), Output(ids.SORT_UNDO_STORE, "data", allow_duplicate=True),
        Output(ids.SORT_UNDO, "disabled", allow_duplicate=True),
        Input(ids.SORT_RUN_STORE, "data"), prevent_initial_call=True)
    def show_run(run_id):
        user_id = require_user_id()
        playlists = review(db.session, user_id, run_id, shown=PAGE_SIZE)
        # A new sort starts a new review: the earlier one's undo steps do not apply to it. Emptying the undo
        # store also fires `unsorted`, which draws the new sort's unsorted list (once, not here as well).
        return (panels(playlists) if playlists else empty_state(NO_SORT)), [], True

    @dash_app.callback(
        Output({"type": ids.SORT_LIST, "context": ALL}, "children"),
        Output({"type": ids.SORT_KEPT, "context": ALL}, "children"),
        Output({"type": ids.SORT_ROW_NOTE, "assignment": ALL}, "children"),
        Output({"type": ids.SORT_DECIDE, "assignment": ALL, "verdict": ALL}, "className"),
        Output({"type": ids.SORT_DECIDE, "assignment": ALL, "verdict": ALL}, "aria-pressed"),
        Output({"type": ids.SORT_CUTOFF, "context": ALL}, "value"),
        Output({"type": ids.SORT_PAGE, "context": ALL}, "data"),
        Output(ids.SORT_UNDO_STORE, "data"), Output(ids.SORT_UNDO, "disabled"),
        Output(ids.SORT_REVIEW_MESSAGE, "children"),
        Input({"type": ids.SORT_CUTOFF, "context": ALL}, "value"),
        Input({"type": ids.SORT_DECIDE, "assignment": ALL, "verdict": ALL}, "n_clicks"),
        Input({"type": ids.SORT_PAGE_STEP, "context": ALL, "step": ALL}, "n_clicks"),
        Input(ids.SORT_UNDO, "n_clicks"),
        State(ids.SORT_RUN_STORE, "data"), State(ids.SORT_UNDO_STORE, "data"),
        State({"type": ids.SORT_PAGE, "context": ALL}, "data"), prevent_initial_call=True)
    def edit(_cutoffs, _clicks, _steps, _undo, run_id, stack, pages):
        from app.models.service import ReviewError

        user_id = require_user_id()
        trigger = ctx.triggered_id
        if trigger is None or not ctx.triggered[0]["value"]:
            raise PreventUpdate  # a component only drawn again
        outputs = ReviewOutputs(ctx.outputs_list, stack)
        try:
            answer, page_step, run = act(user_id, run_id, trigger, ctx.triggered[0]["value"], stack)
        except (ReviewError, ValueError) as exc:
            return outputs.message(_sentence(str(exc)))
        if trigger == ids.SORT_UNDO:
            outputs.pop()
        elif answer is not None:
            outputs.push(answer)
        if answer is not None and answer.assignment_id is not None:
            # A song's answer changes its row and its playlist's count only: nothing else is drawn again.
            outputs.row(answer.assignment_id, answer.decision, answer.message)
            outputs.kept(answer.context, answer.kept or 0)
        context = answer.context if answer is not None and answer.assignment_id is None else (
            trigger["context"] if page_step else None)
        if context is not None:
            page = outputs.page_of(context, pages) + page_step
            reviewed = review(db.session, user_id, run or run_id, only=context, shown=PAGE_SIZE,
                              offset=page * PAGE_SIZE, recent=True)
            if reviewed and not reviewed[0].rows and page > 0:
                page = 0
                reviewed = review(db.session, user_id, run or run_id, only=context, shown=PAGE_SIZE, recent=True)
            if reviewed:
                outputs.list(context, track_list(reviewed[0], page), page)
                if trigger == ids.SORT_UNDO:
                    outputs.slider(context, reviewed[0].cutoff)
        return outputs.message(answer.message if answer is not None else "")

    @dash_app.callback(Output(ids.SORT_UNSORTED, "children"), Input(ids.SORT_UNDO_STORE, "data"),
                       State(ids.SORT_RUN_STORE, "data"), prevent_initial_call=True)
    def unsorted(_stack, run_id):
        # Apart from the answer, so a keep, drop or cutoff is shown before this slower count comes back.
        return unsorted_view(require_user_id(), run_id)


def act(user_id: int, run_id, trigger, value, stack):
    """Carry out what the browser asked: (the answer or None, the page step of a pager button, the sort when it
    was read), the sort read once and handed on, so the redraw does not read it again."""
    if trigger == ids.SORT_UNDO:
        if not stack:
            from app.models.service import ReviewError

            raise ReviewError("there is nothing to undo")
        run = review_run(db.session, user_id, run_id)
        return undo(db.session, user_id, run, stack[-1], loaded_model(db.session, user_id, run.model_id)), 0, run
    if not isinstance(trigger, dict):
        raise PreventUpdate
    if trigger["type"] == ids.SORT_PAGE_STEP:
        return None, (1 if trigger.get("step") == 1 else -1), None
    if trigger["type"] == ids.SORT_CUTOFF:
        run = review_run(db.session, user_id, run_id)
        answer = move_cutoff(db.session, user_id, run, trigger["context"], value,
                             loaded_model(db.session, user_id, run.model_id))
        if answer is None:
            raise PreventUpdate
        return answer, 0, run
    return keep_or_drop(db.session, user_id, trigger["assignment"], trigger["verdict"]), 0, None


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
