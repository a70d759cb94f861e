"""Spotify's quota running out in the middle of a first save: nothing half-written reads as saved, and the retry
writes each playlist exactly once (read back from the sandbox and compared).

tests/dash_views/test_save_flow.py covers a quota cut while *updating* playlists through the Save page; this
covers the harder case of a cut between creating a playlist and filling it past its first 100 tracks.
"""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.pipeline.clients.spotify import SpotifyClient
from app.services.save import playlist_name, save_playlists
from app.storage.tables import ExportedPlaylist, SortAssignment, SortRun, TrainedModel, Track
from tests.auth.helpers import add_user, sandbox_app
from tests.dash_views.test_save_flow import sandbox_playlist
from tests.reliability.conftest import user_token

SIZES = {"workout": 150, "sleep": 20}  # workout needs a PUT of 100 and a POST of 50


def sort_run(app, owner: int, small_world) -> tuple[int, dict[str, list[str]]]:  # noqa: ANN001
    """A sort run of real sandbox tracks written directly; returns its id and each context's wanted URIs."""
    world_tracks = [t for t in small_world.tracks.values() if t.spotify_id][:sum(SIZES.values())]
    wanted: dict[str, list[str]] = {}
    with app.app_context():
        rows = [Track(spotify_id=t.spotify_id, title=t.title, artist="someone") for t in world_tracks]
        db.session.add_all(rows)
        model = TrainedModel(user_id=owner, kind="context", name="workout, sleep", metrics={})
        db.session.add(model)
        db.session.flush()
        run = SortRun(user_id=owner, model_id=model.id, params={"floor": 0.1, "cutoffs": {
            c: {"context": c, "cutoff": 0.5, "target_precision": 0.7, "promised_precision": 0.72} for c in SIZES}})
        db.session.add(run)
        db.session.flush()
        start = 0
        for context, size in SIZES.items():
            chosen = rows[start:start + size]
            start += size
            for i, track in enumerate(chosen):
                db.session.add(SortAssignment(user_id=owner, sort_run_id=run.id, track_id=track.id, context=context,
                                              probability=0.99 - i * 0.001, assigned=True, decision="pending"))
            wanted[context] = [f"spotify:track:{t.spotify_id}" for t in chosen]
        db.session.commit()
        return run.id, wanted


def my_playlists_named(client: SpotifyClient) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for playlist in client.my_playlists():
        found.setdefault(playlist["name"], []).append(playlist["id"])
    return found


def test_a_quota_cut_first_save_is_never_reported_saved_and_the_retry_writes_each_playlist_once(
        app_config, sandbox, small_world, monkeypatch):
    app = sandbox_app(app_config, sandbox)
    owner = add_user(app, "mira.s")
    run_id, wanted = sort_run(app, owner, small_world)
    client = SpotifyClient(sandbox.spotify_url, access_token=user_token(sandbox, "mira.s"), backoff_s=0.01)
    real_add = SpotifyClient.add_items

    def quota_runs_out_before_the_second_write(self, playlist_id, uris):  # noqa: ANN001,ANN202
        sandbox.set_profile("quota")  # the PUT of the first 100 landed; the POST of the rest meets the quota
        return real_add(self, playlist_id, uris)

    monkeypatch.setattr(SpotifyClient, "add_items", quota_runs_out_before_the_second_write)
    try:
        with app.app_context():
            outcomes = {o.context: o for o in save_playlists(db.session, owner, run_id, client)}
            rows = {r.context: r for r in db.session.scalars(select(ExportedPlaylist))}
        assert outcomes["workout"].status == "failed" and "quota" in outcomes["workout"].message
        assert outcomes["sleep"].status == "skipped" and outcomes["sleep"].message.startswith("Not attempted")
        assert not any(o.status == "saved" for o in outcomes.values())
        assert rows["workout"].status == "failed" and rows["workout"].saved_at is None
        assert rows["workout"].track_uris == [], "nothing recorded as written"
        half = sandbox_playlist(sandbox, rows["workout"].spotify_playlist_id)
        assert half == wanted["workout"][:100], "the cut really left a half-written playlist on Spotify"

        monkeypatch.setattr(SpotifyClient, "add_items", real_add)
        sandbox.set_profile("default")
        with app.app_context():
            retry = {o.context: o for o in save_playlists(db.session, owner, run_id, client)}
            rows = {r.context: r for r in db.session.scalars(select(ExportedPlaylist))}
        assert {c: o.status for c, o in retry.items()} == {"workout": "saved", "sleep": "saved"}
        assert retry["workout"].spotify_playlist_id == outcomes["workout"].spotify_playlist_id, "updated, not remade"
        named = my_playlists_named(client)
        for context, uris in wanted.items():
            assert len(named[playlist_name(context)]) == 1, f"exactly one {context} playlist on Spotify"
            assert sandbox_playlist(sandbox, rows[context].spotify_playlist_id) == uris, "read back: all, in order, once"
            assert rows[context].status == "saved" and rows[context].track_uris == uris
    finally:
        with app.app_context():
            db.engine.dispose()
