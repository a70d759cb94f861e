"""A cancel stops a running harvest or enrichment mid-way (not only between steps), keeping the work done."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from app.extensions import db
from app.jobs import runner
from app.pipeline.harvest import STAGE_PLAYLISTS
from app.storage.tables import ContextPlaylist, Label, TrackFeatures
from tests.auth.helpers import add_user, sandbox_app
from tests.jobs.conftest import dispose, wait_for

HARVEST = {"contexts": ["workout", "sleep", "party", "study"], "playlists_per_context": 5,
           "tracks_per_playlist": 20, "providers": ["deezer"]}


def test_cancel_stops_a_running_harvest_midway_and_keeps_the_finished_playlists(app_config, start_sandbox):
    sandbox = start_sandbox(latency_ms=700, latency_jitter_ms=50)  # slow enough to cancel in the middle
    app = sandbox_app(app_config, sandbox)
    me = add_user(app, "mira.s")
    try:
        with app.app_context():
            job_id = runner.submit("harvest", HARVEST, me)
        job = wait_for(app, job_id, me, statuses=("running",))
        deadline = time.monotonic() + 60
        while (job["progress"].get(STAGE_PLAYLISTS, {}).get("done") or 0) < 3:
            assert job["status"] == "running" and time.monotonic() < deadline, job
            time.sleep(0.1)
            with app.app_context():
                job = runner.job_status(job_id, me)
        with app.app_context():
            assert runner.cancel(job_id, me)
        asked = time.monotonic()
        job = wait_for(app, job_id, me, timeout=30)
        took = time.monotonic() - asked
        assert job["status"] == "cancelled", job
        playlists = job["progress"][STAGE_PLAYLISTS]
        assert playlists["done"] < playlists["total"], f"stopped before the harvest's end: {playlists}"
        assert "tracks enriched (deezer)" not in job["progress"], "the enrichment step never started"
        assert took < 5, f"the cancel took effect within a few seconds, not at the end ({took:.1f} s)"
        with app.app_context():
            finished = db.session.scalar(select(func.count()).select_from(ContextPlaylist)
                                         .where(ContextPlaylist.harvested_at.is_not(None)))
            labels = db.session.scalar(select(func.count()).select_from(Label))
        assert finished >= 3 and labels > 0, "the playlists finished before the cancel are kept"
    finally:
        runner.shutdown(app)
        dispose(app)


def test_cancel_stops_a_running_enrichment_midway_and_keeps_the_rows_written(app_config, start_sandbox):
    sandbox = start_sandbox()
    app = sandbox_app(app_config, sandbox)
    me = add_user(app, "mira.s")
    try:
        with app.app_context():
            first = runner.submit("harvest", {**HARVEST, "enrich": False}, me)
        assert wait_for(app, first, me, timeout=120)["status"] == "succeeded"
        sandbox.set_profile("default", latency_ms=150, latency_jitter_ms=20)
        with app.app_context():
            job_id = runner.submit("enrich", {"providers": ["deezer"]}, me)
        stage = "tracks enriched (deezer)"
        deadline = time.monotonic() + 60
        while True:
            with app.app_context():
                job = runner.job_status(job_id, me)
            if (job["progress"].get(stage, {}).get("done") or 0) >= 30:
                break
            assert job["status"] in ("queued", "running") and time.monotonic() < deadline, job
            time.sleep(0.1)
        with app.app_context():
            assert runner.cancel(job_id, me)
        job = wait_for(app, job_id, me, timeout=30)
        assert job["status"] == "cancelled", job
        assert job["progress"][stage]["done"] < job["progress"][stage]["total"], job["progress"]
        with app.app_context():
            rows = db.session.scalar(select(func.count()).select_from(TrackFeatures))
        assert rows >= 25, "results received before the cancel were written"
    finally:
        runner.shutdown(app)
        dispose(app)
