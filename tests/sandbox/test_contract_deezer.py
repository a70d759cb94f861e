"""Contract: the sandbox's Deezer answers like api.deezer.com (HTTP-200 errors, quota, paging, signed previews)."""

from __future__ import annotations

import time

import pytest
import requests

from sandbox.model import DEEZER_GENRES

QUOTA = {"error": {"type": "Exception", "message": "Quota limit exceeded", "code": 4}}
NO_DATA = {"error": {"type": "DataException", "message": "no data", "code": 800}}


def biggest_playlist(world):
    return max(world.deezer_playlists.values(), key=lambda p: len(p.track_ids))


def a_track(world, **wanted):
    return next(t for t in world.tracks.values()
                if t.on_deezer and all(getattr(t, k) == v for k, v in wanted.items()))


def test_more_than_50_requests_in_5_seconds_is_code_4_with_http_200(sandbox, small_world):
    url = f"{sandbox.deezer_url}track/{a_track(small_world).deezer_id}"
    answers = [requests.get(url) for _ in range(51)]
    assert all(a.status_code == 200 and "error" not in a.json() for a in answers[:50])
    assert answers[50].status_code == 200 and answers[50].json() == QUOTA
    assert "Retry-After" not in answers[50].headers


def test_quota_window_slides(start_sandbox, small_world):
    server = start_sandbox(deezer_rate_limit=3, deezer_rate_window=0.5)
    url = f"{server.deezer_url}genre"
    assert ["error" in requests.get(url).json() for _ in range(4)] == [False, False, False, True]
    time.sleep(0.6)
    assert "error" not in requests.get(url).json()


def test_playlist_tracks_page_with_next_until_it_is_absent(sandbox, small_world):
    playlist = biggest_playlist(small_world)
    page = requests.get(f"{sandbox.deezer_url}playlist/{playlist.id}/tracks", params={"limit": 25}).json()
    total, ids, sizes = page["total"], [], []
    while True:
        ids.extend(t["id"] for t in page["data"])
        sizes.append(len(page["data"]))
        assert page["total"] == total == len(playlist.track_ids)
        if "next" not in page:
            break
        page = requests.get(page["next"]).json()
    truth = requests.get(f"{sandbox.url}/__sandbox__/playlists/{playlist.id}").json()["track_ids"]
    assert set(ids) <= set(truth) and ids == [t for t in truth if t in set(ids)]
    assert len(sizes) == -(-total // 25)
    dropped = len(truth) - len(ids)  # withdrawn tracks are dropped from their page, not replaced
    assert sum(25 - s for s in sizes[:-1]) + (total - 25 * (len(sizes) - 1) - sizes[-1]) == dropped
    assert all(t["type"] == "track" and t["time_add"] > 0 and bool(t["preview"]) == t["readable"]
               for t in page["data"])


def test_listings_carry_no_isrc_and_about_15_percent_are_unreadable(sandbox, small_world):
    """Real Deezer summaries (playlist pages, searches, charts, albums) never carry an ISRC; only full tracks do."""
    rows = []
    for playlist in sorted(small_world.deezer_playlists.values(), key=lambda p: -len(p.track_ids))[:10]:
        rows.extend(requests.get(f"{sandbox.deezer_url}playlist/{playlist.id}/tracks",
                                 params={"limit": 2000}).json()["data"])
    assert rows and not any("isrc" in row for row in rows)
    unreadable = [row for row in rows if row["readable"] is False]
    assert 0.10 < len(unreadable) / len(rows) < 0.20
    assert all(row["preview"] == "" for row in unreadable)
    full = requests.get(f"{sandbox.deezer_url}track/{unreadable[0]['id']}").json()
    assert full["isrc"] and full["readable"] is False and full["preview"] == ""
    for path in ("search?q=a", "chart/0/tracks", f"album/{rows[0]['album']['id']}"):
        body = requests.get(f"{sandbox.deezer_url}{path}").json()
        listed = body["tracks"]["data"] if "tracks" in body else body["data"]
        assert listed and not any("isrc" in row for row in listed), path


def test_chart_has_the_real_grouped_shape(sandbox, small_world):
    body = requests.get(f"{sandbox.deezer_url}chart/0").json()
    assert set(body) == {"tracks", "albums", "artists", "playlists", "podcasts"}
    for kind in ("tracks", "albums", "artists"):
        assert 0 < len(body[kind]["data"]) <= 10 and body[kind]["total"] >= len(body[kind]["data"])
        assert [row["position"] for row in body[kind]["data"]] == list(range(1, len(body[kind]["data"]) + 1))
    assert {row["type"] for row in body["albums"]["data"]} == {"album"}
    assert not any("isrc" in row for row in body["tracks"]["data"])


def test_some_pages_hold_fewer_than_limit(sandbox, small_world):
    short_pages = 0
    for playlist in sorted(small_world.deezer_playlists.values(), key=lambda p: -len(p.track_ids))[:40]:
        page = requests.get(f"{sandbox.deezer_url}playlist/{playlist.id}/tracks", params={"limit": 10}).json()
        short_pages += "next" in page and len(page["data"]) < 10
    assert short_pages > 0


def test_playlist_metadata_embeds_tracks_and_creator(sandbox, small_world):
    playlist = biggest_playlist(small_world)
    body = requests.get(f"{sandbox.deezer_url}playlist/{playlist.id}").json()
    assert body["id"] == int(playlist.id) and body["nb_tracks"] == len(playlist.track_ids)
    assert body["fans"] == playlist.fans and body["creator"]["name"] == playlist.owner_name
    assert 0 < len(body["tracks"]["data"]) <= 400 and body["checksum"] == body["tracks"]["checksum"]


def test_full_track_has_isrc_bpm_gain_release_date_and_preview(sandbox, small_world):
    track = a_track(small_world, deezer_isrc=None)
    body = requests.get(f"{sandbox.deezer_url}track/{track.deezer_id}").json()
    assert body["isrc"] == track.isrc and body["bpm"] == track.bpm and body["gain"] == track.gain
    assert len(body["release_date"]) == 10 and body["duration"] == track.duration_ms // 1000
    assert body["preview"].startswith(f"{sandbox.url}/cdn/preview/") and "hdnea=exp=" in body["preview"]
    album = requests.get(f"{sandbox.deezer_url}album/{track.album_id}").json()
    assert [g["name"] for g in album["genres"]["data"]] == [DEEZER_GENRES[g] for g in small_world.albums[track.album_id].genre_ids]
    assert album["genre_id"] == (small_world.albums[track.album_id].genre_ids or [-1])[0]


def test_isrc_lookup_is_case_insensitive_and_uses_deezer_isrc(sandbox, small_world):
    track = a_track(small_world, deezer_isrc=None)
    found = requests.get(f"{sandbox.deezer_url}track/isrc:{track.isrc.lower()}").json()
    assert found["isrc"] == track.isrc and found["id"] in [t.deezer_id for t in small_world.by_isrc[track.isrc]]
    remapped = next((t for t in small_world.tracks.values() if t.on_deezer and t.deezer_isrc), None)
    if remapped is not None:  # Deezer reports its own ISRC for these, and finds them by it
        body = requests.get(f"{sandbox.deezer_url}track/isrc:{remapped.deezer_isrc}").json()
        assert body["isrc"] == remapped.deezer_isrc


@pytest.mark.parametrize("path, code", [
    ("track/1", 800), ("track/isrc:ZZ0000000000", 800), ("album/1", 800), ("playlist/1", 800),
    ("playlist/1/tracks", 800), ("nowhere/at/all", 600), ("chart/0/nowhere", 600), ("track/1/extra", 600),
    ("search", 501), ("search?q=", 500),
])
def test_errors_are_http_200_bodies(sandbox, path, code):
    answer = requests.get(f"{sandbox.deezer_url}{path}")
    assert answer.status_code == 200 and answer.json()["error"]["code"] == code


def test_spotify_only_tracks_do_not_exist_on_deezer(sandbox, small_world):
    missing = next((t for t in small_world.tracks.values() if not t.on_deezer), None)
    if missing is None:
        pytest.skip("this world has no Spotify-only tracks")
    assert requests.get(f"{sandbox.deezer_url}track/{missing.deezer_id}").json() == NO_DATA


def test_advanced_and_plain_search(sandbox, small_world):
    track = a_track(small_world, title_version="")
    artist = small_world.artists[track.artist_ids[0]].name
    advanced = requests.get(f"{sandbox.deezer_url}search",
                            params={"q": f'artist:"{artist}" track:"{track.title}"'}).json()
    assert track.deezer_id in [t["id"] for t in advanced["data"]]
    assert not any("isrc" in t for t in advanced["data"])  # search summaries have none (real Deezer)
    plain = requests.get(f"{sandbox.deezer_url}search/track", params={"q": f"{artist} {track.title}"}).json()
    assert track.deezer_id in [t["id"] for t in plain["data"]]


def test_search_limit_is_clamped_to_100(sandbox, small_world):
    body = requests.get(f"{sandbox.deezer_url}search", params={"q": "a", "limit": 500}).json()
    assert body["total"] > 100 and len(body["data"]) == 100 and "limit=100" in body["next"]


def test_playlist_search_chart_and_genres(sandbox, small_world):
    word = biggest_playlist(small_world).title.split()[0]
    found = requests.get(f"{sandbox.deezer_url}search/playlist", params={"q": word}).json()
    assert found["total"] >= 1 and all(p["type"] == "playlist" and "user" in p for p in found["data"])
    chart = requests.get(f"{sandbox.deezer_url}chart/0/tracks").json()
    ranks = [t["rank"] for t in chart["data"]]
    assert len(ranks) == 10 and ranks == sorted(ranks, reverse=True)
    names = {g["id"]: g["name"] for g in requests.get(f"{sandbox.deezer_url}genre").json()["data"]}
    assert names[0] == "All" and all(names[k] == v for k, v in DEEZER_GENRES.items())


def test_preview_url_plays_then_expires_and_a_fresh_one_works(start_sandbox, small_world):
    server = start_sandbox(preview_ttl=1, clip_seconds=0.5)
    track = a_track(small_world)
    url = requests.get(f"{server.deezer_url}track/{track.deezer_id}").json()["preview"]
    audio = requests.get(url)
    assert audio.status_code == 200 and audio.headers["Content-Type"] == "audio/mpeg" and len(audio.content) > 1000
    tampered = url.replace("hmac=", "hmac=0")
    assert requests.get(tampered).status_code == 403
    time.sleep(2.1)
    assert requests.get(url).status_code == 403
    fresh = requests.get(f"{server.deezer_url}track/{track.deezer_id}").json()["preview"]
    assert fresh != url and requests.get(fresh).content == audio.content
