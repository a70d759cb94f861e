"""The Map page's callbacks on a constructed catalog: the scatter, clustering jobs, refusals and owner isolation."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from sqlalchemy import select

from app.dash_views import catalog_map, ids
from app.extensions import db
from app.jobs import runner
from app.services import catalog_map as service
from app.storage.tables import ModelRun, TrainedModel
from tests.auth.helpers import add_user, session_login
from tests.catalog_map.conftest import GENRES, catalog_rows, store_catalog
from tests.dash_views.helpers import UPDATE, call, component_ids, dependencies, find, outputs, payload, texts
from tests.jobs.conftest import wait_for

SCATTER = f"{ids.MAP_SCATTER}.figure"
AXES = {f"{ids.MAP_X}.value": "preview_tempo", f"{ids.MAP_Y}.value": "preview_energy",
        f"{ids.MAP_COLOUR}.value": "genre", f"{ids.MAP_SIZE}.value": "none", f"{ids.MAP_RUN_STORE}.data": None}


@pytest.fixture
def site(app):
    """The app with two logged-in users (`me`, `other`) and an anonymous client; jobs stopped afterwards."""
    me_id, other_id = add_user(app, "mira.s"), add_user(app, "ana.k")
    me, other, anonymous = app.test_client(), app.test_client(), app.test_client()
    session_login(me, me_id)
    session_login(other, other_id)
    yield app, (me, me_id), (other, other_id), anonymous
    runner.shutdown(app)


def start(client, output: str, values: dict) -> tuple[str | None, str]:
    shown = outputs(call(client, output, values, changed=[next(iter(values))]))
    store = shown.get(output)
    message = next((v for k, v in shown.items() if k != output), "")
    return store, message


def lookup(app, client, user_id: int, output: str, job: str, done: str, values: dict) -> dict:
    """A Map lookup as the browser sees it: the click starts a job, the ~1 s poll sees it end, the page shows it.

    Returns the outputs shown once the job ended (`output` names the callback; `job`/`done` its job stores).
    """
    started = outputs(call(client, output, values, changed=[next(iter(values))]))
    job_id = started.get(f"{job}.data")
    assert job_id, started
    ended = wait_for(app, job_id, user_id, timeout=30)
    finished = {"id": job_id, "status": ended["status"], "result": None}
    return outputs(call(client, output, {**values, f"{done}.data": finished}, changed=[f"{done}.data"]))


def cluster(client, **params) -> str:
    values = {f"{ids.MAP_CLUSTER_START}.n_clicks": 1, f"{ids.MAP_METHOD}.value": params.get("method", "kmeans"),
              f"{ids.MAP_PREFERENCE}.value": params.get("preference", 50), f"{ids.MAP_K}.value": params.get("k", 3),
              f"{ids.MAP_SAMPLE}.value": params.get("sample", [])}
    job_id, message = start(client, f"{ids.MAP_CLUSTER_JOB_STORE}.data", values)
    assert job_id, message
    return job_id


def test_the_page_renders_with_its_controls_through_the_router(site):
    app, (me, me_id), _, _ = site
    store_catalog(app, catalog_rows(per_genre=10))
    assert me.get("/app/map").status_code == 200
    expected = {ids.MAP_X, ids.MAP_Y, ids.MAP_COLOUR, ids.MAP_SIZE, ids.MAP_SCATTER, ids.MAP_PLAYER, ids.MAP_METHOD,
                ids.MAP_PREFERENCE, ids.MAP_K, ids.MAP_SWEEP, ids.MAP_COMPOSITION, ids.MAP_SEARCH, ids.MAP_PREDICT}
    with app.test_request_context("/app/map"):
        session_login_in_request(me_id)
        tree = catalog_map.layout()
    assert expected <= component_ids(tree)
    router = next(dep for dep in dependencies(me) if "_pages_content.children" in dep["output"])
    response = me.post(UPDATE, json=payload(router, {"_pages_location.pathname": "/app/map",
                                                     "_pages_location.search": ""},
                                            changed=["_pages_location.pathname"]))
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    served = json.dumps(response.get_json())
    assert all(f'"{cid}"' in served for cid in expected)
    assert '"Map"' in me.get("/app/_dash-layout").get_data(as_text=True)


def test_an_empty_catalog_shows_where_to_start(site):
    app, (_, me_id), _, _ = site
    with app.test_request_context("/app/map"):
        session_login_in_request(me_id)
        tree = catalog_map.layout()
    empty = find(tree, ids.MAP_EMPTY)
    assert empty is not None and empty.children[0].children == service.EMPTY_CATALOG
    assert ids.MAP_SCATTER not in component_ids(tree)


def session_login_in_request(user_id: int) -> None:

    from app.auth.session import log_in  # the id and its server-side session key
    log_in(user_id)


def test_the_scatter_has_every_point_with_its_title_and_artist(site):
    app, (me, _), _, _ = site
    store_catalog(app, catalog_rows())
    shown = outputs(call(me, SCATTER, AXES))
    traces = shown[SCATTER]["data"]
    assert {trace["name"] for trace in traces} == set(GENRES)
    assert all(trace["type"] == "scattergl" for trace in traces)
    points = [point for trace in traces for point in trace["customdata"]]
    assert len(points) == 120
    assert ["Dance song 3", "Dance artist 3"] in [point[1:] for point in points]
    assert "%{customdata[1]}" in traces[0]["hovertemplate"] and "%{customdata[2]}" in traces[0]["hovertemplate"]
    assert "Showing all 120 tracks" in shown[f"{ids.MAP_SCATTER_TEXT}.children"]


def numbers(values) -> list[float]:
    """A figure's array as plotly sends it: a list, or (from numpy) a base64 typed array the browser decodes."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return list(values)


def test_colour_and_size_by_a_feature(site):
    app, (me, _), _, _ = site
    store_catalog(app, catalog_rows())
    shown = outputs(call(me, SCATTER, {**AXES, f"{ids.MAP_COLOUR}.value": "deezer_gain",
                                       f"{ids.MAP_SIZE}.value": "preview_energy"}))
    (trace,) = shown[SCATTER]["data"]
    assert trace["marker"]["showscale"] and len(numbers(trace["marker"]["color"])) == 120
    sizes = numbers(trace["marker"]["size"])
    assert len(numbers(trace["x"])) == len(numbers(trace["y"])) == 120
    assert min(sizes) == 4.0 and max(sizes) == 16.0
    by_context = outputs(call(me, SCATTER, {**AXES, f"{ids.MAP_COLOUR}.value": "context"}))[SCATTER]["data"]
    assert {trace["name"] for trace in by_context} == {"party", "study", "workout"}


def test_a_large_catalog_is_sampled_and_says_how_many_are_shown(catalog_app):
    with catalog_app.app_context():
        catalog = service.catalog_frame(db.session)
    points = service.scatter_points(catalog, "preview_tempo", "deezer_gain", "genre", None, limit=50)
    assert len(points) == 50 and points.attrs["total"] == 120
    assert service.points_sentence(points).startswith("Showing a random 50 of the 120 tracks")


def test_clicking_a_track_without_a_deezer_id_says_there_is_no_preview(site):
    app, (me, _), _, _ = site
    store_catalog(app, catalog_rows())
    player = f"{ids.MAP_PLAYER}.children"
    click = {"points": [{"customdata": [1, "Dance song 0", "Dance artist 0"]}]}
    shown = outputs(call(me, player, {f"{ids.MAP_SCATTER}.clickData": click}, changed=[f"{ids.MAP_SCATTER}.clickData"]))
    assert texts(shown[player]) == ["Dance song 0 — Dance artist 0: no preview for this track."]
    stranger = {"points": [{"customdata": [99999, "x", "y"]}]}
    shown = outputs(call(me, player, {f"{ids.MAP_SCATTER}.clickData": stranger}))
    assert texts(shown[player]) == ["That track is not in the catalog."]


def test_kmeans_job_records_a_run_that_colours_the_map_and_names_each_cluster(site):
    app, (me, me_id), (other, other_id), _ = site
    store_catalog(app, catalog_rows())
    job_id = cluster(me, method="kmeans", k=3)
    with app.app_context():
        job = wait_for(app, job_id, me_id, timeout=60)
    assert job["status"] == "succeeded", job
    run_id = job["result"]["run_id"]
    assert job["result"]["n_clusters"] == 3
    done = {"id": job_id, "status": "succeeded", "result": job["result"]}
    assert outputs(call(me, f"{ids.MAP_RUN_STORE}.data", {f"{ids.MAP_CLUSTER_DONE_STORE}.data": done})) == {
        f"{ids.MAP_RUN_STORE}.data": run_id}
    shown = outputs(call(me, f"{ids.MAP_SENTENCES}.children", {f"{ids.MAP_RUN_STORE}.data": run_id}))
    sentences = texts(shown[f"{ids.MAP_SENTENCES}.children"])[1:]
    assert len(sentences) == 3 and {g for g in GENRES if any(g in s for s in sentences)} == set(GENRES)
    assert "k-means with k = 3 found 3 clusters in 120 tracks" in shown[f"{ids.MAP_RUN_SUMMARY}.children"]
    bars = shown[f"{ids.MAP_COMPOSITION}.figure"]["data"]
    assert {bar["name"] for bar in bars} == set(GENRES) and all(bar["type"] == "bar" for bar in bars)
    sweep = shown[f"{ids.MAP_SWEEP}.figure"]["data"][0]["y"]
    assert sweep[-1] > sweep[0]
    coloured = outputs(call(me, SCATTER, {**AXES, f"{ids.MAP_COLOUR}.value": "cluster",
                                          f"{ids.MAP_RUN_STORE}.data": run_id}))[SCATTER]["data"]
    assert sorted(trace["name"] for trace in coloured) == ["cluster 0", "cluster 1", "cluster 2"]
    with app.app_context():
        run = db.session.get(ModelRun, run_id)
        assert (run.user_id, run.mode, run.name) == (me_id, "map", "k-means")

    # The other user sees none of it: not the run, not its colours, not the job.
    shown = outputs(call(other, f"{ids.MAP_SENTENCES}.children", {f"{ids.MAP_RUN_STORE}.data": run_id}))
    assert shown[f"{ids.MAP_RUN_SUMMARY}.children"] == catalog_map.NO_RUN
    coloured = outputs(call(other, SCATTER, {**AXES, f"{ids.MAP_COLOUR}.value": "cluster",
                                             f"{ids.MAP_RUN_STORE}.data": run_id}))[SCATTER]["data"]
    assert [trace["name"] for trace in coloured] == ["not clustered"]
    assert outputs(call(other, f"{ids.MAP_RUN_STORE}.data", {f"{ids.MAP_CLUSTER_DONE_STORE}.data": done})) == {}
    polled = outputs(call(other, f"{ids.MAP_CLUSTER_STATUS}.children", {f"{ids.MAP_CLUSTER_JOB_STORE}.data": job_id}))
    assert polled[f"{ids.MAP_CLUSTER_STATUS}.children"] == "No clustering yet."


def test_affinity_propagation_job_uses_the_preference(site):
    app, (me, me_id), _, _ = site
    store_catalog(app, catalog_rows())
    job_id = cluster(me, method="ap", preference=0)
    with app.app_context():
        job = wait_for(app, job_id, me_id, timeout=60)
        run = db.session.get(ModelRun, job["result"]["run_id"])
    assert job["status"] == "succeeded", job
    assert run.name == "affinity propagation" and run.params["preference_percentile"] == 0
    assert 2 <= run.metrics["n_clusters"] <= 6


def test_too_many_tracks_for_affinity_propagation_is_refused_in_plain_words(site):
    app, (me, me_id), _, _ = site
    store_catalog(app, catalog_rows(per_genre=667))  # 2,001 tracks
    job_id = cluster(me, method="ap")
    with app.app_context():
        job = wait_for(app, job_id, me_id, timeout=60)
    assert job["status"] == "failed"
    assert job["error"].startswith("Affinity propagation compares every pair of tracks, so contextify runs it on "
                                   "at most 2,000 tracks; this catalog has 2,001. Use k-means"), job["error"]
    status = outputs(call(me, f"{ids.MAP_CLUSTER_STATUS}.children", {f"{ids.MAP_CLUSTER_JOB_STORE}.data": job_id}))
    said = status[f"{ids.MAP_CLUSTER_STATUS}.children"]
    assert said.startswith("The clustering failed on ") and ": Affinity propagation compares every pair" in said, said


def test_an_empty_catalog_is_refused_by_the_jobs_in_plain_words(site):
    app, (me, me_id), _, _ = site
    job_id = cluster(me)
    genre_job, _ = start(me, f"{ids.MAP_GENRE_JOB_STORE}.data", {f"{ids.MAP_GENRE_TRAIN}.n_clicks": 1})
    with app.app_context():
        for job in (wait_for(app, job_id, me_id), wait_for(app, genre_job, me_id)):
            assert job["status"] == "failed"
            assert job["error"] == service.EMPTY_CATALOG


def test_predicting_without_a_model_or_a_pick_is_refused(site):
    app, (me, _), _, _ = site
    store_catalog(app, catalog_rows())
    store = f"{ids.MAP_PREDICT_JOB_STORE}.data"
    shown = outputs(call(me, store, {f"{ids.MAP_PREDICT}.n_clicks": 1, f"{ids.MAP_SEARCH_RESULTS}.value": None}))
    assert shown[f"{ids.MAP_PREDICT_MESSAGE}.children"] == "Search for a track and pick one first."
    shown = outputs(call(me, store, {f"{ids.MAP_PREDICT}.n_clicks": 1, f"{ids.MAP_SEARCH_RESULTS}.value": 1005}))
    assert shown[f"{ids.MAP_PREDICT_MESSAGE}.children"] == "Train the genre model first (the button above)."


def test_the_genre_model_is_trained_per_user(site):
    app, (me, me_id), (other, _), _ = site
    store_catalog(app, catalog_rows())
    job_id, _ = start(me, f"{ids.MAP_GENRE_JOB_STORE}.data", {f"{ids.MAP_GENRE_TRAIN}.n_clicks": 1})
    with app.app_context():
        job = wait_for(app, job_id, me_id, timeout=60)
        assert job["status"] == "succeeded", job
        model = db.session.get(TrainedModel, job["result"]["model_id"])
        assert (model.user_id, model.kind) == (me_id, "genre") and "genre" not in model.features
        runs = db.session.scalars(select(ModelRun).where(ModelRun.model_id == model.id)).all()
        assert [(r.mode, r.user_id) for r in runs] == [("genre", me_id)]
    text = f"{ids.MAP_GENRE_MODEL_TEXT}.children"
    mine = outputs(call(me, text, {f"{ids.MAP_GENRE_DONE_STORE}.data": None}))[text]
    assert mine.startswith("The genre model knows 3 genres") and "On albums it had not seen" in mine
    theirs = outputs(call(other, text, {f"{ids.MAP_GENRE_DONE_STORE}.data": None}))[text]
    assert theirs.startswith("No genre model yet")


def test_every_map_callback_refuses_anonymous_requests(site):
    app, _, _, anonymous = site
    me_client = site[1][0]
    deps = [dep for dep in dependencies(me_client) if "map-" in dep["output"]]
    assert len(deps) >= 12
    for dep in deps:
        response = anonymous.post(UPDATE, json=payload(dep))
        assert response.status_code == 401, dep["output"]


def test_a_forged_axis_is_refused_in_words_not_a_crash(site):
    app, (me, _), _, _ = site
    store_catalog(app, catalog_rows())
    shown = outputs(call(me, SCATTER, {**AXES, f"{ids.MAP_X}.value": "title", f"{ids.MAP_SIZE}.value": "artist"}))
    assert shown[f"{ids.MAP_SCATTER_TEXT}.children"] == (
        "The catalog has no feature called 'title' with enough values to draw.")


def test_default_axes_are_tempo_against_energy():
    assert service.default_axes(["deezer_bpm", "deezer_gain", "preview_energy", "preview_tempo"]) == (
        "preview_tempo", "preview_energy")
    assert service.default_axes(["deezer_rank", "deezer_duration_s"]) == ("deezer_rank", "deezer_duration_s")
    assert service.default_axes(["deezer_rank"]) == ("deezer_rank", "deezer_rank")
    assert service.default_axes([]) == (None, None)
