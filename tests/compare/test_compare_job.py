"""The compare job without Spotify: a file as the second library, a guest whose login is gone, and a third user."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from app.extensions import db
from app.jobs import runner
from app.runs.progress import Progress
from app.pipeline.library_file import import_file
from app.runs.summary import RunSummary
from app.services import compare
from app.storage.tables import LibraryItem, ModelRun, Suggestion, Track, TrackFeatures
from tests.auth.helpers import add_user
from tests.jobs.conftest import wait_for

NETWORK = {"layers": 1, "units": 8, "activation": "tanh", "size": 10, "enrich": False, "map_points": 200}


@pytest.fixture
def store(app):
    """140 tracks with Deezer features: 1-80 in the owner's Liked Songs (dance, fast), 61-140 in a friend's file
    (jazz, slow); 61-80 are in both."""
    rng = np.random.default_rng(1)
    with app.app_context():
        for tid in range(1, 141):
            fast = tid <= 70
            db.session.add(Track(id=tid, title=f"Song {tid}", artist=f"Band {tid % 7}", spotify_id=f"{tid:022d}"))
            db.session.add(TrackFeatures(track_id=tid, provider="deezer", provider_version="1", status="ok", values={
                "bpm": float(rng.normal(128 if fast else 92, 12)), "gain": float(rng.normal(-6 if fast else -11, 2)),
                "genre": "Dance" if fast else "Jazz"}))
        db.session.commit()
    return app


@pytest.fixture(autouse=True)
def stop_runner(app):
    yield
    runner.shutdown(app)


def run_job(app, owner: int, params: dict) -> dict:
    with app.app_context():
        job_id = runner.submit("compare", params, owner)
    return wait_for(app, job_id, owner, timeout=60)


def test_a_file_import_is_compared_with_the_owners_library(store, tmp_path):
    app = store
    owner, third = add_user(app, "jonas.b"), add_user(app, "mira.s")
    path = tmp_path / "friend.csv"
    path.write_text("title,artist\n" + "".join(f"Song {tid},Band {tid % 7}\n" for tid in range(61, 141)))
    with app.app_context():
        db.session.add_all([LibraryItem(user_id=owner, collection="liked", track_id=tid) for tid in range(1, 81)])
        db.session.commit()
        import_id = import_file(sessionmaker(bind=db.engine), owner, path, RunSummary("t"), Progress())
        assert sorted(db.session.scalars(select(LibraryItem.track_id).where(LibraryItem.import_id == import_id))) \
            == list(range(61, 141))  # the file's rows are the owner's, matched to the catalog by name

    status = run_job(app, owner, {"other": f"file:{import_id}", **NETWORK})
    assert status["status"] == "succeeded", status
    with app.app_context():
        run = db.session.scalar(select(ModelRun).where(ModelRun.user_id == owner))
        assert run.params["other_name"] == "the file friend.csv" and run.params["activation"] == "tanh"
        assert run.metrics["counts"] == {"owner": 60, "other": 60} and run.metrics["n_shared"] == 20
        assert run.metrics["roc_auc"] > 0.8
        points = run.result["points"]
        assert len(points) == 140 and sum(p["owner"] == "both" for p in points) == 20
        assert {p["name"] for p in points if p["track_id"] == 5} == {"Song 5 – Band 5"}
        both = compare.both_tracks(db.session, owner, run.model_id)
        assert len(both) == 10 and all(not 61 <= t.track_id <= 80 for t in both)
        assert db.session.scalar(select(Suggestion.id).where(Suggestion.user_id == third)) is None

    # A third user naming the owner's file gets a refusal, not the file.
    refused = run_job(app, third, {"other": f"file:{import_id}", **NETWORK})
    assert refused["status"] == "failed" and "not one of yours" in refused["error"]


def test_a_guest_without_a_library_or_a_usable_login_is_named_plainly(store):
    app = store
    owner, guest = add_user(app, "jonas.b"), add_user(app, "ana.k")
    with app.app_context():
        invite, token = compare.create_invite(db.session, owner)
        compare.accept_invite(db.session, token, guest)
        invite_id = invite.id
    status = run_job(app, owner, {"other": f"invite:{invite_id}", **NETWORK})
    assert status["status"] == "failed"
    assert status["error"].startswith("Ana.K has not imported their library, and their Spotify login can no longer "
                                      "be used.")


@pytest.mark.parametrize("change, words", [
    ({"layers": 9}, "Hidden layers must be from 1 to 4, not 9."),
    ({"size": 1000}, "The 'both' list must hold from 5 to 100 songs."),
    ({"other": "user:2"}, "Choose whose library to compare with"),
])
def test_bad_parameters_fail_the_job_in_plain_words(store, change, words):
    owner = add_user(store, "jonas.b")
    status = run_job(store, owner, {"other": "file:1", **NETWORK, **change})
    assert status["status"] == "failed" and words in status["error"]


def test_a_guest_with_too_few_liked_songs_is_refused_naming_both_counts(store):
    app = store
    owner, guest = add_user(app, "jonas.b"), add_user(app, "ana.k")
    with app.app_context():
        db.session.add_all([LibraryItem(user_id=owner, collection="liked", track_id=tid) for tid in range(1, 81)])
        db.session.add_all([LibraryItem(user_id=guest, collection="liked", track_id=tid) for tid in range(90, 102)])
        # Her playlists are not part of what she agreed to share, so they do not count.
        db.session.add_all([LibraryItem(user_id=guest, collection="playlist:7", track_id=tid)
                            for tid in range(102, 141)])
        invite, token = compare.create_invite(db.session, owner)
        compare.accept_invite(db.session, token, guest)
        invite_id = invite.id
    status = run_job(app, owner, {"other": f"invite:{invite_id}", **NETWORK})
    assert status["status"] == "failed"
    assert status["error"] == ("Ana.K's Liked Songs has 12 tracks, fewer than the 50 a comparison needs "
                               "(your Liked Songs have 80). Compare with a bigger library.")
