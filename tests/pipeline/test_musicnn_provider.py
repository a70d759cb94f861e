"""The musicnn provider: tags and embeddings stored per track, the preview downloaded once for both audio providers."""

from __future__ import annotations

import pytest

from app.runs.progress import Progress
from app.pipeline.enrich import enrich_tracks
from app.pipeline.musicnn_net import EMBEDDING_KEYS, TAG_KEYS, WeightsMissing, weights_prefix
from app.pipeline.providers import PROVIDER_CLASSES, musicnn as musicnn_module
from app.pipeline.providers.base import ProviderUnavailable, TrackRef
from app.runs.summary import RunSummary
from tests.pipeline.test_enrich import FAST, add_tracks, clients_for, factory, on_deezer, rows  # noqa: F401

try:
    weights_prefix()
    HAVE_WEIGHTS = True
except WeightsMissing:
    HAVE_WEIGHTS = False
needs_weights = pytest.mark.skipif(not HAVE_WEIGHTS, reason="the musicnn wheel (weights) is not installed")


@needs_weights
def test_preview_and_musicnn_share_one_download_per_track(start_sandbox, small_world, factory):  # noqa: F811
    sandbox = start_sandbox(clip_seconds=7, **FAST)
    tracks = on_deezer(small_world, 8)
    ids = add_tracks(factory, tracks)
    summary = RunSummary("enrich")
    clients = clients_for(sandbox)
    enrich_tracks(factory, ids, {}, summary, Progress(), providers=["preview", "musicnn"], clients=clients)
    clients.close()
    learned, described = rows(factory, "musicnn"), rows(factory, "preview")
    ok = [r for r in learned.values() if r.status == "ok"]
    assert len(ok) >= 6
    for row in ok:
        assert row.provider_version == PROVIDER_CLASSES["musicnn"].version
        assert set(row.values) == set(TAG_KEYS) | set(EMBEDDING_KEYS)
        assert all(0.0 <= row.values[k] <= 1.0 for k in TAG_KEYS)
    downloaded = sum(1 for r in described.values() if r.status != "unavailable")
    assert summary.api_calls["previews"] == sandbox.counters()["previews"]["total"] == downloaded, \
        "each preview is downloaded once although two providers analyse it"


@needs_weights
def test_musicnn_rows_go_stale_when_the_version_changes(start_sandbox, small_world, factory, monkeypatch):  # noqa: F811
    sandbox = start_sandbox(clip_seconds=4, **FAST)
    ids = add_tracks(factory, on_deezer(small_world, 2))
    clients = clients_for(sandbox)
    enrich_tracks(factory, ids, {}, RunSummary("e"), Progress(), providers=["musicnn"], clients=clients)
    sandbox.reset_counters()
    again = RunSummary("e")
    enrich_tracks(factory, ids, {}, again, Progress(), providers=["musicnn"], clients=clients)
    assert sandbox.counters()["previews"]["total"] == 0
    monkeypatch.setattr(PROVIDER_CLASSES["musicnn"], "version", "msd-next")
    enrich_tracks(factory, ids, {}, RunSummary("e"), Progress(), providers=["musicnn"], clients=clients)
    clients.close()
    assert {r.provider_version for r in rows(factory, "musicnn").values()} == {"msd-next"}


def test_without_the_weights_the_provider_says_how_to_install_them(monkeypatch):
    def missing():
        raise WeightsMissing("the musicnn weights are not installed: run `make install`")

    monkeypatch.setattr("app.pipeline.musicnn_net.weights_prefix", missing)
    provider = PROVIDER_CLASSES["musicnn"](clients=None)
    with pytest.raises(ProviderUnavailable, match="make install"):
        list(provider.fetch([TrackRef(1, deezer_id=1)]))


def test_unreadable_audio_is_a_failed_track_not_a_crash():
    assert "not decodable" in musicnn_module.analyse_musicnn_clip(b"not audio at all")


def test_contextify_providers_chooses_the_default_set_and_refuses_unknown_names():
    from app.pipeline.providers import default_providers

    assert default_providers("deezer, preview,musicnn") == ("deezer", "preview", "musicnn")
    assert default_providers("deezer,preview", reccobeats_audio=True) == ("deezer", "preview", "reccobeats_audio")
    with pytest.raises(ValueError, match="unknown feature provider.*tensorflow"):
        default_providers("deezer,tensorflow")


def test_musicnn_is_on_by_default_exactly_where_its_weights_are_installed(monkeypatch):
    from app.pipeline.providers import BUILTIN_DEFAULT_PROVIDERS, default_providers

    monkeypatch.setattr("app.pipeline.musicnn_net.weights_prefix", lambda: "/somewhere")
    assert default_providers(None) == (*BUILTIN_DEFAULT_PROVIDERS, "musicnn")

    def missing():
        raise WeightsMissing("not installed")

    monkeypatch.setattr("app.pipeline.musicnn_net.weights_prefix", missing)
    assert default_providers(None) == BUILTIN_DEFAULT_PROVIDERS == ("deezer", "preview", "reccobeats")


def test_the_default_providers_come_from_config_and_reach_the_run_clients(monkeypatch):
    import config
    from app.pipeline.providers import RunClients

    monkeypatch.setattr("app.pipeline.musicnn_net.weights_prefix", lambda: "/somewhere")
    settings = config.load_settings({"TESTING": "1"})
    assert settings["CONTEXTIFY_PROVIDERS"] == ("deezer", "preview", "reccobeats", "musicnn")
    opted_in = config.load_settings({"TESTING": "1", "CONTEXTIFY_PROVIDERS": "deezer,preview",
                                     "CONTEXTIFY_RECCOBEATS_AUDIO": "1"})
    assert opted_in["CONTEXTIFY_PROVIDERS"] == ("deezer", "preview", "reccobeats_audio")
    clients = RunClients.from_config(opted_in)
    assert clients.default_providers == ("deezer", "preview", "reccobeats_audio") and clients.reccobeats_audio
    with pytest.raises(config.ConfigError, match="unknown feature provider"):
        config.load_settings({"TESTING": "1", "CONTEXTIFY_PROVIDERS": "deezer,tensorflow"})
