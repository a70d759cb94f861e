"""Playlists that stay sorted, against the sandbox: save, 40 new likes (some other versions of sorted songs), the
scheduler runs the sync, the playlists grow by exactly the new tracks that pass the promise, one entry per song,
nothing else changes (read back), undo removes exactly one track, and a second run adds nothing."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import requests
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from app.auth.spotify import spotify_for_user
from app.services.sort_review import review
from app.extensions import db
from app.jobs import runner
from app.runs.progress import Progress
from app.jobs.sync_schedule import InProcessScheduler
from app.models.cutoffs import CutoffChoice
from app.models.service import load_owned_model, sort_for_user, sort_summary, train_for_user
from app.pipeline.charts import add_background
from app.pipeline.enrich import enrich_tracks
from app.pipeline.features_table import feature_frame
from app.pipeline.harvest import Clients, HarvestOptions, harvest
from app.pipeline.library import import_spotify_library, library_track_ids, match_and_enrich
from app.runs.summary import RunSummary
from app.services.save import save_playlists
from app.services.songs import library_songs
from app.services.sync import base_sort, set_sync
from app.services.sync_digest import digest
from app.storage.tables import ExportedPlaylist, SortAssignment, SortRun, SyncItem, SyncRun, Track, User
from tests.auth.helpers import login, sandbox_app
from tests.e2e.test_context_model_end_to_end import FAST, PROVIDERS, fast_clients
from tests.jobs.conftest import wait_for

USER = "ana.k"
CONTEXTS = ["rock", "chill", "classical", "edm"]  # rock is much of ana.k's library
# A promise's bound widens with fewer playlists above its cutoff: the small world has at most 9 per context (fewer
# once unreadable tracks are dropped) and none of these four keeps even 0.5 there, so these tests use the full world
# (12 per context).
TARGET = 0.5


def prepare(app, sandbox, target: float = TARGET) -> int:
    """Log in, harvest, import, enrich, train, sort and save: the state a user is in before turning the sync on."""
    client = app.test_client()
    login(client, USER)
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.spotify_id == USER))
        factory = sessionmaker(bind=db.engine, expire_on_commit=False)
        spotify = spotify_for_user(user_id, app.config, factory)
        clients = fast_clients(sandbox, spotify)
        summary, progress = RunSummary("test"), Progress()
        harvested = harvest(factory, CONTEXTS, Clients(clients.deezer),
                            HarvestOptions(playlists_per_context=12, tracks_per_playlist=100))
        background = add_background(factory, clients.deezer)  # as the harvest job does: songs of no context
        enrich_tracks(factory, harvested.track_ids + background, app.config, summary, progress, providers=PROVIDERS,
                      clients=clients)
        import_spotify_library(factory, user_id, USER, spotify, summary, progress)
        with factory() as session:
            match_and_enrich(factory, library_track_ids(session, user_id), app.config, summary, progress, clients,
                             providers=PROVIDERS)
        model = train_for_user(db.session, user_id, CONTEXTS, instance_dir=app.config["INSTANCE_DIR"],
                               providers=PROVIDERS, target_precision=target)
        run = sort_for_user(db.session, user_id, model.id)
        outcomes = save_playlists(db.session, user_id, run.id, spotify)
        assert {o.status for o in outcomes} <= {"saved", "skipped"}, outcomes
        assert any(o.status == "saved" for o in outcomes), sort_summary(db.session, user_id, run.id)
    return user_id


def dump(sandbox, playlist_id: str) -> list[str]:
    body = requests.get(f"{sandbox.url}/__sandbox__/playlists/{playlist_id}", timeout=10).json()
    return [f"spotify:track:{sid}" for sid in body["spotify_ids"]]


def every_playlist(sandbox) -> dict[str, list[str]]:
    """Every playlist the user follows, read back from the sandbox (contextify's and their own)."""
    users = requests.get(f"{sandbox.url}/__sandbox__/users", timeout=10).json()["users"]
    ids = next(u["playlist_ids"] for u in users if u["id"] == USER)
    return {pid: dump(sandbox, pid) for pid in ids}


def expected_additions(app, user_id: int, base_id: int, new_ids: list[int]) -> dict[str, list[str]]:
    """What the saved sort's decision keeps among the new likes, one version per song (computed here, apart from
    the sync's code): its model under the library's mix the sort estimated, at the cutoffs it was saved with; per
    context, the URIs in the order of probability."""
    with app.app_context():
        base = db.session.get(SortRun, base_id)
        _, model = load_owned_model(db.session, user_id, base.model_id)
        model = dataclasses.replace(
            model, library_prior=np.asarray(base.params["library_prior"]),
            cutoffs={**model.cutoffs, **{c: CutoffChoice(**choice) for c, choice in base.params["cutoffs"].items()}})
        frame = feature_frame(db.session, new_ids).reindex(columns=model.spec.columns)
        frame = frame[frame.notna().any(axis=1)]
        proba = model.adjusted(model.posterior(frame))
        assigned = model.assign(proba)
        songs = library_songs(db.session, user_id)
        spotify = dict(db.session.execute(select(Track.id, Track.spotify_id)).all())
    wanted: dict[str, list[tuple[float, str]]] = {}
    for i, track_id in enumerate(int(t) for t in frame.index):
        for j, context in enumerate(model.contexts):
            if assigned[i, j] and songs.stands_for_itself(track_id):
                wanted.setdefault(context, []).append((-proba[i, j], f"spotify:track:{spotify[track_id]}"))
    return {c: [uri for _, uri in sorted(rows)] for c, rows in wanted.items()}


def wait_for_sync(app, user_id: int, timeout: float = 180) -> SyncRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.app_context():
            run = db.session.scalar(select(SyncRun).where(SyncRun.user_id == user_id).order_by(SyncRun.id.desc()))
            if run is not None and run.status not in ("queued", "running"):
                return run
        time.sleep(0.5)
    raise AssertionError("the scheduler did not finish a sync in time")


def test_the_scheduler_keeps_saved_playlists_sorted_with_one_entry_per_song_and_undo(
        app_config, start_sandbox, full_world):
    sandbox = start_sandbox(world=full_world, **FAST)
    app = sandbox_app(app_config, sandbox)
    try:
        user_id = prepare(app, sandbox)
        with app.app_context():
            rows = {r.context: r for r in db.session.scalars(select(ExportedPlaylist))}
            sorted_uris = {u for r in rows.values() for u in r.track_uris}
            base = base_sort(db.session, user_id)
            base_id, model_id = base.id, base.model_id
            liked_before = set(library_track_ids(db.session, user_id))
        before = every_playlist(sandbox)

        liked = requests.post(f"{sandbox.url}/__sandbox__/users/{USER}/likes",
                              json={"count": 40, "other_versions": 3, "seed": 7}, timeout=10).json()
        assert len(liked["added"]) == 40
        versions = [a for a in liked["added"] if a["version_of"]]
        assert len(versions) == 3

        with app.app_context():
            set_sync(db.session, user_id, enabled=True, period="daily", mode="auto")
        scheduler = InProcessScheduler(app, interval_s=0.2).start()
        try:
            run = wait_for_sync(app, user_id)
        finally:
            scheduler.stop()
        assert run.status == "done", run.message
        assert run.trigger == "schedule"
        print("\nsync:", run.message, run.counts)

        with app.app_context():
            new_ids = sorted(set(library_track_ids(db.session, user_id)) - liked_before)
        assert len(new_ids) == 40
        expected = expected_additions(app, user_id, base_id, new_ids)
        after = every_playlist(sandbox)
        assert set(after) == set(before), "no playlist made or dropped"
        grew = 0
        for pid, uris in before.items():
            row = next((r for r in rows.values() if r.spotify_playlist_id == pid), None)
            adds = [u for u in expected.get(row.context, []) if u not in set(uris)] if row else []
            assert after[pid] == uris + adds, f"{row.name if row else pid}: exactly the new tracks that pass, at the end"
            grew += len(adds)
        assert grew > 0, "some of 40 new likes pass the promise"
        assert grew == sum(run.counts["added"].values())

        # One entry per song: no two versions (same ISRC, or same artist and title within 3 s) in any playlist.
        by_uri = {f"spotify:track:{t.spotify_id}": t for t in full_world.tracks.values()}
        for pid, uris in after.items():
            if pid in {r.spotify_playlist_id for r in rows.values()}:
                isrcs = [by_uri[u].isrc for u in uris]
                assert len(isrcs) == len(set(isrcs)), "a song twice in one playlist"
        version_uris = {f"spotify:track:{v['spotify_id']}" for v in versions
                        if f"spotify:track:{v['version_of']}" in sorted_uris}
        assert not version_uris & {u for uris in after.values() for u in uris} - sorted_uris

        with app.app_context():
            shown = digest(db.session, user_id)
            assert shown and shown[0].id == run.id and shown[0].undoable
            added = db.session.scalars(select(SyncItem).where(SyncItem.status == "added")).all()
            one = added[0]
            row = db.session.scalar(select(ExportedPlaylist).where(ExportedPlaylist.context == one.context))
            pid, uri = row.spotify_playlist_id, one.uri
            # Undo runs as the `sync-digest` job the digest's button starts (no Spotify call inside a callback).
            job_id = runner.submit("sync-digest", {"action": "undo-item", "index": one.id}, user_id)
        job = wait_for(app, job_id, user_id, timeout=60)
        assert job["status"] == "succeeded" and "nothing else changed" in job["result"]["message"], job
        with app.app_context():
            assert db.session.get(SyncItem, one.id).status == "undone"
            again = runner.submit("sync-digest", {"action": "undo-item", "index": one.id}, user_id)
        refused = wait_for(app, again, user_id, timeout=60)
        assert refused["status"] == "succeeded" and "not added" in refused["result"]["message"], refused
        undone = every_playlist(sandbox)
        assert undone[pid] == [u for u in after[pid] if u != uri], "undo removed exactly that one track"
        assert {p: u for p, u in undone.items() if p != pid} == {p: u for p, u in after.items() if p != pid}

        # A second run in the same period: the scheduler has nothing due; the command adds nothing either.
        from app.jobs.sync_schedule import app_tick

        assert app_tick(app) == []
        result = app.test_cli_runner().invoke(args=["sync", "--user", USER, "--json"])
        assert result.exit_code == 0, result.output
        assert every_playlist(sandbox) == undone, "a second run adds nothing (and does not re-add the undone one)"

        # A new sort holds the other versions too: its review shows each song once, marked, and a save writes
        # no song twice.
        with app.app_context():
            resort = sort_for_user(db.session, user_id, model_id)
            songs = library_songs(db.session, user_id)
            hidden = {t.spotify_id for t in db.session.scalars(select(Track).where(Track.id.in_(songs.hidden)))}
            assert {v["spotify_id"] for v in versions} <= hidden, "the later-liked versions are the hidden ones"
            reviewed = review(db.session, user_id, resort.id, shown=100_000)
            shown_ids = {row.assignment_id for playlist in reviewed for row in playlist.rows}
            shown_tracks = set(db.session.scalars(select(SortAssignment.track_id)
                                                  .where(SortAssignment.id.in_(shown_ids))))
            assert not shown_tracks & songs.hidden, "the review shows one version per song"
            marked = [row for playlist in reviewed for row in playlist.rows
                      if any(r.startswith("One entry for") for r in row.reasons)]
            firsts = {songs.first[t] for t in songs.hidden}
            assert bool(marked) == bool(firsts & shown_tracks), "the kept version says what it collapsed"
            spotify = spotify_for_user(user_id, app.config, sessionmaker(bind=db.engine))
            saved = save_playlists(db.session, user_id, resort.id, spotify)
            assert all(o.status in ("saved", "skipped") for o in saved), saved
        for pid, uris in every_playlist(sandbox).items():
            if pid in {r.spotify_playlist_id for r in rows.values()}:
                isrcs = [by_uri[u].isrc for u in uris]
                assert len(isrcs) == len(set(isrcs)), "a save wrote a song twice"
    finally:
        runner.shutdown(app)
        with app.app_context():
            db.engine.dispose()
