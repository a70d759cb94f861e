"""Label harvesting: find public playlists named after each context, choose the best, and label their tracks."""
# Over 400 lines on purpose: one run (`_Harvest`) keeps its search, fetch and write steps in one class, which shares their state.

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.runs.progress import Progress
from app.pipeline import naming
from app.pipeline.catalog import drop_playlist_labels, replace_playlist_labels
from app.pipeline.clients.base import ServiceError
from app.pipeline.clients.deezer import DeezerClient
from app.pipeline.clients.spotify import SpotifyClient
from app.pipeline.sources import FetchedPlaylist, FoundPlaylist, LabelSource
from app.pipeline.sources.deezer import DeezerSource
from app.pipeline.sources.spotify import SpotifySource
from app.runs.summary import RunSummary
from app.storage.tables import Context, ContextPlaylist, Label, SourcePlaylist, Track, utcnow

# A context's 1,000 tracks come from many playlists, a few of each: a promise rests on the playlists above a
# cutoff, not the tracks, and on TidyTuesday's genres 10 x 100 promised nothing even at 0.6 while 40 x 25
# promised edm and rock at 0.6-0.7, every promise kept (make bench, section 4b), for 30 more Deezer calls.
DEFAULT_PLAYLISTS_PER_CONTEXT = 40
DEFAULT_TRACKS_PER_PLAYLIST = 25    # one Deezer playlist page
FRESH_FOR = timedelta(days=7)       # a context harvested this recently is not searched again without --refresh
WORKERS = 4                         # enough to keep Deezer's 10 requests/s busy through network latency
MIN_RELEVANCE = 0.5
MIN_TRACKS = 5
DUPLICATE_OVERLAP = 0.8             # share of the smaller playlist's tracks also in the other one
SOURCES = ("auto", "deezer", "spotify")

STAGE_PLAYLISTS = "playlists found"
STAGE_TRACKS = "tracks labelled"

# Reason prefixes double as states a later run reads back (context_playlists has no status column).
TAKEN = "taken"
SPARE = "over the limit"
# A plan's decision -> what context_playlists.status keeps of it.
STORED_STATUS = {"take": "taken", "cached": "taken", "spare": "spare", "duplicate": "duplicate", "skip": "skipped"}
DUPLICATE = "duplicate"
FAILED = "failed"

SessionFactory = Callable[[], Session]


class HarvestError(Exception):
    """The whole harvest cannot run (e.g. Spotify refuses and Spotify was asked for); plain words."""


@dataclass(frozen=True)
class HarvestOptions:
    source: str = "deezer"          # auto | deezer | spotify
    playlists_per_context: int = DEFAULT_PLAYLISTS_PER_CONTEXT
    tracks_per_playlist: int = DEFAULT_TRACKS_PER_PLAYLIST
    refresh: bool = False           # search again even when the context's harvest is fresh
    fresh_for: timedelta = FRESH_FOR
    workers: int = WORKERS

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {self.source!r}")
        if self.playlists_per_context < 1 or self.tracks_per_playlist < 1 or self.workers < 1:
            raise ValueError("playlists per context, tracks per playlist and workers must be at least 1")


@dataclass
class Clients:
    """The service clients a harvest may use; `spotify` only for --source auto/spotify."""

    deezer: DeezerClient
    spotify: SpotifyClient | None = None


@dataclass
class ContextOutcome:
    name: str
    key: str
    context_id: int
    fresh: bool = False       # harvested recently: not searched at all
    considered: int = 0
    taken: int = 0            # playlists whose labels are in place (fetched now or before)
    fetched: int = 0
    cached: int = 0
    duplicates: int = 0
    failed: int = 0
    labels: int = 0           # labels written by this run


@dataclass
class HarvestResult:
    source: str
    contexts: list[ContextOutcome]
    track_ids: list[int]      # every track labelled for these contexts (this run or before)
    notes: list[str]


# ------------------------------------------------------------------------------------------ choosing


@dataclass
class Previous:
    """What an earlier run stored about a (context, playlist)."""

    chosen: bool
    harvested: bool
    checksum: str | None
    status: str | None
    reason: str | None


@dataclass
class Decision:
    playlist: FoundPlaylist
    relevance: float
    status: str               # take | cached | duplicate | spare | skip
    reason: str
    score: float = 0.0
    place: int = 0            # 1-based place among the eligible playlists
    eligible: int = 0         # how many were eligible


def plan_context(context: str, playlists: Sequence[FoundPlaylist], limit: int,
                 previous: dict[str, Previous] | None = None) -> list[Decision]:
    """Decide, for every playlist a search found, whether to take it for `context` and why.

    Pure: relevance of the title, size and popularity rank the playlists; off-topic, tiny and re-uploaded
    (same creator, same title) ones are skipped; the best `limit` are taken (`cached` when an earlier run
    harvested the same content); the rest are `spare`, to replace any that turn out to be duplicates once
    their tracks are known. Decisions come back in the order they should be harvested.
    """
    previous = previous or {}
    eligible: list[Decision] = []
    skipped: list[Decision] = []
    first_by_creator_title: dict[tuple[str, str], FoundPlaylist] = {}
    for playlist in playlists:
        score = naming.relevance(context, playlist.title)
        reason = _ineligible(playlist, score)
        original = first_by_creator_title.get((playlist.owner_id or "", naming.title_key(playlist.title)))
        if reason is None and original is not None and playlist.owner_id:
            reason = (f"{DUPLICATE} of {original.service} playlist {original.external_id}: same title and creator "
                      "(a re-upload)")
        if reason is not None:
            skipped.append(Decision(playlist, score, "skip", reason))
            continue
        first_by_creator_title[(playlist.owner_id or "", naming.title_key(playlist.title))] = playlist
        eligible.append(Decision(playlist, score, "take", "", _score(playlist, score, len(playlists))))
    eligible.sort(key=lambda d: (-d.score, d.playlist.rank))
    slots = limit
    for place, decision in enumerate(eligible, start=1):
        decision.place, decision.eligible = place, len(eligible)
        before = previous.get(decision.playlist.external_id)
        same_content = before is not None and before.harvested and before.checksum == decision.playlist.checksum \
            and decision.playlist.checksum is not None
        if same_content and not before.chosen and before.status == "duplicate":
            decision.status, decision.reason = "duplicate", before.reason or DUPLICATE
        elif slots > 0:
            slots -= 1
            decision.status = "cached" if same_content and before.chosen else "take"
            decision.reason = taken_reason(decision)
        else:
            decision.status = "spare"
            decision.reason = f"{SPARE} of {limit} playlists for this context (ranked {place} of {len(eligible)})"
    return eligible + skipped


def taken_reason(decision: Decision) -> str:
    return (f"{TAKEN}: ranked {decision.place} of {decision.eligible} by name relevance "
            f"{decision.relevance:.2f}, size and popularity")


def _ineligible(playlist: FoundPlaylist, score: float) -> str | None:
    if score < MIN_RELEVANCE:
        return f"name not relevant enough ({score:.2f} < {MIN_RELEVANCE:.2f})"
    if playlist.nb_tracks is not None and playlist.nb_tracks < MIN_TRACKS:
        return f"too few tracks ({playlist.nb_tracks} < {MIN_TRACKS})"
    return None


def _score(playlist: FoundPlaylist, relevance: float, results: int) -> float:
    """Relevance first; a bigger and more popular playlist wins among equally relevant ones.

    Searches rarely carry fans/followers (Deezer's and Spotify's don't), but both list the popular first,
    so the search position stands in for popularity when fans are unknown.
    """
    if playlist.fans is not None:
        popularity = min(1.0, math.log10(1 + playlist.fans) / 6)
    else:
        popularity = 1 - playlist.rank / max(results, 1)
    size = min(1.0, (playlist.nb_tracks or 0) / 30)
    return relevance * (0.7 + 0.15 * popularity + 0.15 * size)


def overlap(a: set[Any], b: set[Any]) -> float:
    """Share of the smaller set also in the other (1.0: one playlist contains the other)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


# ------------------------------------------------------------------------------------------ the run


@dataclass
class _Candidate:
    decision: Decision
    playlist_row_id: int
    future: Future[FetchedPlaylist] | None = None   # None: cached, nothing to fetch


@dataclass
class _ContextRun:
    outcome: ContextOutcome
    queue: deque[_Candidate] = field(default_factory=deque)      # chosen, in harvest order
    spares: deque[_Candidate] = field(default_factory=deque)     # replacements for duplicates
    taken_tracks: dict[str, list[tuple[FoundPlaylist, set[Any]]]] = field(default_factory=dict)  # by title key


class _Harvest:
    """One run; network work on a small thread pool, every database write on the calling thread."""

    def __init__(self, session_factory: SessionFactory, names: list[str], clients: Clients,
                 options: HarvestOptions, progress: Progress, summary: RunSummary,
                 on_note: Callable[[str], None] | None, check_stop: Callable[[], None] | None = None) -> None:
        self.session_factory = session_factory
        self.check_stop = check_stop or (lambda: None)
        self.names = names
        self.clients = clients
        self.options = options
        self.progress = progress
        self.summary = summary
        self.on_note = on_note
        self.notes: list[str] = []
        self.fetches: dict[str, Future[FetchedPlaylist]] = {}
        self.searches: dict[Future[Any], _ContextRun] = {}

    def note(self, message: str) -> None:
        self.notes.append(message)
        self.summary.notes.append(message)
        if self.on_note is not None:
            self.on_note(message)

    def run(self) -> HarvestResult:
        calls_before = self._calls()
        try:
            source = self.choose_source()
            contexts = [_ContextRun(outcome) for outcome in self.ensure_contexts()]
            self.announce(len(contexts))  # before any search, every context may still bring its playlists
            self.progress.stage(STAGE_PLAYLISTS, 0)
            self.progress.stage(STAGE_TRACKS, 0)
            with ThreadPoolExecutor(self.options.workers, thread_name_prefix="harvest") as pool:
                try:
                    self.loop(pool, source, contexts)
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
        finally:
            for service, before in calls_before.items():
                self.summary.add_calls(service, self._calls()[service] - before)
        outcomes = [c.outcome for c in contexts]
        return HarvestResult(source.service, outcomes, self.labelled_tracks(outcomes), self.notes)

    def _calls(self) -> dict[str, int]:
        calls = {"deezer": self.clients.deezer.calls}
        if self.clients.spotify is not None:
            calls["spotify"] = self.clients.spotify.calls
        return calls

    # -- setup --------------------------------------------------------------------------------------

    def choose_source(self) -> LabelSource:
        wanted = self.options.source
        if wanted == "deezer":
            return DeezerSource(self.clients.deezer)
        if self.clients.spotify is None:
            raise HarvestError("Spotify playlists were asked for, but no Spotify client is configured.")
        spotify = SpotifySource(self.clients.spotify)
        try:
            readable, remembered = spotify.foreign_playlists_readable(self.names)
        except ServiceError as exc:
            if wanted == "spotify":
                raise HarvestError(f"Spotify could not be asked whether this app may read public playlists "
                                   f"({exc.service}: {exc.reason}).") from exc
            self.note(f"Spotify could not be reached to check playlist access ({exc.service}: {exc.reason}), "
                      "so labels come from Deezer's public playlists instead.")
            return DeezerSource(self.clients.deezer)
        if readable:
            self.note("Labels come from Spotify's public playlists: this app may read them.")
            return spotify
        if readable is None:
            why = "Spotify's search found no public playlist to check access with"
        else:
            why = ("Spotify refused to let this app read other people's playlists (HTTP 403: apps in "
                   "development mode may only read playlists their users own)"
                   + (", as found earlier in this process" if remembered else ""))
        if wanted == "spotify":
            raise HarvestError(f"{why}. Use --source deezer, or --source auto to fall back to Deezer.")
        self.note(f"{why}, so labels come from Deezer's public playlists instead.")
        return DeezerSource(self.clients.deezer)

    def ensure_contexts(self) -> list[ContextOutcome]:
        """A `contexts` row per name (first spelling kept for display), committed before any fetching."""
        with self.session_factory() as session, session.begin():
            outcomes = []
            for name in self.names:
                key = naming.context_key(name)
                context = session.scalar(select(Context).where(Context.key == key))
                if context is None:
                    context = Context(key=key, name=name)
                    session.add(context)
                    session.flush()
                outcomes.append(ContextOutcome(name=name, key=key, context_id=context.id))
        return outcomes

    # -- the loop -----------------------------------------------------------------------------------

    def loop(self, pool: ThreadPoolExecutor, source: LabelSource, contexts: list[_ContextRun]) -> None:
        self.pool, self.source = pool, source
        self.key_column = getattr(Track, source.track_key)
        for ctx in contexts:
            if self.is_fresh(ctx.outcome):
                self.use_fresh(ctx)
            else:
                search = pool.submit(source.find_playlists, ctx.outcome.name, self.options.playlists_per_context)
                self.searches[search] = ctx
        self.announce()
        while self.searches or any(ctx.queue for ctx in contexts):
            # Between two playlists: everything stored so far is whole, so stopping here keeps it.
            self.check_stop()
            heads = {ctx.queue[0].future for ctx in contexts if ctx.queue and ctx.queue[0].future is not None}
            done, _ = wait(set(self.searches) | heads, return_when=FIRST_COMPLETED)
            for future in [f for f in done if f in self.searches]:
                self.plan(self.searches.pop(future), future)
                self.announce()
            for ctx in contexts:
                self.drain(ctx)

    def announce(self, searches: int | None = None) -> None:
        """Searches still out may each bring up to the asked-for playlists (and their tracks): the bars count them
        as not reached yet, so they are not full while a context's playlists are still being looked for."""
        most = (len(self.searches) if searches is None else searches) * self.options.playlists_per_context
        self.progress.expect(STAGE_PLAYLISTS, most)
        self.progress.expect(STAGE_TRACKS, most * self.options.tracks_per_playlist)

    def is_fresh(self, outcome: ContextOutcome) -> bool:
        """Harvested within `fresh_for`, nothing pending or failed, and as many playlists as now asked for
        (or every eligible one there was)."""
        if self.options.refresh:
            return False
        with self.session_factory() as session:
            rows = session.execute(
                select(ContextPlaylist.chosen, ContextPlaylist.harvested_at, ContextPlaylist.status)
                .join(SourcePlaylist, SourcePlaylist.id == ContextPlaylist.source_playlist_id)
                .where(ContextPlaylist.context_id == outcome.context_id,
                       SourcePlaylist.service == self.source.service)).all()
        chosen = [row for row in rows if row.chosen]
        if not chosen or any(row.harvested_at is None for row in chosen):
            return False
        spares = any(row.status == "spare" for row in rows)
        wanted = self.options.playlists_per_context
        if len(chosen) > wanted or (len(chosen) < wanted and spares):
            return False
        oldest = min(_aware(row.harvested_at) for row in chosen)
        return oldest >= datetime.now(UTC) - self.options.fresh_for

    def use_fresh(self, ctx: _ContextRun) -> None:
        with self.session_factory() as session:
            taken = session.scalar(
                select(func.count()).select_from(ContextPlaylist)
                .join(SourcePlaylist, SourcePlaylist.id == ContextPlaylist.source_playlist_id)
                .where(ContextPlaylist.context_id == ctx.outcome.context_id, ContextPlaylist.chosen.is_(True),
                       SourcePlaylist.service == self.source.service))
        ctx.outcome.fresh = True
        ctx.outcome.taken = ctx.outcome.cached = taken or 0
        self.summary.cache_hits += ctx.outcome.cached
        self.progress.add_total(STAGE_PLAYLISTS, ctx.outcome.cached)
        self.progress.advance(STAGE_PLAYLISTS, ctx.outcome.cached)

    def plan(self, ctx: _ContextRun, search: Future[Any]) -> None:
        try:
            found = search.result()
        except ServiceError as exc:
            ctx.outcome.failed += 1
            self.summary.fail(f"playlist search failed: {exc.service}: {exc.reason}")
            self.note(f"Searching playlists for '{ctx.outcome.name}' failed ({exc.service}: {exc.reason}); "
                      "it is retried on the next run.")
            return
        if found.broken:
            self.summary.fail("null or broken playlist entry skipped", found.broken)
        previous = self.previous(ctx.outcome.context_id, found.playlists)
        decisions = plan_context(ctx.outcome.name, found.playlists, self.options.playlists_per_context, previous)
        row_ids = self.write_plan(ctx.outcome.context_id, decisions)
        ctx.outcome.considered = len(decisions)
        self.summary.count("playlists considered", len(decisions))
        for decision in decisions:
            candidate = _Candidate(decision, row_ids[decision.playlist.external_id])
            if decision.status == "spare":
                ctx.spares.append(candidate)
            elif decision.status == "duplicate":
                ctx.outcome.duplicates += 1
            elif decision.status in ("take", "cached"):
                self.schedule(ctx, candidate)

    def previous(self, context_id: int, playlists: Sequence[FoundPlaylist]) -> dict[str, Previous]:
        ids = [p.external_id for p in playlists]
        with self.session_factory() as session:
            rows = session.execute(
                select(SourcePlaylist.external_id, ContextPlaylist.chosen, ContextPlaylist.harvested_at,
                       SourcePlaylist.checksum, ContextPlaylist.status, ContextPlaylist.reason)
                .join(ContextPlaylist, ContextPlaylist.source_playlist_id == SourcePlaylist.id)
                .where(ContextPlaylist.context_id == context_id, SourcePlaylist.service == self.source.service,
                       SourcePlaylist.external_id.in_(ids))).all()
        return {row.external_id: Previous(bool(row.chosen), row.harvested_at is not None, row.checksum, row.status,
                                          row.reason)
                for row in rows}

    def write_plan(self, context_id: int, decisions: list[Decision]) -> dict[str, int]:
        """Every considered playlist with its relevance, choice and reason, in one transaction."""
        row_ids = {}
        with self.session_factory() as session, session.begin():
            for decision in decisions:
                playlist = self.source_playlist(session, decision.playlist)
                row = self.context_playlist(session, context_id, playlist.id)
                row.relevance = decision.relevance
                row.chosen = decision.status in ("take", "cached")
                row.status = STORED_STATUS[decision.status]
                row.reason = decision.reason
                if decision.status in ("skip", "spare") and row.harvested_at is not None:
                    drop_playlist_labels(session, context_id, playlist.id)  # no longer taken for this context
                    row.harvested_at = None
                row_ids[decision.playlist.external_id] = playlist.id
        return row_ids

    def source_playlist(self, session: Session, found: FoundPlaylist) -> SourcePlaylist:
        playlist = session.scalar(select(SourcePlaylist).where(SourcePlaylist.service == found.service,
                                                               SourcePlaylist.external_id == found.external_id))
        if playlist is None:
            playlist = SourcePlaylist(service=found.service, external_id=found.external_id, name=found.title[:512])
            session.add(playlist)
        playlist.name = found.title[:512]
        playlist.owner_name = (found.owner_name or None) and found.owner_name[:256]
        playlist.nb_tracks = found.nb_tracks
        if found.fans is not None:
            playlist.fans = found.fans
        session.flush()
        return playlist

    @staticmethod
    def context_playlist(session: Session, context_id: int, playlist_id: int) -> ContextPlaylist:
        row = session.scalar(select(ContextPlaylist).where(ContextPlaylist.context_id == context_id,
                                                           ContextPlaylist.source_playlist_id == playlist_id))
        if row is None:
            row = ContextPlaylist(context_id=context_id, source_playlist_id=playlist_id, chosen=False)
            session.add(row)
        return row

    def schedule(self, ctx: _ContextRun, candidate: _Candidate) -> None:
        found = candidate.decision.playlist
        if candidate.decision.status != "cached":
            # Two contexts may take the same playlist: fetch it once.
            future = self.fetches.get(found.external_id)
            if future is None:
                future = self.pool.submit(self.source.playlist_tracks, found, self.options.tracks_per_playlist)
                self.fetches[found.external_id] = future
            candidate.future = future
            self.progress.add_total(STAGE_TRACKS, min(found.nb_tracks or 0, self.options.tracks_per_playlist))
        ctx.queue.append(candidate)
        self.progress.add_total(STAGE_PLAYLISTS, 1)

    # -- resolving, in harvest order per context, so duplicates are decided the same way every run ----

    def drain(self, ctx: _ContextRun) -> None:
        while ctx.queue and (ctx.queue[0].future is None or ctx.queue[0].future.done()):
            candidate = ctx.queue.popleft()
            if candidate.future is None:
                self.resolve_cached(ctx, candidate)
                continue
            try:
                fetched = candidate.future.result()
            except ServiceError as exc:
                self.record_failure(ctx, candidate, exc)
                continue
            self.resolve_fetched(ctx, candidate, fetched)

    def resolve_cached(self, ctx: _ContextRun, candidate: _Candidate) -> None:
        ctx.outcome.taken += 1
        ctx.outcome.cached += 1
        self.summary.cache_hits += 1
        self.summary.count(STAGE_PLAYLISTS)
        if self.shares_title(ctx, candidate):
            key = naming.title_key(candidate.decision.playlist.title)
            tracks = self.labelled(ctx.outcome.context_id, candidate.playlist_row_id)
            ctx.taken_tracks.setdefault(key, []).append((candidate.decision.playlist, tracks))
        self.progress.advance(STAGE_PLAYLISTS)

    def shares_title(self, ctx: _ContextRun, candidate: _Candidate) -> bool:
        """Whether a later playlist of this context has the same title (only then are its tracks needed)."""
        key = naming.title_key(candidate.decision.playlist.title)
        later = [c for c in (*ctx.queue, *ctx.spares) if c is not candidate]
        return any(naming.title_key(c.decision.playlist.title) == key for c in later)

    def labelled(self, context_id: int, playlist_row_id: int) -> set[Any]:
        """The source keys (Deezer/Spotify ids) of the tracks a playlist labelled for a context."""
        with self.session_factory() as session:
            return set(session.scalars(
                select(self.key_column).join(Label, Label.track_id == Track.id)
                .where(Label.context_id == context_id, Label.source_playlist_id == playlist_row_id)))

    def resolve_fetched(self, ctx: _ContextRun, candidate: _Candidate, fetched: FetchedPlaylist) -> None:
        found = candidate.decision.playlist
        if fetched.broken:
            self.summary.fail("null or broken track entry skipped", fetched.broken)
        key = naming.title_key(found.title)
        duplicate = self.duplicate_of(ctx, key, fetched)
        if duplicate is not None:
            self.store_duplicate(ctx, candidate, *duplicate)
            return
        labels, new = self.store(ctx.outcome.context_id, candidate, fetched)
        ctx.taken_tracks.setdefault(key, []).append((found, set(fetched.keys)))
        ctx.outcome.taken += 1
        ctx.outcome.fetched += 1
        ctx.outcome.labels += labels
        self.summary.new_tracks += new
        self.summary.count(STAGE_PLAYLISTS)
        self.summary.count("playlists fetched")
        self.summary.count(STAGE_TRACKS, labels)
        self.progress.advance(STAGE_TRACKS, labels)
        self.progress.advance(STAGE_PLAYLISTS)

    @staticmethod
    def duplicate_of(ctx: _ContextRun, key: str, fetched: FetchedPlaylist) -> tuple[FoundPlaylist, float] | None:
        """An already taken playlist with the same title and heavy track overlap, and that overlap."""
        for original, tracks in ctx.taken_tracks.get(key, []):
            shared = overlap(set(fetched.keys), tracks)
            if shared >= DUPLICATE_OVERLAP:
                return original, shared
        return None

    def store(self, context_id: int, candidate: _Candidate, fetched: FetchedPlaylist) -> tuple[int, int]:
        """Tracks, labels and the done mark of one playlist, in one transaction: a kill leaves all or nothing."""
        found = candidate.decision.playlist
        with self.session_factory() as session, session.begin():
            existing = set(session.scalars(select(self.key_column).where(
                self.key_column.in_(fetched.keys))))
            ids = self.source.store_tracks(session, [item for _, _, item in fetched.tracks])
            positions: dict[int, int] = {}
            for position, key, _ in fetched.tracks:
                if key in ids:
                    positions.setdefault(ids[key], position)
            labels = replace_playlist_labels(session, context_id, candidate.playlist_row_id, positions)
            self.mark_fetched(session, context_id, candidate, found)
            row = self.context_playlist(session, context_id, candidate.playlist_row_id)
            row.chosen, row.status = True, "taken"
            row.reason = candidate.decision.reason
            row.harvested_at = utcnow()
        return labels, len(set(fetched.keys) - existing)

    def store_duplicate(self, ctx: _ContextRun, candidate: _Candidate, original: FoundPlaylist, shared: float) -> None:
        found = candidate.decision.playlist
        reason = (f"{DUPLICATE} of {original.service} playlist {original.external_id}: same title, "
                  f"{shared:.0%} of tracks shared")
        with self.session_factory() as session, session.begin():
            self.mark_fetched(session, ctx.outcome.context_id, candidate, found)
            drop_playlist_labels(session, ctx.outcome.context_id, candidate.playlist_row_id)
            row = self.context_playlist(session, ctx.outcome.context_id, candidate.playlist_row_id)
            row.chosen, row.status, row.reason, row.harvested_at = False, "duplicate", reason, utcnow()
        ctx.outcome.duplicates += 1
        self.summary.count("duplicate playlists")
        self.progress.add_total(STAGE_TRACKS, -min(found.nb_tracks or 0, self.options.tracks_per_playlist))
        self.progress.add_total(STAGE_PLAYLISTS, -1)
        if ctx.spares:  # the next best takes the duplicate's place
            spare = ctx.spares.popleft()
            spare.decision.status, spare.decision.reason = "take", taken_reason(spare.decision)
            self.schedule(ctx, spare)

    def mark_fetched(self, session: Session, context_id: int, candidate: _Candidate, found: FoundPlaylist) -> None:
        """The content's checksum; other contexts holding labels of an older content must harvest it again."""
        playlist = session.get(SourcePlaylist, candidate.playlist_row_id)
        if playlist.checksum is not None and playlist.checksum != found.checksum:
            session.execute(update(ContextPlaylist)
                            .where(ContextPlaylist.source_playlist_id == playlist.id,
                                   ContextPlaylist.context_id != context_id)
                            .values(harvested_at=None))
        playlist.checksum = found.checksum
        playlist.fetched_at = utcnow()

    def record_failure(self, ctx: _ContextRun, candidate: _Candidate, exc: ServiceError) -> None:
        reason = f"{FAILED}: {exc.service}: {exc.reason}"
        with self.session_factory() as session, session.begin():
            row = self.context_playlist(session, ctx.outcome.context_id, candidate.playlist_row_id)
            row.chosen, row.status, row.harvested_at = True, "failed", None
            row.reason = reason + " (retried on the next run)"
        ctx.outcome.failed += 1
        self.summary.fail(f"playlist fetch {reason}")
        self.progress.advance(STAGE_PLAYLISTS)

    def labelled_tracks(self, outcomes: list[ContextOutcome]) -> list[int]:
        with self.session_factory() as session:
            return sorted(session.scalars(select(Label.track_id).distinct().where(
                Label.context_id.in_([o.context_id for o in outcomes]))))


def _aware(moment: datetime) -> datetime:
    # SQLite hands timezone-aware columns back naive; they were written in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def harvest(session_factory: SessionFactory, contexts: Sequence[str], clients: Clients,
            options: HarvestOptions | None = None, progress: Progress | None = None,
            summary: RunSummary | None = None, on_note: Callable[[str], None] | None = None,
            check_stop: Callable[[], None] | None = None) -> HarvestResult:
    """Harvest labels for `contexts` (validated here too) and return what was done.

    Safe to re-run and to kill at any moment: every playlist is written in one transaction with its done
    mark, and the next run skips what is done (same checksum) and finishes the rest. `on_note` receives the
    plain-words notes (source fallback, failed searches) for the job log; they are also in `summary.notes`.
    `check_stop` is called between playlists and stops the run by raising (a job passes its
    `check_cancelled`), so a cancel takes effect mid-harvest with the finished playlists kept.
    Raises HarvestError when the run cannot start (Spotify asked for but refused), ContextNameError for bad names.
    """
    names = naming.validate_contexts(contexts)
    return _Harvest(session_factory, names, clients, options or HarvestOptions(), progress or Progress(),
                    summary or RunSummary("harvest"), on_note, check_stop).run()
