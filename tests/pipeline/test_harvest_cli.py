"""`flask harvest` end to end against the sandbox: validation, job row, JSON summary, fallback notes, kills."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, exists, func, select
from sqlalchemy.orm import sessionmaker

from app import create_app
from app.commands.harvest import harvest_command
from app.storage.tables import ContextPlaylist, Job, Label, Track
from sandbox.model import DEEZER_GENRES
from tests.pipeline.test_harvest import CONTEXTS, reference, snapshot  # noqa: F401  (reference: a fixture)


@pytest.fixture
def harvest_app(app_config, start_sandbox):
    """`harvest_app(profile, **knobs)` -> (app on a migrated database, pointed at a new sandbox; the sandbox)."""
    from flask_migrate import upgrade

    made = []

    def make(profile: str = "default", **knobs):
        sandbox = start_sandbox(profile=profile, **knobs)
        app = create_app({**app_config, "CONTEXTIFY_SANDBOX_URL": sandbox.url})
        with app.app_context():
            upgrade()
        made.append(app)
        return app, sandbox

    yield make
    for app in made:
        with app.app_context():
            from app.extensions import db
            db.engine.dispose()


def _factory(app):
    return sessionmaker(bind=create_engine(app.config["SQLALCHEMY_DATABASE_URI"]), expire_on_commit=False)


def _invoke(app, *args):
    return app.test_cli_runner().invoke(harvest_command, list(args))


@pytest.mark.parametrize("args, message", [
    (["workout", "  "], "context 2 is empty"),
    (["x" * 101], "the limit is 100"),
    (["Workout", "WORKOUT"], "same context"),
    ([f"c{i}" for i in range(51)], "at most 50"),
    (["workout", "--source", "itunes"], "'itunes' is not one of"),
    (["workout", "--playlists-per-context", "0"], "--playlists-per-context"),
])
def test_bad_arguments_are_clear_errors(harvest_app, args, message):
    app, _ = harvest_app()
    result = _invoke(app, *args)
    assert result.exit_code == 2 and message in result.output


def test_json_summary_matches_the_services_own_counters_and_closes_the_job(harvest_app):
    app, sandbox = harvest_app()
    sandbox.reset_counters()
    result = _invoke(app, *CONTEXTS, "--playlists-per-context", "10", "--no-enrich", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    counters = sandbox.counters()
    assert summary["api_calls"] == {"deezer": counters["deezer"]["total"], "spotify": counters["spotify"]["total"],
                                    "reccobeats": counters["reccobeats"]["total"],
                                    "previews": counters["previews"]["total"]}
    assert summary["api_calls"]["deezer"] > 0 and summary["new_tracks"] > 0
    assert summary["stages"]["playlists found"] > len(CONTEXTS)
    assert summary["calls_per_new_track"] < 0.2 and summary["wall_s"] > 0
    with _factory(app)() as session:
        job = session.scalars(select(Job)).one()
    assert (job.kind, job.status, job.user_id) == ("harvest", "succeeded", None)
    assert job.progress["playlists found"]["done"] == job.progress["playlists found"]["total"] > 0
    assert job.result["api_calls"] == summary["api_calls"]

    sandbox.reset_counters()
    again = json.loads(_invoke(app, *CONTEXTS, "--playlists-per-context", "10", "--no-enrich", "--json")
                       .output.strip().splitlines()[-1])
    # Fresh contexts are not searched again; only the genre list and each genre's chart are read (songs of no context).
    assert again["api_calls"]["deezer"] == sandbox.counters()["deezer"]["total"] == 1 + len(DEEZER_GENRES) + 1
    assert again["new_tracks"] == 0
    assert again["cache_hits"] == summary["stages"]["playlists found"]


def test_auto_source_logs_the_spotify_fallback_for_the_job(harvest_app):
    app, _ = harvest_app()
    result = _invoke(app, "sleep", "--source", "auto", "--no-enrich")
    assert result.exit_code == 0, result.output
    assert "source: deezer" in result.output
    with _factory(app)() as session:
        job = session.scalars(select(Job)).one()
    assert any("HTTP 403" in line and "Deezer" in line for line in job.log)


def test_spotify_source_refused_fails_the_job_with_a_clear_message(harvest_app):
    app, _ = harvest_app()
    result = _invoke(app, "sleep", "--source", "spotify", "--no-enrich")
    assert result.exit_code == 1 and "Spotify refused" in result.output and "--source deezer" in result.output
    with _factory(app)() as session:
        job = session.scalars(select(Job)).one()
    assert job.status == "failed" and "HTTP 403" in job.error


def test_harvest_then_enrich_counts_every_call(harvest_app):
    app, sandbox = harvest_app(deezer_rate_limit=1000, deezer_rate_window=1)
    sandbox.reset_counters()
    result = _invoke(app, "sleep", "--playlists-per-context", "1", "--tracks-per-playlist", "5", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    counters = sandbox.counters()
    assert summary["api_calls"]["deezer"] == counters["deezer"]["total"]
    assert summary["api_calls"]["reccobeats"] == counters["reccobeats"]["total"]
    assert summary["api_calls"]["previews"] == counters["previews"]["total"]
    # The playlist's five songs, and the songs of no context from the genre charts (with Deezer's features).
    with _factory(app)() as session:
        background = session.scalar(select(func.count(Track.id)).where(~exists().where(Label.track_id == Track.id)))
    assert background >= 100 and summary["stages"].get("tracks to enrich") == 5 + background


_RUN = """
import sys
from app import create_app
from app.commands.harvest import harvest_command
app = create_app()
result = app.test_cli_runner().invoke(harvest_command, sys.argv[1:])
sys.exit(result.exit_code)
"""


def test_a_killed_process_resumes_to_the_same_data(harvest_app, app_config, reference):
    # Latency keeps the run going for seconds, so the kill lands mid-run.
    app, sandbox = harvest_app(latency_ms=250, latency_jitter_ms=10, fault_services="deezer")
    env = {**os.environ, **app_config, "CONTEXTIFY_SANDBOX_URL": sandbox.url}
    # The reference is the playlists' harvest alone (`harvest()`): no songs of no context.
    process = subprocess.Popen([sys.executable, "-c", _RUN, *CONTEXTS, "--no-enrich", "--no-background"], env=env,
                               cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    factory = _factory(app)
    deadline = time.monotonic() + 60
    harvested = 0
    while time.monotonic() < deadline and process.poll() is None:
        with factory() as session:
            try:
                harvested = session.scalar(select(func.count()).select_from(ContextPlaylist)
                                           .where(ContextPlaylist.harvested_at.is_not(None)))
            except Exception:  # noqa: BLE001  (tables may be mid-write; try again)
                harvested = 0
        if harvested >= 5:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    assert process.wait(timeout=30) == -signal.SIGKILL, "the run was killed before it finished"
    assert 0 < len(snapshot(factory)["labels"]) < len(reference["labels"])

    sandbox.set_profile("default", latency_ms=0)
    assert _invoke(app, *CONTEXTS, "--no-enrich", "--no-background").exit_code == 0
    assert snapshot(factory) == reference
