"""The sync's opt-in on the Account page, and the sandbox control endpoints the sync tests drive Spotify with."""

from __future__ import annotations

import requests

from app.extensions import db
from app.pipeline.clients.spotify import SpotifyClient
from app.services.sync import sync_settings
from tests.auth.helpers import add_user, session_login
from tests.pipeline.conftest import token_for  # noqa: F401  (a fixture)


def _csrf(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def test_the_account_page_turns_the_sync_on_and_off(app, client):
    me = add_user(app, "mira.s")
    session_login(client, me)
    page = client.get("/account").get_data(as_text=True)
    assert "Keep my playlists sorted" in page and 'id="sync-on"' in page
    answer = client.post("/account/sync", data={"csrf_token": _csrf(page), "enabled": "on", "period": "daily",
                                                "mode": "review"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/account#sync")
    with app.app_context():
        row = sync_settings(db.session, me)
        assert (row.enabled, row.period, row.mode) == (True, "daily", "review")
    assert 'value="daily" checked' in client.get("/account").get_data(as_text=True)
    assert client.post("/account/sync", data={"csrf_token": _csrf(page), "period": "hourly"}).status_code == 400
    assert client.post("/account/sync", data={"enabled": "on", "period": "daily"}).status_code in (400, 403)
    client.post("/account/sync", data={"csrf_token": _csrf(page), "period": "weekly", "mode": "auto"})
    with app.app_context():
        assert sync_settings(db.session, me).enabled is False


def test_the_save_and_home_pages_show_the_sync(app, client):
    me = add_user(app, "mira.s")
    session_login(client, me)
    from app.dash_views import overview, save

    with app.test_request_context("/app/save"):
        from app.auth.session import log_in  # the id and its server-side session key

        log_in(me)
        assert "sync-settings" in str(save.layout()) and "sync-digest" in str(save.layout())
        assert "sync-digest" in str(overview.layout())


def test_control_likes_other_versions_and_changes_playlists_behind_the_apps_back(sandbox, token_for):  # noqa: F811
    base = f"{sandbox.url}/__sandbox__"
    assert requests.post(f"{base}/users/nobody/likes", json={"count": 1}, timeout=10).status_code == 404
    assert requests.post(f"{base}/users/ana.k/likes", json={"count": 5, "other_versions": 99},
                         timeout=10).status_code == 400
    liked = requests.post(f"{base}/users/ana.k/likes", json={"count": 6, "other_versions": 2, "seed": 1},
                          timeout=10).json()
    versions = [a for a in liked["added"] if a["version_of"]]
    assert len(liked["added"]) == 6 and len(versions) == 2
    client = SpotifyClient(sandbox.spotify_url, access_token=token_for(sandbox, "ana.k"), backoff_s=0.01)
    newest = [item["track"]["id"] for item in client.call(client.sp.current_user_saved_tracks, limit=6)["items"]]
    assert set(newest) == {a["spotify_id"] for a in liked["added"]}, "liked now, newest first"

    made = client.create_playlist("contextify · Test")
    client.add_items(made["id"], [f"spotify:track:{a['spotify_id']}" for a in liked["added"][:3]])
    changed = requests.post(f"{base}/playlists/{made['id']}/change",
                            json={"add": [liked["added"][4]["spotify_id"]], "remove": [liked["added"][0]["spotify_id"]]},
                            timeout=10).json()
    assert changed["spotify_ids"] == [a["spotify_id"] for a in liked["added"][1:3]] + [liked["added"][4]["spotify_id"]]
    assert requests.post(f"{base}/playlists/{made['id']}/change", json={"delete": True}, timeout=10).json()["deleted"]
    assert made["id"] not in {p["id"] for p in client.my_playlists()}, "deleted: gone from the user's list"
    assert client.playlist(made["id"])["id"] == made["id"], "as on Spotify, the id still answers"
    assert requests.post(f"{base}/users/ana.k/revoke", timeout=10).json()["revoked"] >= 1
