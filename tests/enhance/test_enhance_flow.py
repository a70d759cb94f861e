"""Enhance end to end against the sandbox: learn ana's own playlists, suggest liked songs, add one, and read it back."""

from __future__ import annotations

import json
import time

import pytest
from plotly.utils import PlotlyJSONEncoder
import requests
from sqlalchemy import select

from app.dash_views import enhance as page
from app.dash_views import ids
from app.extensions import db
from app.services.enhance import NOT_IMPORTED
from app.storage.tables import Job, LibraryItem, LibraryPlaylist, ModelRun, Suggestion, Track, TrainedModel
from tests.dash_views.helpers import UPDATE, call, dependencies, outputs, payload, texts

LEARN = f"{ids.ENHANCE_JOB_STORE}.data"
ADD = f"{ids.ENHANCE_ADD_JOB_STORE}.data"


def follow(client, status_id: str, store_id: str, job_id: str, timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    while True:
        sentence = outputs(call(client, f"{status_id}.children", {f"{store_id}.data": job_id},
                                changed=[f"{store_id}.data"]))[f"{status_id}.children"]
        if any(word in sentence for word in ("finished", "failed", "cancelled", "interrupted")):
            return sentence
        assert time.monotonic() < deadline, sentence
        time.sleep(0.3)


def refresh(client) -> dict:
    return outputs(call(client, f"{ids.ENHANCE_RESULTS}.children", {f"{ids.ENHANCE_DONE_STORE}.data": {"id": "x"}},
                        changed=[f"{ids.ENHANCE_DONE_STORE}.data"]))


def add(client, picks: dict[int, list[int]]):
    values = {f"{ids.ENHANCE_PICK}.value": [
        {"id": {"type": ids.ENHANCE_PICK, "playlist": pid}, "property": "value", "value": chosen}
        for pid, chosen in picks.items()]}
    return outputs(call(client, ADD, values, changed=[f"{ids.ENHANCE_ADD}.n_clicks"]))


def sandbox_playlist(sandbox, playlist_id: str) -> list[str]:
    body = requests.get(f"{sandbox.url}/__sandbox__/playlists/{playlist_id}", timeout=10).json()
    return [f"spotify:track:{sid}" for sid in body["spotify_ids"]]


@pytest.fixture(scope="module")
def trained(imported):
    """The Enhance job started from the page's button and followed to its end, for ana."""
    job_id = outputs(call(imported.me, LEARN, changed=[f"{ids.ENHANCE_START}.n_clicks"]))[LEARN]
    sentence = follow(imported.me, ids.ENHANCE_STATUS, ids.ENHANCE_JOB_STORE, job_id)
    assert "finished" in sentence, sentence
    return job_id


def test_suggestions_are_liked_songs_not_yet_in_the_playlist_and_an_accepted_one_is_added(imported, trained):
    site = imported
    with site.app.app_context():
        items = db.session.execute(select(LibraryItem.track_id, LibraryItem.collection)
                                   .where(LibraryItem.user_id == site.owner_id)).all()
        liked = {t for t, c in items if c == "liked"}
        held = {}
        for track_id, where in items:
            held.setdefault(where, set()).add(track_id)
        suggestions = db.session.scalars(select(Suggestion).where(Suggestion.user_id == site.owner_id)).all()
        model = db.session.scalars(select(TrainedModel).where(TrainedModel.user_id == site.owner_id)).one()
        own = {p.id: p for p in db.session.scalars(select(LibraryPlaylist).where(
            LibraryPlaylist.user_id == site.owner_id, LibraryPlaylist.owned_by_user.is_(True)))}
    assert suggestions, "the sandbox playlists leave liked songs of their context outside them to suggest"
    for s in suggestions:
        assert s.mode == "enhance" and s.model_id == model.id and s.decision == "pending"
        assert s.track_id in liked, "only liked songs are suggested"
        assert s.track_id not in held[s.target], "never a song already in that playlist"
        assert 0 < s.probability <= 1 and s.reasons and all(isinstance(r, str) and r for r in s.reasons)
    assert model.kind == "enhance" and model.artifact and model.metrics["confusion"]
    assert {s.target for s in suggestions} <= {f"playlist:{pid}" for pid in own}

    # The page lists them under the playlist's name, with probability and reasons.
    # The checklist's labels are components inside `options`, which `texts` does not walk: read the JSON.
    shown = json.dumps(refresh(site.me)[f"{ids.ENHANCE_RESULTS}.children"], ensure_ascii=False)
    best = max(suggestions, key=lambda s: s.probability)
    playlist = own[int(best.target.partition(":")[2])]
    with site.app.app_context():
        track = db.session.get(Track, best.track_id)
    assert playlist.name in shown and track.title in shown and best.reasons[0] in shown

    # Accept the best one: it is appended on Spotify, read back, and marked added; nothing else changes.
    before = sandbox_playlist(site.sandbox, playlist.spotify_id)
    job_id = add(site.me, {playlist.id: [best.id]})[ADD]
    sentence = follow(site.me, ids.ENHANCE_ADD_STATUS, ids.ENHANCE_ADD_JOB_STORE, job_id)
    assert "finished" in sentence, sentence
    after = sandbox_playlist(site.sandbox, playlist.spotify_id)
    assert after == before + [f"spotify:track:{track.spotify_id}"]
    with site.app.app_context():
        assert db.session.get(Suggestion, best.id).decision == "added"
        assert db.session.scalar(select(LibraryItem.id).where(
            LibraryItem.user_id == site.owner_id, LibraryItem.collection == best.target,
            LibraryItem.track_id == best.track_id)) is not None

    # Ticking it again adds nothing twice: an added suggestion is not offered any more.
    again = add(site.me, {playlist.id: [best.id]})
    assert "Tick at least one" in again[f"{ids.ENHANCE_ADD_MESSAGE}.children"]
    assert sandbox_playlist(site.sandbox, playlist.spotify_id) == after


def test_every_run_is_recorded_and_the_oversampling_trap_scores_higher_than_honest_runs(imported, trained):
    with imported.app.app_context():
        runs = db.session.scalars(select(ModelRun).where(ModelRun.user_id == imported.owner_id)
                                  .order_by(ModelRun.id)).all()
    assert all(r.mode == "enhance" and r.seconds is not None and r.seconds >= 0 and r.params for r in runs)
    compared = {r.name: r for r in runs if r.result["study"] == "comparison"}
    assert set(compared) == {"logistic regression", "k-nearest neighbours", "random forest",
                             "histogram gradient boosting", "multi-layer perceptron"}
    for run in compared.values():
        assert {"accuracy", "macro_f1", "precision_at_cutoff", "cutoff"} <= set(run.metrics)
        assert run.params["cv"] == "grouped by artist"
    assert sum(bool(r.result.get("chosen")) for r in compared.values()) == 1
    study = {r.params["balance"]: r.metrics for r in runs if r.result["study"] == "imbalance"}
    trap = study["oversample-before-split"]
    for honest in ("weights", "oversample-in-folds"):
        assert trap["macro_f1"] > study[honest]["macro_f1"] + 0.1, (trap, study[honest])
        assert trap["accuracy"] > study[honest]["accuracy"]


def test_the_page_shows_the_study_side_by_side_and_explains_the_trap(imported, trained):
    response = imported.me.get("/app/enhance")
    assert response.status_code == 200
    with imported.app.test_request_context("/app/enhance"):

        from app.auth.session import log_in  # the id and its server-side session key
        log_in(imported.owner_id)
        tree = json.loads(json.dumps(page.layout(), cls=PlotlyJSONEncoder))
    words = " ".join(texts(tree))
    with imported.app.app_context():
        trap = db.session.scalars(select(ModelRun).where(ModelRun.user_id == imported.owner_id)
                                  .where(ModelRun.name.like("%the trap%"))).first()
    assert "oversampled before splitting" in words and "class weights, grouped CV" in words
    assert f"{trap.metrics['macro_f1']:.2f}" in words
    assert "inflated and not to be trusted" in words
    assert "copies of one song land on both sides of the split" in words
    for name in ("logistic regression", "k-nearest neighbours", "histogram gradient boosting",
                 "multi-layer perceptron", "Confusion matrix", "Feature importance", "Past runs"):
        assert name in words, name


def test_a_second_user_sees_and_changes_nothing_of_the_first(imported, trained):
    site = imported
    theirs = refresh(site.other)
    shown = " ".join(texts(theirs[f"{ids.ENHANCE_RESULTS}.children"])
                     + texts(theirs[f"{ids.ENHANCE_ANALYSIS}.children"]))
    assert "has not learned your playlists yet" in shown and "No runs recorded yet." in shown
    with site.app.app_context():
        mine = db.session.scalars(select(Suggestion).where(Suggestion.user_id == site.owner_id,
                                                           Suggestion.decision == "pending")).all()
        titles = [db.session.get(Track, s.track_id).title for s in mine[:5]]
    assert titles and not any(title in json.dumps(theirs, ensure_ascii=False) for title in titles)

    # Her job is not his to follow, and her suggestions are not his to add.
    status = outputs(call(site.other, f"{ids.ENHANCE_STATUS}.children", {f"{ids.ENHANCE_JOB_STORE}.data": trained},
                          changed=[f"{ids.ENHANCE_JOB_STORE}.data"]))
    assert "not been learned yet" in status[f"{ids.ENHANCE_STATUS}.children"]
    refused = add(site.other, {1: [s.id for s in mine]})
    assert ADD not in refused and "Tick at least one" in refused[f"{ids.ENHANCE_ADD_MESSAGE}.children"]
    with site.app.app_context():
        assert {s.decision for s in db.session.scalars(select(Suggestion).where(
            Suggestion.id.in_([s.id for s in mine])))} == {"pending"}
        assert db.session.scalar(select(Job.id).where(Job.user_id == site.other_id)) is None

    # He has imported nothing: learning is refused in plain words, and no job starts.
    answer = outputs(call(site.other, LEARN, changed=[f"{ids.ENHANCE_START}.n_clicks"]))
    assert LEARN not in answer and answer[f"{ids.ENHANCE_MESSAGE}.children"] == NOT_IMPORTED


def test_every_enhance_callback_refuses_an_anonymous_request(imported):
    anonymous = imported.app.test_client()
    deps = [dep for dep in dependencies(imported.me) if "enhance-" in dep["output"]]
    assert len(deps) >= 5
    for dep in deps:
        assert anonymous.post(UPDATE, json=payload(dep)).status_code == 401, dep["output"]
