"""The `refine` job: a first sort on what is analysed while a harvest still runs, said as "improving"; a last round on
everything once it ends; the reviewer's keeps and drops carried over; nothing offered while too little is known."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

import app.jobs.refine_task as refine_task
import app.models.progressive as progressive
from app.extensions import db
from app.jobs import runner
from app.services.progressive import rests_on_sentence
from app.storage.tables import Job, SortAssignment, SortRun, Track, TrackFeatures
from tests.jobs.conftest import wait_for
from tests.models.conftest import small_grid  # noqa: F401  (a fixture)
from tests.models.test_store import build_store

CONTEXTS = ["workout", "sleep", "study"]


@pytest.fixture
def quick(monkeypatch, small_grid):
    monkeypatch.setattr(refine_task, "POLL_S", 0.2)
    monkeypatch.setattr(progressive, "FIRST_LIBRARY_SONGS", 10)


def _set_aside(session, keep_every: int) -> list[TrackFeatures]:
    """Take the features off all but one song in `keep_every` (training and library alike): not analysed yet."""
    aside = []
    for n, row in enumerate(session.scalars(select(TrackFeatures).order_by(TrackFeatures.track_id)).all()):
        if n % keep_every:
            aside.append(TrackFeatures(track_id=row.track_id, provider=row.provider,
                                       provider_version=row.provider_version, status=row.status, values=row.values))
            session.delete(row)
    session.commit()
    return aside


def _rounds(app, job_id: str, user_id: int, at_least: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        with app.app_context():
            status = runner.job_status(job_id, user_id)
        if (status["progress"].get(refine_task.ROUNDS_STAGE) or {}).get("done", 0) >= at_least:
            return status
        assert status["status"] in ("queued", "running"), status
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


def test_a_first_sort_while_songs_arrive_then_a_last_one_on_everything_keeping_the_review(app, quick):
    with app.app_context():
        user_id = build_store(db.session, tiny=None)
        aside = _set_aside(db.session, keep_every=2)
        harvest = Job(kind="harvest", params={}, user_id=user_id, status="running", log=[])
        db.session.add(harvest)
        db.session.commit()
        harvest_id = harvest.id
        job_id = runner.submit("refine", {"contexts": CONTEXTS, "target_precision": 0.7}, user_id)

    _rounds(app, job_id, user_id, at_least=1)
    with app.app_context():
        first = db.session.scalar(select(SortRun).where(SortRun.user_id == user_id).order_by(SortRun.id.desc()))
        state = first.params["rests_on"]
        assert state == {"training_analysed": 120, "training_total": 240, "library_analysed": 15,
                         "library_total": 30, "final": False}
        assert rests_on_sentence(state, improving=True) == (
            "These playlists rest on 120 of 240 training songs analysed, 15 of your 30 songs; improving: as more "
            "songs are analysed, a refined sort replaces this one, and your keeps and drops carry over. Each "
            "playlist's promise holds for the songs it has now.")
        sorted_ids = set(db.session.scalars(select(SortAssignment.track_id).where(
            SortAssignment.sort_run_id == first.id)))
        analysed = set(db.session.scalars(select(TrackFeatures.track_id)))
        assert sorted_ids and sorted_ids <= analysed, "only analysed library songs are sorted"
        kept = db.session.scalar(select(SortAssignment).where(SortAssignment.sort_run_id == first.id)
                                 .order_by(SortAssignment.probability).limit(1))
        kept.decision = "accepted"
        kept_key = (kept.track_id, kept.context)
        # The rest is analysed and the harvest ends.
        db.session.add_all(aside)
        db.session.get(Job, harvest_id).status = "succeeded"
        db.session.commit()

    done = wait_for(app, job_id, user_id, timeout=60)
    assert done["status"] == "succeeded", done
    assert done["result"]["rounds"] == 2 and done["result"]["rests_on"]["final"] is True
    assert done["result"]["rests_on"]["library_analysed"] == 30
    with app.app_context():
        last = db.session.get(SortRun, done["result"]["sort_run_id"])
        decision = db.session.scalar(select(SortAssignment.decision).where(
            SortAssignment.sort_run_id == last.id, SortAssignment.track_id == kept_key[0],
            SortAssignment.context == kept_key[1]))
        assert decision == "accepted", "a keep made on the first sort stays in the refined one"
        assert rests_on_sentence(last.params["rests_on"], improving=False) == (
            "These playlists rest on 240 of 240 training songs analysed, 30 of your 30 songs: everything that "
            "could be analysed.")
        log = " ".join(done["log"])
        assert "Round 1: 120 of 240 training songs analysed, 15 of your 30 songs." in log
        assert "1 of your keeps and drops carried over" in log


def test_with_too_little_analysed_and_nothing_more_coming_there_is_no_playlist_and_one_sentence(app, quick):
    with app.app_context():
        user_id = build_store(db.session, tiny=None)
        library = set(db.session.scalars(select(Track.id).where(Track.spotify_id.is_not(None))))
        db.session.execute(TrackFeatures.__table__.delete().where(TrackFeatures.track_id.not_in(library)))
        db.session.commit()
        job_id = runner.submit("refine", {"contexts": CONTEXTS, "target_precision": 0.7}, user_id)
    done = wait_for(app, job_id, user_id, timeout=60)
    assert done["status"] == "failed"
    assert done["error"] == ("None of the training songs is analysed yet. Nothing more is being analysed, so there "
                             "is no playlist yet.")
    with app.app_context():
        assert db.session.scalar(select(SortRun.id).where(SortRun.user_id == user_id)) is None
