"""Services that lie (wrong types, missing fields, absurd values, null rows): a failed row with the reason, never a crash.

The sandbox's `lie_rate` knob makes some track records lie; `faults.lie_for` says which and how, so each
lying track's stored reason is checked exactly and every truthful track of the same batch must be `ok`.
"""

from __future__ import annotations

import json
import math

import pytest
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from app.runs.progress import Progress
from app.extensions import db
from app.pipeline.catalog import deezer_track_row, spotify_track_row
from app.pipeline.cli_library import import_library_command
from app.pipeline.clients.deezer import DeezerClient
from app.pipeline.clients.reccobeats import ReccoBeatsClient
from app.pipeline.clients.spotify import SpotifyClient
from app.pipeline.enrich import enrich_tracks
from app.pipeline.providers.run import RunClients
from app.pipeline.ratelimit import SlidingWindowLimiter
from app.runs.summary import RunSummary
from sandbox.faults import LIES, lie_for
from app.storage.base import Base
from app.storage.tables import LibraryItem, Track, TrackFeatures
from tests.auth.helpers import sandbox_app

RATE = 0.3
PER_KIND = 2      # lying tracks wanted per kind of lie and service
TRUTHFUL = 12     # tracks that tell the truth everywhere, in the same batches

# kind -> the exact reason stored, from the truthful record (`r`) the lie replaced.
DEEZER_REASONS = {
    "duration -1": lambda r: "duration is out of range: -1.0",
    "duration as text": lambda r: f"duration is not a number: '{r['duration']}'",
    "duration missing": lambda r: "duration is missing",
    "bpm NaN": lambda r: "bpm is out of range: nan",
    "rank negative": lambda r: f"rank is out of range: {-abs(float(r['rank'] or 0.5))!r}",
    "explicit_lyrics as text": lambda r: "explicit_lyrics is not true/false: 'yes'",
    "album null": lambda r: "the track has no album id",
}
FEATURE_REASONS = {
    "tempo 0": lambda r: "tempo is out of range: 0.0",
    "energy as text": lambda r: f"energy is not a number: '{r['energy']}'",
    "loudness NaN": lambda r: "loudness is out of range: nan",
    "danceability missing": lambda r: "danceability is missing",
    "valence negative": lambda r: f"valence is out of range: {-abs(float(r['valence'] or 0.5))!r}",
    "key as true": lambda r: "key is not a number: True",
}
UNAVAILABLE = {"reccobeats": "ReccoBeats does not know this track", "spotify": "Spotify has no audio features for this track"}
SERVICE_NAME = {"deezer": "Deezer", "reccobeats": "ReccoBeats", "spotify": "Spotify"}
ENRICH = ("deezer", "reccobeats", "spotify")
# Liked Songs lies -> the reason the import records (None: the track is imported, the lying field left blank).
LIBRARY_REASONS = {
    "null item": "import: an unavailable track (null)",
    "id missing": "import: a track without a valid Spotify id",
    "name as number": "import: a track without a name",
    "artists null": "import: a track without artists",
    "duration_ms -1": None,
    "popularity negative": None,
}


def test_the_reason_tables_cover_every_lie_the_sandbox_tells():
    assert set(DEEZER_REASONS) == set(LIES["deezer"])
    assert set(FEATURE_REASONS) | {"null item"} == set(LIES["reccobeats"]) == set(LIES["spotify"])
    assert set(LIBRARY_REASONS) == set(LIES["spotify library"])


def chosen_tracks(world) -> list:
    """Tracks known to Deezer and ReccoBeats: PER_KIND liars of every kind per service, and TRUTHFUL honest ones."""
    wanted = {(service, kind): PER_KIND for service in ENRICH for kind in LIES[service]}
    honest, picked = 0, []
    for track in world.tracks.values():
        if not (track.on_deezer and track.reccobeats_id):
            continue
        kinds = {(s, lie_for(world.seed, s, track.deezer_id if s == "deezer" else track.spotify_id, RATE))
                 for s in ENRICH}
        lies = {k for k in kinds if k[1]}
        if not lies and honest < TRUTHFUL:
            honest += 1
            picked.append(track)
        elif lies and any(wanted.get(k, 0) > 0 for k in lies):
            for k in lies:
                wanted[k] = wanted.get(k, 0) - 1
            picked.append(track)
        if honest >= TRUTHFUL and all(n <= 0 for n in wanted.values()):
            return picked
    raise AssertionError(f"the small world lacks liars for {[k for k, n in wanted.items() if n > 0]}")


def truthful_records(sandbox, tracks) -> dict[tuple[str, object], dict]:
    """Each track's real records (fetched before lies are switched on)."""
    records = {}
    for track in tracks:
        records["deezer", track.deezer_id] = requests.get(f"{sandbox.deezer_url}track/{track.deezer_id}").json()
    ids = [t.spotify_id for t in tracks]
    for start in range(0, len(ids), 40):
        content = requests.get(f"{sandbox.reccobeats_url}audio-features",
                               params={"ids": ",".join(ids[start:start + 40])}).json()["content"]
        for row in content:
            records["reccobeats", row["href"].rsplit("/", 1)[-1]] = row
    return records


@pytest.fixture
def factory(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'lies.db'}")
    Base.metadata.create_all(engine)
    yield sessionmaker(bind=engine, expire_on_commit=False)
    engine.dispose()


def test_lying_answers_become_failed_rows_with_the_reason_and_the_rest_of_the_batch_succeeds(
        start_sandbox, small_world, factory, token_for):
    sandbox = start_sandbox("extended", deezer_rate_limit=1000, deezer_rate_window=1)
    tracks = chosen_tracks(small_world)
    truth = truthful_records(sandbox, tracks)
    token = token_for(sandbox, "mira.s")
    spotify_truth = {}
    for start in range(0, len(tracks), 100):
        answer = requests.get(f"{sandbox.spotify_url}audio-features", headers={"Authorization": f"Bearer {token}"},
                              params={"ids": ",".join(t.spotify_id for t in tracks[start:start + 100])}).json()
        spotify_truth.update({row["id"]: row for row in answer["audio_features"] if row})
    sandbox.set_profile("extended", lie_rate=RATE)

    with factory() as session:
        rows = [Track(spotify_id=t.spotify_id, deezer_id=t.deezer_id, isrc=t.isrc, title=t.title, artist="x",
                      match_method="isrc") for t in tracks]
        session.add_all(rows)
        session.commit()
        ids = {row.id: track for row, track in zip(rows, tracks)}
    clients = RunClients(deezer=DeezerClient(sandbox.deezer_url, limiter=SlidingWindowLimiter(900, 1.0)),
                         reccobeats=ReccoBeatsClient(sandbox.reccobeats_url),
                         spotify=SpotifyClient(sandbox.spotify_url, access_token=token), analysis_workers=1)
    summary = RunSummary("enrich")
    try:
        enrich_tracks(factory, list(ids), {}, summary, Progress(), providers=["deezer", "reccobeats", "spotify"],
                      clients=clients)
    finally:
        clients.close()

    with factory() as session:
        stored = {(r.provider, r.track_id): r for r in session.scalars(select(TrackFeatures))}
    told = {"deezer": 0, "reccobeats": 0, "spotify": 0}
    for track_id, track in ids.items():
        for service in ("deezer", "reccobeats", "spotify"):
            key = track.deezer_id if service == "deezer" else track.spotify_id
            kind = lie_for(small_world.seed, service, key, RATE)
            row = stored[service, track_id]
            if kind is None:
                assert row.status == "ok", (service, track.spotify_id, row.error)
                continue
            told[service] += 1
            if kind == "null item":
                assert (row.status, row.error) == ("unavailable", UNAVAILABLE[service])
                continue
            record = truth["deezer", key] if service == "deezer" else (
                truth["reccobeats", key] if service == "reccobeats" else spotify_truth[key])
            reason = (DEEZER_REASONS if service == "deezer" else FEATURE_REASONS)[kind](record)
            assert (row.status, row.error) == ("failed", f"{SERVICE_NAME[service]} answered nonsense: {reason}"), kind
            assert row.values is None
    print(f"\nlies told per service: {told}; truthful tracks ok: {TRUTHFUL}")
    assert all(n >= PER_KIND * (len(LIES[s]) - 1) for s, n in told.items()), told
    # The run summary counts them as failures with the reason, grouped per provider.
    failed = sum(n for reason, n in summary.failures.items() if "answered nonsense" in reason)
    assert failed == sum(1 for r in stored.values() if r.status == "failed")
    assert failed > 0


def test_lying_liked_songs_are_skipped_with_their_reason_and_the_rest_imported(
        start_sandbox, small_world, app_config, token_for, monkeypatch):
    sandbox = start_sandbox()
    token = token_for(sandbox, "ana.k")
    sandbox.set_profile("default", lie_rate=RATE)
    liked, _total = sandbox.sandbox.state.liked_page("ana.k", 0, 10**6)
    spotify_ids = [small_world.tracks[track_id].spotify_id for track_id, _added in liked]
    kinds = {sid: lie_for(small_world.seed, "spotify library", sid, RATE) for sid in spotify_ids}
    expected: dict[str, int] = {}
    for kind in kinds.values():
        if kind and LIBRARY_REASONS[kind]:
            expected[LIBRARY_REASONS[kind]] = expected.get(LIBRARY_REASONS[kind], 0) + 1
    assert len(expected) == 4, "every refusing lie is told at least once"

    app = sandbox_app(app_config, sandbox)
    monkeypatch.setenv("SPOTIFY_ACCESS_TOKEN", token)
    result = app.test_cli_runner().invoke(import_library_command, ["--user", "ana.k", "--no-match", "--json"])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert {reason: n for reason, n in summary["failures"].items() if reason.startswith("import: ")} == expected
    with app.app_context():
        imported = set(db.session.scalars(select(Track.spotify_id).join(LibraryItem, LibraryItem.track_id == Track.id)
                                          .where(LibraryItem.collection == "liked")))
        durations = dict(db.session.execute(select(Track.spotify_id, Track.duration_ms)).all())
        db.engine.dispose()
    assert imported == {sid for sid, kind in kinds.items() if not (kind and LIBRARY_REASONS[kind])}
    state = sandbox.sandbox.state
    in_playlists = {small_world.tracks[t].spotify_id for pid in state.user_playlists["ana.k"]
                    for t in state.playlist(pid).track_ids}
    blanked = [sid for sid, kind in kinds.items() if kind == "duration_ms -1" and sid not in in_playlists]
    assert blanked and all(durations[sid] is None for sid in blanked), "the lying duration is left blank, track kept"
    # A playlist that tells the truth about the same track fills the blank.
    assert all(durations[sid] for sid, kind in kinds.items() if kind == "duration_ms -1" and sid in in_playlists)


# ---------------------------------------------------------------------------- catalog rows from lying pages


GOOD_DEEZER = {"id": 3135556, "title": "Harder, Better", "artist": {"name": "Daft Punk"},
               "album": {"id": 302127, "title": "Discovery"}, "duration": 224, "explicit_lyrics": False,
               "isrc": "gbduw0000059", "release_date": "2001-03-07"}


@pytest.mark.parametrize("lie, expected", [
    ({"duration": -1}, {"duration_ms": None}),
    ({"duration": 0}, {"duration_ms": None}),
    ({"duration": float("nan")}, {"duration_ms": None}),
    ({"duration": float("inf")}, {"duration_ms": None}),
    ({"duration": "224"}, {"duration_ms": None}),
    ({"duration": True}, {"duration_ms": None}),
    ({"isrc": 12345}, {"isrc": None}),
    ({"album": {"id": "302127", "title": ["Discovery"]}}, {"album": None, "deezer_album_id": None}),
    ({"artist": {"name": 7}}, {"artist": "", "artists": []}),
    ({"explicit_lyrics": "no"}, {"explicit": None}),
    ({"release_date": 2001}, {"release_date": None}),
    ({"contributors": "Daft Punk"}, {"artists": ["Daft Punk"]}),
], ids=lambda v: str(v)[:40])
def test_a_lying_deezer_field_is_left_blank_and_the_rest_of_the_row_kept(lie, expected):
    row = deezer_track_row({**GOOD_DEEZER, **lie})
    honest = deezer_track_row(GOOD_DEEZER)
    assert row == {**honest, **expected}


@pytest.mark.parametrize("item", [None, "3135556", [GOOD_DEEZER], {**GOOD_DEEZER, "id": "3135556"},
                                  {**GOOD_DEEZER, "id": -4}, {**GOOD_DEEZER, "id": True},
                                  {**GOOD_DEEZER, "title": 42}, {**GOOD_DEEZER, "title": "  "}],
                         ids=lambda v: str(v)[:30])
def test_a_deezer_entry_without_a_usable_id_or_title_is_not_a_row(item):
    assert deezer_track_row(item) is None


GOOD_SPOTIFY = {"id": "4uLU6hMCjMI75M1A2tKUQC", "name": "Never Gonna", "type": "track",
                "artists": [{"name": "Rick"}], "album": {"name": "Whenever", "release_date": "1987-11-12"},
                "duration_ms": 213573, "explicit": False, "popularity": 80, "external_ids": {"isrc": "GBARL9300135"}}


@pytest.mark.parametrize("track, reason", [
    (None, "an unavailable track (null)"),
    ([1, 2], "a track that is not an object"),
    ({**GOOD_SPOTIFY, "type": "episode"}, "a local file or an episode (not a Spotify track)"),
    ({**GOOD_SPOTIFY, "id": 12}, "a track without a valid Spotify id"),
    ({**GOOD_SPOTIFY, "id": "short"}, "a track without a valid Spotify id"),
    ({**GOOD_SPOTIFY, "name": None}, "a track without a name"),
    ({**GOOD_SPOTIFY, "artists": None}, "a track without artists"),
    ({**GOOD_SPOTIFY, "artists": [{"name": 3}]}, "a track without artists"),
], ids=lambda v: str(v)[:30])
def test_a_broken_spotify_track_is_skipped_with_its_reason(track, reason):
    assert spotify_track_row(track) == reason


@pytest.mark.parametrize("lie, expected", [
    ({"duration_ms": -1}, {"duration_ms": None}),
    ({"duration_ms": "213573"}, {"duration_ms": None}),
    ({"duration_ms": math.nan}, {"duration_ms": None}),
    ({"popularity": -40}, {}),            # not stored: a lie there changes nothing
    ({"popularity": "high"}, {}),
    ({"explicit": "no"}, {"explicit": None}),
    ({"external_ids": {"isrc": 5}}, {"isrc": None}),
    ({"album": {"name": 5, "release_date": "soon"}}, {"album": None, "release_date": None}),
], ids=lambda v: str(v)[:40])
def test_a_lying_spotify_field_is_left_blank(lie, expected):
    assert spotify_track_row({**GOOD_SPOTIFY, **lie}) == {**spotify_track_row(GOOD_SPOTIFY), **expected}
