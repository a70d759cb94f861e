"""An import, a harvest and a Discover job at once on one catalog finish with the data a sequential run gives.

Issue 19 saw a library import fail after 20 minutes of matching ("StaleDataError") while other jobs ran. Here
the three jobs start together against the sandbox, on SQLite and on PostgreSQL, and the store they leave is
compared with the one the same jobs leave when run one after another. Limits are raised on both sides so
the jobs overlap for real rather than queue behind Deezer's window.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.jobs import runner
from app.storage.tables import Context, Label, LibraryItem, SourcePlaylist, Track, TrackFeatures, User
from tests.auth.helpers import login, sandbox_app
from tests.jobs.conftest import wait_for

FAST = {"deezer_rate_limit": 2000, "deezer_rate_window": 1, "reccobeats_rate_limit": 2000,
        "reccobeats_rate_window": 1, "spotify_rate_limit": 5000, "spotify_rate_window": 1}
PROVIDERS = ["deezer"]
IMPORTER, DISCOVERER = "ana.k", "jonas.b"
HARVEST = {"contexts": ["workout", "jazz", "sleep"], "playlists_per_context": 2, "tracks_per_playlist": 60,
           "providers": PROVIDERS}
DISCOVER = {"providers": PROVIDERS, "n_estimators": [15], "min_samples_leaf": [2], "max_features": ["sqrt"],
            "C": [1.0], "limit": 1000}
JOBS = [("import-library", {"providers": PROVIDERS}, IMPORTER), ("harvest", HARVEST, IMPORTER),
        ("discover", DISCOVER, DISCOVERER)]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, app_config):
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def site(app_config, start_sandbox, tmp_path, raised_client_limits):
    """`site(name)` -> (app, user ids): a fresh store and sandbox, both users logged in, the discoverer's
    library imported (Discover refuses without one)."""
    apps = []

    def make(name: str, database_url: str | None):
        sandbox = start_sandbox(**FAST)
        config = {**app_config, "CONTEXTIFY_INSTANCE_DIR": str(tmp_path / name), "CONTEXTIFY_JOB_WORKERS": "3",
                  "DATABASE_URL": database_url or f"sqlite:///{tmp_path / name}.db"}
        (tmp_path / name).mkdir()
        app = sandbox_app(config, sandbox)
        apps.append(app)
        for user in (IMPORTER, DISCOVERER):
            login(app.test_client(), user)
        with app.app_context():
            users = dict(db.session.execute(select(User.spotify_id, User.id)).all())
        first = submit(app, "import-library", {"providers": PROVIDERS}, users[DISCOVERER])
        assert wait_for(app, first, users[DISCOVERER], timeout=300)["status"] == "succeeded"
        return app, users

    yield make
    for app in apps:
        runner.shutdown(app)
        with app.app_context():
            db.engine.dispose()


def submit(app, kind: str, params: dict, user_id: int) -> str:
    with app.app_context():
        return runner.submit(kind, params, user_id)


def store_facts(app, world) -> dict[str, set]:
    """What the jobs leave behind, independent of row ids and of which row survived a merge.

    A Deezer track is named by its recording in the sandbox's truth (the lowest Deezer id sharing its ISRC):
    Deezer holds some ISRCs twice (compilations), and which of the two a liked song gets tied to depends on
    which one the catalog already held (it is asked first, to save a call) - the same recording either way.
    """
    with app.app_context():
        s = db.session
        tracks = {t.id: t for t in s.scalars(select(Track))}

        def name(track: Track):
            if not track.deezer_id:
                return track.spotify_id
            truth = world.tracks[track.deezer_id]
            return min(t.deezer_id for t in world.by_isrc[(truth.deezer_isrc or truth.isrc).upper()])

        def recording(track_id: int) -> tuple:
            track = tracks[track_id]
            held = tracks.get(track.canonical_id, track)
            return track.spotify_id, held.deezer_id is not None

        users = dict(s.execute(select(User.id, User.spotify_id)).all())
        library = {(users[i.user_id], i.collection.split(":")[0], recording(i.track_id))
                   for i in s.scalars(select(LibraryItem))}
        contexts = dict(s.execute(select(Context.id, Context.key)).all())
        sources = dict(s.execute(select(SourcePlaylist.id, SourcePlaylist.external_id)).all())
        labels = {(contexts[l.context_id], sources[l.source_playlist_id], name(tracks[l.track_id]))
                  for l in s.scalars(select(Label))}
        features = {(name(tracks[f.track_id]), f.provider, f.status) for f in s.scalars(select(TrackFeatures))}
        deezer_rows = {name(t) for t in tracks.values() if t.deezer_id}
    return {"library": library, "labels": labels, "features": features, "deezer rows": deezer_rows}


def test_import_harvest_and_discover_at_once_leave_what_a_sequential_run_leaves(site, database_url, small_world):
    app, users = site("sequential", database_url)
    for kind, params, user in JOBS:
        job = wait_for(app, submit(app, kind, params, users[user]), users[user], timeout=300)
        assert job["status"] == "succeeded", job
    sequential = store_facts(app, small_world)

    app, users = site("together", database_url)
    started = [(submit(app, kind, params, users[user]), users[user]) for kind, params, user in JOBS]
    finished = [wait_for(app, job_id, user, timeout=600) for job_id, user in started]
    for job in finished:
        assert job["status"] == "succeeded", job
        assert not any("Error" in line for line in job["log"]), job["log"]
    together = store_facts(app, small_world)
    latest_start = max(job["started_at"] for job in finished)
    assert all(job["finished_at"] > latest_start for job in finished), "the three jobs ran side by side"

    for part in sequential:
        assert together[part] == sequential[part], (part, sorted(together[part] ^ sequential[part])[:10])
    assert sequential["labels"] and sequential["library"]
