"""Enhance's store work on SQLite and PostgreSQL: learning a built library, the CLI, adding to own playlists only."""

from __future__ import annotations

import json

import numpy as np
import pytest
from flask_migrate import upgrade
from sqlalchemy import select

from app import create_app
from app.extensions import db
from app.models.enhance_cli import enhance_command
from app.pipeline.clients.base import NotFound
from app.services import enhance
from app.storage.tables import LibraryImport, LibraryItem, LibraryPlaylist, ModelRun, Suggestion, Track, \
    TrackFeatures, TrainedModel
from tests.auth.helpers import add_user

PLAYLISTS = {"Fast": 150.0, "Slow": 75.0}   # name -> tempo its songs share


@pytest.fixture(params=["sqlite", "postgresql"])
def store_app(request, app_config):
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else app_config["DATABASE_URL"]
    app = create_app({**app_config, "DATABASE_URL": url})
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


def learnable_library(app, user_id: int, spotify_prefix: str = "s") -> dict[str, LibraryPlaylist]:
    """Two own playlists of 20 songs at one tempo each, 12 liked songs at those tempos left out of them,
    and 60 liked songs at other tempos; every song liked, four songs per artist."""
    rng = np.random.default_rng(7)
    tempos = [t for t in PLAYLISTS.values() for _ in range(26)] + list(rng.uniform(95, 130, 60))
    with app.app_context():
        db.session.add(LibraryImport(user_id=user_id, kind="spotify-liked", status="done"))
        tracks = []
        for n, tempo in enumerate(tempos):
            track = Track(spotify_id=f"{spotify_prefix}{n}", title=f"Song {n}", artist=f"Artist {n // 4}")
            track.features.append(TrackFeatures(provider="reccobeats", provider_version="1", status="ok", values={
                "tempo": float(tempo + rng.normal(0, 3)), "energy": float(rng.random())}))
            tracks.append(track)
        db.session.add_all(tracks)
        db.session.flush()
        db.session.add_all(LibraryItem(user_id=user_id, collection="liked", track_id=t.id) for t in tracks)
        made = {}
        for k, name in enumerate(PLAYLISTS):
            playlist = LibraryPlaylist(user_id=user_id, external_key=f"spotify:{name}", spotify_id=f"sp-{name}",
                                       name=name, owned_by_user=True)
            db.session.add(playlist)
            db.session.flush()
            members = tracks[k * 26:k * 26 + 20]  # the other six of each tempo stay out: suggestions to find
            db.session.add_all(LibraryItem(user_id=user_id, collection=f"playlist:{playlist.id}", track_id=t.id,
                                           library_playlist_id=playlist.id) for t in members)
            made[name] = playlist
        db.session.commit()
        return {name: db.session.get(LibraryPlaylist, p.id) for name, p in made.items()}


class FakeSpotify:
    """The two calls adding needs, over playlists held in memory; records every write."""

    def __init__(self, playlists: dict[str, list[str]]) -> None:
        self.playlists = playlists
        self.writes: list[tuple[str, list[str]]] = []

    def playlist_items(self, playlist_id: str):
        if playlist_id not in self.playlists:
            raise NotFound("spotify", "no such playlist")
        return [{"item": {"uri": uri}} for uri in self.playlists[playlist_id]]

    def add_items(self, playlist_id: str, uris: list[str]) -> list[str]:
        self.writes.append((playlist_id, list(uris)))
        self.playlists[playlist_id].extend(uris)
        return ["snapshot"]


def test_learning_suggesting_and_adding_on_each_database(store_app):
    app = store_app
    me = add_user(app, "mira.s")
    learnable_library(app, me)
    with app.app_context():
        row = enhance.train_and_suggest(db.session, me, estimators=("logistic regression", "random forest"))
        db.session.expire_all()
        model = db.session.get(TrainedModel, row.id)
        assert model.kind == "enhance" and model.artifact and model.metrics["suggestions"] > 0
        runs = db.session.scalars(select(ModelRun).where(ModelRun.user_id == me)).all()
        assert len(runs) == 4 + 2 and all(r.model_id == model.id for r in runs)
        shown = enhance.suggestions(db.session, me, model.id)
        assert [p.name for p in shown] == ["Fast", "Slow"]
        fast = shown[0]
        assert fast.tracks, "liked songs at the playlist's tempo are suggested"
        suggested = db.session.scalars(select(Suggestion).where(Suggestion.id.in_([t.id for t in fast.tracks]))).all()
        # Half or more of what is suggested for "Fast" are its six left-out fast songs.
        left_out = {db.session.scalar(select(Track.id).where(Track.spotify_id == f"s{n}")) for n in range(20, 26)}
        assert sum(s.track_id in left_out for s in suggested) >= len(suggested) / 2

        # Accepting and adding: appended once, read back, marked added; a second add writes nothing.
        accepted = enhance.accept(db.session, me, [fast.tracks[0].id])
        spotify = FakeSpotify({"sp-Fast": ["spotify:track:existing"], "sp-Slow": []})
        outcomes = enhance.add_accepted(db.session, me, spotify, accepted)
        assert [o.status for o in outcomes] == ["added"] and len(spotify.writes) == 1
        assert spotify.playlists["sp-Fast"][0] == "spotify:track:existing" and len(spotify.playlists["sp-Fast"]) == 2
        assert db.session.get(Suggestion, accepted[0]).decision == "added"
        with pytest.raises(enhance.EnhanceError):
            enhance.add_accepted(db.session, me, spotify, accepted)
        assert len(spotify.writes) == 1


def test_only_own_playlists_are_ever_written(app):
    me = add_user(app, "mira.s")
    playlists = learnable_library(app, me)
    with app.app_context():
        slow = playlists["Slow"]
        track_id = db.session.scalar(select(Track.id).where(Track.spotify_id == "s50"))
        suggestion = Suggestion(user_id=me, mode="enhance", target=f"playlist:{slow.id}", track_id=track_id,
                                probability=0.9, rank=1, reasons=["slow tempo, like the playlist"])
        db.session.add(suggestion)
        db.session.commit()
        enhance.accept(db.session, me, [suggestion.id])
        # The playlist is no longer the user's (they left a collaboration): nothing is written.
        db.session.get(LibraryPlaylist, slow.id).owned_by_user = False
        db.session.commit()
        spotify = FakeSpotify({"sp-Slow": []})
        outcome, = enhance.add_accepted(db.session, me, spotify)
        assert outcome.status == "failed" and "not a Spotify playlist of yours" in outcome.message
        assert spotify.writes == [] and db.session.get(Suggestion, suggestion.id).decision == "accepted"
        # A playlist deleted on Spotify is said so, and nothing is marked added.
        db.session.get(LibraryPlaylist, slow.id).owned_by_user = True
        db.session.commit()
        outcome, = enhance.add_accepted(db.session, me, FakeSpotify({}))
        assert outcome.status == "failed" and "no longer has this playlist" in outcome.message


def test_the_command_prints_every_run_and_refuses_an_unknown_user(app):
    me = add_user(app, "mira.s")
    learnable_library(app, me)
    runner = app.test_cli_runner()
    result = runner.invoke(enhance_command, ["--user", "mira.s", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert len(summary["runs"]) == 4 + 5 and summary["suggestions"] > 0
    assert sum(run["chosen"] for run in summary["runs"]) == 1
    refused = runner.invoke(enhance_command, ["--user", "nobody"])
    assert refused.exit_code != 0 and "import-library" in refused.output
