"""Contract: spotipy 2.26 and requests cannot tell the sandbox's Spotify (Accounts + Web API) from the real one."""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
import spotipy
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.oauth2 import SpotifyOauthError

from sandbox.runner import consent

from .conftest import REDIRECT_URI, SCOPES

CLIENT_ID, CLIENT_SECRET = "sandbox-client", "sandbox-secret"
NOT_REGISTERED = "Check settings on developer.spotify.com/dashboard, the user may not be registered."


def sandbox_oauth(server, **kwargs) -> spotipy.SpotifyOAuth:
    """spotipy's SpotifyOAuth pointed at the sandbox by overriding its class-level URLs."""
    cls = type("SandboxOAuth", (spotipy.SpotifyOAuth,), {
        "OAUTH_AUTHORIZE_URL": server.authorize_url, "OAUTH_TOKEN_URL": server.token_url})
    options = dict(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT_URI, scope=SCOPES,
                   cache_handler=MemoryCacheHandler(), open_browser=False, requests_session=requests.Session())
    return cls(**{**options, **kwargs})


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def authorize_url(server, **params) -> str:
    base = {"client_id": CLIENT_ID, "response_type": "code", "redirect_uri": REDIRECT_URI, "scope": SCOPES,
            "state": "st8"}
    return server.authorize_url + "?" + urlencode({k: v for k, v in {**base, **params}.items() if v is not None})


def foreign_public_playlist(world, user_id: str) -> str:
    return next(p.id for p in world.spotify_playlists.values() if p.public and p.owner_id != user_id)


# --- the whole flow, at full scale -----------------------------------------------------------------------


@pytest.mark.slow
def test_spotipy_oauth_liked_songs_and_playlist_writes_at_full_scale(start_sandbox, full_world):
    server = start_sandbox(world=full_world)
    users = requests.get(f"{server.url}/__sandbox__/users").json()["users"]
    big = max(users, key=lambda u: u["liked_count"])
    assert big["liked_count"] >= 10_000 and big["allow_listed"]

    oauth = sandbox_oauth(server, state="state-123")
    url = oauth.get_authorize_url()
    assert url.startswith(server.authorize_url + "?")
    page = requests.get(url)
    assert page.status_code == 200 and big["id"] in page.text
    request_id = re.search(r'name="request_id" value="([^"]+)"', page.text).group(1)
    answer = requests.post(server.authorize_url, allow_redirects=False,
                           data={"request_id": request_id, "user_id": big["id"], "action": "approve"})
    assert answer.status_code in (302, 303)
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    state, code = oauth.parse_auth_response_url(location)
    assert state == "state-123"

    access = oauth.get_access_token(code, as_dict=False, check_cache=False)
    first = oauth.cache_handler.get_cached_token()
    assert first["access_token"] == access and first["refresh_token"] and first["expires_in"] == 3600
    refreshed = oauth.refresh_access_token(first["refresh_token"])
    assert refreshed["access_token"] != access
    assert refreshed["refresh_token"] == first["refresh_token"]  # no rotation without PKCE (default knob)

    sp = spotipy.Spotify(auth_manager=oauth, requests_session=requests.Session(), retries=0)
    sp.prefix = server.spotify_url
    assert sp.me()["id"] == big["id"]  # spotipy asks for `me/` with a trailing slash

    page = sp.current_user_saved_tracks(limit=50)
    liked = []
    while page:
        assert len(page["items"]) <= 50
        liked.extend(item["track"] for item in page["items"])
        page = sp.next(page)
    assert len(liked) == big["liked_count"]
    world_user = full_world.users[big["id"]]
    assert [t["id"] for t in liked] == [full_world.tracks[tid].spotify_id for tid, _ in world_user.liked]

    created = sp._post("me/playlists", payload={"name": "contextify: workout", "public": False,
                                                 "description": "sorted by contextify"})
    assert created["owner"]["id"] == big["id"] and created["public"] is False
    uris = [t["uri"] for t in liked[:250]]
    snapshots = [sp.playlist_add_items(created["id"], uris[i:i + 100])["snapshot_id"] for i in range(0, 250, 100)]
    assert len(set(snapshots)) == 3

    page = sp.playlist_items(created["id"], limit=50)
    read_back = []
    while page:
        read_back.extend(page["items"])
        page = sp.next(page)
    assert [item["item"]["uri"] for item in read_back] == uris
    assert not any("track" in item for item in read_back)  # `item` only: clients must not need the legacy key
    truth = requests.get(f"{server.url}/__sandbox__/playlists/{created['id']}").json()
    assert truth["spotify_ids"] == [t["id"] for t in liked[:250]] and truth["snapshot_id"] == snapshots[-1]
    assert created["id"] in [p["id"] for p in sp.current_user_playlists(limit=50)["items"]]


# --- OAuth details ---------------------------------------------------------------------------------------


def test_deny_redirects_with_access_denied_and_state(sandbox):
    location = consent(authorize_url(sandbox, state="keep-me"), "mira.s", approve=False)
    assert query(location) == {"error": "access_denied", "state": "keep-me"}
    with pytest.raises(SpotifyOauthError) as denied:
        sandbox_oauth(sandbox).parse_auth_response_url(location)
    assert denied.value.error == "access_denied"


@pytest.mark.parametrize("redirect_uri, message", [
    ("http://127.0.0.1:5000/elsewhere", "Invalid redirect URI"),
    ("http://localhost:5000/callback", "Invalid redirect URI"),
    ("https://evil.example/callback", "Invalid redirect URI"),
])
def test_bad_redirect_uri_shows_an_error_page_and_never_redirects(sandbox, redirect_uri, message):
    page = requests.get(authorize_url(sandbox, redirect_uri=redirect_uri), allow_redirects=False)
    assert page.status_code == 400 and "Location" not in page.headers
    assert f"INVALID_CLIENT: {message}" in page.text


def test_bad_client_id_shows_an_error_page(sandbox):
    page = requests.get(authorize_url(sandbox, client_id="someone-else"), allow_redirects=False)
    assert page.status_code == 400 and "Location" not in page.headers and "INVALID_CLIENT" in page.text


def test_loopback_redirect_may_use_another_port(sandbox):
    location = consent(authorize_url(sandbox, redirect_uri="http://127.0.0.1:8765/callback"), "ana.k")
    assert location.startswith("http://127.0.0.1:8765/callback?code=")


def test_response_type_token_is_refused_by_redirect(sandbox):
    location = requests.get(authorize_url(sandbox, response_type="token"), allow_redirects=False).headers["Location"]
    assert query(location)["error"] == "unsupported_response_type"


def test_reused_code_is_invalid_grant(sandbox):
    oauth = sandbox_oauth(sandbox)
    code = query(consent(authorize_url(sandbox), "mira.s"))["code"]
    assert oauth.get_access_token(code, as_dict=False, check_cache=False)
    with pytest.raises(SpotifyOauthError) as reused:
        oauth.get_access_token(code, as_dict=False, check_cache=False)
    assert reused.value.error == "invalid_grant"
    assert reused.value.error_description == "Invalid authorization code"


@pytest.mark.parametrize("data, auth, error, description", [
    ({"grant_type": "authorization_code", "code": "nope", "redirect_uri": REDIRECT_URI},
     (CLIENT_ID, CLIENT_SECRET), "invalid_grant", "Invalid authorization code"),
    ({"grant_type": "refresh_token", "refresh_token": "nope"}, (CLIENT_ID, CLIENT_SECRET),
     "invalid_grant", "Invalid refresh token"),
    ({"grant_type": "client_credentials"}, (CLIENT_ID, "wrong"), "invalid_client", "Invalid client secret"),
    ({"grant_type": "password"}, (CLIENT_ID, CLIENT_SECRET), "unsupported_grant_type", None),
])
def test_token_endpoint_errors_have_oauth_bodies(sandbox, data, auth, error, description):
    answer = requests.post(sandbox.token_url, data=data, auth=auth)
    assert answer.status_code == 400 and answer.json()["error"] == error
    if description:
        assert answer.json()["error_description"] == description


def test_form_client_credentials_grant_gives_a_userless_token(sandbox, small_world):
    answer = requests.post(sandbox.token_url, data={
        "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}).json()
    assert "refresh_token" not in answer
    headers = {"Authorization": f"Bearer {answer['access_token']}"}
    track = next(iter(small_world.tracks.values()))
    assert requests.get(f"{sandbox.spotify_url}tracks/{track.spotify_id}", headers=headers).status_code == 200
    me = requests.get(f"{sandbox.spotify_url}me", headers=headers)
    assert me.status_code == 401 and me.json()["error"]["message"] == "Valid user authentication required"


def test_pkce_flow_rotates_refresh_tokens(sandbox):
    cls = type("SandboxPKCE", (spotipy.SpotifyPKCE,), {
        "OAUTH_AUTHORIZE_URL": sandbox.authorize_url, "OAUTH_TOKEN_URL": sandbox.token_url})
    pkce = cls(client_id=CLIENT_ID, redirect_uri=REDIRECT_URI, scope=SCOPES, cache_handler=MemoryCacheHandler(),
               open_browser=False)
    url = pkce.get_authorize_url()
    assert "code_challenge=" in url
    code = query(consent(url, "jonas.b"))["code"]
    pkce.get_access_token(code, check_cache=False)
    first = pkce.cache_handler.get_cached_token()
    second = pkce.refresh_access_token(first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    reuse = requests.post(sandbox.token_url, data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": CLIENT_ID})
    assert reuse.json() == {"error": "invalid_grant", "error_description": "Refresh token revoked"}


def test_wrong_pkce_verifier_is_refused(sandbox):
    url = authorize_url(sandbox, code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                        code_challenge_method="S256")
    code = query(consent(url, "ana.k"))["code"]
    answer = requests.post(sandbox.token_url, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "client_id": CLIENT_ID,
        "code_verifier": "x" * 43})
    assert answer.json() == {"error": "invalid_grant", "error_description": "code_verifier was incorrect"}


# --- Web API rules ---------------------------------------------------------------------------------------


def test_bearer_token_errors(sandbox, login):
    url = f"{sandbox.spotify_url}me"
    assert requests.get(url).json() == {"error": {"status": 401, "message": "No token provided"}}
    bad = requests.get(url, headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401 and bad.json()["error"]["message"] == "Invalid access token"
    token = login(sandbox, "mira.s")["access_token"]
    assert requests.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert requests.post(f"{sandbox.url}/__sandbox__/tokens/expire").json()["expired"] >= 1
    expired = requests.get(url, headers={"Authorization": f"Bearer {token}"})
    assert expired.status_code == 401 and expired.json()["error"]["message"] == "The access token expired"


def test_expired_token_then_refresh_works_with_spotipy(sandbox):
    oauth = sandbox_oauth(sandbox)
    oauth.get_access_token(query(consent(authorize_url(sandbox), "ana.k"))["code"], as_dict=False,
                           check_cache=False)
    sp = spotipy.Spotify(auth_manager=oauth, requests_session=requests.Session(), retries=0)
    sp.prefix = sandbox.spotify_url
    assert sp.me()["id"] == "ana.k"
    sandbox.expire_tokens("ana.k")
    with pytest.raises(spotipy.SpotifyException) as expired:
        sp.me()
    assert expired.value.http_status == 401
    oauth.refresh_access_token(oauth.cache_handler.get_cached_token()["refresh_token"])
    assert sp.me()["id"] == "ana.k"


def test_user_outside_the_allow_list_gets_plain_text_403(sandbox, login, small_world):
    outsider = next(u.id for u in small_world.users.values() if not u.allow_listed)
    token = login(sandbox, outsider)["access_token"]
    answer = requests.get(f"{sandbox.spotify_url}me/tracks", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403 and answer.headers["Content-Type"].startswith("text/plain")
    assert answer.text == NOT_REGISTERED
    sp = spotipy.Spotify(auth=token, requests_session=requests.Session(), retries=0)
    sp.prefix = sandbox.spotify_url
    with pytest.raises(spotipy.SpotifyException) as refused:
        sp.me()
    assert refused.value.http_status == 403 and NOT_REGISTERED in refused.value.msg


def test_dev_mode_fields_are_absent_and_isrc_present(sandbox, spotify_as, small_world):
    sp = spotify_as(sandbox, "mira.s")
    me = sp.me()
    assert {"country", "email", "product", "followers"}.isdisjoint(me) and me["account_id"]
    track = sp.current_user_saved_tracks(limit=1)["items"][0]["track"]
    assert {"popularity", "available_markets"}.isdisjoint(track)
    assert {"popularity", "available_markets"}.isdisjoint(track["album"])
    assert track["preview_url"] is None and re.fullmatch(r"[A-Z0-9]{12}", track["external_ids"]["isrc"])
    assert track["uri"] == f"spotify:track:{track['id']}"
    assert track["external_urls"]["spotify"] == f"https://open.spotify.com/track/{track['id']}"
    assert sp.track(track["id"]) == track
    album = sp.album(track["album"]["id"])
    assert track["id"] in [t["id"] for t in album["tracks"]["items"]]
    artist = sp.artist(track["artists"][0]["id"])
    assert {"followers", "popularity"}.isdisjoint(artist)


def test_saved_tracks_limit_bounds(sandbox, spotify_as):
    sp = spotify_as(sandbox, "mira.s")
    assert len(sp.current_user_saved_tracks()["items"]) == 20
    with pytest.raises(spotipy.SpotifyException) as too_many:
        sp.current_user_saved_tracks(limit=51)
    assert too_many.value.http_status == 400


def test_foreign_playlist_is_metadata_only_and_items_are_403(sandbox, spotify_as, small_world):
    sp = spotify_as(sandbox, "mira.s")
    foreign = foreign_public_playlist(small_world, "mira.s")
    meta = sp.playlist(foreign)
    assert meta["id"] == foreign and "items" not in meta and "tracks" not in meta
    with pytest.raises(spotipy.SpotifyException) as forbidden:
        sp.playlist_items(foreign)
    assert forbidden.value.http_status == 403
    own = small_world.users["mira.s"].playlist_ids[0]
    assert sp.playlist(own)["items"]["total"] == len(small_world.spotify_playlists[own].track_ids)


def test_my_playlists_lists_followed_ones_whose_items_are_403(sandbox, spotify_as, small_world):
    sp = spotify_as(sandbox, "mira.s")
    listed = sp.current_user_playlists(limit=50)["items"]
    own = set(small_world.users["mira.s"].playlist_ids)
    followed = [p for p in listed if p["id"] not in own]
    assert own <= {p["id"] for p in listed} and followed
    assert all(p["owner"]["id"] != "mira.s" and "tracks" not in p and p["items"]["total"] > 0 for p in followed)
    with pytest.raises(spotipy.SpotifyException) as forbidden:
        sp.playlist_items(followed[0]["id"])
    assert forbidden.value.http_status == 403


def test_extended_profile_reads_public_playlists_and_audio_features(start_sandbox, spotify_as, small_world):
    server = start_sandbox("extended")
    sp = spotify_as(server, "mira.s")
    foreign = foreign_public_playlist(small_world, "mira.s")
    items = sp.playlist_items(foreign, limit=50)
    assert items["total"] == len(small_world.spotify_playlists[foreign].track_ids)
    track = small_world.tracks[small_world.spotify_playlists[foreign].track_ids[0]]
    features = sp.audio_features([track.spotify_id, "0" * 22])
    assert features[0]["tempo"] == track.character.tempo and features[1] is None


def test_audio_features_are_a_bare_403_by_default(sandbox, login, small_world):
    token = login(sandbox, "mira.s")["access_token"]
    track = next(iter(small_world.tracks.values()))
    answer = requests.get(f"{sandbox.spotify_url}audio-features", params={"ids": track.spotify_id},
                          headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403 and answer.json() == {"error": {"status": 403}}


@pytest.mark.parametrize("method, path", [
    ("GET", "tracks?ids=4iV5W9uYEdYUVa79Axb7Rh"), ("GET", "users/mira.s/playlists"),
    ("POST", "users/mira.s/playlists"), ("GET", "users/mira.s"), ("GET", "browse/featured-playlists"),
    ("GET", "recommendations?seed_genres=pop"), ("GET", "artists/4iV5W9uYEdYUVa79Axb7Rh/top-tracks"),
    ("GET", "playlists/4iV5W9uYEdYUVa79Axb7Rh/tracks"), ("PUT", "me/tracks?ids=4iV5W9uYEdYUVa79Axb7Rh"),
])
def test_removed_endpoints_answer_403(sandbox, login, method, path):
    token = login(sandbox, "mira.s")["access_token"]
    answer = requests.request(method, f"{sandbox.spotify_url}{path}", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403 and answer.json()["error"]["status"] == 403


def test_search_limit_above_10_is_400_and_default_is_5(sandbox, spotify_as, small_world):
    sp = spotify_as(sandbox, "mira.s")
    track = next(iter(small_world.tracks.values()))
    word = track.title.split()[0]
    assert sp.search(word, limit=10)["tracks"]["limit"] == 10
    with pytest.raises(spotipy.SpotifyException) as too_many:
        sp.search(word, limit=20)
    assert too_many.value.http_status == 400
    default = sp._get("search", q=word, type="track")["tracks"]
    assert default["limit"] == 5 and len(default["items"]) <= 5


def test_search_filters_isrc_artist_and_track(sandbox, spotify_as, small_world):
    sp = spotify_as(sandbox, "mira.s")
    track = next(t for t in small_world.tracks.values() if not t.title_version)
    by_isrc = sp.search(f"isrc:{track.isrc}", type="track")["tracks"]["items"]
    assert track.spotify_id in [t["id"] for t in by_isrc]
    artist = small_world.artists[track.artist_ids[0]].name
    by_fields = sp.search(f'artist:"{artist}" track:"{track.title}"', type="track", limit=10)["tracks"]["items"]
    assert track.spotify_id in [t["id"] for t in by_fields]
    assert sp.search(f"isrc:ZZ0000000000", type="track")["tracks"]["total"] == 0


def test_playlist_search_results_contain_nulls(sandbox, spotify_as, small_world):
    sp = spotify_as(sandbox, "mira.s")
    words = Counter(w for p in small_world.spotify_playlists.values() if p.public for w in p.title.lower().split())
    seen = []
    for word, _ in words.most_common(10):
        page = sp.search(word, type="playlist", limit=10)["playlists"]
        assert page["total"] >= len(page["items"]) > 0
        seen.extend(page["items"])
    assert None in seen
    assert all(p["type"] == "playlist" and p["owner"]["id"] for p in seen if p is not None)


def test_playlist_writes_need_ownership_and_respect_limits(sandbox, spotify_as, small_world):
    sp = spotify_as(sandbox, "ana.k")
    mine = sp._post("me/playlists", payload={"name": "mine"})
    uris = [f"spotify:track:{small_world.tracks[tid].spotify_id}" for tid, _ in small_world.users["ana.k"].liked[:101]]
    with pytest.raises(spotipy.SpotifyException) as too_many:
        sp.playlist_add_items(mine["id"], uris)
    assert too_many.value.http_status == 400
    foreign = foreign_public_playlist(small_world, "ana.k")
    with pytest.raises(spotipy.SpotifyException) as forbidden:
        sp.playlist_add_items(foreign, uris[:1])
    assert forbidden.value.http_status == 403

    sp.playlist_add_items(mine["id"], uris[:5])
    sp.playlist_replace_items(mine["id"], uris[5:9])                     # PUT replace
    sp.playlist_reorder_items(mine["id"], range_start=0, insert_before=4)  # PUT reorder: first to the end
    sp.playlist_remove_all_occurrences_of_items(mine["id"], [uris[6]])     # DELETE
    dump = requests.get(f"{sandbox.url}/__sandbox__/playlists/{mine['id']}").json()
    assert ["spotify:track:" + s for s in dump["spotify_ids"]] == [uris[7], uris[8], uris[5]]


def test_library_endpoints_cap_at_40_uris(sandbox, spotify_as, small_world):
    sp = spotify_as(sandbox, "jonas.b", scope=SCOPES + " user-library-modify")
    liked = {tid for tid, _ in small_world.users["jonas.b"].liked}
    fresh = [t.spotify_id for t in small_world.tracks.values() if t.deezer_id not in liked][:41]
    with pytest.raises(spotipy.SpotifyException) as too_many:
        sp.current_user_saved_tracks_add(fresh)
    assert too_many.value.http_status == 400
    sp.current_user_saved_tracks_add(fresh[:2])
    assert sp.current_user_saved_tracks_contains(fresh[:3]) == [True, True, False]
    assert sp.current_user_saved_tracks(limit=2)["items"][0]["track"]["id"] in fresh[:2]
    sp.current_user_saved_tracks_delete(fresh[:1])
    assert sp.current_user_saved_tracks_contains(fresh[:2]) == [False, True]


def test_missing_scope_is_403(sandbox, spotify_as):
    sp = spotify_as(sandbox, "jonas.b", scope="playlist-read-private")
    with pytest.raises(spotipy.SpotifyException) as refused:
        sp.current_user_saved_tracks()
    assert refused.value.http_status == 403 and "Insufficient client scope" in refused.value.msg


def test_rolling_window_rate_limit_gives_429_with_retry_after(start_sandbox, login):
    server = start_sandbox(spotify_rate_limit=5, spotify_rate_window=30)
    headers = {"Authorization": f"Bearer {login(server, 'mira.s')['access_token']}"}
    statuses = [requests.get(f"{server.spotify_url}me", headers=headers) for _ in range(6)]
    assert [r.status_code for r in statuses] == [200] * 5 + [429]
    assert statuses[-1].json() == {"error": {"status": 429, "message": "API rate limit exceeded"}}
    assert 1 <= int(statuses[-1].headers["Retry-After"]) <= 30
