"""Contract: the sandbox's ReccoBeats takes 1-40 Spotify ids, drops unknown ones and throttles with 429."""

from __future__ import annotations

import requests

FEATURES = {"acousticness", "danceability", "energy", "instrumentalness", "key", "liveness", "loudness", "mode",
            "speechiness", "tempo", "valence"}


def features(server, ids, **params):
    return requests.get(f"{server.reccobeats_url}audio-features", params={"ids": ",".join(ids), **params})


def test_at_most_40_ids(sandbox, small_world):
    ids = [t.spotify_id for t in list(small_world.tracks.values())[:41]]
    assert features(sandbox, ids[:40]).status_code == 200
    too_many = features(sandbox, ids)
    assert too_many.status_code == 400 and too_many.json()["status"] == 400
    assert features(sandbox, []).status_code == 400


def test_rows_join_back_through_href_and_unknown_ids_are_silently_missing(sandbox, small_world):
    tracks = list(small_world.tracks.values())[:40]
    known = {t.spotify_id: t for t in tracks if t.reccobeats_id}
    assert 0 < len(known) < 40  # the world leaves some tracks out of ReccoBeats
    rows = features(sandbox, [t.spotify_id for t in tracks]).json()["content"]
    joined = {row["href"].rsplit("/", 1)[-1]: row for row in rows}
    assert set(joined) == set(known)
    for spotify_id, row in joined.items():
        track = known[spotify_id]
        assert row["id"] == track.reccobeats_id != spotify_id
        assert set(row) == FEATURES | {"id", "href", "isrc"}  # no time_signature, no duration_ms
        assert abs(row["tempo"] - track.character.tempo) < 0.01 and row["key"] == track.character.key
    assert [r["href"].rsplit("/", 1)[-1] for r in rows] != [t.spotify_id for t in tracks if t.reccobeats_id]


def test_repeated_ids_parameter_is_accepted(sandbox, small_world):
    known = [t.spotify_id for t in small_world.tracks.values() if t.reccobeats_id][:3]
    answer = requests.get(f"{sandbox.reccobeats_url}audio-features", params=[("ids", i) for i in known])
    assert sorted(r["href"].rsplit("/", 1)[-1] for r in answer.json()["content"]) == sorted(known)


def test_throttling_is_429_with_retry_after(start_sandbox, small_world):
    server = start_sandbox(reccobeats_rate_limit=3, reccobeats_rate_window=10)
    ids = [next(iter(small_world.tracks.values())).spotify_id]
    answers = [features(server, ids) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 10
