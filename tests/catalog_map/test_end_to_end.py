"""The Map page end to end against the sandbox: a small harvested catalog, its map, clusters, previews and genres."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy.orm import sessionmaker

from app.dash_views import ids
from app.extensions import db
from app.jobs import runner
from app.runs.progress import Progress
from app.pipeline.clients.deezer import DeezerClient
from app.pipeline.clients.reccobeats import ReccoBeatsClient
from app.pipeline.enrich import enrich_tracks
from app.pipeline.harvest import Clients, HarvestOptions, harvest
from app.pipeline.providers.run import RunClients
from app.pipeline.ratelimit import SlidingWindowLimiter
from app.runs.summary import RunSummary
from app.web.security import JOBS_TOO_MANY
from app.services import catalog_map
from app.storage.tables import Track
from tests.auth.helpers import add_user, sandbox_app, session_login
from tests.catalog_map.test_page import AXES, SCATTER, cluster, lookup, start
from tests.dash_views.helpers import call, outputs, texts
from tests.jobs.conftest import dispose, wait_for

CONTEXTS = ["workout", "sleep", "study", "party"]
FAST = {"deezer_rate_limit": 1000, "deezer_rate_window": 1}


@pytest.fixture
def site(app_config, start_sandbox):
    """An app on a sandbox whose catalog holds a small harvest with Deezer features; two users logged in."""
    sandbox = start_sandbox(**FAST)
    app = sandbox_app(app_config, sandbox)
    deezer = DeezerClient(sandbox.deezer_url, limiter=SlidingWindowLimiter(900, 1.0), backoff_s=0.01)
    with app.app_context():
        factory = sessionmaker(bind=db.engine, expire_on_commit=False)
    result = harvest(factory, CONTEXTS, Clients(deezer),
                     HarvestOptions(playlists_per_context=2, tracks_per_playlist=40))
    # Deezer's features only: preview analysis would add minutes and nothing this test checks.
    enrich_tracks(factory, result.track_ids, {}, RunSummary("test"), Progress(), providers=["deezer"],
                  clients=RunClients(deezer=deezer, reccobeats=ReccoBeatsClient(sandbox.reccobeats_url),
                                             analysis_workers=1))
    me, other = app.test_client(), app.test_client()
    me_id, other_id = add_user(app, "mira.s"), add_user(app, "ana.k")
    session_login(me, me_id)
    session_login(other, other_id)
    yield app, sandbox, (me, me_id), (other, other_id)
    runner.shutdown(app)
    dispose(app)


def test_map_clusters_previews_and_genre_prediction_against_the_sandbox(site):
    app, sandbox, (me, me_id), (other, other_id) = site
    with app.app_context():
        catalog = catalog_map.catalog_frame(db.session)
    columns = catalog_map.numeric_columns(catalog)
    x, y = catalog_map.default_axes(columns)
    assert len(catalog) > 150 and x and y
    genres = set(catalog["genre"].dropna())

    # The scatter: every catalog track with both features, named on hover.
    shown = outputs(call(me, SCATTER, {**AXES, f"{ids.MAP_X}.value": x, f"{ids.MAP_Y}.value": y}))
    points = {point[0]: point[1:] for trace in shown[SCATTER]["data"] for point in trace["customdata"]}
    expected = catalog[catalog[x].notna() & catalog[y].notna()]
    assert len(points) == len(expected)
    some = int(expected.index[0])
    assert points[some] == [catalog.loc[some, "title"], catalog.loc[some, "artist"]]

    # A click plays the track's preview, a fresh signed link from Deezer, fetched by a `map-preview` job.
    player = f"{ids.MAP_PLAYER}.children"

    def play(client, user_id, click):
        return lookup(app, client, user_id, player, ids.MAP_PREVIEW_JOB_STORE, ids.MAP_PREVIEW_DONE_STORE,
                      {f"{ids.MAP_SCATTER}.clickData": click})

    click = {"points": [{"customdata": [some, *points[some]]}]}
    shown = play(me, me_id, click)
    audio = shown[player]["props"]["children"][1]
    assert audio["type"] == "Audio" and audio["props"]["src"].startswith(f"{sandbox.url}/cdn/preview/")
    clip = requests.get(audio["props"]["src"], timeout=10)
    assert clip.status_code == 200 and clip.headers["Content-Type"].startswith("audio/")

    # A track Deezer no longer has plays nothing, and says so.
    gone = int(expected.index[1])
    with app.app_context():
        db.session.get(Track, gone).deezer_id = 1
        db.session.commit()
    click = {"points": [{"customdata": [gone, *points[gone]]}]}
    shown = play(me, me_id, click)
    assert texts(shown[player]) == [f"{points[gone][0]} — {points[gone][1]}: no preview for this track."]

    # k-means and affinity propagation as jobs; each cluster named by genres the catalog has.
    for params in ({"method": "kmeans", "k": 4}, {"method": "ap", "preference": 10}):
        job_id = cluster(me, **params)
        job = wait_for(app, job_id, me_id, timeout=90)
        assert job["status"] == "succeeded", job
        run_id = job["result"]["run_id"]
        shown = outputs(call(me, f"{ids.MAP_SENTENCES}.children", {f"{ids.MAP_RUN_STORE}.data": run_id}))
        sentences = texts(shown[f"{ids.MAP_SENTENCES}.children"])[1:]
        assert len(sentences) == job["result"]["n_clusters"] >= 2
        assert all(any(genre in sentence for genre in genres) for sentence in sentences), sentences

    # The genre model, trained on the catalog, then a searched sandbox track predicted beside Deezer's genre.
    job_id, _ = start(me, f"{ids.MAP_GENRE_JOB_STORE}.data", {f"{ids.MAP_GENRE_TRAIN}.n_clicks": 1})
    job = wait_for(app, job_id, me_id, timeout=90)
    assert job["status"] == "succeeded", job
    query = catalog.loc[some, "artist"]
    found = lookup(app, me, me_id, f"{ids.MAP_SEARCH_RESULTS}.options", ids.MAP_SEARCH_JOB_STORE,
                   ids.MAP_SEARCH_DONE_STORE, {f"{ids.MAP_SEARCH_BUTTON}.n_clicks": 1, f"{ids.MAP_SEARCH}.value": query})
    assert found[f"{ids.MAP_SEARCH_MESSAGE}.children"].endswith("tracks found; pick one and predict its genre.")
    options = found[f"{ids.MAP_SEARCH_RESULTS}.options"]
    assert options and query in options[0]["label"]
    picked = found[f"{ids.MAP_SEARCH_RESULTS}.value"]
    # The model is the user's own: the other user has none to predict with.
    _, refused = start(other, f"{ids.MAP_PREDICT_JOB_STORE}.data", {
        f"{ids.MAP_PREDICT}.n_clicks": 1, f"{ids.MAP_SEARCH_RESULTS}.value": picked})
    assert refused == "Train the genre model first (the button above)."
    predict_job, message = start(me, f"{ids.MAP_PREDICT_JOB_STORE}.data", {
        f"{ids.MAP_PREDICT}.n_clicks": 1, f"{ids.MAP_SEARCH_RESULTS}.value": picked})
    assert predict_job, message
    job = wait_for(app, predict_job, me_id, timeout=90)
    assert job["status"] == "succeeded", job
    result = job["result"]
    track = requests.get(f"{sandbox.deezer_url}/track/{picked}", timeout=10).json()
    album = requests.get(f"{sandbox.deezer_url}/album/{track['album']['id']}", timeout=10).json()
    deezer_genres = [g["name"] for g in album["genres"]["data"]]
    assert result["deezer_genre"] == (deezer_genres[0] if deezer_genres else None)
    assert result["title"] == track["title"]
    assert result["predicted"] == result["probabilities"][0]["genre"]
    assert sum(row["probability"] for row in result["probabilities"]) == pytest.approx(1.0, abs=1e-3)

    done = {"id": predict_job, "status": "succeeded", "result": None}
    panel = f"{ids.MAP_PREDICTION}.children"
    words = texts(outputs(call(me, panel, {f"{ids.MAP_PREDICT_DONE_STORE}.data": done}))[panel])
    assert "Predicted" in words and "Deezer" in words and result["predicted"] in words
    # The other user cannot read the prediction through its job id.
    assert texts(outputs(call(other, panel, {f"{ids.MAP_PREDICT_DONE_STORE}.data": done}))[panel]) == []


def test_lookups_are_jobs_counted_apart_from_the_page_starts_and_kept_to_their_owner(site):
    app, _sandbox, (me, me_id), (other, _other_id) = site
    app.config["CONTEXTIFY_JOB_RATE_LIMIT"] = "2 per minute"
    search = {f"{ids.MAP_SEARCH_BUTTON}.n_clicks": 1, f"{ids.MAP_SEARCH}.value": "artist"}
    results = f"{ids.MAP_SEARCH_RESULTS}.options"
    for _ in range(2):
        found = lookup(app, me, me_id, results, ids.MAP_SEARCH_JOB_STORE, ids.MAP_SEARCH_DONE_STORE, search)
        assert f"{ids.MAP_SEARCH_MESSAGE}.children" in found
    # The lookup bucket is spent; saying so where the search answers, with no job started.
    refused = outputs(call(me, results, search, changed=[f"{ids.MAP_SEARCH_BUTTON}.n_clicks"]))
    assert refused[f"{ids.MAP_SEARCH_MESSAGE}.children"] == JOBS_TOO_MANY
    assert f"{ids.MAP_SEARCH_JOB_STORE}.data" not in refused
    # ...while the page's own starts are untouched by the searches.
    job_id, message = start(me, f"{ids.MAP_GENRE_JOB_STORE}.data", {f"{ids.MAP_GENRE_TRAIN}.n_clicks": 1})
    assert job_id, message
    wait_for(app, job_id, me_id, timeout=90)

    # A search job's result is read from its row: another user handing in its id sees nothing.
    with app.app_context():
        mine = runner.list_jobs(me_id)
    search_job = next(job["id"] for job in mine if job["kind"] == "map-search")
    done = {f"{ids.MAP_SEARCH_DONE_STORE}.data": {"id": search_job, "status": "succeeded", "result": None}}
    assert outputs(call(other, results, {**search, **done}, changed=[f"{ids.MAP_SEARCH_DONE_STORE}.data"])) == {}
