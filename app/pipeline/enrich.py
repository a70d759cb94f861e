"""Enrichment: run the feature providers over tracks that lack a fresh row, writing results as they come."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, inspect, select
from sqlalchemy.orm import Session

from app.runs.progress import Progress
from app.runs.records import log_line
from app.pipeline.catalog import dialect_insert
from app.pipeline.providers import PROVIDER_CLASSES, with_opt_ins
from app.pipeline.providers.base import FeatureProvider, FeatureResult, ProviderUnavailable, TrackRef
from app.pipeline.providers.deezer import ALBUM_KEYS
from app.pipeline.providers.run import RunClients
from app.runs.summary import RunSummary
from app.storage.conflicts import is_write_conflict
from app.storage.tables import Track, TrackFeatures, utcnow

log = logging.getLogger("contextify.pipeline.enrich")

CHUNK = 200               # tracks per round: every provider finishes a round before the next starts
WRITE_EVERY = 25          # results per commit: a killed run loses at most this many per provider
# A failed row is asked again by the next run that starts a minute or more later: a re-run seconds after a
# failure does not hammer the service that just failed, and no failure waits hours for its second try.
# Each further failure in a row waits BACKOFF_FACTOR times longer, up to RETRY_FAILED_AT_MOST: a track a
# service keeps failing on stops costing a call on every run, yet is still asked again the next day.
RETRY_FAILED_AFTER = timedelta(minutes=1)
BACKOFF_FACTOR = 4
RETRY_FAILED_AT_MOST = timedelta(days=1)
RECHECK_UNAVAILABLE_AFTER = timedelta(days=30)  # "the service lacks this track" is asked again after this
FAILURE_STREAK = 20       # this many failed tracks in a row switch a provider off for the run
FLUSH_ATTEMPTS = 3        # a write that loses a race with another job (a track merged away) is re-read and retried
CHECK_EVERY_S = 1.0       # how often a round asks `check_stop` (it may cost a database read)


def enrich_tracks(session_factory: Callable[[], Session], track_ids: Iterable[int], config: Mapping[str, Any],
                  summary: RunSummary, progress: Progress, providers: Sequence[str] | None = None,
                  clients: RunClients | None = None, check_stop: Callable[[], None] | None = None,
                  later: int = 0) -> None:
    """Fetch every provider's features for `track_ids` where the stored row is missing or stale.

    `later`: how many more tracks the caller will pass in later chunks (each stage's bar stays short of full).

    A track that shares a recording with another row (`canonical_id`) is enriched through that row.
    A provider that cannot work at all (no access, rate limited for hours) is dropped for the run with
    a note in `summary.notes` and the job log; a failing track gets a `failed` row and the run goes on.
    `check_stop` is called about every second and stops the run by raising (a job passes its
    `check_cancelled`); the results received until then are written first, so a re-run skips them.
    """
    own_clients = clients is None
    clients = clients or RunClients.from_config(config)
    before = clients.call_counts()
    try:
        _enrich(session_factory, list(track_ids), summary, progress,
                clients.default_providers if providers is None else providers, clients, check_stop or (lambda: None),
                later)
    finally:
        for service, count in clients.call_counts().items():
            summary.add_calls(service, count - before.get(service, 0))
        if own_clients:
            clients.close()


def _enrich(session_factory: Callable[[], Session], track_ids: list[int], summary: RunSummary,
            progress: Progress, names: Sequence[str], clients: RunClients,
            check_stop: Callable[[], None], later: int = 0) -> None:
    unknown = [name for name in names if name not in PROVIDER_CLASSES]
    if unknown:
        raise ValueError(f"unknown feature provider(s): {', '.join(unknown)}; known: {', '.join(PROVIDER_CLASSES)}")
    names = with_opt_ins(names, clients.reccobeats_audio)
    with session_factory() as session:
        refs = canonical_refs(session, track_ids)
        providers = build_providers(names, clients, session, refs)
        work = {p.name: _needing(session, p, refs) for p in providers}
    summary.count("tracks to enrich", len(refs))
    for provider in providers:
        eligible = work[provider.name]
        summary.cache_hits += len(refs) - len(eligible)
        skipped = _skipped(provider, eligible)
        if skipped:
            needs = "Deezer" if provider.name in ("deezer", "preview", "musicnn", "reccobeats_audio") else "Spotify"
            summary.count(f"{provider.name}: skipped (no {needs} id)", skipped)
        work[provider.name] = [r for r in eligible if provider.can_fetch(r)]
        progress.add_total(f"tracks enriched ({provider.name})", len(work[provider.name]))
        progress.expect(f"tracks enriched ({provider.name})", later)
    summary.count("tracks needing enrichment", len({r.id for refs_ in work.values() for r in refs_}))
    writer = _Writer(session_factory, summary, progress, {p.name: p.version for p in providers})
    active = list(providers)
    # In the caller's order (a harvest spreads its first chunks over every playlist, an import gives the most
    # recent likes first), so what is analysed first is what a first model can rest on.
    place = {tid: n for n, tid in enumerate(dict.fromkeys(track_ids))}
    ordered = sorted({r.id: r for refs_ in work.values() for r in refs_}.values(),
                     key=lambda r: (place.get(r.id, len(place)), r.id))
    for start in range(0, len(ordered), CHUNK):
        check_stop()
        chunk_ids = {r.id for r in ordered[start:start + CHUNK]}
        rounds = {p: [r for r in work[p.name] if r.id in chunk_ids] for p in active}
        for provider in _run_round(rounds, writer, check_stop):
            active.remove(provider)
    writer.flush()


def canonical_refs(session: Session, track_ids: Iterable[int]) -> list[TrackRef]:
    """The rows that hold features for these tracks: each track's canonical row, each once."""
    ids = list(dict.fromkeys(track_ids))
    canonical: set[int] = set()
    for start in range(0, len(ids), 500):
        rows = session.execute(select(Track.id, Track.canonical_id).where(Track.id.in_(ids[start:start + 500])))
        canonical.update(canon or tid for tid, canon in rows)
    refs: list[TrackRef] = []
    ordered = sorted(canonical)
    for start in range(0, len(ordered), 500):
        rows = session.execute(select(Track.id, Track.spotify_id, Track.deezer_id, Track.isrc, Track.deezer_album_id)
                               .where(Track.id.in_(ordered[start:start + 500])))
        refs.extend(TrackRef(*row) for row in rows)
    return sorted(refs, key=lambda r: r.id)


def build_providers(names: Sequence[str], clients: RunClients, session: Session,
                    refs: Sequence[TrackRef]) -> list[FeatureProvider]:
    providers = []
    for name in dict.fromkeys(names):
        if name == "deezer":
            providers.append(PROVIDER_CLASSES[name](clients, known_albums=stored_albums(session, refs)))
        else:
            providers.append(PROVIDER_CLASSES[name](clients))
    return providers


def stored_albums(session: Session, refs: Sequence[TrackRef]) -> dict[int, dict[str, Any]]:
    """Album values already stored with another track's deezer row: albums are fetched once, globally."""
    from app.pipeline.providers.deezer import DeezerProvider

    album_ids = sorted({r.deezer_album_id for r in refs if r.deezer_album_id})
    albums: dict[int, dict[str, Any]] = {}
    for start in range(0, len(album_ids), 500):
        rows = session.execute(
            select(Track.deezer_album_id, TrackFeatures.values).join(TrackFeatures, TrackFeatures.track_id == Track.id)
            .where(Track.deezer_album_id.in_(album_ids[start:start + 500]), TrackFeatures.provider == "deezer",
                   TrackFeatures.status == "ok", TrackFeatures.provider_version == DeezerProvider.version))
        for album_id, values in rows:
            if isinstance(values, dict) and values.get("album_id") == album_id:
                albums[album_id] = {key: values.get(key) for key in ALBUM_KEYS}
    return albums


def is_stale(row: TrackFeatures | None, version: str, now: datetime) -> bool:
    """Missing, written by another provider version, or a failure / absence old enough to ask again."""
    if row is None or row.provider_version != version:
        return True
    fetched = row.fetched_at if row.fetched_at.tzinfo else row.fetched_at.replace(tzinfo=now.tzinfo)
    if row.status == "failed":
        return now - fetched >= retry_after(row.failures)
    if row.status == "unavailable":
        return now - fetched >= RECHECK_UNAVAILABLE_AFTER
    return False


def retry_after(failures: int | None) -> timedelta:
    """How long a row that failed `failures` times in a row waits before a run asks again: 1 min, 4, 16, ... 1 day."""
    # Rows written before failures were counted hold 0: they have failed once.
    steps = min(max(failures or 0, 1) - 1, 20)  # past 20 steps the ceiling holds anyway; timedelta would overflow
    return min(RETRY_FAILED_AFTER * BACKOFF_FACTOR ** steps, RETRY_FAILED_AT_MOST)


def _needing(session: Session, provider: FeatureProvider, refs: Sequence[TrackRef]) -> list[TrackRef]:
    now = utcnow()
    stored: dict[int, TrackFeatures] = {}
    ids = [r.id for r in refs]
    for start in range(0, len(ids), 500):
        rows = session.scalars(select(TrackFeatures).where(TrackFeatures.provider == provider.name,
                                                           TrackFeatures.track_id.in_(ids[start:start + 500])))
        stored.update((row.track_id, row) for row in rows)
    return [r for r in refs if is_stale(stored.get(r.id), provider.version, now)]


def _skipped(provider: FeatureProvider, refs: Sequence[TrackRef]) -> int:
    return sum(1 for r in refs if not provider.can_fetch(r))


_DONE = object()


def _run_round(rounds: dict[FeatureProvider, list[TrackRef]], writer: _Writer,
               check_stop: Callable[[], None] = lambda: None) -> list[FeatureProvider]:
    """Run each provider on its share of one chunk in its own thread; write results here as they arrive.

    Returns the providers that became unavailable (they are not asked again in this run). When
    `check_stop` raises, the provider threads stop at their next result and what arrived is written.
    """
    results: queue.Queue = queue.Queue(maxsize=1000)
    dropped: list[FeatureProvider] = []
    stop = threading.Event()

    def run(provider: FeatureProvider, refs: list[TrackRef]) -> None:
        streak = 0
        try:
            for result in provider.fetch(refs):
                if stop.is_set():
                    break
                results.put((provider, result))
                # Only an answer proves the service works: "this track has no preview" (unreadable on Deezer,
                # ~15% of tracks) neither breaks nor ends a run of failures.
                streak = streak + 1 if result.status == "failed" else 0 if result.status == "ok" else streak
                if streak >= FAILURE_STREAK:
                    # The service itself is failing, not single tracks: stop asking it for this run.
                    raise ProviderUnavailable(f"{streak} tracks in a row failed (last: {reason_of(result.error)})")
        except ProviderUnavailable as exc:
            results.put((provider, exc))
        except Exception as exc:  # noqa: BLE001  (a broken provider degrades the run instead of ending it)
            log.exception("provider=%s crashed", provider.name)
            results.put((provider, ProviderUnavailable(f"stopped after an unexpected error: {exc!r}")))
        finally:
            results.put((provider, _DONE))

    for provider, refs in rounds.items():
        if refs and hasattr(provider, "reserve"):  # audio providers share one download per preview
            provider.reserve(refs)
    threads = [threading.Thread(target=run, args=(p, refs), name=f"provider-{p.name}", daemon=True)
               for p, refs in rounds.items() if refs]
    for thread in threads:
        thread.start()
    remaining = len(threads)
    checked = time.monotonic()
    while remaining:
        if time.monotonic() - checked >= CHECK_EVERY_S:
            checked = time.monotonic()
            try:
                check_stop()
            except BaseException:
                stop.set()
                writer.flush()  # results already fetched are kept: the next run does not pay for them again
                raise
        try:
            provider, item = results.get(timeout=CHECK_EVERY_S)
        except queue.Empty:
            continue
        if item is _DONE:
            remaining -= 1
        elif isinstance(item, ProviderUnavailable):
            dropped.append(provider)
            writer.note(f"{provider.name} features are off for the rest of this run: {item}")
        else:
            writer.add(provider.name, item)
    return dropped


class _Writer:
    """Buffers results and upserts them in small transactions, counting outcomes for the summary."""

    def __init__(self, session_factory: Callable[[], Session], summary: RunSummary, progress: Progress,
                 versions: dict[str, str]) -> None:
        self.session_factory = session_factory
        self.summary = summary
        self.progress = progress
        self.versions = versions
        self.buffer: list[dict[str, Any]] = []
        self.identities: dict[int, dict[str, Any]] = {}

    def add(self, provider: str, result: FeatureResult) -> None:
        if result.identity:
            self.identities.setdefault(result.track_id, {}).update(result.identity)
        self.buffer.append({"track_id": result.track_id, "provider": provider,
                            "provider_version": self.versions[provider], "status": result.status,
                            "values": result.values, "error": result.error, "fetched_at": utcnow()})
        self.summary.count(f"{provider}: {result.status}")
        if result.status == "failed":
            self.summary.fail(f"{provider}: {reason_of(result.error)}")
        self.progress.advance(f"tracks enriched ({provider})")
        if len(self.buffer) >= WRITE_EVERY:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        for attempt in range(1, FLUSH_ATTEMPTS + 1):
            try:
                with self.session_factory() as session:
                    # A track another job merged away meanwhile takes no row: its survivor holds the features.
                    rows = _count_failures(session, _still_there(session, self.buffer))
                    upsert_rows(session, TrackFeatures, rows, key=("track_id", "provider"))
                    _fill_identities(session, self.identities)
                    session.commit()
                break
            except Exception as exc:  # noqa: BLE001  (only a lost race with another job is retried)
                if attempt == FLUSH_ATTEMPTS or not is_write_conflict(exc):
                    raise
        self.buffer = []
        self.identities = {}

    def note(self, message: str) -> None:
        self.flush()
        if message not in self.summary.notes:
            self.summary.notes.append(message)
            log.warning("%s", message)
            if self.progress.job_id:
                with self.session_factory() as session:
                    log_line(session, self.progress.job_id, message)


def _count_failures(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row with its failures in a row: one more than the stored row's for a failure, else none."""
    failed = [row for row in rows if row["status"] == "failed"]
    before: dict[tuple[int, str], int] = {}
    for provider in {row["provider"] for row in failed}:
        ids = [row["track_id"] for row in failed if row["provider"] == provider]
        for start in range(0, len(ids), 500):
            before.update(((track_id, provider), n or 0) for track_id, n in session.execute(
                select(TrackFeatures.track_id, TrackFeatures.failures).where(
                    TrackFeatures.provider == provider, TrackFeatures.status == "failed",
                    TrackFeatures.track_id.in_(ids[start:start + 500]))))
    return [{**row, "failures": before.get((row["track_id"], row["provider"]), 0) + 1 if row["status"] == "failed"
             else 0} for row in rows]


def _fill_identities(session: Session, identities: dict[int, dict[str, Any]]) -> None:
    """Fill blank ISRCs of tracks from full-track answers (never overwriting one a track already has)."""
    rows = [{"track": track_id, "found": values["isrc"]} for track_id, values in identities.items() if values.get("isrc")]
    if rows:
        # One statement for the batch (executemany on the table, no ORM bookkeeping): a statement per track cost
        # 2-3 ms each on a busy SQLite store, 15 s of a 1,400-song import.
        tracks = Track.__table__
        session.execute(tracks.update().where(tracks.c.id == bindparam("track"), tracks.c.isrc.is_(None))
                        .values(isrc=bindparam("found")), rows)


def _still_there(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = {row["track_id"] for row in rows}
    present = set(session.scalars(select(Track.id).where(Track.id.in_(ids))))
    return [row for row in rows if row["track_id"] in present]


def reason_of(error: str | None) -> str:
    """The general part of an error text (before any detail in parentheses), for grouping in summaries."""
    return (error or "unknown").split(" (", 1)[0]


def upsert_rows(session: Session, model: type, rows: list[dict[str, Any]], key: Sequence[str],
                update: Sequence[str] | None = None) -> None:
    """INSERT ... ON CONFLICT (key) DO UPDATE on SQLite and PostgreSQL: idempotent, safe against a parallel writer.

    `update` names the columns a conflicting row gets from `rows` (default: every column but the key);
    an empty `update` means DO NOTHING.
    """
    if not rows:
        return
    columns = [c.key for c in inspect(model).columns]
    update = [c for c in (update if update is not None else columns) if c not in key and c in rows[0]]
    # One statement executed for many rows (executemany on the table): it compiles once, where a VALUES list of
    # every row compiled anew each time, and no row count meets SQLite's bound-parameter limit.
    table = inspect(model).local_table
    statement = dialect_insert(session)(table)
    if update:
        statement = statement.on_conflict_do_update(index_elements=list(key),
                                                    set_={c: statement.excluded[c] for c in update})
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(key))
    session.execute(statement, rows)
