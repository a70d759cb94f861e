"""Contract: counters, ground truth and fault profiles of the sandbox's /__sandbox__ control API."""

from __future__ import annotations

import json

import requests

from sandbox.faults import FaultInjector


def control(server, path: str, method: str = "GET", **kwargs):
    return requests.request(method, f"{server.url}/__sandbox__/{path}", **kwargs).json()


def test_counters_count_every_request_per_service_and_endpoint(sandbox, small_world, login):
    token = login(sandbox, "mira.s")["access_token"]
    assert control(sandbox, "counters/reset", "POST")["deezer"] == {"total": 0}
    tracks = list(small_world.tracks.values())
    playlist = next(iter(small_world.deezer_playlists))
    for track in tracks[:3]:
        requests.get(f"{sandbox.deezer_url}track/{track.deezer_id}")
    requests.get(f"{sandbox.deezer_url}track/isrc:{tracks[0].isrc}")
    requests.get(f"{sandbox.deezer_url}playlist/{playlist}/tracks")
    requests.get(f"{sandbox.deezer_url}playlist/{playlist}/tracks/")  # trailing slash: same endpoint
    requests.get(f"{sandbox.deezer_url}no/such/path")
    requests.get(f"{sandbox.spotify_url}me")                          # refused (no token): still counted
    requests.get(f"{sandbox.spotify_url}me/", headers={"Authorization": f"Bearer {token}"})
    requests.get(f"{sandbox.spotify_url}me/tracks", headers={"Authorization": f"Bearer {token}"})
    requests.post(sandbox.token_url, data={"grant_type": "client_credentials"})
    requests.get(f"{sandbox.reccobeats_url}audio-features", params={"ids": tracks[0].spotify_id})
    assert control(sandbox, "counters") == {
        "accounts": {"POST /api/token": 1, "total": 1},
        "spotify": {"GET /me": 2, "GET /me/tracks": 1, "total": 3},
        "deezer": {"GET (unknown)": 1, "GET /playlist/{id}/tracks": 2, "GET /track/isrc:{isrc}": 1,
                   "GET /track/{id}": 3, "total": 7},
        "reccobeats": {"GET /audio-features": 1, "total": 1},
        "previews": {"total": 0},
    }
    control(sandbox, "counters/reset", "POST")
    assert all(service == {"total": 0} for service in control(sandbox, "counters").values())


def test_refused_and_faulted_requests_are_counted(start_sandbox, small_world):
    server = start_sandbox(deezer_rate_limit=2)
    url = f"{server.deezer_url}track/{next(iter(small_world.tracks))}"
    answers = [requests.get(url).json() for _ in range(5)]
    assert sum("error" in a for a in answers) == 3
    assert control(server, "counters")["deezer"] == {"GET /track/{id}": 5, "total": 5}


def test_preview_requests_are_counted(start_sandbox, small_world):
    server = start_sandbox(clip_seconds=0.2)
    track = next(t for t in small_world.tracks.values() if t.on_deezer)
    preview = requests.get(f"{server.deezer_url}track/{track.deezer_id}").json()["preview"]
    requests.get(preview)
    requests.get(preview + "x")
    assert control(server, "counters")["previews"] == {"GET /preview/{id}.mp3": 2, "total": 2}


def test_quota_profile_answers_quota_exceeded(sandbox, login, small_world):
    token = login(sandbox, "mira.s")["access_token"]
    assert control(sandbox, "profile", "POST", json={"profile": "quota"})["quota"] is True
    answer = requests.get(f"{sandbox.spotify_url}me", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "48925"
    assert answer.json() == {"error": {"status": 429, "message": "Too many requests", "reason": "QUOTA_EXCEEDED"}}
    assert "error" not in requests.get(f"{sandbox.deezer_url}genre").json()  # Deezer is someone else
    control(sandbox, "profile", "POST", json={"profile": "default"})
    assert requests.get(f"{sandbox.spotify_url}me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_unknown_profile_or_knob_is_refused(sandbox):
    assert requests.post(f"{sandbox.url}/__sandbox__/profile", json={"profile": "nope"}).status_code == 400
    assert requests.post(f"{sandbox.url}/__sandbox__/profile", json={"bogus_rate": 1}).status_code == 400


def classify(response_or_error) -> str:
    if isinstance(response_or_error, requests.Timeout):
        return "timeout"
    if response_or_error.status_code >= 500:
        return "5xx"
    if response_or_error.status_code == 429:
        return "429"
    try:
        json.loads(response_or_error.content)
    except ValueError:
        return "malformed"
    return "ok"


def outcomes(server, url: str, n: int) -> list[str]:
    results = []
    with requests.Session() as http:
        for _ in range(n):
            try:
                results.append(classify(http.get(url, timeout=0.25)))
            except requests.Timeout as exc:
                results.append(classify(exc))
    return results


def test_flaky_profile_produces_faults_at_roughly_the_configured_rates(start_sandbox, small_world):
    server = start_sandbox("flaky", latency_ms=0, error_rate=0.1, timeout_rate=0.03, hang_seconds=1,
                           malformed_rate=0.1, storm_rate=0, spotify_rate_limit=10**6, deezer_rate_limit=10**6)
    seen = outcomes(server, f"{server.deezer_url}track/{next(iter(small_world.tracks))}", 300)
    counts = {kind: seen.count(kind) for kind in ("5xx", "timeout", "malformed", "429", "ok")}
    assert 15 <= counts["5xx"] <= 50, counts
    assert 3 <= counts["timeout"] <= 20, counts
    assert 15 <= counts["malformed"] <= 50, counts
    assert counts["429"] == 0 and counts["ok"] >= 200, counts
    assert control(server, "counters")["deezer"]["total"] == 300


def test_fault_draws_repeat_for_a_seed():
    def sequence(seed):
        injector = FaultInjector(seed, "hostile", services=("spotify",))
        return [(f.kind, f.status, f.retry_after) for f in (injector.draw("spotify", "GET") for _ in range(200))]

    assert sequence(7) == sequence(7) != sequence(8)


def test_a_faulted_write_is_not_applied(sandbox, small_world, spotify_as):
    sp = spotify_as(sandbox, "mira.s")
    playlist = sp._post("me/playlists", payload={"name": "x", "public": False})
    control(sandbox, "profile", "POST", json={"profile": "flaky", "error_rate": 1.0, "latency_ms": 0})
    uri = f"spotify:track:{next(iter(small_world.tracks.values())).spotify_id}"
    answer = requests.post(f"{sandbox.spotify_url}playlists/{playlist['id']}/items", json={"uris": [uri]},
                           headers={"Authorization": sp._auth_headers()["Authorization"]})
    assert answer.status_code in (500, 502, 503)
    assert control(sandbox, f"playlists/{playlist['id']}")["track_ids"] == []


def test_storms_refuse_each_service_in_its_own_manner(start_sandbox, small_world):
    server = start_sandbox("flaky", latency_ms=0, error_rate=0, timeout_rate=0, malformed_rate=0, storm_rate=1.0,
                           storm_seconds=5, storm_retry_after=3)
    spotify = requests.get(f"{server.spotify_url}me")
    assert spotify.status_code == 429 and spotify.headers["Retry-After"] == "3"
    deezer = requests.get(f"{server.deezer_url}genre")
    assert deezer.status_code == 200 and deezer.json()["error"]["code"] == 4
    recco = requests.get(f"{server.reccobeats_url}audio-features", params={"ids": "x"})
    assert recco.status_code == 429 and recco.headers["Retry-After"] == "3"


def test_hostile_retry_after_spikes(start_sandbox):
    server = start_sandbox("hostile", latency_ms=0, error_rate=0, timeout_rate=0, malformed_rate=0, storm_rate=1.0)
    values = {requests.get(f"{server.spotify_url}me").headers.get("Retry-After") for _ in range(30)}
    assert {"5", "7200"} <= values


def test_truth_users_playlists_and_world(sandbox, small_world):
    track = next(iter(small_world.tracks.values()))
    truth = control(sandbox, "truth", params={"spotify_ids": f"{track.spotify_id},nope"})["tracks"]
    assert truth[track.spotify_id]["contexts"] == sorted(track.contexts) and truth["nope"] is None
    assert truth[track.spotify_id]["character"]["tempo"] == track.character.tempo
    by_deezer = control(sandbox, "truth", params={"deezer_ids": str(track.deezer_id)})["tracks"]
    assert by_deezer[str(track.deezer_id)]["spotify_id"] == track.spotify_id
    users = {u["id"]: u for u in control(sandbox, "users")["users"]}
    assert users.keys() == small_world.users.keys()
    assert all(users[u.id]["liked_count"] == len(u.liked) and users[u.id]["allow_listed"] == u.allow_listed
               for u in small_world.users.values())
    deezer_playlist = next(iter(small_world.deezer_playlists.values()))
    assert control(sandbox, f"playlists/{deezer_playlist.id}")["track_ids"] == deezer_playlist.track_ids
    world = control(sandbox, "world")
    assert world["seed"] == 42 and world["scale"] == "small" and len(world["fingerprint"]) == 64
    assert world["sizes"]["tracks"] == len(small_world.tracks)
