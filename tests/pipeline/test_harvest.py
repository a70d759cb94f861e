"""Harvesting against the sandbox: labels with provenance, choices on record, caching, faults, kills, sources."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from app.runs.progress import Progress
from app.pipeline.clients.deezer import DeezerClient
from app.pipeline.clients.spotify import SpotifyClient
from app.pipeline.harvest import (
    DEFAULT_PLAYLISTS_PER_CONTEXT, STAGE_PLAYLISTS, Clients, HarvestError, HarvestOptions, harvest,
)
from app.pipeline.ratelimit import SlidingWindowLimiter
from app.pipeline.sources.deezer import DeezerSource
from app.runs.summary import RunSummary
from app.storage.base import Base
from app.storage.engine import configure_engine
from app.storage.tables import Context, ContextPlaylist, Label, SourcePlaylist, Track

CONTEXTS = ["workout", "study", "sleep", "party", "running"]
FAST = {"deezer_rate_limit": 1000, "deezer_rate_window": 1}  # with a matching client limiter: no waiting


@pytest.fixture
def new_db(tmp_path):
    """`new_db()` -> a session factory on a fresh SQLite database with the schema."""
    engines = []

    def make():
        engine = create_engine(f"sqlite:///{tmp_path}/harvest{len(engines)}.db")
        configure_engine(engine)
        Base.metadata.create_all(engine)
        engines.append(engine)
        return sessionmaker(bind=engine, expire_on_commit=False)

    yield make
    for engine in engines:
        engine.dispose()


def clients_for(sandbox, spotify: bool = False) -> Clients:
    deezer = DeezerClient(sandbox.deezer_url, limiter=SlidingWindowLimiter(1000, 1.0), backoff_s=0.01,
                          max_attempts=10)
    if not spotify:
        return Clients(deezer)
    token = _app_token(sandbox)
    return Clients(deezer, SpotifyClient(sandbox.spotify_url, access_token=token, backoff_s=0.01))


def _app_token(sandbox) -> str:
    import requests

    answer = requests.post(sandbox.token_url, auth=("sandbox-client", "sandbox-secret"),
                           data={"grant_type": "client_credentials"})
    answer.raise_for_status()
    return answer.json()["access_token"]


def snapshot(session_factory) -> dict[str, set]:
    """The harvest's data, without timestamps or surrogate ids: what must come out the same every time."""
    with session_factory() as session:
        tracks = {tuple(row) for row in session.execute(select(
            Track.deezer_id, Track.spotify_id, Track.isrc, Track.title, Track.artist, Track.album,
            Track.deezer_album_id, Track.duration_ms, Track.explicit))}
        labels = {tuple(row) for row in session.execute(
            select(Context.key, SourcePlaylist.service, SourcePlaylist.external_id, Track.deezer_id,
                   Track.spotify_id, Label.position)
            .join(Context, Context.id == Label.context_id).join(Track, Track.id == Label.track_id)
            .join(SourcePlaylist, SourcePlaylist.id == Label.source_playlist_id))}
        choices = {tuple(row) for row in session.execute(
            select(Context.key, SourcePlaylist.external_id, ContextPlaylist.chosen, ContextPlaylist.relevance,
                   ContextPlaylist.harvested_at.is_not(None))
            .join(Context, Context.id == ContextPlaylist.context_id)
            .join(SourcePlaylist, SourcePlaylist.id == ContextPlaylist.source_playlist_id))}
    return {"tracks": tracks, "labels": labels, "choices": choices}


@pytest.fixture(scope="module")
def reference(small_world, tmp_path_factory):
    """A clean, uninterrupted harvest of CONTEXTS on the default profile, to compare other runs with."""
    from sandbox.runner import SandboxServer

    path = tmp_path_factory.mktemp("reference")
    engine = create_engine(f"sqlite:///{path}/reference.db")
    Base.metadata.create_all(engine)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with SandboxServer(world=small_world, scale="small", **FAST) as sandbox:
        harvest(factory, CONTEXTS, clients_for(sandbox))
    data = snapshot(factory)
    engine.dispose()
    return data


def test_harvest_labels_tracks_with_provenance_and_records_every_choice(start_sandbox, new_db, small_world):
    sandbox = start_sandbox(**FAST)
    session_factory = new_db()
    summary = RunSummary("harvest")
    result = harvest(session_factory, CONTEXTS, clients_for(sandbox), summary=summary)

    assert result.source == "deezer"
    assert summary.api_calls["deezer"] == sandbox.counters()["deezer"]["total"]
    assert sandbox.counters()["deezer"]["GET /search/playlist"] == len(CONTEXTS)
    with session_factory() as session:
        labels = session.execute(select(Label, Context.key, SourcePlaylist, Track)
                                 .join(Context, Context.id == Label.context_id)
                                 .join(SourcePlaylist, SourcePlaylist.id == Label.source_playlist_id)
                                 .join(Track, Track.id == Label.track_id)).all()
        rows = session.execute(select(ContextPlaylist, SourcePlaylist, Context.key)
                               .join(SourcePlaylist, SourcePlaylist.id == ContextPlaylist.source_playlist_id)
                               .join(Context, Context.id == ContextPlaylist.context_id)).all()
    assert labels
    in_order: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for label, key, playlist, track in labels:  # provenance: service, playlist id and name, position
        world_playlist = small_world.deezer_playlists[playlist.external_id]
        assert playlist.service == "deezer" and playlist.name == world_playlist.title
        assert track.deezer_id in world_playlist.track_ids
        assert track.title and track.artist and track.duration_ms and track.deezer_album_id
        in_order.setdefault((key, playlist.external_id), []).append((label.position, track.deezer_id))
    for (_, playlist_id), positioned in in_order.items():  # positions follow the playlist's order
        order = small_world.deezer_playlists[playlist_id].track_ids
        by_position = [deezer_id for _, deezer_id in sorted(positioned)]
        assert by_position == sorted(by_position, key=order.index)
    assert {key for _, key, _, _ in labels} == set(CONTEXTS)
    assert all(row.ContextPlaylist.reason and row.ContextPlaylist.relevance is not None for row in rows)
    reasons = [row.ContextPlaylist.reason for row in rows]
    assert any(r.startswith("duplicate of deezer playlist") and "tracks shared" in r for r in reasons)
    assert any(r.startswith("name not relevant enough") for r in reasons)
    statuses = {row.ContextPlaylist.status for row in rows}
    assert {"taken", "duplicate", "skipped"} <= statuses <= {"taken", "spare", "duplicate", "skipped"}
    assert all((row.ContextPlaylist.status == "taken") == row.ContextPlaylist.chosen for row in rows)
    decoy = next(row for row in rows if row.SourcePlaylist.name == "Workout? No thanks. Sofa songs")
    assert not decoy.ContextPlaylist.chosen
    chosen = [row for row in rows if row.ContextPlaylist.chosen]
    assert all(row.ContextPlaylist.harvested_at is not None for row in chosen)
    assert max(sum(1 for row in chosen if row.key == key) for key in CONTEXTS) <= DEFAULT_PLAYLISTS_PER_CONTEXT


def test_a_second_run_makes_no_calls_and_a_refresh_only_searches(start_sandbox, new_db, reference):
    sandbox = start_sandbox(**FAST)
    session_factory = new_db()
    clients = clients_for(sandbox)
    harvest(session_factory, CONTEXTS, clients)
    sandbox.reset_counters()

    again = RunSummary("harvest")
    result = harvest(session_factory, CONTEXTS, clients, summary=again)
    assert sandbox.counters()["deezer"]["total"] == 0 == again.api_calls["deezer"]
    assert all(outcome.fresh for outcome in result.contexts) and again.cache_hits > 0

    refreshed = RunSummary("harvest")
    harvest(session_factory, CONTEXTS, clients, HarvestOptions(refresh=True), summary=refreshed)
    assert sandbox.counters()["deezer"] == {"GET /search/playlist": len(CONTEXTS), "total": len(CONTEXTS)}
    assert snapshot(session_factory) == reference


def test_asking_for_more_playlists_searches_again_only_where_there_are_more(start_sandbox, new_db):
    sandbox = start_sandbox(**FAST)
    session_factory = new_db()
    clients = clients_for(sandbox)
    harvest(session_factory, ["party", "running"], clients, HarvestOptions(playlists_per_context=2))
    sandbox.reset_counters()
    result = harvest(session_factory, ["party", "running"], clients, HarvestOptions(playlists_per_context=10))
    fresh = {o.key: o.fresh for o in result.contexts}
    assert fresh == {"party": False, "running": True}, "running had only 2 eligible playlists"
    assert sandbox.counters()["deezer"]["GET /search/playlist"] == 1


def test_a_flaky_service_gives_the_same_data(start_sandbox, new_db, reference):
    sandbox = start_sandbox(profile="flaky", error_rate=0.1, malformed_rate=0.05, timeout_rate=0.03,
                            hang_seconds=0.2, storm_rate=0.0, latency_ms=5, latency_jitter_ms=2, **FAST)
    session_factory = new_db()
    summary = RunSummary("harvest")
    harvest(session_factory, CONTEXTS, clients_for(sandbox), summary=summary)
    assert summary.api_calls["deezer"] == sandbox.counters()["deezer"]["total"]
    assert summary.api_calls["deezer"] > 35, "faults were met and retried"
    assert not summary.failures
    assert snapshot(session_factory) == reference


class Killed(Exception):
    """Stands for the process dying between two playlists."""


class DyingProgress(Progress):
    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    def advance(self, name: str, n: int = 1) -> None:
        super().advance(name, n)
        if name == STAGE_PLAYLISTS and self.snapshot()[name]["done"] >= self.after:
            raise Killed


@pytest.mark.parametrize("after", [1, 7, 19])
def test_a_run_killed_midway_and_restarted_ends_with_the_same_data(start_sandbox, new_db, reference, after):
    sandbox = start_sandbox(**FAST)
    session_factory = new_db()
    clients = clients_for(sandbox)
    with pytest.raises(Killed):
        harvest(session_factory, CONTEXTS, clients, progress=DyingProgress(after))
    partial = snapshot(session_factory)
    assert partial != reference and partial["labels"] < reference["labels"]
    harvest(session_factory, CONTEXTS, clients)
    assert snapshot(session_factory) == reference


def test_a_failing_playlist_is_recorded_and_the_run_goes_on(start_sandbox, new_db, monkeypatch):
    sandbox = start_sandbox(**FAST)
    session_factory = new_db()
    original = DeezerSource.playlist_tracks
    broken: list[str] = []

    def failing(self, playlist, limit):
        if not broken:
            broken.append(playlist.external_id)
            from app.pipeline.clients.base import Unavailable
            raise Unavailable("deezer", "kept failing", "HTTP 503; 6 attempts")
        return original(self, playlist, limit)

    monkeypatch.setattr(DeezerSource, "playlist_tracks", failing)
    summary = RunSummary("harvest")
    result = harvest(session_factory, ["sleep"], clients_for(sandbox), summary=summary)
    assert result.contexts[0].failed == 1 and result.contexts[0].taken > 0
    assert summary.failures == {"playlist fetch failed: deezer: kept failing": 1}
    with session_factory() as session:
        row = session.execute(select(ContextPlaylist).join(SourcePlaylist).where(
            SourcePlaylist.external_id == broken[0])).scalar_one()
    assert row.chosen and row.harvested_at is None and row.reason.startswith("failed: deezer: kept failing")
    assert row.status == "failed"
    monkeypatch.setattr(DeezerSource, "playlist_tracks", original)
    sandbox.reset_counters()
    harvest(session_factory, ["sleep"], clients_for(sandbox))
    assert sandbox.counters()["deezer"]["GET /playlist/{id}/tracks"] == 1, "only the failed one is fetched again"


class FakeDeezer:
    """A Deezer client whose answers carry broken entries, as real ones sometimes do."""

    calls = 0

    def get(self, path, params=None):
        return {"data": [None, {"id": 1, "title": "Workout"}, {"title": "no id"}, {"id": 2}, {"id": "x", "title": "t"},
                         {"id": 3, "title": "Workout Mix", "user": {"id": 9, "name": "ana"}, "nb_tracks": 40}]}

    def playlist_tracks(self, playlist_id, limit=None):
        yield from [{"id": 10, "title": "a"}, {"title": "no id"}, "junk", {"id": 11, "title": "b"}][:limit]


def test_deezer_source_skips_and_counts_broken_entries():
    source = DeezerSource(FakeDeezer())
    found = source.find_playlists("workout", 10)
    assert [p.external_id for p in found.playlists] == ["1", "3"] and found.broken == 4
    assert (found.playlists[1].owner_id, found.playlists[1].nb_tracks, found.playlists[1].rank) == ("9", 40, 5)
    fetched = source.playlist_tracks(found.playlists[0], 10)
    assert [(pos, key) for pos, key, _ in fetched.tracks] == [(0, 10), (3, 11)] and fetched.broken == 2


def test_auto_falls_back_to_deezer_on_the_spotify_403_and_remembers_it(start_sandbox, new_db):
    sandbox = start_sandbox(**FAST)
    session_factory = new_db()
    notes: list[str] = []
    result = harvest(session_factory, ["sleep"], clients_for(sandbox, spotify=True), HarvestOptions(source="auto"),
                     on_note=notes.append)
    assert result.source == "deezer"
    assert "refused to let this app read other people's playlists (HTTP 403" in notes[0]
    assert "labels come from Deezer's public playlists instead" in notes[0]
    assert sandbox.counters()["spotify"]["GET /playlists/{id}/items"] == 1, "one playlist read tells"

    sandbox.reset_counters()
    notes.clear()
    harvest(session_factory, ["study"], clients_for(sandbox, spotify=True), HarvestOptions(source="auto"),
            on_note=notes.append)
    assert sandbox.counters()["spotify"]["total"] == 0, "the 403 is remembered for the process"
    assert "found earlier in this process" in notes[0]


def test_explicit_spotify_source_refused_is_a_clear_error(start_sandbox, new_db):
    sandbox = start_sandbox(**FAST)
    with pytest.raises(HarvestError, match=r"HTTP 403.*Use --source deezer"):
        harvest(new_db(), ["sleep"], clients_for(sandbox, spotify=True), HarvestOptions(source="spotify"))


def test_auto_uses_spotify_where_the_app_may_read_public_playlists(start_sandbox, new_db, small_world):
    sandbox = start_sandbox(profile="extended", **FAST)
    session_factory = new_db()
    summary = RunSummary("harvest")
    clients = clients_for(sandbox, spotify=True)
    result = harvest(session_factory, ["workout", "sleep"], clients, HarvestOptions(source="auto"),
                     summary=summary)
    assert result.source == "spotify"
    assert sandbox.counters()["deezer"]["total"] == 0
    assert summary.api_calls["spotify"] == sandbox.counters()["spotify"]["total"]
    assert summary.failures.get("null or broken playlist entry skipped", 0) > 0, "Spotify search has nulls"
    with session_factory() as session:
        labelled = session.execute(select(SourcePlaylist.external_id, Track.spotify_id, Label.position)
                                   .join(Label, Label.source_playlist_id == SourcePlaylist.id)
                                   .join(Track, Track.id == Label.track_id)).all()
    assert labelled
    for playlist_id, spotify_id, position in labelled:
        playlist = small_world.spotify_playlists[playlist_id]
        assert small_world.tracks[playlist.track_ids[position]].spotify_id == spotify_id


def test_no_bar_reads_full_while_searches_for_more_playlists_are_out(start_sandbox, new_db, recorded_progress):
    """Issue 21: the playlists and tracks bars count what the searches still out may bring, so neither is drawn
    full (nor 'nothing to do') while a context's playlists are still being looked for."""
    from app.dash_views.harvests import stage_rows

    progress, seen = recorded_progress
    sandbox = start_sandbox(**FAST)
    harvest(new_db(), CONTEXTS, clients_for(sandbox), progress=progress)
    final = seen[-1]
    early_full = [(name, row.done, final[name]["done"]) for snap in seen[:-1]
                  for name, row in zip(snap, stage_rows(snap), strict=True)
                  if row.fraction == 1.0 and row.done < final[name]["done"]]
    assert not early_full, f"bars drawn full with work still waiting: {early_full[:3]}"
    assert final[STAGE_PLAYLISTS]["done"] > 0 and not final[STAGE_PLAYLISTS].get("pending")
