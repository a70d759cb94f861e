"""One large harvest split into jobs that any number of workers share: a harvest per context, then enrichment per chunk.

    harvest-scaleout ──> harvest (one context, no enrichment) × contexts ──> enrich-chunk × chunks
       (waits, and runs queued children itself while it waits)

Exactly-once comes from the data, not from the queue: the children write through idempotent upserts, a
child job is claimed by one runner only (a conditional UPDATE), and enrichment chunks never share a
track or an album, so no two workers fetch the same Deezer track or album at the same time; whatever one
worker stored, the next chunk or run reads from the database instead of fetching it again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select

from app.runs.records import FINISHED
from app.jobs.registry import JobContext, TaskError, task
from app.jobs.tasks import background_songs, providers
from app.pipeline.clients.factory import build_clients
from app.pipeline.enrich import canonical_refs, enrich_tracks
from app.pipeline.harvest import DEFAULT_PLAYLISTS_PER_CONTEXT, DEFAULT_TRACKS_PER_PLAYLIST
from app.pipeline.naming import ContextNameError, context_key, validate_contexts
from app.pipeline.providers.base import TrackRef
from app.pipeline.providers.run import RunClients
from app.runs.summary import RunSummary
from app.storage.tables import Context, Job, Label

DEFAULT_CHUNK = 100      # tracks per enrichment job: small enough to spread, big enough to amortise a job
POLL_S = 0.5
STAGE_HARVEST = "contexts harvested"
STAGE_ENRICH = "chunks enriched"


@task("harvest-scaleout")
def harvest_scaleout(ctx: JobContext) -> dict[str, Any]:
    """Harvest `contexts` as one job per context, then enrich every labelled track in disjoint chunks.

    params: contexts, playlists_per_context, tracks_per_playlist, providers (optional list), chunk_size. The
    songs of no context (Deezer's genre charts) are added by this job and enriched in the chunks.
    The result sums the children's summaries (api_calls, stages, failures) and lists the child job ids.
    """
    params = ctx.params
    try:
        contexts = validate_contexts(params.get("contexts") or [])
        chunk_size = int(params.get("chunk_size", DEFAULT_CHUNK))
    except (ContextNameError, TypeError, ValueError) as exc:
        raise TaskError(f"The scale-out settings are not valid: {exc}") from None
    names = list(providers(params, ctx.config))
    # The songs of no context once for the run, not once per child.
    harvest_params = {"source": "deezer", "enrich": False, "background": False,
                      "playlists_per_context": params.get("playlists_per_context", DEFAULT_PLAYLISTS_PER_CONTEXT),
                      "tracks_per_playlist": params.get("tracks_per_playlist", DEFAULT_TRACKS_PER_PLAYLIST)}
    harvests = run_children(ctx, STAGE_HARVEST,
                            [("harvest", {**harvest_params, "contexts": [name]}) for name in contexts])
    own = RunSummary("harvest-scaleout")
    clients = build_clients(ctx.config, app_spotify=False)
    try:
        background = background_songs(ctx, clients.deezer, own)
    finally:
        clients.close()
    with ctx.session_factory() as session:
        refs = canonical_refs(session, labelled_track_ids(session, contexts) + background)
    chunks = album_chunks(refs, chunk_size)
    enriches = run_children(ctx, STAGE_ENRICH,
                            [("enrich-chunk", {"track_ids": [r.id for r in chunk], "providers": names})
                             for chunk in chunks])
    return combine(harvests + enriches, own, tracks=len(refs), chunks=len(chunks))


@task("enrich-chunk")
def enrich_chunk(ctx: JobContext) -> dict[str, Any]:
    """Fetch features for the given canonical tracks (one chunk of a scale-out run). params: track_ids, providers."""
    summary = RunSummary("enrich-chunk")
    clients = RunClients.from_config(ctx.config)
    try:
        enrich_tracks(ctx.session_factory, ctx.params["track_ids"], ctx.config, summary, ctx.progress,
                      providers=providers(ctx.params, ctx.config), clients=clients)
    finally:
        clients.close()
    return summary.as_dict()


def labelled_track_ids(session, contexts: Iterable[str]) -> list[int]:  # noqa: ANN001
    keys = [context_key(name) for name in contexts]
    return sorted(session.scalars(select(Label.track_id).distinct().join(Context, Context.id == Label.context_id)
                                  .where(Context.key.in_(keys))))


def album_chunks(refs: Sequence[TrackRef], size: int) -> list[list[TrackRef]]:
    """Chunks of about `size` tracks that never split an album, so each album is fetched by one job only."""
    if size < 1:
        raise TaskError("chunk_size must be at least 1.")
    chunks: list[list[TrackRef]] = []
    current: list[TrackRef] = []
    ordered = sorted(refs, key=lambda r: (r.deezer_album_id is None, r.deezer_album_id or 0, r.id))
    for ref in ordered:
        if len(current) >= size and ref.deezer_album_id is not None and \
                ref.deezer_album_id != current[-1].deezer_album_id:
            chunks.append(current)
            current = []
        current.append(ref)
    if current:
        chunks.append(current)
    return chunks


def run_children(ctx: JobContext, stage: str, children: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Queue the children, wait until all are over, and return their rows; fails when any child did not succeed.

    While waiting, this job runs queued children itself: the claim lets only one runner have each, and a
    waiting parent can never hold the last free worker slot hostage.
    """
    from app.jobs import runner

    user_id = ctx.require_user()
    ids = [runner.submit(kind, params, user_id) for kind, params in children]
    ctx.progress.stage(stage, total=len(ids))
    while True:
        ctx.check_cancelled()
        rows = _children(ctx, ids)
        ctx.progress.advance(stage, sum(r["status"] in FINISHED for r in rows) - _done(ctx, stage))
        if all(r["status"] in FINISHED for r in rows):
            break
        queued = next((r["id"] for r in rows if r["status"] == "queued"), None)
        if queued is not None:
            runner.run_job(queued)
        else:
            time.sleep(POLL_S)
    failed = [r for r in rows if r["status"] != "succeeded"]
    if failed:
        raise TaskError(f"{len(failed)} of {len(rows)} parts did not finish ({stage}); first: "
                        f"{failed[0]['error'] or failed[0]['status']}. Run it again: finished parts are kept.")
    return rows


def _children(ctx: JobContext, ids: list[str]) -> list[dict[str, Any]]:
    with ctx.session_factory() as session:
        jobs = {job.id: job for job in session.scalars(select(Job).where(Job.id.in_(ids)))}
    return [{"id": i, "status": jobs[i].status, "error": jobs[i].error, "result": jobs[i].result} for i in ids]


def _done(ctx: JobContext, stage: str) -> int:
    return ctx.progress.snapshot()[stage]["done"]


def combine(rows: list[dict[str, Any]], own: RunSummary | None = None, **counts: int) -> dict[str, Any]:
    """The children's summaries added up (calls, stages, failures) onto the run's own, with their ids and counts."""
    summary = own or RunSummary("harvest-scaleout")
    for row in rows:
        result = row["result"] or {}
        for service, n in (result.get("api_calls") or {}).items():
            summary.add_calls(service, n)
        for stage, n in (result.get("stages") or {}).items():
            summary.count(stage, n)
        for reason, n in (result.get("failures") or {}).items():
            summary.fail(reason, n)
        summary.notes.extend(note for note in result.get("notes") or [] if note not in summary.notes)
    summary.new_tracks = counts["tracks"]
    return {**summary.as_dict(), **counts, "children": [row["id"] for row in rows]}

