"""The opt-in reccobeats_audio provider: previews uploaded, rows stored with their source, refusals in plain words."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

import config
from app.runs.progress import Progress
from app.pipeline.clients.base import ServiceError
from app.pipeline.clients.deezer import DeezerClient
from app.pipeline.clients.reccobeats import MAX_UPLOAD_BYTES, ReccoBeatsClient, TooLarge
from app.pipeline.enrich import enrich_tracks
from app.pipeline.providers import with_opt_ins
from app.pipeline.providers.base import TrackRef
from app.pipeline.providers.reccobeats_audio import OFF, ReccoBeatsAudioProvider
from app.pipeline.providers.run import RunClients
from app.pipeline.ratelimit import SlidingWindowLimiter
from app.runs.summary import RunSummary
from app.storage.base import Base
from app.storage.tables import Track, TrackFeatures

FAST = {"deezer_rate_limit": 1000, "deezer_rate_window": 1}
ANALYSED = {"acousticness", "danceability", "energy", "instrumentalness", "liveness", "loudness", "speechiness",
            "tempo", "valence"}


@pytest.fixture
def factory(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'recco_audio.db'}")
    Base.metadata.create_all(engine)
    return sessionmaker(bind=engine, expire_on_commit=False)


def add_tracks(factory, world_tracks) -> list[int]:
    with factory() as session:
        rows = [Track(spotify_id=t.spotify_id, deezer_id=t.deezer_id, isrc=t.isrc, title=t.title, artist="x",
                      match_method="isrc") for t in world_tracks]
        session.add_all(rows)
        session.commit()
        return [row.id for row in rows]


def clients_for(sandbox, opted_in: bool = True, **recco_options) -> RunClients:
    return RunClients(deezer=DeezerClient(sandbox.deezer_url, limiter=SlidingWindowLimiter(900, 1.0)),
                      reccobeats=ReccoBeatsClient(sandbox.reccobeats_url, **recco_options),
                      analysis_workers=1, reccobeats_audio=opted_in)


def stored(factory) -> dict[int, TrackFeatures]:
    with factory() as session:
        query = select(TrackFeatures).where(TrackFeatures.provider == "reccobeats_audio")
        return {r.track_id: r for r in session.scalars(query)}


def on_deezer(world, n: int) -> list:
    return [t for t in world.tracks.values() if t.on_deezer][:n]


def test_opt_in_comes_from_configuration_and_rides_along_with_preview():
    assert config.load_settings({"TESTING": "1"})["CONTEXTIFY_RECCOBEATS_AUDIO"] is False
    settings = config.load_settings({"TESTING": "1", "CONTEXTIFY_RECCOBEATS_AUDIO": "1"})
    assert settings["CONTEXTIFY_RECCOBEATS_AUDIO"] is True
    assert RunClients.from_config(settings).reccobeats_audio is True
    assert with_opt_ins(("deezer", "preview", "reccobeats"), True) == ("deezer", "preview", "reccobeats",
                                                                        "reccobeats_audio")
    assert with_opt_ins(("deezer", "preview", "reccobeats"), False) == ("deezer", "preview", "reccobeats")
    assert with_opt_ins(("deezer",), True) == ("deezer",)  # no preview analysis asked: nothing uploaded


def test_previews_are_uploaded_and_analysed_values_stored_with_their_source(start_sandbox, small_world, factory):
    sandbox = start_sandbox(clip_seconds=10, **FAST)
    tracks = on_deezer(small_world, 8)
    ids = add_tracks(factory, tracks)
    summary = RunSummary("enrich")
    clients = clients_for(sandbox)
    enrich_tracks(factory, ids, {}, summary, Progress(), providers=["reccobeats_audio"], clients=clients)
    rows = stored(factory)
    ok = [r for r in rows.values() if r.status == "ok"]
    # About 15% of Deezer tracks have no preview (readable: false): those are "unavailable", never uploaded.
    playable = [r for r in rows.values() if r.status != "unavailable"]
    assert len(playable) >= 6 and len(ok) >= len(playable) - 1, {r.track_id: (r.status, r.error) for r in rows.values()}
    for row in ok:
        assert set(row.values) == ANALYSED and row.provider_version == ReccoBeatsAudioProvider.version
        assert 0 <= row.values["energy"] <= 1 and row.values["loudness"] < 0
    # Louder hidden characters come back louder: the values are the audio's, measured by the service.
    truth = {t.deezer_id: t.character.loudness for t in tracks}
    by_id = {tid: t for tid, t in zip(ids, tracks)}
    pairs = sorted((truth[by_id[r.track_id].deezer_id], r.values["loudness"]) for r in ok)
    assert pairs[-1][1] > pairs[0][1]
    counters = sandbox.counters()
    assert summary.api_calls["reccobeats"] == counters["reccobeats"]["total"] == len(playable)
    assert summary.api_calls["previews"] == counters["previews"]["total"]


def test_off_by_default_it_uploads_nothing_and_says_why(sandbox, small_world, factory):
    ids = add_tracks(factory, on_deezer(small_world, 3))
    summary = RunSummary("enrich")
    enrich_tracks(factory, ids, {}, summary, Progress(), providers=["reccobeats_audio"],
                  clients=clients_for(sandbox, opted_in=False))
    assert stored(factory) == {}
    assert summary.notes == [f"reccobeats_audio features are off for the rest of this run: {OFF}"]
    assert sandbox.counters()["reccobeats"]["total"] == 0 and sandbox.counters()["previews"]["total"] == 0


def test_a_long_throttle_turns_the_provider_off_for_the_run(start_sandbox, small_world, factory):
    sandbox = start_sandbox(reccobeats_rate_limit=1, reccobeats_rate_window=600, **FAST)
    ids = add_tracks(factory, on_deezer(small_world, 4))
    summary = RunSummary("enrich")
    enrich_tracks(factory, ids, {}, summary, Progress(), providers=["reccobeats_audio"],
                  clients=clients_for(sandbox, max_retry_after_s=5))
    assert len(summary.notes) == 1 and "ReccoBeats asks to wait" in summary.notes[0]
    # At most the one upload admitted before the throttle is kept (it may finish after the refusal).
    assert len([r for r in stored(factory).values() if r.status == "ok"]) <= 1
    assert not [r for r in stored(factory).values() if r.status != "ok"]  # a throttle is not the tracks' fault


def test_a_short_throttle_is_waited_out(start_sandbox, small_world, factory):
    sandbox = start_sandbox(reccobeats_rate_limit=2, reccobeats_rate_window=2, **FAST)
    ids = add_tracks(factory, on_deezer(small_world, 5))
    summary = RunSummary("enrich")
    enrich_tracks(factory, ids, {}, summary, Progress(), providers=["reccobeats_audio"],
                  clients=clients_for(sandbox, backoff_s=0.1))
    assert summary.notes == []
    assert all(r.status == "ok" for r in stored(factory).values()) and len(stored(factory)) == 5
    assert sandbox.counters()["reccobeats"]["total"] > 5  # some uploads were refused with 429 and sent again


def test_a_file_over_5_mb_is_refused_before_it_is_sent(sandbox):
    client = ReccoBeatsClient(sandbox.reccobeats_url)
    with pytest.raises(TooLarge):
        client.analyse_audio(b"\0" * (MAX_UPLOAD_BYTES + 1))
    assert client.calls == 0 and sandbox.counters()["reccobeats"]["total"] == 0
    # The service refuses one too: a 413 is a TooLarge, not a retry.
    answer = requests.post(f"{sandbox.reccobeats_url}analysis/audio-features",
                           files={"audioFile": ("big.mp3", b"\0" * (MAX_UPLOAD_BYTES + 1))}, timeout=30)
    assert answer.status_code == 413
    with pytest.raises(TooLarge):
        client.check(answer)


def test_audio_the_service_cannot_read_fails_that_track_in_plain_words(sandbox, small_world, monkeypatch):
    clients = clients_for(sandbox)
    provider = ReccoBeatsAudioProvider(clients)
    monkeypatch.setattr(provider.previews, "download", lambda track: b"<html>an error page</html>")
    track = on_deezer(small_world, 1)[0]
    [result] = provider.fetch([TrackRef(1, deezer_id=track.deezer_id)])
    assert result.status == "failed"
    assert result.error.startswith("ReccoBeats could not analyse the preview: reccobeats: refused with HTTP 400")
    with pytest.raises(ServiceError):
        clients.reccobeats.analyse_audio(b"not audio at all")


def test_nonsense_values_fail_the_track(sandbox, small_world, monkeypatch):
    clients = clients_for(sandbox)
    provider = ReccoBeatsAudioProvider(clients)
    monkeypatch.setattr(provider.previews, "download", lambda track: b"x")
    monkeypatch.setattr(clients.reccobeats, "analyse_audio",
                        lambda data, filename: {name: 0.5 for name in ANALYSED} | {"tempo": 0})
    [result] = provider.fetch([TrackRef(1, deezer_id=on_deezer(small_world, 1)[0].deezer_id)])
    assert result.status == "failed" and result.error == "ReccoBeats answered nonsense: tempo is out of range: 0.0"


def test_its_columns_are_told_apart_from_the_lookup_providers():
    from app.models.enhance_reasons import bare_name
    from app.models.explain import base_name
    from app.models.service import provider_versions

    assert bare_name("reccobeats_audio_energy") == base_name("reccobeats_audio_energy") == "energy"
    assert bare_name("reccobeats_energy") == base_name("reccobeats_energy") == "energy"
    assert provider_versions(["reccobeats_audio_energy", "preview_tempo"]) == {
        "preview": "2", "reccobeats_audio": ReccoBeatsAudioProvider.version}
