"""Feature providers and the enrichment run: right values, stored with their source, fetched once, failures kept."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from app.runs.progress import Progress
from app.pipeline import enrich as enrich_module
from app.pipeline.clients.deezer import DeezerClient
from app.pipeline.clients.reccobeats import ReccoBeatsClient
from app.pipeline.clients.spotify import SpotifyClient
from app.pipeline.enrich import enrich_tracks, is_stale
from app.pipeline.providers import preview as preview_module
from app.pipeline.providers.base import TrackRef
from app.pipeline.providers.deezer import DeezerProvider
from app.pipeline.providers.reccobeats import ReccoBeatsProvider
from app.pipeline.providers.run import RunClients
from app.pipeline.ratelimit import SlidingWindowLimiter
from app.runs.summary import RunSummary
from app.storage.base import Base
from app.storage.tables import Track, TrackFeatures, utcnow

FAST = {"deezer_rate_limit": 1000, "deezer_rate_window": 1}


@pytest.fixture
def factory(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'enrich.db'}")
    Base.metadata.create_all(engine)
    return sessionmaker(bind=engine, expire_on_commit=False)


def add_tracks(factory, world_tracks) -> list[int]:
    with factory() as session:
        rows = [Track(spotify_id=t.spotify_id, deezer_id=t.deezer_id, isrc=t.isrc, title=t.title, artist="x",
                      match_method="isrc") for t in world_tracks]
        session.add_all(rows)
        session.commit()
        return [row.id for row in rows]


def clients_for(sandbox, spotify_token: str | None = None, workers: int = 2) -> RunClients:
    spotify = SpotifyClient(sandbox.spotify_url, access_token=spotify_token) if spotify_token else None
    return RunClients(deezer=DeezerClient(sandbox.deezer_url, limiter=SlidingWindowLimiter(900, 1.0)),
                      reccobeats=ReccoBeatsClient(sandbox.reccobeats_url), spotify=spotify,
                      analysis_workers=workers)


def rows(factory, provider: str) -> dict[int, TrackFeatures]:
    with factory() as session:
        return {r.track_id: r for r in session.scalars(select(TrackFeatures).where(TrackFeatures.provider == provider))}


def on_deezer(world, n: int, start: int = 0) -> list:
    return [t for t in world.tracks.values() if t.on_deezer][start:start + n]


def test_preview_tempo_agrees_with_the_hidden_tempo(start_sandbox, small_world, factory):
    sandbox = start_sandbox(clip_seconds=10, **FAST)
    tracks = on_deezer(small_world, 40)
    ids = add_tracks(factory, tracks)
    summary = RunSummary("enrich")
    started = time.monotonic()
    clients = clients_for(sandbox)
    enrich_tracks(factory, ids, {}, summary, Progress(), providers=["preview"], clients=clients)
    clients.close()
    stored = rows(factory, "preview")
    truth = requests.get(f"{sandbox.url}/__sandbox__/truth",
                         params={"deezer_ids": ",".join(str(t.deezer_id) for t in tracks)}).json()["tracks"]
    close = 0
    for track_id, track in zip(ids, tracks):
        hidden = truth[str(track.deezer_id)]["character"]["tempo"]
        row = stored.get(track_id)
        if row is not None and row.status == "ok" and abs(row.values["tempo"] - hidden) <= 0.03 * hidden:
            close += 1
    print(f"\npreview analysis: {len(tracks) / (time.monotonic() - started):.1f} tracks/s (10-s clips, 2 workers)")
    readable = sum(1 for r in stored.values() if r.status != "unavailable")
    assert close >= 0.9 * readable and readable >= 0.9 * len(tracks)
    assert summary.api_calls["previews"] == sandbox.counters()["previews"]["total"] == readable


def test_expired_preview_links_are_fetched_again_once(start_sandbox, small_world, factory):
    sandbox = start_sandbox(preview_ttl=2, **FAST)
    tracks = [t for t in on_deezer(small_world, 12)][:6]
    ids = add_tracks(factory, tracks)
    clients = clients_for(sandbox)
    enrich_tracks(factory, ids, {}, RunSummary("e"), Progress(), providers=["deezer"], clients=clients)
    time.sleep(2.2)  # every link handed out so far has expired; the run still holds the answers
    sandbox.reset_counters()
    enrich_tracks(factory, ids, {}, RunSummary("e"), Progress(), providers=["preview"], clients=clients)
    clients.close()
    counters = sandbox.counters()
    readable = sum(1 for r in rows(factory, "preview").values() if r.status == "ok")
    assert readable >= 5
    assert counters["previews"]["total"] == 2 * readable, "each expired link was refused (403) once"
    assert counters["deezer"]["GET /track/{id}"] == readable, "one fresh /track/{id} per refused link"


def test_a_second_run_fetches_nothing_and_a_new_provider_version_refetches_everything(start_sandbox, small_world,
                                                                                   factory, monkeypatch):
    sandbox = start_sandbox(**FAST)
    tracks = on_deezer(small_world, 80)
    ids = add_tracks(factory, tracks)
    first = RunSummary("e")
    enrich_tracks(factory, ids, {}, first, Progress(), providers=["deezer", "reccobeats"], clients=clients_for(sandbox))
    recco = rows(factory, "reccobeats")
    unknown = {t.spotify_id for t in tracks if not t.reccobeats_id}
    assert {r.status for tid, r in recco.items() if tracks[ids.index(tid)].spotify_id in unknown} == {"unavailable"}
    assert first.api_calls["reccobeats"] == 2, "40 ids per call"
    albums = len({t.album_id for t in tracks})
    assert first.api_calls["deezer"] == len(tracks) + albums, "one /track and one /album per album"

    sandbox.reset_counters()
    again = RunSummary("e")
    enrich_tracks(factory, ids, {}, again, Progress(), providers=["deezer", "reccobeats"], clients=clients_for(sandbox))
    assert sum(again.api_calls.values()) == 0 and again.cache_hits == 2 * len(ids)

    monkeypatch.setattr(ReccoBeatsProvider, "version", "2")
    bumped = RunSummary("e")
    enrich_tracks(factory, ids, {}, bumped, Progress(), providers=["deezer", "reccobeats"],
                  clients=clients_for(sandbox))
    assert bumped.api_calls == {"deezer": 0, "spotify": 0, "reccobeats": 2, "previews": 0}
    assert {r.provider_version for r in rows(factory, "reccobeats").values()} == {"2"}


def test_new_tracks_of_a_known_album_reuse_its_stored_genres(start_sandbox, small_world, factory):
    sandbox = start_sandbox(**FAST)
    by_album: dict[int, list] = {}
    for track in small_world.tracks.values():
        if track.on_deezer:
            by_album.setdefault(track.album_id, []).append(track)
    pairs = [ts[:2] for ts in by_album.values() if len(ts) >= 2][:5]
    first_ids = add_tracks(factory, [a for a, _ in pairs])
    enrich_tracks(factory, first_ids, {}, RunSummary("e"), Progress(), providers=["deezer"],
                  clients=clients_for(sandbox))
    with factory() as session:  # the album id is known once a track is matched
        for track_id, (a, _b) in zip(first_ids, pairs):
            session.get(Track, track_id).deezer_album_id = a.album_id
        session.commit()
    second_ids = add_tracks(factory, [b for _, b in pairs])
    with factory() as session:
        for track_id, (_a, b) in zip(second_ids, pairs):
            session.get(Track, track_id).deezer_album_id = b.album_id
        session.commit()
    sandbox.reset_counters()
    enrich_tracks(factory, second_ids, {}, RunSummary("e"), Progress(), providers=["deezer"],
                  clients=clients_for(sandbox))
    assert sandbox.counters()["deezer"].get("GET /album/{id}", 0) == 0
    stored = rows(factory, "deezer")
    assert [stored[i].values["genres"] for i in second_ids] == [stored[i].values["genres"] for i in first_ids]


def test_spotify_features_are_detected_as_refused_once_and_used_when_allowed(start_sandbox, small_world, factory,
                                                                             token_for):
    sandbox = start_sandbox(**FAST)
    ids = add_tracks(factory, on_deezer(small_world, 150))
    summary = RunSummary("e")
    enrich_tracks(factory, ids, {}, summary, Progress(), providers=["spotify"],
                  clients=clients_for(sandbox, token_for(sandbox, "ana.k")))
    assert summary.api_calls["spotify"] == 1 and rows(factory, "spotify") == {}
    assert summary.notes == ["spotify features are off for the rest of this run: this Spotify app has no access to "
                             "audio features (403)"]

    sandbox.set_profile("extended")
    allowed = RunSummary("e")
    enrich_tracks(factory, ids, {}, allowed, Progress(), providers=["spotify"],
                  clients=clients_for(sandbox, token_for(sandbox, "ana.k")))
    assert allowed.api_calls["spotify"] == 2, "100 ids per call"
    assert {r.status for r in rows(factory, "spotify").values()} == {"ok"}


class LyingDeezer:
    """Answers with wrong types, missing fields and absurd values."""

    calls = 0

    def __init__(self, answers):
        self.answers = answers

    def track(self, deezer_id):
        return self.answers[deezer_id]

    def album(self, album_id):
        return {"genres": {"data": [None, {"name": 5}, {"name": "Pop"}]}, "release_date": "garbage"}


@pytest.mark.parametrize(("answer", "status", "error"), [
    ({"duration": -1, "album": {"id": 1}}, "failed", "Deezer answered nonsense: duration is out of range: -1.0"),
    ({"duration": "200", "album": {"id": 1}}, "failed", "Deezer answered nonsense: duration is not a number: '200'"),
    ({"duration": 200, "bpm": True, "album": {"id": 1}}, "failed",
     "Deezer answered nonsense: bpm is not a number: True"),
    ({"duration": 200, "album": None}, "failed", "Deezer answered nonsense: the track has no album id"),
    (None, "failed", "Deezer answered nonsense: the answer is not an object"),
    ({"duration": 200, "bpm": 0, "album": {"id": 1}, "explicit_lyrics": False}, "ok", None),
])
def test_lying_deezer_answers_become_failed_rows_not_crashes(answer, status, error):
    clients = RunClients(deezer=LyingDeezer({5: answer}), reccobeats=None)
    [result] = DeezerProvider(clients).fetch([TrackRef(1, deezer_id=5)])
    assert (result.status, result.error) == (status, error)
    if status == "ok":
        assert result.values["bpm"] is None and result.values["genres"] == ["Pop"], "bpm 0 means unknown"


@pytest.mark.parametrize(("row", "error"), [
    ({"tempo": 0}, "tempo is out of range: 0.0"),
    ({"tempo": None}, "tempo is missing"),
    ({"energy": 7}, "energy is out of range: 7.0"),
    ({"key": "C"}, "key is not a number: 'C'"),
])
def test_lying_reccobeats_values_fail_only_their_track(row, error):
    good = {"acousticness": .1, "danceability": .5, "energy": .5, "instrumentalness": 0, "liveness": .1,
            "speechiness": .05, "valence": .5, "loudness": -7.0, "tempo": 120.0, "key": 5, "mode": 1}
    result = ReccoBeatsProvider._result(TrackRef(1, spotify_id="x"), {**good, **row})
    assert (result.status, result.error) == ("failed", f"ReccoBeats answered nonsense: {error}")


def test_a_dead_preview_service_degrades_the_run_and_says_so(start_sandbox, small_world, factory, monkeypatch):
    sandbox = start_sandbox(profile="flaky", fault_services="previews", error_rate=1.0, malformed_rate=0,
                            timeout_rate=0, storm_rate=0, latency_ms=0, **FAST)
    monkeypatch.setattr(preview_module, "DOWNLOAD_ATTEMPTS", 2)
    ids = add_tracks(factory, on_deezer(small_world, 60))
    summary = RunSummary("e")
    clients = clients_for(sandbox)
    enrich_tracks(factory, ids, {}, summary, Progress(), providers=["deezer", "preview"], clients=clients)
    clients.close()
    assert summary.notes == ["preview features are off for the rest of this run: 20 tracks in a row failed "
                             "(last: the preview download kept failing)"]
    assert {r.status for r in rows(factory, "deezer").values()} == {"ok"}
    assert len(rows(factory, "preview")) < len(ids), "tracks not tried are left for the next run"


def test_staleness_rule():
    now = utcnow()

    def row(status, age, version="1"):
        return TrackFeatures(provider_version=version, status=status, fetched_at=now - age)

    assert is_stale(None, "1", now)
    assert is_stale(row("ok", timedelta(days=900), version="0"), "1", now)
    assert not is_stale(row("ok", timedelta(days=900)), "1", now)
    assert not is_stale(row("failed", timedelta(seconds=10)), "1", now)
    assert is_stale(row("failed", timedelta(minutes=5)), "1", now), "the next run a few minutes later asks again"
    assert is_stale(row("failed", enrich_module.RETRY_FAILED_AFTER), "1", now)
    assert not is_stale(row("unavailable", timedelta(days=1)), "1", now)
    assert is_stale(row("unavailable", enrich_module.RECHECK_UNAVAILABLE_AFTER), "1", now)


def test_a_harvested_row_learns_its_isrc_from_the_full_track_and_unreadable_ones_have_no_preview(
        start_sandbox, small_world, factory):
    """Deezer listings carry no ISRC and ~15% of listed tracks are unreadable: the `/track/{id}` answer the
    deezer provider reads anyway fills the ISRC, and an unreadable track is `unavailable` for the preview."""
    sandbox = start_sandbox(clip_seconds=2, **FAST)
    tracks = on_deezer(small_world, 60, start=200)
    with factory() as session:
        harvested = [Track(deezer_id=t.deezer_id, title=t.title, artist="x", match_method="source") for t in tracks]
        session.add_all(harvested)
        session.commit()
        ids = [row.id for row in harvested]
    clients = clients_for(sandbox)
    enrich_tracks(factory, ids, {}, RunSummary("enrich"), Progress(), providers=["deezer", "preview"],
                  clients=clients)
    clients.close()
    with factory() as session:
        isrcs = {row.deezer_id: row.isrc for row in session.scalars(select(Track).where(Track.id.in_(ids)))}
    assert all(isrcs[t.deezer_id] == (t.deezer_isrc or t.isrc) for t in tracks), "every ISRC comes from /track/{id}"
    previews = rows(factory, "preview")
    unreadable = [tid for tid, t in zip(ids, tracks)
                  if requests.get(f"{sandbox.deezer_url}track/{t.deezer_id}").json()["readable"] is False]
    assert unreadable, "about 15% of tracks are unreadable"
    assert all(previews[tid].status == "unavailable" and "no preview" in previews[tid].error for tid in unreadable)
    assert sandbox.counters()["previews"]["total"] <= len(ids) - len(unreadable), "no download for an unreadable one"


def test_full_track_answers_fill_blank_isrcs_only():
    from app.storage.base import Base

    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with sessionmaker(bind=engine)() as session:
        blank, known = Track(title="a", artist="x"), Track(title="b", artist="x", isrc="KNOWN0000001")
        session.add_all([blank, known])
        session.flush()
        enrich_module._fill_identities(session, {blank.id: {"isrc": "FOUND0000001"}, known.id: {"isrc": "OTHER000001"},
                                                 12345: {"isrc": "NOTRACK00001"}, blank.id + 99: {}})
        session.commit()
        assert dict(session.execute(select(Track.id, Track.isrc)).all()) == {blank.id: "FOUND0000001",
                                                                             known.id: "KNOWN0000001"}
