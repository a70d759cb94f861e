"""`flask import-library` and `flask enrich`: who the import is for, what they print, what the job row records."""

from __future__ import annotations

import json

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select

from app import create_app
from app.extensions import db
from app.pipeline import cli_library
from app.pipeline.cli_library import enrich_command, import_library_command
from app.pipeline.clients.deezer import DeezerClient
from app.pipeline.providers.run import RunClients
from app.pipeline.ratelimit import SlidingWindowLimiter
from app.storage.tables import Job, LibraryItem, Track, User


@pytest.fixture
def sandbox(start_sandbox):
    return start_sandbox(deezer_rate_limit=1000, deezer_rate_window=1)


@pytest.fixture
def cli_app(app_config, sandbox, monkeypatch):
    app = create_app({**app_config, "CONTEXTIFY_SANDBOX_URL": sandbox.url})
    with app.app_context():
        upgrade()

    def fast_clients(config, spotify=None):  # the process-wide Deezer limiter would make waiting dominate
        clients = RunClients.from_config(config, spotify=spotify)
        clients.deezer = clients.answers.client = DeezerClient(config["DEEZER_API_URL"],
                                                               limiter=SlidingWindowLimiter(900, 1.0))
        clients.analysis_workers = 2
        return clients

    monkeypatch.setattr(cli_library, "build_clients", fast_clients)
    yield app
    with app.app_context():
        db.engine.dispose()


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def test_import_library_for_a_spotify_user_prints_a_summary_that_agrees_with_the_services(
        cli_app, sandbox, token_for, monkeypatch):
    monkeypatch.setenv("SPOTIFY_ACCESS_TOKEN", token_for(sandbox, "ana.k"))
    sandbox.reset_counters()
    result = cli_app.test_cli_runner().invoke(import_library_command,
                                              ["--user", "ana.k", "--providers", "deezer,reccobeats", "--json"])
    assert result.exit_code == 0, result.output
    summary = last_json(result.output)
    counters = sandbox.counters()
    assert summary["api_calls"] == {s: counters[s]["total"] for s in ("deezer", "spotify", "reccobeats", "previews")}
    assert summary["stages"]["liked songs read"] == 350 and summary["calls_per_new_track"] < 3
    with cli_app.app_context():
        job = db.session.scalar(select(Job))
        assert job.status == "succeeded" and job.kind == "import-library"
        assert job.progress["tracks matched"]["done"] == job.progress["tracks matched"]["total"]
        assert job.user_id == db.session.scalar(select(User.id).where(User.spotify_id == "ana.k"))

    sandbox.reset_counters()
    again = cli_app.test_cli_runner().invoke(enrich_command, ["--providers", "deezer,reccobeats", "--json"])
    assert again.exit_code == 0, again.output
    assert last_json(again.output)["api_calls"] == {"deezer": 0, "spotify": 0, "reccobeats": 0, "previews": 0}


def test_no_match_reads_the_library_only_and_a_later_import_matches_it(cli_app, sandbox, token_for, monkeypatch):
    monkeypatch.setenv("SPOTIFY_ACCESS_TOKEN", token_for(sandbox, "ana.k"))
    sandbox.reset_counters()
    read = cli_app.test_cli_runner().invoke(import_library_command, ["--user", "ana.k", "--no-match", "--json"])
    assert read.exit_code == 0, read.output
    assert last_json(read.output)["api_calls"] == {"deezer": 0, "spotify": 13, "reccobeats": 0, "previews": 0}
    with cli_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LibraryItem)) >= 350
        assert db.session.scalar(select(func.count()).select_from(Track).where(Track.match_method.is_not(None))) == 0

    matched = cli_app.test_cli_runner().invoke(import_library_command,
                                               ["--user", "ana.k", "--no-enrich", "--json"])
    assert matched.exit_code == 0, matched.output
    assert last_json(matched.output)["stages"]["matched by isrc"] > 300
    with cli_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Track).where(Track.match_method.is_(None))) == 0


@pytest.mark.parametrize(("token_user", "message"), [
    ("jonas.b", "Error: The access token belongs to Spotify user 'jonas.b', not 'ana.k'. Nothing was imported."),
    ("leo.p", "Error: Spotify refuses ana.k: the user is not on this app's allow-list (development mode allows 5 "
              "users; add them on developer.spotify.com/dashboard)."),
])
def test_import_library_refuses_a_token_that_is_not_the_users(cli_app, sandbox, token_for, monkeypatch, token_user,
                                                              message):
    monkeypatch.setenv("SPOTIFY_ACCESS_TOKEN", token_for(sandbox, token_user))
    result = cli_app.test_cli_runner().invoke(import_library_command, ["--user", "ana.k", "--no-enrich"])
    assert result.exit_code == 1
    assert result.output.strip() == message
    with cli_app.app_context():
        assert db.session.scalar(select(User)) is None


def test_import_library_without_a_token_says_how_to_get_one(cli_app):
    result = cli_app.test_cli_runner().invoke(import_library_command, ["--user", "ana.k"])
    assert result.exit_code == 1
    assert "log in through the web app, or set SPOTIFY_ACCESS_TOKEN" in result.output


def test_a_file_import_needs_an_owner_creates_it_and_reports_a_bad_file(cli_app, small_world, tmp_path):
    tracks = list(small_world.tracks.values())[:20]
    good = tmp_path / "mine.csv"
    good.write_text("artist,title,isrc\n" + "".join(
        f"{small_world.artists[t.artist_ids[0]].name},{t.title},{t.isrc}\n" for t in tracks))
    runner = cli_app.test_cli_runner()
    result = runner.invoke(import_library_command, ["--user", "offline-ana", "--file", str(good),
                                                    "--providers", "deezer", "--json"])
    assert result.exit_code == 0, result.output
    assert last_json(result.output)["stages"]["tracks imported"] == 20
    with cli_app.app_context():
        owner = db.session.scalar(select(User).where(User.spotify_id == "offline-ana"))
        assert len(db.session.scalars(select(LibraryItem).where(LibraryItem.user_id == owner.id)).all()) == 20

    bad = tmp_path / "bad.csv"
    bad.write_text("artist,title\nA,\n")
    refused = runner.invoke(import_library_command, ["--user", "offline-ana", "--file", str(bad), "--json"])
    assert refused.exit_code == 1
    lines = refused.output.strip().splitlines()
    assert lines[-1] == "Error: bad.csv was not imported, nothing was changed. line 2: “title” is empty."
    assert json.loads(lines[-2])["notes"][-1].startswith("bad.csv was not imported")
    with cli_app.app_context():
        job = db.session.scalars(select(Job).order_by(Job.created_at.desc())).first()
        assert job.status == "failed" and "line 2" in job.error
