"""Two real Celery workers share one large harvest + enrichment on PostgreSQL and Redis: exactly once, inside Deezer's limit."""

from __future__ import annotations

import bisect
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import exists, func, select

from app.extensions import db
from app.jobs import runner
from app.jobs.scaleout import labelled_track_ids
from app.pipeline.clients.deezer import DEEZER_MAX_CALLS, DEEZER_WINDOW_S
from app.pipeline.enrich import canonical_refs
from app.storage.tables import Label, Track, TrackFeatures
from tests.auth.helpers import add_user, sandbox_app
from tests.jobs.conftest import dispose, wait_for
from tests.production.conftest import app_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

FIRST = ["workout", "sleep", "study"]
SECOND = ["workout", "edm"]          # one context already harvested, one new
RUN = {"playlists_per_context": 2, "tracks_per_playlist": 20, "providers": ["deezer"], "chunk_size": 15}


class RecordingWindow:
    """Wraps the sandbox's Deezer quota: records when each request was admitted and counts code-4 refusals."""

    def __init__(self, inner) -> None:  # noqa: ANN001
        self.inner = inner
        self.admitted: list[float] = []
        self.refused = 0
        self._lock = threading.Lock()

    def hit(self, key: str = "") -> int | None:
        answer = self.inner.hit(key)
        with self._lock:
            if answer is None:
                self.admitted.append(time.monotonic())
            else:
                self.refused += 1
        return answer

    def reset(self) -> None:
        self.inner.reset()

    def busiest_window(self, seconds: float) -> int:
        """The most requests admitted in any `seconds`-long span."""
        times = sorted(self.admitted)
        return max((bisect.bisect_left(times, t + seconds) - i for i, t in enumerate(times)), default=0)


@pytest.fixture
def stack(app_config, postgres_url, redis_url, start_sandbox, processes):
    """A sandbox with a recorded Deezer quota, an app on a fresh PostgreSQL database, and two Celery workers."""
    sandbox = start_sandbox()
    window = RecordingWindow(sandbox.sandbox.deezer_limit)
    sandbox.sandbox.deezer_limit = window
    settings = {**app_config, "DATABASE_URL": postgres_url, "CELERY_BROKER_URL": redis_url}
    app = sandbox_app(settings, sandbox)
    env = app_env(**settings, CONTEXTIFY_SANDBOX_URL=sandbox.url)
    workers = [processes([sys.executable, "-m", "celery", "-A", "app.jobs.celery_app", "worker", "--pool=solo",
                          "--concurrency=1", f"--hostname=w{n}@%h", "--loglevel=INFO", "--without-gossip",
                          "--without-mingle", "--without-heartbeat"],
                         env, Path(app_config["CONTEXTIFY_INSTANCE_DIR"]) / f"worker{n}.log")
               for n in (1, 2)]
    yield app, sandbox, window, workers
    runner.shutdown(app)
    dispose(app)


def _run(app, user_id: int, contexts: list[str], workers) -> dict:  # noqa: ANN001
    with app.app_context():
        job_id = runner.submit("harvest-scaleout", {**RUN, "contexts": contexts}, user_id)
    try:
        job = wait_for(app, job_id, user_id, timeout=240)
    except AssertionError:
        raise AssertionError("\n\n".join(w.log()[-4000:] for w in workers)) from None
    assert job["status"] == "succeeded", (job["error"], job["log"], [w.log()[-3000:] for w in workers])
    return job


def _canonical_tracks(app, contexts: list[str]) -> dict[int, int | None]:  # noqa: ANN001
    """canonical track id -> Deezer album id, for every track labelled for `contexts` and every song of no context
    (the genre charts' heads the run adds as background)."""
    with app.app_context():
        unlabelled = list(db.session.scalars(select(Track.id).where(~exists().where(Label.track_id == Track.id))))
        ids = labelled_track_ids(db.session, contexts) + unlabelled
        return {r.id: r.deezer_album_id for r in canonical_refs(db.session, ids)}


def _deezer_rows(app) -> tuple[int, int, set[int]]:  # noqa: ANN001
    """(rows, distinct tracks, album ids of ok rows) among the `deezer` feature rows."""
    with app.app_context():
        rows, tracks = db.session.execute(select(func.count(), func.count(TrackFeatures.track_id.distinct()))
                                          .where(TrackFeatures.provider == "deezer")).one()
        albums = {values["album_id"] for values in db.session.scalars(
            select(TrackFeatures.values).where(TrackFeatures.provider == "deezer", TrackFeatures.status == "ok"))}
    return rows, tracks, albums


def test_two_workers_process_every_track_exactly_once_inside_deezers_limit(stack):
    app, sandbox, window, workers = stack
    me = add_user(app, "mira.s")
    started = time.monotonic()
    job = _run(app, me, FIRST, workers)
    elapsed = time.monotonic() - started

    counters = sandbox.counters()["deezer"]
    tracks = _canonical_tracks(app, FIRST)
    rows, distinct, albums = _deezer_rows(app)
    assert len(tracks) > 60 and job["result"]["chunks"] > 2
    # None lost, none twice: one feature row per track, and Deezer asked once per track and once per album.
    assert rows == distinct == len(tracks)
    assert counters["GET /track/{id}"] == len(tracks)
    assert counters["GET /album/{id}"] == len(albums)
    # Both workers ran parts of it.
    for worker in workers:
        assert "contextify.run_job" in worker.log(), worker.log()[-3000:]
    # Inside the quota: no code-4 refusal, so every request the workers counted is one the sandbox answered.
    busiest = window.busiest_window(DEEZER_WINDOW_S)
    rate = len(window.admitted) / max(window.admitted[-1] - window.admitted[0], 1e-9)
    print(f"\nscale-out: {counters['total']} Deezer requests in {elapsed:.1f} s by 2 workers; "
          f"{rate:.2f} req/s overall; busiest {DEEZER_WINDOW_S:.0f} s: {busiest} (limit {DEEZER_MAX_CALLS}); "
          f"code-4 refusals: {window.refused}")
    assert window.refused == 0
    assert busiest <= DEEZER_MAX_CALLS
    assert job["result"]["api_calls"]["deezer"] == counters["total"]

    # A second run over one old and one new context fetches only the tracks no worker stored before.
    before = sandbox.counters()["deezer"]
    _run(app, me, SECOND, workers)
    after = sandbox.counters()["deezer"]
    new_tracks = set(_canonical_tracks(app, SECOND)) - set(tracks)
    assert new_tracks
    assert after["GET /track/{id}"] - before["GET /track/{id}"] == len(new_tracks)
    rows, distinct, _ = _deezer_rows(app)
    assert rows == distinct == len(tracks) + len(new_tracks)
    assert window.refused == 0
