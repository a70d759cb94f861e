"""Library import against the sandbox: complete, counted, incremental, and the same data under faults and kills."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import sessionmaker

from app.runs.progress import Progress
from app.pipeline.clients.deezer import DeezerClient
from app.pipeline.clients.reccobeats import ReccoBeatsClient
from app.pipeline.clients.spotify import SpotifyClient
from app.pipeline.library import import_spotify_library, library_track_ids, match_and_enrich
from app.pipeline.providers.run import RunClients
from app.pipeline.ratelimit import SlidingWindowLimiter
from app.runs.summary import RunSummary
from app.storage.base import Base
from app.storage.engine import configure_engine
from app.storage.tables import LibraryImport, LibraryItem, LibraryPlaylist, Track, TrackFeatures, User

USER = "ana.k"  # the smallest allow-listed user of the small world: 350 liked songs, 4 playlists
FAST = {"deezer_rate_limit": 1000, "deezer_rate_window": 1}
NO_PREVIEWS = ("deezer", "reccobeats")  # preview analysis has its own tests; here it would only add CPU time


@pytest.fixture
def database(tmp_path):
    def make(name: str = "library"):
        engine = create_engine(f"sqlite:///{tmp_path / name}.db")
        configure_engine(engine)
        Base.metadata.create_all(engine)
        return sessionmaker(bind=engine, expire_on_commit=False)

    return make


def clients_for(sandbox, token: str, **options) -> RunClients:
    deezer = DeezerClient(sandbox.deezer_url, limiter=SlidingWindowLimiter(900, 1.0), **options)
    return RunClients(deezer=deezer, reccobeats=ReccoBeatsClient(sandbox.reccobeats_url, **options),
                      spotify=SpotifyClient(sandbox.spotify_url, access_token=token, **options), analysis_workers=2)


def run_import(factory, clients: RunClients, providers=NO_PREVIEWS, progress: Progress | None = None,
               user: str = USER) -> RunSummary:
    with factory() as session:
        row = session.scalar(select(User).where(User.spotify_id == user))
        if row is None:
            row = User(spotify_id=user)
            session.add(row)
            session.commit()
        user_id = row.id
    summary, progress = RunSummary("import-library"), progress or Progress()
    import_spotify_library(factory, user_id, user, clients.spotify, summary, progress)
    with factory() as session:
        track_ids = library_track_ids(session, user_id)
    match_and_enrich(factory, track_ids, {}, summary, progress, clients, providers=providers)
    clients.close()
    return summary


def final_data(factory) -> tuple[set, set, set]:
    """What a run leaves behind, independent of row ids: library items, matches, feature values."""
    with factory() as session:
        tracks = {t.id: t for t in session.scalars(select(Track))}

        def key(track_id: int) -> tuple:
            track = tracks[track_id]
            return track.spotify_id, track.deezer_id

        items = {(i.collection.split(":")[0], key(i.track_id)) for i in session.scalars(select(LibraryItem))}
        matches = {(t.spotify_id, t.deezer_id, t.match_method, t.match_confidence,
                    key(t.canonical_id) if t.canonical_id else None) for t in tracks.values()}
        features = {(key(f.track_id), f.provider, f.status, repr(sorted((f.values or {}).items())))
                    for f in session.scalars(select(TrackFeatures))}
    return items, matches, features


def test_a_library_imports_completely_and_the_summary_matches_the_services_counters(start_sandbox, token_for,
                                                                                      database, small_world):
    sandbox = start_sandbox(**FAST)
    token = token_for(sandbox, USER)
    sandbox.reset_counters()
    factory = database()
    summary = run_import(factory, clients_for(sandbox, token), providers=("deezer", "preview", "reccobeats"))

    counters = sandbox.counters()
    calls = summary.as_dict()["api_calls"]
    assert calls == {service: counters[service]["total"] for service in ("deezer", "spotify", "reccobeats",
                                                                         "previews")}
    liked = small_world.users[USER].liked
    assert counters["spotify"]["GET /me/tracks"] == -(-len(liked) // 50), "50 liked songs per call"
    with factory() as session:
        user_tracks = library_track_ids(session, session.scalar(select(User.id)))
        liked_rows = session.scalar(select(func.count()).select_from(LibraryItem)
                                    .where(LibraryItem.collection == "liked"))
        assert liked_rows == len(liked)
        own = small_world.users[USER].playlist_ids
        assert session.scalar(select(func.count()).select_from(LibraryPlaylist)
                              .where(LibraryPlaylist.owned_by_user.is_(True))) == len(own)
        # /me/playlists also lists playlists the user follows; their items answer 403, so they are never read.
        followed = session.scalars(select(LibraryPlaylist).where(LibraryPlaylist.owned_by_user.is_(False))).all()
        assert followed and all(p.synced_at is None for p in followed)
        for track in session.scalars(select(Track).where(Track.id.in_(user_tracks))):
            owner = session.get(Track, track.canonical_id) if track.canonical_id else track
            if owner.deezer_id is None:
                assert track.match_method == "none" and track.match_note, "unmatched tracks say why"
                continue
            rows = {f.provider: f for f in session.scalars(select(TrackFeatures)
                                                           .where(TrackFeatures.track_id == owner.id))}
            assert rows["deezer"].status == "ok" or rows["deezer"].error
            assert rows["preview"].status == "ok" or rows["preview"].error
    assert any("followed playlist(s) listed but not read" in note for note in summary.notes)
    assert not any("403" in reason for reason in summary.failures)
    assert summary.stages["matched by isrc"] > 0.8 * len(liked)
    assert summary.stages.get("matched by search", 0) > 0, "tracks whose ISRC Deezer lacks are found by name"

    sandbox.reset_counters()
    again = run_import(factory, clients_for(sandbox, token), providers=("deezer", "preview", "reccobeats"))
    counters = sandbox.counters()
    assert again.api_calls == {"deezer": 0, "spotify": 2, "reccobeats": 0, "previews": 0}, \
        "a second run reads one page of likes and the playlist list, and nothing else"
    assert counters["spotify"]["total"] == 2


def test_a_reimport_fetches_only_what_changed_and_drops_removed_likes(start_sandbox, token_for, database,
                                                                     small_world):
    sandbox = start_sandbox(**FAST)
    token = token_for(sandbox, USER)
    factory = database()
    run_import(factory, clients_for(sandbox, token), providers=())
    state = sandbox.sandbox.state
    user = small_world.users[USER]
    liked_ids = {tid for tid, _ in user.liked}
    newcomers = [t.deezer_id for t in small_world.tracks.values() if t.deezer_id not in liked_ids][:3]
    state.like(USER, newcomers)
    playlist_id = user.playlist_ids[0]
    state.add_items(playlist_id, newcomers[:1], None)

    sandbox.reset_counters()
    run_import(factory, clients_for(sandbox, token), providers=())
    spotify = sandbox.counters()["spotify"]
    assert spotify["GET /me/tracks"] == 1, "the new likes are on the first page; paging stops there"
    assert spotify["GET /playlists/{id}/items"] >= 1 and spotify["GET /me/playlists"] == 1
    with factory() as session:
        new_spotify_ids = {small_world.tracks[t].spotify_id for t in newcomers}
        liked = set(session.scalars(select(Track.spotify_id).join(LibraryItem, LibraryItem.track_id == Track.id)
                                    .where(LibraryItem.collection == "liked")))
        assert new_spotify_ids <= liked
        cursor = session.scalars(select(LibraryImport.cursor).where(LibraryImport.kind == "spotify-liked")
                                 .order_by(LibraryImport.id.desc())).first()
        assert cursor["total"] == len(user.liked) + 3

    removed = [tid for tid, _ in user.liked[100:105]]
    state.unlike(USER, removed)
    sandbox.reset_counters()
    summary = run_import(factory, clients_for(sandbox, token), providers=())
    assert summary.stages["likes removed"] == 5
    assert sandbox.counters()["spotify"]["GET /me/tracks"] == -(-(len(user.liked) + 3 - 5) // 50), \
        "a count that differs from ours triggers one full re-read"
    with factory() as session:
        liked = set(session.scalars(select(Track.spotify_id).join(LibraryItem, LibraryItem.track_id == Track.id)
                                    .where(LibraryItem.collection == "liked")))
    assert not {small_world.tracks[t].spotify_id for t in removed} & liked


FLAKY = {"profile": "flaky", "error_rate": 0.08, "malformed_rate": 0.04, "timeout_rate": 0.02,
         "hang_seconds": 0.3, "storm_rate": 0.001, "storm_seconds": 0.5, "storm_retry_after": 1,
         "latency_ms": 5, "latency_jitter_ms": 3}
TOUGH = {"backoff_s": 0.02, "max_attempts": 12}


class Killed(BaseException):
    """Stands for SIGKILL: nothing below the raise point runs, no handler catches it."""


class KillingProgress(Progress):
    def __init__(self, after: int) -> None:
        super().__init__()
        self.left = after

    def advance(self, name: str, n: int = 1) -> None:
        self.left -= n
        if self.left <= 0:
            raise Killed(name)
        super().advance(name, n)


def test_flaky_services_and_a_killed_run_end_with_the_same_data(start_sandbox, token_for, database):
    reference = start_sandbox(**FAST)
    factory_a = database("reference")
    run_import(factory_a, clients_for(reference, token_for(reference, USER)))
    expected = final_data(factory_a)

    flaky = start_sandbox(**FAST, **FLAKY)
    token = token_for(flaky, USER)
    factory_b = database("flaky")
    summary = run_import(factory_b, clients_for(flaky, token, **TOUGH))
    assert final_data(factory_b) == expected
    assert sum(flaky.counters()[s]["total"] for s in ("deezer", "spotify", "reccobeats")) > \
        sum(summary.as_dict()["api_calls"][s] for s in ("deezer", "spotify", "reccobeats")) - 1, "all counted"

    factory_c = database("killed")
    for kill_after in (200, 600, 300):  # while importing likes, then matching, then enriching
        with pytest.raises(Killed):
            run_import(factory_c, clients_for(flaky, token, **TOUGH), progress=KillingProgress(kill_after))
    flaky.reset_counters()
    run_import(factory_c, clients_for(flaky, token, **TOUGH))
    assert final_data(factory_c) == expected


def test_no_bar_reads_full_while_tracks_of_later_chunks_still_wait(start_sandbox, token_for, database, monkeypatch,
                                                                  recorded_progress):
    """Issue 21: a match bar once showed full while 10,000 songs still waited, because each chunk added only its
    own tracks to the stage's total. Every bar drawn while the run went on is full only once its stage is done."""
    from app.dash_views.harvests import stage_rows
    from app.pipeline import library

    monkeypatch.setattr(library, "MATCH_CHUNK", 100)  # ana.k's 350 songs in four chunks
    progress, seen = recorded_progress
    sandbox = start_sandbox(**FAST)
    run_import(database(), clients_for(sandbox, token_for(sandbox, USER)),
               progress=progress)  # every call a second later: every flush writes
    final = seen[-1]
    watched = [name for name in final if name == "tracks matched" or name.startswith("tracks enriched")]
    assert "tracks matched" in watched and len(watched) >= 2
    early_full = [(name, row.done, final[name]["done"]) for snap in seen[:-1]
                  for name, row in zip(snap, stage_rows(snap), strict=True)
                  if name in watched and row.fraction == 1.0 and row.done < final[name]["done"]]
    assert not early_full, f"bars drawn full with work still waiting: {early_full[:3]}"
    assert all(row.fraction == 1.0 for name, row in zip(final, stage_rows(final, finished=True), strict=True)
               if name in watched)


def test_the_next_chunk_is_matched_while_this_one_is_enriched_and_calls_are_counted_once(
        start_sandbox, token_for, database, monkeypatch):
    import threading
    import time

    from app.pipeline import library

    sandbox = start_sandbox(**FAST)
    token = token_for(sandbox, USER)
    monkeypatch.setattr(library, "MATCH_CHUNK", 100)  # ana.k's 350 songs: four chunks
    events: list[tuple[str, int, float]] = []
    lock = threading.Lock()
    real_match, real_enrich = library.match_tracks, library.enrich_tracks

    def note(what: str, ids) -> None:
        with lock:
            events.append((what, min(ids), time.monotonic()))

    def match(factory, ids, *args, **kwargs):
        note("match starts", ids)
        return real_match(factory, ids, *args, **kwargs)

    def enrich(factory, ids, *args, **kwargs):
        result = real_enrich(factory, ids, *args, **kwargs)
        time.sleep(0.5)  # a chunk's previews take a while to analyse
        note("enrich ends", ids)
        return result

    monkeypatch.setattr(library, "match_tracks", match)
    monkeypatch.setattr(library, "enrich_tracks", enrich)
    sandbox.reset_counters()
    factory = database()
    summary = run_import(factory, clients_for(sandbox, token))

    starts = [at for what, _first, at in events if what == "match starts"]
    ends = [at for what, _first, at in events if what == "enrich ends"]
    assert len(starts) == len(ends) == 4
    assert all(starts[k + 1] < ends[k] for k in range(3)), "each next chunk's matching overlaps this enrichment"
    counters = sandbox.counters()
    assert summary.as_dict()["api_calls"] == {service: counters[service]["total"]
                                              for service in ("deezer", "spotify", "reccobeats", "previews")}


def test_what_enrichment_writes_on_the_summary_reaches_the_import_summary():
    from app.pipeline.library import _CallsCountedOutside

    summary = RunSummary("import-library")
    seen_by_enrichment = _CallsCountedOutside(summary)
    seen_by_enrichment.cache_hits += 3
    seen_by_enrichment.count("matched by isrc", 2)
    seen_by_enrichment.add_calls("deezer", 5)  # counted once by match_and_enrich, not here
    assert (summary.cache_hits, summary.stages, summary.api_calls["deezer"]) == (3, {"matched by isrc": 2}, 0)
