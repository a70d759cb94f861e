"""Harvest + import + enrich under the sandbox's `flaky` and `hostile` profiles end with a clean run's data.

Every fault kind of the profiles is on (5xx, hangs that end in 504, truncated JSON, 429 storms, and for
`hostile` Retry-After spikes of two hours); only durations are shortened (hangs, storms, latency) so a
profile runs in seconds. Preview analysis is left out: it is CPU work with its own tests.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import sessionmaker

from app.runs.progress import Progress
from app.pipeline import enrich
from app.pipeline.clients.base import RateLimited, ServiceError
from app.pipeline.harvest import Clients, HarvestOptions, harvest
from app.pipeline.library import import_spotify_library, library_track_ids, match_and_enrich
from app.runs.summary import RunSummary
from app.storage.base import Base
from app.storage.engine import configure_engine
from app.storage.tables import Label, LibraryItem, Track, TrackFeatures, User
from tests.pipeline.test_library import clients_for
from tests.reliability.conftest import FaultTally, all_data, user_token

CONTEXTS = ["workout", "sleep", "party"]
OPTIONS = HarvestOptions(playlists_per_context=3, tracks_per_playlist=25)
USER = "ana.k"                   # 350 liked songs and 4 playlists in the small world
PROVIDERS = ("deezer", "reccobeats")
FAST = {"deezer_rate_limit": 1000, "deezer_rate_window": 1}
TOUGH = {"backoff_s": 0.02, "max_attempts": 12}
SHORT = {"hang_seconds": 0.1, "latency_ms": 5, "latency_jitter_ms": 3}  # the profiles' rates, shorter waits
#: Deezer's storms are quota refusals (code 4, no Retry-After), each holding every caller 1.5 s: shortened with the
#: storms (a hostile run meets about thirty), so that a run is seconds of requests, not of waiting.
QUOTA_PAUSE_S = 0.1
PROFILES = {
    "flaky": {**SHORT, "storm_seconds": 0.25, "storm_retry_after": 1},
    "hostile": {**SHORT, "storm_seconds": 0.25, "storm_retry_after": 1},  # spikes keep their 7200 s Retry-After
}
MAX_RUNS = 4


@pytest.fixture
def database(tmp_path):
    engines = []

    def make(name: str):
        engine = create_engine(f"sqlite:///{tmp_path / name}.db")
        configure_engine(engine)
        Base.metadata.create_all(engine)
        engines.append(engine)
        return sessionmaker(bind=engine, expire_on_commit=False)

    yield make
    for engine in engines:
        engine.dispose()


def run_everything(factory, sandbox, token: str, options: dict) -> tuple[RunSummary, Exception | None]:  # noqa: ANN001
    """Harvest, import the user's library, then match and enrich it all, as the jobs do; the error that ended
    the run early, if a service refused for longer than we wait (a plain-words job failure)."""
    summary, progress = RunSummary("reliability"), Progress()
    clients = clients_for(sandbox, token, **options)
    clients.deezer.quota_pause_s = QUOTA_PAUSE_S
    try:
        with factory() as session:
            user = session.scalar(select(User).where(User.spotify_id == USER))
            if user is None:
                user = User(spotify_id=USER)
                session.add(user)
                session.commit()
            user_id = user.id
        result = harvest(factory, CONTEXTS, Clients(clients.deezer), OPTIONS, progress, summary)
        import_spotify_library(factory, user_id, USER, clients.spotify, summary, progress)
        with factory() as session:
            track_ids = sorted({*result.track_ids, *library_track_ids(session, user_id)})
        match_and_enrich(factory, track_ids, {}, summary, progress, clients, providers=PROVIDERS)
        return summary, None
    except RateLimited as exc:  # a Retry-After of hours: the run stops and says when to come back
        return summary, exc
    finally:
        clients.close()


def assert_accounted_for(factory, summary: RunSummary) -> None:  # noqa: ANN001
    """Every track is enriched or carries a reason, and nothing is stored twice."""
    with factory() as session:
        tracks = list(session.scalars(select(Track).where(Track.canonical_id.is_(None))))
        rows = {(f.track_id, f.provider): f for f in session.scalars(select(TrackFeatures))}
        for track in tracks:
            if track.deezer_id is None:
                assert track.match_note, f"unmatched track {track.id} says why"
                continue
            row = rows.get((track.id, "deezer"))
            assert row is not None, f"track {track.id} has a deezer row"
            assert row.status in ("ok", "unavailable") or row.error, "a failed row says why"
            if track.spotify_id and not any(n.startswith("reccobeats features are off") for n in summary.notes):
                row = rows.get((track.id, "reccobeats"))
                assert row is not None and (row.status in ("ok", "unavailable") or row.error)
        labels = session.execute(select(Label.context_id, Label.source_playlist_id, Label.track_id)).all()
        assert len(labels) == len(set(labels)), "no label twice"
        items = session.execute(select(LibraryItem.user_id, LibraryItem.collection, LibraryItem.track_id)).all()
        assert len(items) == len(set(items)), "no library item twice"
        for column in (Track.spotify_id, Track.deezer_id):
            assert session.scalar(select(func.count(column))) == session.scalar(select(func.count(func.distinct(column))))


@pytest.fixture(scope="module")
def reference(small_world, tmp_path_factory):
    """One clean run on the default profile: the data every faulted run must end with."""
    from sandbox.runner import SandboxServer

    path = tmp_path_factory.mktemp("clean")
    engine = create_engine(f"sqlite:///{path}/clean.db")
    configure_engine(engine)
    Base.metadata.create_all(engine)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with SandboxServer(world=small_world, scale="small", **FAST) as sandbox:
        _, error = run_everything(factory, sandbox, user_token(sandbox, USER), TOUGH)
    assert error is None
    data = all_data(factory)
    engine.dispose()
    return data


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_the_pipeline_under_a_fault_profile_ends_with_the_clean_runs_data(profile, start_sandbox,
                                                                        database, reference, monkeypatch,
                                                                        record_property):
    # A failed feature row is asked again by a run a minute or more later; a later run here stands for that time.
    monkeypatch.setattr(enrich, "RETRY_FAILED_AFTER", enrich.RETRY_FAILED_AFTER * 0)
    sandbox = start_sandbox(profile=profile, **FAST, **PROFILES[profile])
    token = user_token(sandbox, USER)
    tally = FaultTally(sandbox)
    factory = database(profile)
    started, runs, stops = time.monotonic(), 0, []
    while runs < MAX_RUNS:
        runs += 1
        summary, error = run_everything(factory, sandbox, token, TOUGH)
        if error is not None:
            assert isinstance(error, ServiceError) and "retry in" in str(error), error
            stops.append(str(error))
            continue
        assert_accounted_for(factory, summary)
        if all_data(factory) == reference:
            break
    data = all_data(factory)
    for part, expected in reference.items():
        assert data[part] == expected, f"{part}: {len(data[part] - expected)} extra, {len(expected - data[part])} missing"
    faults = tally.by_kind()
    record_property("faults", faults)
    print(f"\n{profile}: runs={runs} stopped_early={len(stops)} faults={faults} "
          f"requests={ {s: sandbox.counters()[s]['total'] for s in ('spotify', 'deezer', 'reccobeats')} } "
          f"wall={time.monotonic() - started:.1f}s")
    assert faults["5xx"] and faults["timeouts"] and faults["malformed"] and faults["429"], faults
    if profile == "flaky":
        assert runs == 1 and not stops, "flaky services are ridden out within one run"
