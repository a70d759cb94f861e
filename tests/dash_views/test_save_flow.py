"""Library import, review and save through the pages' callbacks, against the sandbox, with the in-process runner."""

from __future__ import annotations

import time

import pytest
import requests
from sqlalchemy import select

from app.dash_views import ids
from app.extensions import db
from app.jobs import runner
from app.storage.tables import ExportedPlaylist, LibraryItem, SortAssignment, SortRun, Track, TrainedModel, User
from tests.auth.helpers import login, sandbox_app
from tests.dash_views.helpers import call, outputs

LIBRARY_JOB = f"{ids.LIBRARY_JOB_STORE}.data"
SAVE_JOB = f"{ids.SAVE_JOB_STORE}.data"


@pytest.fixture
def site(app_config, sandbox):
    """An app on the sandbox with two users logged in through it: mira (`me`) and ana (`other`)."""
    app = sandbox_app(app_config, sandbox)
    me, other = app.test_client(), app.test_client()
    login(me, "mira.s")
    login(other, "ana.k")
    yield app, sandbox, me, other
    runner.shutdown(app)
    with app.app_context():
        db.engine.dispose()


def follow(client, status_id: str, store_id: str, job_id: str, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while True:
        shown = outputs(call(client, f"{status_id}.children", {f"{store_id}.data": job_id},
                             changed=[f"{store_id}.data"]))
        sentence = shown[f"{status_id}.children"]
        if any(word in sentence for word in ("finished", "failed", "cancelled", "interrupted")):
            return sentence
        assert time.monotonic() < deadline, sentence
        time.sleep(0.3)


def user_id(app, spotify_id: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.spotify_id == spotify_id))


def fake_sort(app, owner: int, contexts=("workout", "sleep"), per_context: int = 6) -> int:
    """A sort of the owner's library written directly: each context assigned `per_context` tracks."""
    with app.app_context():
        tracks = db.session.scalars(select(Track.id).join(LibraryItem, LibraryItem.track_id == Track.id)
                                    .where(LibraryItem.user_id == owner, Track.spotify_id.is_not(None))
                                    .distinct().order_by(Track.id)).all()
        assert len(tracks) >= per_context * len(contexts), len(tracks)
        model = TrainedModel(user_id=owner, kind="context", name=", ".join(contexts), metrics={})
        db.session.add(model)
        db.session.flush()
        run = SortRun(user_id=owner, model_id=model.id, params={"floor": 0.1, "cutoffs": {
            c: {"context": c, "cutoff": 0.5, "target_precision": 0.7, "promised_precision": 0.72} for c in contexts}})
        db.session.add(run)
        db.session.flush()
        for k, context in enumerate(contexts):
            for i, track_id in enumerate(tracks[k * per_context:(k + 1) * per_context]):
                db.session.add(SortAssignment(user_id=owner, sort_run_id=run.id, track_id=track_id, context=context,
                                              probability=0.95 - i * 0.05, assigned=True, decision="pending",
                                              reasons=["high energy"]))
        db.session.commit()
        return run.id


def expected_uris(app, owner: int, run_id: int, context: str) -> list[str]:
    with app.app_context():
        rows = db.session.execute(select(Track.spotify_id, SortAssignment.decision, SortAssignment.assigned)
                                  .join(SortAssignment, SortAssignment.track_id == Track.id)
                                  .where(SortAssignment.sort_run_id == run_id, SortAssignment.context == context)
                                  .order_by(SortAssignment.probability.desc(), Track.id)).all()
    return [f"spotify:track:{sid}" for sid, decision, assigned in rows
            if decision == "accepted" or (assigned and decision != "rejected")]


def sandbox_playlist(sandbox, playlist_id: str) -> list[str]:
    body = requests.get(f"{sandbox.url}/__sandbox__/playlists/{playlist_id}", timeout=10).json()
    return [f"spotify:track:{sid}" for sid in body["spotify_ids"]]


def decide(app, run_id: int, context: str, index: int, decision: str) -> None:
    with app.app_context():
        row = db.session.scalars(select(SortAssignment).where(SortAssignment.sort_run_id == run_id,
                                                              SortAssignment.context == context)
                                 .order_by(SortAssignment.probability.desc())).all()[index]
        row.decision = decision
        db.session.commit()


def save(client) -> str:
    job_id = outputs(call(client, SAVE_JOB, {f"{ids.SAVE_PUBLIC}.value": []},
                          changed=[f"{ids.SAVE_START}.n_clicks"]))[SAVE_JOB]
    return follow(client, ids.SAVE_STATUS, ids.SAVE_JOB_STORE, job_id)


def exports(app, owner: int) -> dict[str, ExportedPlaylist]:
    with app.app_context():
        return {row.context: row for row in db.session.scalars(select(ExportedPlaylist)
                                                               .where(ExportedPlaylist.user_id == owner))}


def test_import_review_save_update_and_a_quota_cut_save(site, monkeypatch):
    app, sandbox, me, other = site
    mira = user_id(app, "mira.s")
    # Saving needs Spotify ids only: matching to Deezer and enrichment (minutes under Deezer's rate limit) are skipped.
    monkeypatch.setattr("app.jobs.tasks.match_and_enrich", lambda *args, **kwargs: None)

    # Import through the Library page's callback; the job runs in-process against the sandbox.
    job_id = outputs(call(me, LIBRARY_JOB, {f"{ids.LIBRARY_FULL}.value": []},
                          changed=[f"{ids.LIBRARY_IMPORT}.n_clicks"]))[LIBRARY_JOB]
    assert "finished" in follow(me, ids.LIBRARY_STATUS, ids.LIBRARY_JOB_STORE, job_id)
    run_id = fake_sort(app, mira)
    decide(app, run_id, "workout", 0, "rejected")
    decide(app, run_id, "sleep", 1, "rejected")

    # First save: one new playlist per context, holding exactly the kept tracks in order.
    assert "finished" in save(me)
    first = exports(app, mira)
    assert set(first) == {"workout", "sleep"}
    for context, row in first.items():
        assert row.status == "saved" and row.name == f"contextify · {context.title()}"
        assert sandbox_playlist(sandbox, row.spotify_playlist_id) == expected_uris(app, mira, run_id, context)
        assert len(row.track_uris) == 5

    # Reject one more and save again: the same playlist is updated, not duplicated.
    decide(app, run_id, "workout", 2, "rejected")
    assert "finished" in save(me)
    second = exports(app, mira)
    assert second["workout"].spotify_playlist_id == first["workout"].spotify_playlist_id
    assert sandbox_playlist(sandbox, second["workout"].spotify_playlist_id) == \
        expected_uris(app, mira, run_id, "workout")
    assert len(second["workout"].track_uris) == 4

    # The quota runs out right after the first write of the next save: nothing reads as saved.
    decide(app, run_id, "sleep", 1, "accepted")
    from app.pipeline.clients.spotify import SpotifyClient
    real_call = SpotifyClient.call
    writes = []

    def call_then_spend_quota(self, method, *args, **kwargs):
        result = real_call(self, method, *args, **kwargs)
        if getattr(method, "__name__", "") in ("playlist_replace_items", "playlist_add_items") and not writes:
            writes.append(method.__name__)
            sandbox.set_profile("quota")
        return result

    monkeypatch.setattr(SpotifyClient, "call", call_then_spend_quota)
    sentence = save(me)
    assert "failed" in sentence and "quota" in sentence, sentence
    cut = exports(app, mira)
    assert cut["workout"].status == "failed", "the playlist being written when the quota ran out"
    assert cut["sleep"].saved_at == second["sleep"].saved_at, "not attempted: still its last checked save"
    monkeypatch.setattr(SpotifyClient, "call", real_call)

    # Back to normal: a retry completes every playlist exactly once.
    sandbox.set_profile("default")
    assert "finished" in save(me)
    final = exports(app, mira)
    for context, row in final.items():
        assert row.spotify_playlist_id == first[context].spotify_playlist_id
        items = sandbox_playlist(sandbox, row.spotify_playlist_id)
        assert items == expected_uris(app, mira, run_id, context) and len(items) == len(set(items))
        assert row.status == "saved"

    # The other user sees none of it.
    theirs = outputs(call(other, f"{ids.SAVE_PLAYLISTS}.children", {f"{ids.SAVE_DONE_STORE}.data": {"id": "x"}},
                          changed=[f"{ids.SAVE_DONE_STORE}.data"]))
    assert "has not written any playlist" in str(theirs)
