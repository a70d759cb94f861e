"""The service clients against the sandbox: limits kept, faults survived, answers read correctly."""

from __future__ import annotations

import pytest

from app.pipeline.clients.base import RateLimited, Unavailable
from app.pipeline.clients.deezer import DeezerClient
from app.pipeline.clients.reccobeats import ReccoBeatsClient
from app.pipeline.clients.spotify import NotAllowListed, SpotifyClient
from app.pipeline.ratelimit import SlidingWindowLimiter


def _no_sleep(_seconds: float) -> None:
    pass


def test_deezer_client_stays_inside_the_quota(start_sandbox, small_world):
    sandbox = start_sandbox(deezer_rate_limit=10, deezer_rate_window=1)
    client = DeezerClient(sandbox.deezer_url, limiter=SlidingWindowLimiter(10, 1.0))
    for track_id in [t.deezer_id for t in small_world.tracks.values() if t.on_deezer][:35]:
        client.track(track_id)
    counted = sandbox.counters()["deezer"]["total"]
    assert client.calls == counted == 35, "no request was refused, so none was retried"


def test_deezer_client_recovers_from_quota_errors_without_a_limiter(start_sandbox, small_world):
    sandbox = start_sandbox(deezer_rate_limit=5, deezer_rate_window=1)
    client = DeezerClient(sandbox.deezer_url, max_attempts=20)
    on_deezer = [t.deezer_id for t in small_world.tracks.values() if t.on_deezer][:12]
    assert [client.track(track_id)["id"] for track_id in on_deezer] == on_deezer
    assert client.calls > 12, "some calls were refused with code 4 and retried"
    assert client.calls == sandbox.counters()["deezer"]["total"]


def test_deezer_playlist_tracks_follow_next_and_isrc_misses_are_none(sandbox, small_world):
    client = DeezerClient(sandbox.deezer_url)
    playlist = max(small_world.deezer_playlists.values(), key=lambda p: len(p.track_ids))
    from app.pipeline.clients import deezer as deezer_module

    original = deezer_module.PLAYLIST_PAGE
    deezer_module.PLAYLIST_PAGE = 7  # force several pages
    try:
        tracks = list(client.playlist_tracks(playlist.id))
    finally:
        deezer_module.PLAYLIST_PAGE = original
    readable = {t["id"] for t in tracks}
    assert readable <= set(playlist.track_ids)
    assert len(readable) >= 0.9 * len(playlist.track_ids)
    assert client.track_by_isrc("ZZ0000000000") is None


def test_deezer_client_survives_a_flaky_service(start_sandbox, small_world):
    sandbox = start_sandbox(profile="flaky", error_rate=0.2, malformed_rate=0.1, timeout_rate=0.0,
                            storm_rate=0.0)
    client = DeezerClient(sandbox.deezer_url, backoff_s=0.01, max_attempts=10)
    on_deezer = [t.deezer_id for t in small_world.tracks.values() if t.on_deezer][:30]
    assert [client.track(t)["id"] for t in on_deezer] == on_deezer
    assert client.calls > 30 and client.calls == sandbox.counters()["deezer"]["total"]


def test_deezer_client_gives_up_with_a_plain_reason(start_sandbox, small_world):
    sandbox = start_sandbox(profile="flaky", error_rate=1.0, malformed_rate=0.0, timeout_rate=0.0,
                            storm_rate=0.0)
    client = DeezerClient(sandbox.deezer_url, max_attempts=3, sleep=_no_sleep)
    with pytest.raises(Unavailable, match="kept failing"):
        client.track(next(iter(small_world.tracks)))
    assert client.calls == 3


def test_reccobeats_batches_by_40_and_joins_by_href(sandbox, small_world):
    client = ReccoBeatsClient(sandbox.reccobeats_url)
    tracks = list(small_world.tracks.values())[:100]
    features = client.audio_features([t.spotify_id for t in tracks])
    assert client.calls == 3
    known = {t.spotify_id for t in tracks if t.reccobeats_id}
    assert set(features) == known
    some = next(t for t in tracks if t.reccobeats_id)
    assert features[some.spotify_id]["tempo"] == pytest.approx(some.character.tempo, rel=1e-3)


def test_spotify_client_pages_liked_songs_at_50_per_call(sandbox, small_world, token_for):
    user = small_world.users["jonas.b"]
    client = SpotifyClient(sandbox.spotify_url, access_token=token_for(sandbox, user.id))
    items = list(client.saved_tracks())
    assert [item["track"]["id"] for item in items] == \
        [small_world.tracks[track_id].spotify_id for track_id, _ in user.liked]
    assert client.calls == -(-len(user.liked) // 50)
    assert sandbox.counters()["spotify"]["GET /me/tracks"] == client.calls


def test_spotify_client_writes_in_batches_of_100(sandbox, small_world, token_for):
    user = small_world.users["ana.k"]
    client = SpotifyClient(sandbox.spotify_url, access_token=token_for(sandbox, user.id))
    playlist = client.create_playlist("contextify · test", description="made by a test")
    uris = [f"spotify:track:{small_world.tracks[t].spotify_id}" for t, _ in user.liked[:250]]
    snapshots = client.add_items(playlist["id"], uris)
    assert len(snapshots) == 3 and all(snapshots)
    assert [i["item"]["uri"] for i in client.playlist_items(playlist["id"])] == uris


def test_spotify_quota_is_raised_not_slept_through(start_sandbox, small_world, token_for):
    sandbox = start_sandbox()
    token = token_for(sandbox, "ana.k")
    sandbox.set_profile("quota")
    client = SpotifyClient(sandbox.spotify_url, access_token=token, sleep=_no_sleep)
    with pytest.raises(RateLimited) as excinfo:
        client.me()
    assert excinfo.value.retry_after_s > 3600
    assert client.calls == 1


def test_spotify_rate_limit_429_is_waited_out(start_sandbox, token_for):
    sandbox = start_sandbox(spotify_rate_limit=5, spotify_rate_window=2)
    client = SpotifyClient(sandbox.spotify_url, access_token=token_for(sandbox, "ana.k"))
    for _ in range(8):
        assert client.me()["id"] == "ana.k"
    assert client.calls > 8, "the window refused some calls, which were retried after Retry-After"


def test_spotify_user_not_allow_listed_is_named(sandbox, token_for):
    client = SpotifyClient(sandbox.spotify_url, access_token=token_for(sandbox, "leo.p"))
    with pytest.raises(NotAllowListed, match="not allow-listed"):
        client.me()


def test_clients_built_from_config_reach_the_sandbox(sandbox):
    from config import load_settings

    from app.pipeline.clients import factory

    settings = load_settings({"CONTEXTIFY_SANDBOX_URL": sandbox.url, "SECRET_KEY": "k",
                              "CONTEXTIFY_INSTANCE_DIR": "/tmp"})
    app_client = factory.spotify_app_client(settings)
    found = app_client.call(app_client.sp.search, q="workout", type="playlist", limit=10)
    assert found["playlists"]["items"], "client-credentials token works for search"
    assert factory.deezer_client(settings).search_playlists("workout")
    assert factory.deezer_client(settings).limiter is factory.deezer_client(settings).limiter
