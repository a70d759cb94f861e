"""The Enhance page: learn the user's own playlists, suggest liked songs for each, and add the accepted ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from dash import ALL, Input, Output, State, dcc, html, no_update

import app.jobs.enhance_task  # noqa: F401  (registers the `enhance` tasks in the web process)
from app.analysis.explore import feature_label
from app.auth.session import require_user_id
from app.dash_views import ids
from app.dash_views.components import empty_state, measured, page_header, table
from app.dash_views.figures import LAYOUT, empty_figure
from app.dash_views.harvests import format_when
from app.dash_views.jobs_view import JobIds, JobRefused, current_job, job_card, job_sentence, register_follow, start_job
from app.extensions import db
from app.services import enhance, enhance_add
from app.services.enhance import PlaylistSuggestions
from app.storage.tables import ModelRun, TrainedModel

PAGE = {"path": "/enhance", "name": "Enhance", "title": "contextify · Enhance", "order": 7}
KIND = "enhance"
ADD_KIND = "enhance-add"
JOB = JobIds(ids.ENHANCE_JOB_STORE, ids.ENHANCE_DONE_STORE, ids.ENHANCE_INTERVAL, ids.ENHANCE_STATUS,
             ids.ENHANCE_PROGRESS, ids.ENHANCE_LOG)
ADD_JOB = JobIds(ids.ENHANCE_ADD_JOB_STORE, ids.ENHANCE_ADD_DONE_STORE, ids.ENHANCE_ADD_INTERVAL,
                 ids.ENHANCE_ADD_STATUS, ids.ENHANCE_ADD_PROGRESS, ids.ENHANCE_ADD_LOG)
NO_MODEL = "Enhance has not learned your playlists yet. Press “Learn my playlists” to start."
STUDY_TITLE = "Class weights or oversampling, and a score not to trust"
DECISION_WORDS = {"added": "added to the playlist", "accepted": "accepted, not added yet"}


def readiness(user_id: int) -> str | None:
    """None when Enhance can learn this user's playlists, else why not in plain words."""
    try:
        enhance.check_ready(db.session, user_id)
    except enhance.EnhanceError as exc:
        return str(exc)
    return None


def layout(**_query: Any) -> html.Div:
    user_id = require_user_id()
    refusal = readiness(user_id)
    model = enhance.latest_model(db.session, user_id)
    return html.Div([
        page_header("Enhance my playlists", "contextify learns what each of the playlists you made sounds like, and "
                    "suggests liked songs that belong in one but are not in it yet."),
        html.Section([
            html.H2("Learn my playlists"),
            empty_state(refusal, "Go to Library", "/app/library") if refusal else html.P(
                "contextify compares five kinds of model on your playlists, keeps the best one, and shows how it was "
                "chosen below. It takes about a minute."),
            html.Div([html.Button("Learn my playlists", id=ids.ENHANCE_START, n_clicks=0, className="button",
                                  disabled=refusal is not None),
                      html.P(id=ids.ENHANCE_MESSAGE, className="form-error", role="alert")], className="actions"),
        ], className="card"),
        job_card("Learning", JOB, current_job(user_id, KIND)),
        html.Div(suggestions_section(model, _suggestions(user_id, model)), id=ids.ENHANCE_RESULTS),
        html.Section([
            html.H2("Add to Spotify"),
            html.P("The ticked songs are added to the end of their playlists on Spotify; nothing is removed or "
                   "reordered. Each playlist is read back to check."),
            html.Div([html.Button("Add the ticked songs", id=ids.ENHANCE_ADD, n_clicks=0, className="button",
                                  disabled=model is None),
                      html.P(id=ids.ENHANCE_ADD_MESSAGE, className="form-error", role="alert")], className="actions"),
        ], className="card"),
        job_card("Adding", ADD_JOB, current_job(user_id, ADD_KIND)),
        html.Div(_analysis(user_id, model), id=ids.ENHANCE_ANALYSIS),
    ], className="page enhance-page")


def _suggestions(user_id: int, model) -> list:
    return enhance.suggestions(db.session, user_id, model.id) if model else []


def _analysis(user_id: int, model) -> list:
    runs = enhance.model_runs(db.session, user_id, model.id) if model else []
    # How the model was chosen and scored is evidence, not something a listener needs to read first.
    return [measured(*analysis_view(model, runs, enhance.runs(db.session, user_id)))]


def _learn_sentence(job):
    return job_sentence(job, "Learning your playlists", "Your playlists have not been learned yet.")


def _add_sentence(job):
    return job_sentence(job, "Adding songs to Spotify", "Nothing has been added yet.")


def register_callbacks(dash_app) -> None:
    register_follow(dash_app, JOB, _learn_sentence)
    register_follow(dash_app, ADD_JOB, _add_sentence)

    @dash_app.callback(Output(ids.ENHANCE_JOB_STORE, "data"), Output(ids.ENHANCE_MESSAGE, "children"),
                       Input(ids.ENHANCE_START, "n_clicks"), prevent_initial_call=True)
    def learn(_clicks):
        user_id = require_user_id()
        refusal = readiness(user_id)
        if refusal:
            return no_update, refusal
        try:
            return start_job(user_id, KIND, {}, "Learning your playlists"), ""
        except JobRefused as exc:
            return no_update, str(exc)

    @dash_app.callback(Output(ids.ENHANCE_RESULTS, "children"), Output(ids.ENHANCE_ANALYSIS, "children"),
                       Output(ids.ENHANCE_ADD, "disabled"),
                       Input(ids.ENHANCE_DONE_STORE, "data"), Input(ids.ENHANCE_ADD_DONE_STORE, "data"),
                       prevent_initial_call=True)
    def refresh(_learned, _added):
        user_id = require_user_id()
        model = enhance.latest_model(db.session, user_id)
        return suggestions_section(model, _suggestions(user_id, model)), _analysis(user_id, model), model is None

    @dash_app.callback(Output(ids.ENHANCE_ADD_JOB_STORE, "data"), Output(ids.ENHANCE_ADD_MESSAGE, "children"),
                       Input(ids.ENHANCE_ADD, "n_clicks"), State({"type": ids.ENHANCE_PICK, "playlist": ALL}, "value"),
                       prevent_initial_call=True)
    def add(_clicks, picks):
        user_id = require_user_id()
        chosen = [value for values in picks or [] for value in values or []]
        try:
            accepted = enhance_add.accept(db.session, user_id, chosen)
            return start_job(user_id, ADD_KIND, {"suggestion_ids": accepted}, "Adding songs"), ""
        except (enhance.EnhanceError, JobRefused) as exc:
            return no_update, str(exc)


# ------------------------------------------------------------------------------------------ drawing


def percent(value: Any) -> str:
    return "–" if value is None else f"{float(value):.0%}"


def score(value: Any) -> str:
    return "–" if value is None else f"{float(value):.2f}"


# ----------------------------------------------------------------------------------------- suggestions


def suggestions_view(playlists: Sequence[PlaylistSuggestions], cutoff: float | None) -> html.Div:
    """One checklist per playlist: tick the songs to add; songs already added are shown, not offered."""
    if not playlists:
        return empty_state(NO_MODEL)
    lead = html.P(f"Liked songs that are not in each playlist yet and that the model puts there with a probability "
                  f"of at least {percent(cutoff)}, best first. Tick the ones you want, then add them to Spotify.",
                  className="muted")
    return html.Div([lead, *(_playlist_view(p) for p in playlists)])


def _playlist_view(playlist: PlaylistSuggestions) -> html.Div:
    if not playlist.tracks:
        body: Any = html.P("No liked song fits this playlist well enough to suggest.", className="muted")
    else:
        options = [{"label": _track_label(t), "value": t.id, "disabled": t.decision == "added"}
                   for t in playlist.tracks]
        body = dcc.Checklist(id={"type": ids.ENHANCE_PICK, "playlist": playlist.playlist_id}, options=options,
                             value=[t.id for t in playlist.tracks if t.decision == "accepted"],
                             className="enhance-picks", labelClassName="enhance-pick")
    return html.Div([html.H3(playlist.name), body], className="enhance-playlist")


def _track_label(track) -> html.Span:
    parts = [html.Strong(f"{track.artist} – {track.title}"), html.Span(f" {percent(track.probability)}",
                                                                        className="enhance-probability")]
    if track.decision in DECISION_WORDS:
        parts.append(html.Span(DECISION_WORDS[track.decision], className=f"badge enhance-{track.decision}"))
    parts.append(html.Span(" · ".join(track.reasons), className="hint"))
    return html.Span(parts)


# ------------------------------------------------------------------------------------------------ study


def study_view(study: Sequence[ModelRun]) -> html.Div:
    """The imbalance study's runs side by side, and why the oversampled-before-split score is not to be trusted."""
    if not study:
        return html.P("The study runs with the first learning job.", className="muted")
    rows = [{"run": run.name.partition(": ")[2] or run.name, "macro_f1": score(run.metrics.get("macro_f1")),
             "accuracy": percent(run.metrics.get("accuracy")),
             "precision": percent(run.metrics.get("precision_at_cutoff")),
             "trust": "No: inflated" if run.params.get("balance") == "oversample-before-split" else
             ("Partly: artists can leak" if run.params.get("balance") == "weights-ungrouped" else "Yes")}
            for run in study]
    return html.Div([
        table(rows, {"run": "How the imbalance was handled and scored", "macro_f1": "Macro-F1", "accuracy": "Accuracy",
                     "precision": "Precision at the cutoff", "trust": "Trust it?"}, "",
              caption=f"Estimator: {study[0].params.get('estimator')}; the same songs in every run."),
        html.Div(explanation(study), className="enhance-explanation"),
    ])


def explanation(study: Sequence[ModelRun]) -> list:
    """Plain words on why oversampling before splitting scores higher, with this run's numbers."""
    by_balance = {run.params.get("balance"): run.metrics for run in study}
    trap = by_balance.get("oversample-before-split", {}).get("macro_f1")
    weights = by_balance.get("weights", {}).get("macro_f1")
    inside = by_balance.get("oversample-in-folds", {}).get("macro_f1")
    ungrouped = by_balance.get("weights-ungrouped", {}).get("macro_f1")
    return [
        html.H3("Why is the oversampled-before-split score higher, and why not trust it?"),
        html.P("Your playlists are small next to the liked songs that are in none of them, so a model could ignore "
               "the playlists and still be right most of the time. Two fixes: class weights (mistakes on a small "
               "playlist count more) or random oversampling (copies of a small playlist's songs are added until "
               "every class is as large as the largest). " + _honest_words(weights, inside)),
        html.P(f"Oversampling the whole set before splitting it scores {score(trap)}. That score is inflated and not "
               "to be trusted: the copies of one song land on both sides of the split, so the model is tested on "
               "songs it has already seen in training. It only has to recognise them, not to judge a new song, "
               "which is the only thing a suggestion asks of it."),
        html.P("The honest scores split by artist: a song, its copies and the artist's other songs are either all in "
               "training or all in testing, and oversampling, when used, copies training songs only. "
               + _grouping_words(weights, ungrouped) + " Expect the grouped numbers on songs the model has not seen."),
    ]


def _honest_words(weights: float | None, inside: float | None) -> str:
    if weights is None or inside is None:
        return ""
    if abs(weights - inside) <= 0.03:
        return (f"Done honestly, both score about the same here: macro-F1 {score(weights)} with class weights and "
                f"{score(inside)} with oversampling inside each training fold.")
    better = "class weights" if weights > inside else "oversampling inside each training fold"
    return (f"Done honestly, {better} does better here: macro-F1 {score(weights)} with class weights against "
            f"{score(inside)} with oversampling inside each training fold.")


def _grouping_words(weights: float | None, ungrouped: float | None) -> str:
    if weights is None or ungrouped is None:
        return ""
    if ungrouped > weights + 0.02:
        return (f"Splitting without grouping leaks a little too (macro-F1 {score(ungrouped)} against "
                f"{score(weights)}): an artist's songs sound alike.")
    return (f"Here, splitting without grouping scores about the same or lower ({score(ungrouped)} against "
            f"{score(weights)}), so the inflation comes from the copies, not from artists shared across the split.")


def comparison_view(compared: Sequence[ModelRun]) -> html.Div:
    if not compared:
        return html.P("The comparison runs with the first learning job.", className="muted")
    rows = [{"model": run.name + (" (chosen)" if (run.result or {}).get("chosen") else ""),
             "balance": "class weights" if run.params.get("balance") == "weights" else "oversampling in folds",
             "accuracy": percent(run.metrics.get("accuracy")), "macro_f1": score(run.metrics.get("macro_f1")),
             "precision": percent(run.metrics.get("precision_at_cutoff")), "cutoff": percent(run.metrics.get("cutoff")),
             "seconds": f"{run.seconds:.1f}" if run.seconds is not None else "–"} for run in compared]
    return html.Div([
        table(rows, {"model": "Model", "balance": "Imbalance handled by", "accuracy": "Accuracy",
                     "macro_f1": "Macro-F1", "precision": "Precision at the cutoff", "cutoff": "Cutoff",
                     "seconds": "Seconds"}, "",
              caption="Cross-validation grouped by artist, the same folds for every model. The model with the best "
                      "macro-F1 makes the suggestions."),
        html.P("Precision counts a suggestion as right only when the song is already in that playlist, so it is a "
               "floor: a liked song that fits but that you never added counts as wrong.", className="muted"),
    ])


# ------------------------------------------------------------------------------------ chosen model


def confusion_figure(classes: Sequence[str], matrix: Sequence[Sequence[int]]) -> go.Figure:
    if not classes or not matrix:
        return empty_figure("No confusion matrix yet.")
    figure = go.Figure(go.Heatmap(z=matrix, x=list(classes), y=list(classes), colorscale="Blues", showscale=False,
                                  text=matrix, texttemplate="%{text}",
                                  hovertemplate="in %{y}, predicted %{x}: %{z}<extra></extra>"), layout=LAYOUT)
    figure.update_layout(xaxis_title="predicted", yaxis_title="true", yaxis={"autorange": "reversed"},
                         height=max(300, 60 * len(classes) + 140))
    return figure


def importance_figure(importance: Sequence[dict]) -> go.Figure:
    rows = [r for r in importance][:12]
    if not rows:
        return empty_figure("No feature importance yet.")
    rows = rows[::-1]
    figure = go.Figure(go.Bar(x=[r["importance"] for r in rows], y=[feature_label(r["feature"]) for r in rows],
                              orientation="h", error_x={"array": [r["spread"] for r in rows]},
                              hovertemplate="%{y}: %{x:.3f}<extra></extra>"), layout=LAYOUT)
    figure.update_layout(xaxis_title="macro-F1 lost when the feature is shuffled", height=60 + 28 * len(rows))
    return figure


def chosen_view(model: TrainedModel | None) -> html.Div:
    metrics = (model.metrics or {}) if model else {}
    if not metrics.get("confusion"):
        return html.P("The chosen model's details appear after the first learning job.", className="muted")
    top = [feature_label(r["feature"]) for r in metrics.get("importance", [])[:3] if r["importance"] > 0]
    reading = (f"It relies most on {', '.join(top)}." if top else
               "No single feature matters much: shuffling any one of them barely changes the score.")
    return html.Div([
        html.P(f"{model.name.removeprefix('Enhance: ').capitalize()}: macro-F1 {score(metrics.get('macro_f1'))}, "
               f"precision {percent(metrics.get('precision_at_cutoff'))} at the cutoff "
               f"{percent(metrics.get('cutoff'))}, learned from {metrics.get('rows', 0):,} songs on "
               f"{format_when(model.created_at.isoformat())}."),
        html.Div([
            html.Div([html.H3("Confusion matrix (out-of-fold)"),
                      dcc.Graph(figure=confusion_figure(metrics.get("classes", []), metrics["confusion"]),
                                config={"displaylogo": False})], className="enhance-chart"),
            html.Div([html.H3("Feature importance (permutation)"),
                      dcc.Graph(figure=importance_figure(metrics.get("importance", [])),
                                config={"displaylogo": False}),
                      html.P(reading, className="chart-reading")], className="enhance-chart"),
        ], className="enhance-charts"),
    ])


def runs_view(runs: Sequence[ModelRun]) -> html.Div:
    """Every recorded run, newest first, so runs of different days can be compared."""
    rows = [{"when": format_when(run.created_at.isoformat()), "run": run.name,
             "study": "imbalance study" if (run.result or {}).get("study") == "imbalance" else "comparison",
             "accuracy": percent(run.metrics.get("accuracy")), "macro_f1": score(run.metrics.get("macro_f1")),
             "precision": percent(run.metrics.get("precision_at_cutoff")),
             "params": ", ".join(f"{k}={v}" for k, v in run.params.items()
                                 if k not in ("estimator", "study", "reused_from")),
             "seconds": f"{run.seconds:.1f}" if run.seconds is not None else "–"} for run in runs]
    return table(rows, {"when": "When", "run": "Run", "study": "Part of", "accuracy": "Accuracy",
                        "macro_f1": "Macro-F1", "precision": "Precision at the cutoff", "params": "Parameters",
                        "seconds": "Seconds"}, "No runs recorded yet.")


def suggestions_section(model: TrainedModel | None, playlists: Sequence[PlaylistSuggestions]) -> html.Section:
    cutoff = (model.metrics or {}).get("cutoff") if model else None
    return html.Section([html.H2("Suggestions"), suggestions_view(playlists if model else [], cutoff)],
                        className="card")


def analysis_view(model: TrainedModel | None, runs: Sequence[ModelRun], all_runs: Sequence[ModelRun]) -> list:
    """The study, the comparison and the chosen model of the latest job, and every past run."""
    study = [r for r in runs if (r.result or {}).get("study") == "imbalance"]
    compared = [r for r in runs if (r.result or {}).get("study") == "comparison"]
    return [
        html.Section([html.H2(STUDY_TITLE), study_view(study)], className="card"),
        html.Section([html.H2("Models compared"), comparison_view(compared)], className="card"),
        html.Section([html.H2("The chosen model"), chosen_view(model)], className="card"),
        html.Section([html.H2("Past runs"), runs_view(all_runs)], className="card"),
    ]
