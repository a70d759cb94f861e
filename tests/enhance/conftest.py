"""Fixtures for Enhance: a sandbox user's imported library (once per module), and the app and clients around it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

import config as app_config_module
from app.extensions import db
from app.jobs import runner
from app.pipeline.enrich import enrich_tracks
from sandbox.runner import SandboxServer
from app.storage.tables import User
from tests.auth.helpers import login, sandbox_app

#: The sandbox listener whose library is learned: small (350 liked songs, four own playlists) so tests stay fast.
OWNER = "ana.k"
OTHER = "jonas.b"


@dataclass
class Site:
    app: Flask
    sandbox: SandboxServer
    me: FlaskClient
    other: FlaskClient
    owner_id: int
    other_id: int


def user_id(app: Flask, spotify_id: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.spotify_id == spotify_id))


def wait(app: Flask, job_id: str, owner: int, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    with app.app_context():
        while True:
            job = runner.job_status(job_id, owner)
            if job["status"] not in ("queued", "running"):
                return job
            assert time.monotonic() < deadline, job
            time.sleep(0.2)


def only_reccobeats(session_factory, track_ids, config, summary, progress, clients, providers=None, enrich=True,
                    **_options):
    """The import's match-and-enrich step with ReccoBeats features only: matching to Deezer and analysing previews
    take minutes under Deezer's rate limit, while ReccoBeats answers 40 tracks per call."""
    enrich_tracks(session_factory, list(track_ids), config, summary, progress, providers=["reccobeats"],
                  clients=clients)


def import_library(app: Flask, owner: int) -> dict:
    with app.app_context():
        job_id = runner.submit("import-library", {}, owner)
    return wait(app, job_id, owner)


@pytest.fixture(scope="module")
def imported(small_world, tmp_path_factory) -> Iterator[Site]:
    """An app on a small sandbox, ana (`me`) logged in with her library imported, jonas (`other`) logged in only."""
    instance = tmp_path_factory.mktemp("instance")
    config = {"CONTEXTIFY_INSTANCE_DIR": str(instance), "DATABASE_URL": f"sqlite:///{instance}/test.db",
              "SECRET_KEY": "test-secret-key", "TESTING": "1"}
    sandbox = SandboxServer(world=small_world, scale="small", clip_seconds=1.0).start()
    with pytest.MonkeyPatch.context() as environment:
        # As the function-scoped clean_environment does: a developer's exported settings must not reach this app.
        for name in (*app_config_module.VARIABLES, "CONTEXTIFY_INSTANCE_DIR", "TESTING"):
            environment.delenv(name, raising=False)
        app = sandbox_app(config, sandbox)
    me, other = app.test_client(), app.test_client()
    login(me, OWNER)
    login(other, OTHER)
    owner, other_id = user_id(app, OWNER), user_id(app, OTHER)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("app.jobs.tasks.match_and_enrich", only_reccobeats)
        job = import_library(app, owner)
    assert job["status"] == "succeeded", job
    yield Site(app, sandbox, me, other, owner, other_id)
    runner.shutdown(app)
    with app.app_context():
        db.engine.dispose()
    sandbox.stop()
