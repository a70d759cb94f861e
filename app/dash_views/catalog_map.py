"""The Map page: the catalog as a scatter of any two features, its clusters and their genres, and a genre predictor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from dash import Input, Output, State, ctx, dcc, html, no_update
from flask import current_app

from app.analysis.cache import FolderCache, TTLCache
from app.auth.session import require_user_id
from app.dash_views import ids
from app.dash_views import catalog_map_view
from app.dash_views.components import chart_card, empty_state, page_header
from app.dash_views.jobs_view import (
    JobIds, JobRefused, current_job, job_card, job_follow, job_sentence, register_follow, start_job,
)
from app.extensions import db
from app.jobs import runner
from app.services import catalog_lookup, catalog_map

PAGE = {"path": "/map", "name": "Map", "title": "contextify · Map", "order": 9}
CACHE = "contextify.map_cache"
SHARED_FOLDER = "cache"
CLUSTER_KIND, GENRE_KIND, PREDICT_KIND = "map-clusters", "genre-model", "genre-predict"
CLUSTER_JOB = JobIds(ids.MAP_CLUSTER_JOB_STORE, ids.MAP_CLUSTER_DONE_STORE, ids.MAP_CLUSTER_INTERVAL,
                     ids.MAP_CLUSTER_STATUS, ids.MAP_CLUSTER_PROGRESS, ids.MAP_CLUSTER_LOG)
GENRE_JOB = JobIds(ids.MAP_GENRE_JOB_STORE, ids.MAP_GENRE_DONE_STORE, ids.MAP_GENRE_INTERVAL, ids.MAP_GENRE_STATUS,
                   ids.MAP_GENRE_PROGRESS, ids.MAP_GENRE_LOG)
PREDICT_JOB = JobIds(ids.MAP_PREDICT_JOB_STORE, ids.MAP_PREDICT_DONE_STORE, ids.MAP_PREDICT_INTERVAL,
                     ids.MAP_PREDICT_STATUS, ids.MAP_PREDICT_PROGRESS, ids.MAP_PREDICT_LOG)
PREVIEW_KIND, SEARCH_KIND = "map-preview", "map-search"
PREVIEW_JOB = JobIds(ids.MAP_PREVIEW_JOB_STORE, ids.MAP_PREVIEW_DONE_STORE, ids.MAP_PREVIEW_INTERVAL,
                     ids.MAP_PREVIEW_STATUS, ids.MAP_PREVIEW_PROGRESS, ids.MAP_PREVIEW_LOG)
SEARCH_JOB = JobIds(ids.MAP_SEARCH_JOB_STORE, ids.MAP_SEARCH_DONE_STORE, ids.MAP_SEARCH_INTERVAL,
                    ids.MAP_SEARCH_STATUS, ids.MAP_SEARCH_PROGRESS, ids.MAP_SEARCH_LOG)
# Previews and searches are typed and clicked often: their starts count apart from the page's heavier jobs.
LOOKUP_BUCKET = "map-lookup"
CLICK_A_POINT = "Click a point to hear its 30-second preview."
NO_RUN = "No clustering yet: choose a method and cluster the catalog."


def layout(**_query: Any) -> html.Div:
    user_id = require_user_id()
    catalog = load_catalog()
    columns = catalog_map.numeric_columns(catalog)
    x, y = catalog_map.default_axes(columns)
    run = catalog_map.cluster_run(db.session, user_id)
    header = page_header("Map", "The harvested catalog as a map of its features: which tracks sit together, what "
                         "genres each cluster holds, and what genre a model trained on the catalog hears in a track.")
    if catalog.empty:
        return html.Div([header, empty_state(catalog_map.EMPTY_CATALOG, "Go to Contexts", "/app/contexts",
                                             id=ids.MAP_EMPTY)], className="page map-page")
    return html.Div([
        header,
        chart_card("The catalog", ids.MAP_SCATTER, ids.MAP_SCATTER_TEXT, controls=[html.Div([
            _dropdown("Across", ids.MAP_X, catalog_map_view.feature_options(columns), x),
            _dropdown("Up", ids.MAP_Y, catalog_map_view.feature_options(columns), y),
            _dropdown("Colour", ids.MAP_COLOUR, catalog_map_view.colour_options(columns), "genre"),
            _dropdown("Size", ids.MAP_SIZE, catalog_map_view.size_options(columns), "none"),
        ], className="map-controls")]),
        html.Div(catalog_map_view.player(None, CLICK_A_POINT), id=ids.MAP_PLAYER, **{"aria-live": "polite"}),
        html.Div(job_follow(PREVIEW_JOB, None), className="map-lookup"),
        _cluster_card(),
        job_card("Clustering", CLUSTER_JOB, current_job(user_id, CLUSTER_KIND)),
        dcc.Store(id=ids.MAP_RUN_STORE, data=run.id if run else None),
        html.Section([html.H2("Clusters"), html.P(id=ids.MAP_RUN_SUMMARY, **{"aria-live": "polite"}),
                      html.Div(id=ids.MAP_SENTENCES)], className="card"),
        html.Div([chart_card("Clusters against preference", ids.MAP_SWEEP, ids.MAP_SWEEP_TEXT),
                  chart_card("Genres in each cluster", ids.MAP_COMPOSITION, ids.MAP_COMPOSITION_TEXT)],
                 className="card-grid"),
        _genre_card(),
        job_card("Genre model", GENRE_JOB, current_job(user_id, GENRE_KIND)),
        _predict_card(),
        job_card("Genre prediction", PREDICT_JOB, current_job(user_id, PREDICT_KIND)),
        html.Section([html.Div(id=ids.MAP_PREDICTION),
                      dcc.Graph(id=ids.MAP_PREDICTION_CHART, config={"displaylogo": False})], className="card"),
    ], className="page map-page")


def _dropdown(label: str, component_id: str, options: list[dict[str, str]], value: str | None) -> html.Div:
    return html.Div([html.Label(label, htmlFor=component_id),
                     dcc.Dropdown(id=component_id, options=options, value=value, clearable=False)],
                    className="map-control")


def _cluster_card() -> html.Section:
    from app.models import clustering  # scikit-learn: imported when the page is drawn, not at app start

    return html.Section([
        html.H2("Cluster the catalog"),
        dcc.RadioItems(id=ids.MAP_METHOD, value="kmeans", className="radio-list", options=[
            {"label": " k-means (fast, any size: you choose the number of clusters)", "value": "kmeans"},
            {"label": f" Affinity propagation (finds the number itself; up to {clustering.AP_MAX_TRACKS:,} tracks)",
             "value": "ap"}]),
        html.Div([html.Label("Clusters for k-means", htmlFor=ids.MAP_K),
                  dcc.Slider(id=ids.MAP_K, min=2, max=20, step=1, value=clustering.DEFAULT_K,
                             marks={n: str(n) for n in (2, 5, 10, 15, 20)})], className="slider-field"),
        html.Div([html.Label("Preference for affinity propagation (percentile of the similarities: higher gives "
                             "more clusters)", htmlFor=ids.MAP_PREFERENCE),
                  dcc.Slider(id=ids.MAP_PREFERENCE, min=0, max=95, step=5, value=clustering.DEFAULT_PERCENTILE,
                             marks={n: str(n) for n in (0, 25, 50, 75, 95)})], className="slider-field"),
        dcc.Checklist(id=ids.MAP_SAMPLE, value=[], className="checkbox", options=[{
            "label": f" Let affinity propagation use a random sample of {clustering.AP_MAX_TRACKS:,} tracks when the "
                     "catalog is larger", "value": "sample"}]),
        html.Button("Cluster", id=ids.MAP_CLUSTER_START, className="button"),
        html.P(id=ids.MAP_CLUSTER_MESSAGE, className="form-error", role="alert"),
    ], className="card")


def _genre_card() -> html.Section:
    return html.Section([
        html.H2("Genre model"),
        html.P(id=ids.MAP_GENRE_MODEL_TEXT),
        html.Button("Train the genre model", id=ids.MAP_GENRE_TRAIN, className="button"),
        html.P(id=ids.MAP_GENRE_MESSAGE, className="form-error", role="alert"),
    ], className="card")


def _predict_card() -> html.Section:
    return html.Section([
        html.H2("Predict a track's genre"),
        html.Div([dcc.Input(id=ids.MAP_SEARCH, type="search", placeholder="A title or an artist", debounce=True,
                            maxLength=200),
                  html.Button("Search Deezer", id=ids.MAP_SEARCH_BUTTON, className="button")],
                 className="input-row"),
        html.P(id=ids.MAP_SEARCH_MESSAGE, className="muted", **{"aria-live": "polite"}),
        html.Div(job_follow(SEARCH_JOB, None), className="map-lookup"),
        dcc.RadioItems(id=ids.MAP_SEARCH_RESULTS, options=[], className="radio-list map-results"),
        html.Button("Predict its genre", id=ids.MAP_PREDICT, className="button"),
        html.P(id=ids.MAP_PREDICT_MESSAGE, className="form-error", role="alert"),
    ], className="card")


def load_catalog() -> pd.DataFrame:
    """The catalog frame, kept in memory and in the instance folder (shared by the server's workers); global
    data, so keyed by the catalog's version only, which changes with every label or feature row written."""
    cache: TTLCache[pd.DataFrame] = current_app.extensions.setdefault(CACHE, TTLCache(maxsize=2, ttl_s=3600))
    version = catalog_map.catalog_version(db.session)
    shared: FolderCache[pd.DataFrame] = FolderCache(Path(current_app.instance_path) / SHARED_FOLDER)
    return cache.get(("catalog", version),
                     lambda: shared.get("catalog", version, lambda: catalog_map.catalog_frame(db.session)))


def cluster_params(method: Any, preference: Any, k: Any, sample: Any) -> dict[str, Any]:
    return {"method": "ap" if method == "ap" else "kmeans", "preference_percentile": preference, "k": k,
            "sample": bool(sample)}


def register_callbacks(dash_app) -> None:
    register_follow(dash_app, CLUSTER_JOB, lambda job: job_sentence(job, "The clustering", "No clustering yet."))
    register_follow(dash_app, GENRE_JOB, lambda job: job_sentence(job, "The genre model's training",
                                                                  "The genre model has not been trained yet."))
    register_follow(dash_app, PREDICT_JOB, lambda job: job_sentence(job, "The prediction", "Nothing predicted yet."))

    @dash_app.callback(
        Output(ids.MAP_SCATTER, "figure"), Output(ids.MAP_SCATTER_TEXT, "children"),
        Input(ids.MAP_X, "value"), Input(ids.MAP_Y, "value"), Input(ids.MAP_COLOUR, "value"),
        Input(ids.MAP_SIZE, "value"), Input(ids.MAP_RUN_STORE, "data"))
    def show_scatter(x, y, colour, size, run_id):
        user_id = require_user_id()
        catalog = load_catalog()
        if catalog.empty or not x or not y:
            return catalog_map_view.empty_figure(catalog_map.EMPTY_CATALOG), catalog_map.EMPTY_CATALOG
        labels = catalog_map.run_labels(catalog_map.cluster_run(db.session, user_id, run_id)) if colour == "cluster" else None
        try:
            points = catalog_map.scatter_points(catalog, x, y, colour, None if size == "none" else size, labels)
        except catalog_map.MapError as exc:
            return catalog_map_view.empty_figure(str(exc)), str(exc)
        sentence = catalog_map.points_sentence(points)
        if colour == "cluster" and labels is None:
            sentence += " You have no clustering yet, so no track has a cluster."
        return catalog_map_view.scatter_figure(points), sentence

    register_follow(dash_app, PREVIEW_JOB, lambda job: _lookup_sentence(job, "Fetching the preview"))
    register_follow(dash_app, SEARCH_JOB, lambda job: _lookup_sentence(job, "Searching Deezer"))

    @dash_app.callback(
        Output(ids.MAP_PLAYER, "children"), Output(ids.MAP_PREVIEW_JOB_STORE, "data"),
        Input(ids.MAP_SCATTER, "clickData"), Input(ids.MAP_PREVIEW_DONE_STORE, "data"), prevent_initial_call=True)
    def play(click, done):
        # Deezer is asked in a `map-preview` job; the click starts it and its end (done) fills the player.
        user_id = require_user_id()
        if ctx.triggered_id == ids.MAP_PREVIEW_DONE_STORE:
            result = _finished(done, user_id)
            if result is None:
                return no_update, no_update
            return catalog_map_view.player(result.get("url"), result.get("message") or ""), no_update
        track_id = catalog_map_view.clicked_track(click)
        if track_id is None:
            return catalog_map_view.player(None, CLICK_A_POINT), no_update
        track = catalog_lookup.catalog_track(db.session, track_id)
        if track is None or track.deezer_id is None:  # answered from the store, no need to ask Deezer
            url, message = catalog_lookup.preview_url(db.session, {}, track_id)
            return catalog_map_view.player(url, message), no_update
        try:
            job_id = start_job(user_id, PREVIEW_KIND, {"track_id": track.id}, "A preview",
                               busy="A preview is still being fetched; click again in a moment.", bucket=LOOKUP_BUCKET)
        except JobRefused as exc:
            return catalog_map_view.player(None, str(exc)), no_update
        return no_update, job_id

    @dash_app.callback(
        Output(ids.MAP_CLUSTER_JOB_STORE, "data"), Output(ids.MAP_CLUSTER_MESSAGE, "children"),
        Input(ids.MAP_CLUSTER_START, "n_clicks"), State(ids.MAP_METHOD, "value"), State(ids.MAP_PREFERENCE, "value"),
        State(ids.MAP_K, "value"), State(ids.MAP_SAMPLE, "value"), prevent_initial_call=True)
    def start_clustering(_clicks, method, preference, k, sample):
        user_id = require_user_id()
        try:
            return start_job(user_id, CLUSTER_KIND, cluster_params(method, preference, k, sample),
                             "A clustering"), ""
        except JobRefused as exc:
            return no_update, str(exc)

    @dash_app.callback(Output(ids.MAP_RUN_STORE, "data"), Input(ids.MAP_CLUSTER_DONE_STORE, "data"),
                       prevent_initial_call=True)
    def clustered(done):
        user_id = require_user_id()
        if not done or done.get("status") != "succeeded":
            return no_update
        job = runner.job_status(done.get("id"), user_id)
        return (job.get("result") or {}).get("run_id") if job else no_update

    @dash_app.callback(
        Output(ids.MAP_RUN_SUMMARY, "children"), Output(ids.MAP_SENTENCES, "children"),
        Output(ids.MAP_SWEEP, "figure"), Output(ids.MAP_SWEEP_TEXT, "children"),
        Output(ids.MAP_COMPOSITION, "figure"), Output(ids.MAP_COMPOSITION_TEXT, "children"),
        Input(ids.MAP_RUN_STORE, "data"))
    def show_run(run_id):
        run = catalog_map.cluster_run(db.session, require_user_id(), run_id)
        if run is None:
            blank = catalog_map_view.empty_figure(NO_RUN)
            return NO_RUN, None, blank, "", blank, ""
        result = run.result or {}
        chosen = (run.params or {}).get("preference_percentile")
        return (catalog_map.run_summary(run), catalog_map_view.sentences_list(result.get("sentences")),
                catalog_map_view.sweep_figure(result.get("sweep") or [], chosen), catalog_map_view.sweep_sentence(result.get("sweep") or []),
                catalog_map_view.composition_figure(result.get("composition")),
                "Each bar is one cluster; its colours are the shares of its tracks per Deezer album genre.")

    @dash_app.callback(
        Output(ids.MAP_GENRE_JOB_STORE, "data"), Output(ids.MAP_GENRE_MESSAGE, "children"),
        Input(ids.MAP_GENRE_TRAIN, "n_clicks"), prevent_initial_call=True)
    def train_genre(_clicks):
        user_id = require_user_id()
        try:
            return start_job(user_id, GENRE_KIND, {}, "A genre model's training"), ""
        except JobRefused as exc:
            return no_update, str(exc)

    @dash_app.callback(Output(ids.MAP_GENRE_MODEL_TEXT, "children"), Input(ids.MAP_GENRE_DONE_STORE, "data"))
    def show_genre_model(_done):
        return catalog_map.genre_model_sentence(catalog_map.genre_model_row(db.session, require_user_id()))

    @dash_app.callback(
        Output(ids.MAP_SEARCH_RESULTS, "options"), Output(ids.MAP_SEARCH_RESULTS, "value"),
        Output(ids.MAP_SEARCH_MESSAGE, "children"), Output(ids.MAP_SEARCH_JOB_STORE, "data"),
        Input(ids.MAP_SEARCH_BUTTON, "n_clicks"), Input(ids.MAP_SEARCH, "n_submit"),
        Input(ids.MAP_SEARCH_DONE_STORE, "data"), State(ids.MAP_SEARCH, "value"), prevent_initial_call=True)
    def search(_clicks, _submit, done, query):
        # Deezer is asked in a `map-search` job; the button starts it and its end (done) lists what it found.
        user_id = require_user_id()
        if ctx.triggered_id != ids.MAP_SEARCH_DONE_STORE:
            try:
                job_id = start_job(user_id, SEARCH_KIND, {"query": catalog_lookup.search_query(query)}, "A search",
                                   busy="A search is still running; try again in a moment.", bucket=LOOKUP_BUCKET)
            except (catalog_map.MapError, JobRefused) as exc:
                return [], None, str(exc), no_update
            return no_update, no_update, "", job_id
        job = runner.job_status(done["id"], user_id) if isinstance(done, dict) and done.get("id") else None
        if job is None or job["status"] not in ("succeeded", "failed"):
            return no_update, no_update, no_update, no_update
        if job["status"] == "failed":
            return [], None, job.get("error") or "Deezer did not answer the search; try again in a moment.", no_update
        found = (job.get("result") or {}).get("found") or []
        if not found:
            return [], None, "Deezer found no track for that search.", no_update
        return ([{"label": f" {row['label']}", "value": row["deezer_id"]} for row in found], found[0]["deezer_id"],
                f"{len(found)} tracks found; pick one and predict its genre.", no_update)

    @dash_app.callback(
        Output(ids.MAP_PREDICT_JOB_STORE, "data"), Output(ids.MAP_PREDICT_MESSAGE, "children"),
        Input(ids.MAP_PREDICT, "n_clicks"), State(ids.MAP_SEARCH_RESULTS, "value"), prevent_initial_call=True)
    def predict(_clicks, deezer_id):
        user_id = require_user_id()
        if not isinstance(deezer_id, int) or isinstance(deezer_id, bool):
            return no_update, "Search for a track and pick one first."
        if catalog_map.genre_model_row(db.session, user_id) is None:
            return no_update, "Train the genre model first (the button above)."
        try:
            return start_job(user_id, PREDICT_KIND, {"deezer_id": deezer_id}, "A prediction"), ""
        except JobRefused as exc:
            return no_update, str(exc)

    @dash_app.callback(
        Output(ids.MAP_PREDICTION, "children"), Output(ids.MAP_PREDICTION_CHART, "figure"),
        Input(ids.MAP_PREDICT_DONE_STORE, "data"))
    def show_prediction(done):
        user_id = require_user_id()
        job = runner.job_status(done["id"], user_id) if done and done.get("id") else None
        result = job.get("result") if job and job["status"] == "succeeded" else None
        return catalog_map_view.prediction_panel(result), catalog_map_view.probability_figure(result)


def _lookup_sentence(job, what: str) -> str:
    # Only while it runs: its answer (or why it failed) is shown where the page always showed it.
    return f"{what}…" if job is not None and job["status"] in ("queued", "running") else ""


def _finished(done, user_id: int) -> dict[str, Any] | None:
    """A finished lookup job's result, read from the job row (not trusted from the browser); None otherwise."""
    job = runner.job_status(done["id"], user_id) if isinstance(done, dict) and done.get("id") else None
    if job is None:
        return None
    if job["status"] != "succeeded":
        return {"url": None, "message": job.get("error") or "Deezer did not answer, so the preview cannot play now."}
    return job.get("result") or {}
