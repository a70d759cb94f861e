"""Real tasks end to end against the sandbox: harvest on the in-process pool and on a real Celery worker, file import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import exists, func, select

from app.extensions import db
from app.jobs import runner
from app.services.library import upload_dir
from app.storage.tables import Label, LibraryItem, Track, TrackFeatures
from tests.auth.helpers import add_user, sandbox_app
from tests.conftest import needs_service
from tests.jobs.conftest import dispose, wait_for

ROOT = Path(__file__).resolve().parents[2]
SMALL_HARVEST = {"contexts": ["workout", "sleep"], "playlists_per_context": 2, "tracks_per_playlist": 8,
                 "providers": ["deezer"]}
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _assert_harvested(app, job: dict) -> None:
    assert job["status"] == "succeeded", job
    assert job["progress"]["playlists found"]["done"] >= 4
    assert job["progress"]["tracks labelled"]["done"] > 0
    assert job["result"]["stages"] and job["result"]["api_calls"]["deezer"] > 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Label)) > 0
        assert db.session.scalar(select(func.count()).select_from(TrackFeatures)
                                 .where(TrackFeatures.provider == "deezer")) > 0
        # The head of every genre's chart, labelled with no context and analysed with the harvest's songs: what a
        # model for a library learns "none of these" from.
        background = db.session.scalars(select(Track.id).where(~exists().where(Label.track_id == Track.id))).all()
        assert len(background) >= 100, len(background)
        analysed = db.session.scalar(select(func.count()).select_from(TrackFeatures).where(
            TrackFeatures.provider == "deezer", TrackFeatures.status == "ok", TrackFeatures.track_id.in_(background)))
        assert analysed >= 0.9 * len(background), (analysed, len(background))


def _advancing(seen: list[dict]) -> list[int]:
    """Total work done at each poll; a job whose progress advances shows it growing and never shrinking."""
    totals = [sum(stage["done"] for stage in poll["progress"].values()) for poll in seen]
    assert totals == sorted(totals), totals
    return totals


def test_harvest_job_on_the_in_process_pool(app_config, sandbox):
    app = sandbox_app(app_config, sandbox)
    me = add_user(app, "mira.s")
    try:
        with app.app_context():
            job_id = runner.submit("harvest", SMALL_HARVEST, me)
        seen: list[dict] = []
        job = wait_for(app, job_id, me, timeout=120, seen=seen)
        _assert_harvested(app, job)
        totals = _advancing(seen)
        assert totals[-1] > totals[0]
    finally:
        runner.shutdown(app)
        dispose(app)


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        needs_service(f"Redis at {REDIS_URL} is unreachable: {exc}")


@pytest.fixture
def celery_worker(app_config, sandbox):
    """A real `celery -A app.jobs.celery_app worker --pool=solo` on Redis db 15, sharing the test's SQLite file."""
    _redis_or_skip()
    env = {**os.environ, **app_config, "CELERY_BROKER_URL": REDIS_URL, "CONTEXTIFY_SANDBOX_URL": sandbox.url}
    env.pop("CONTEXTIFY_JOB_WORKERS", None)
    log_path = Path(app_config["CONTEXTIFY_INSTANCE_DIR"]) / "worker.log"
    with open(log_path, "w") as log_file:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "app.jobs.celery_app", "worker", "--pool=solo",
             "--concurrency=1", "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    yield worker, log_path
    worker.terminate()
    try:
        worker.wait(timeout=15)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def test_harvest_job_on_a_celery_worker(app_config, sandbox, celery_worker):
    worker, log_path = celery_worker
    app = sandbox_app(app_config, sandbox, CELERY_BROKER_URL=REDIS_URL)
    me = add_user(app, "mira.s")
    try:
        assert type(app.extensions[runner.EXTENSION].runner).__name__ == "CeleryRunner"
        with app.app_context():
            job_id = runner.submit("harvest", SMALL_HARVEST, me)
        seen: list[dict] = []
        try:
            job = wait_for(app, job_id, me, timeout=120, seen=seen)
        except AssertionError:
            raise AssertionError(f"worker alive: {worker.poll() is None}; log:\n{log_path.read_text()}") from None
        _assert_harvested(app, job)
        _advancing(seen)
        assert job["heartbeat_at"] is not None and job["attempts"] == 1
    finally:
        runner.shutdown(app)
        dispose(app)


def test_an_unreachable_queue_fails_the_job_in_plain_words(app_config):
    from flask_migrate import upgrade

    from app import create_app

    app = create_app({**app_config, "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"})
    with app.app_context():
        upgrade()
    me = add_user(app, "mira.s")
    try:
        with app.app_context():
            job = runner.job_status(runner.submit("test-echo", {}, me), me)
        assert job["status"] == "failed" and "job queue is not reachable" in job["error"]
    finally:
        runner.shutdown(app)
        dispose(app)


def test_import_library_job_reads_only_the_users_uploads(app_config, sandbox, small_world):
    app = sandbox_app(app_config, sandbox)
    me = add_user(app, "ana.k")
    tracks = list(small_world.tracks.values())[:3]
    folder = upload_dir(app.config, me)
    folder.mkdir(parents=True)
    lines = ["artist,title"] + [f'"{small_world.artists[t.artist_ids[0]].name}","{t.title}"' for t in tracks]
    (folder / "mine.csv").write_text("\n".join(lines) + "\n")
    (folder.parent.parent / "outside.csv").write_text("\n".join(lines) + "\n")  # real, but not an upload
    try:
        with app.app_context():
            ok = runner.submit("import-library", {"file": "mine.csv", "enrich": False}, me)
            escape = runner.submit("import-library", {"file": "../../outside.csv", "enrich": False}, me)
        assert wait_for(app, ok, me, timeout=60)["status"] == "succeeded"
        assert not (folder / "mine.csv").exists(), "the imported file was kept after its rows were stored"
        refused = wait_for(app, escape, me)
        assert refused["status"] == "failed" and "not found among your uploads" in refused["error"]
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(LibraryItem)
                                     .where(LibraryItem.user_id == me)) == 3
    finally:
        runner.shutdown(app)
        dispose(app)


def test_import_from_spotify_without_a_stored_login_asks_to_log_in(app_config, sandbox):
    app = sandbox_app(app_config, sandbox)
    me = add_user(app, "ana.k")
    try:
        with app.app_context():
            job_id = runner.submit("import-library", {"enrich": False}, me)
        job = wait_for(app, job_id, me)
        assert job["status"] == "failed" and "Log in again" in job["error"]
    finally:
        runner.shutdown(app)
        dispose(app)
