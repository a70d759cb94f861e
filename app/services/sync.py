"""Playlists that stay sorted: append the new likes that pass the promise to the playlists contextify saved, and verify.

A sync never removes or reorders anything and never touches a playlist contextify did not create. It works on
the user's latest saved sort (its model and playlists): new liked tracks (no row in that sort yet, and not
handled by an earlier sync of it) are scored by the sort's model at the sort's cutoffs, and those it keeps are
appended (mode "auto") or queued for the user (mode "review"). Each playlist is read back after appending; only what
read back as written counts as added. A spent quota or a failing Spotify stops the sync: what was verified
stays, the rest is tried again by the next sync.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.errors import NeedsLogin
from app.pipeline.clients.base import RateLimited, ServiceError
from app.pipeline.clients.spotify import SpotifyClient
from app.pipeline.features_table import feature_frame
from app.pipeline.playlist_writer import PlaylistWriter
from app.services.save import DESCRIPTION, service_problem
from app.services.songs import library_songs
from app.storage.tables import (
    Context,
    ContextPlaylist,
    ExportedPlaylist,
    LibraryItem,
    SortAssignment,
    SortRun,
    SyncItem,
    SyncRun,
    SyncSetting,
    Track,
    utcnow,
)
from app.storage.ownership import owned

# The model layer (app.models) loads scikit-learn and SciPy, about 1.5 CPU-s: it is imported in the functions that
# sort, so the web app, the workers and the commands that never do start without it.

PERIODS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
MODES = {"auto": "add at the promise", "review": "queue for my review"}
#: A library that grew by this share since the sort it keeps adding to is worth retraining for.
STALE_SHARE = 0.25
PAUSED_LOGIN = ("Your Spotify login was withdrawn or expired, so the sync is paused. Log in again and turn the "
                "sync back on to resume it.")


class SyncError(LookupError):
    """Nothing to keep sorted (no saved playlists), or a setting outside the choices; plain words."""


# ------------------------------------------------------------------------------------------- settings


def sync_settings(session: Session, user_id: int) -> SyncSetting:
    """The user's sync settings (a switched-off default when they never chose; not stored until changed)."""
    row = session.scalar(owned(SyncSetting, user_id))
    return row if row is not None else SyncSetting(user_id=user_id, enabled=False, period="weekly", mode="auto",
                                                    recreate_contexts=[])


def set_sync(session: Session, user_id: int, *, enabled: bool, period: str, mode: str) -> SyncSetting:
    """Turn the sync on or off with a period and a mode; turning it on again lifts a pause."""
    if period not in PERIODS:
        raise SyncError(f"A sync runs daily or weekly, not {period!r}.")
    if mode not in MODES:
        raise SyncError(f"A sync adds at the promise (auto) or queues for review, not {mode!r}.")
    row = session.scalar(owned(SyncSetting, user_id))
    if row is None:
        row = SyncSetting(user_id=user_id, recreate_contexts=[])
        session.add(row)
    row.enabled, row.period, row.mode = bool(enabled), period, mode
    if enabled:
        row.paused_reason = None
    session.commit()
    return row


def ask_recreate(session: Session, user_id: int, context: str) -> None:
    """The user says: make the playlist of `context` again (it was deleted on Spotify) at the next sync."""
    row = session.scalar(owned(SyncSetting, user_id))
    if row is None:
        row = SyncSetting(user_id=user_id, enabled=False, recreate_contexts=[])
        session.add(row)
    row.recreate_contexts = sorted({*(row.recreate_contexts or []), context})
    session.commit()


def pause(session: Session, user_id: int, reason: str) -> None:
    row = session.scalar(owned(SyncSetting, user_id))
    if row is not None:
        row.paused_reason = reason
        session.commit()


# ------------------------------------------------------------------------------------------ claiming


def period_start(period: str, now=None) -> str:  # noqa: ANN001  (a datetime)
    """The first day of the period `now` falls in: the day, or the Monday of the ISO week."""
    today = (now or utcnow()).date()
    if period == "weekly":
        today -= timedelta(days=today.weekday())
    return today.isoformat()


def run_key(user_id: int, period: str, now=None) -> str:  # noqa: ANN001
    return f"{user_id}:{period}:{period_start(period, now)}"


def claim(session: Session, user_id: int, key: str, trigger: str) -> SyncRun | None:
    """Insert the run under its unique key; None when another process already holds this key."""
    run = SyncRun(user_id=user_id, run_key=key, trigger=trigger, status="queued", counts={})
    session.add(run)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return None
    return run


# ---------------------------------------------------------------------------------------------- base


def base_sort(session: Session, user_id: int) -> SortRun | None:
    """The sort the user's saved playlists came from (the latest one any saved playlist points at)."""
    run_id = session.scalar(owned(ExportedPlaylist, user_id)
                            .where(ExportedPlaylist.spotify_playlist_id.is_not(None),
                                   ExportedPlaylist.sort_run_id.is_not(None))
                            .with_only_columns(func.max(ExportedPlaylist.sort_run_id)))
    return session.get(SortRun, run_id) if run_id is not None else None


def _synced(user_id: int, run: SortRun):  # noqa: ANN202  (a select)
    return (select(SyncItem.track_id, SyncItem.context, SyncItem.status).join(SyncRun, SyncRun.id == SyncItem.sync_run_id)
            .where(SyncRun.sort_run_id == run.id, SyncItem.user_id == user_id))


def candidates(session: Session, user_id: int, run: SortRun) -> list[int]:
    """Liked tracks the base sort itself did not score (rows a sync added to it do not count)."""
    by_sync = _synced(user_id, run).with_only_columns(SyncItem.track_id)
    in_sort = select(SortAssignment.track_id).where(SortAssignment.sort_run_id == run.id,
                                                    SortAssignment.track_id.not_in(by_sync))
    return sorted(set(session.scalars(
        owned(LibraryItem, user_id).where(LibraryItem.collection == "liked", LibraryItem.track_id.not_in(in_sort))
        .with_only_columns(LibraryItem.track_id))))


def handled(session: Session, user_id: int, run: SortRun) -> set[tuple[int, str]]:
    """(track, context) pairs an earlier sync of this sort placed, queued, left out or saw undone (not failed)."""
    return {(t, c) for t, c, status in session.execute(_synced(user_id, run)) if status != "failed"}


def staleness(session: Session, user_id: int, run: SortRun, model_row) -> str | None:  # noqa: ANN001
    """Why the model should be retrained (the library grew a lot, its contexts were harvested again), or None."""
    reasons = []
    liked = owned(LibraryItem, user_id).where(LibraryItem.collection == "liked")
    library = session.scalar(liked.with_only_columns(func.count(LibraryItem.track_id.distinct()))) or 0
    # Spotify's added_at has whole seconds: a like in the second the model was trained counts as after it.
    trained = model_row.created_at.replace(microsecond=0)
    grown = session.scalar(liked.where(LibraryItem.added_at >= trained)
                           .with_only_columns(func.count(LibraryItem.track_id.distinct()))) or 0
    if library and grown / library >= STALE_SHARE:
        reasons.append(f"{grown:,} of your {library:,} liked songs came after the model was trained")
    contexts = list((run.params or {}).get("cutoffs") or {})
    reharvested = session.scalars(
        select(Context.name).join(ContextPlaylist, ContextPlaylist.context_id == Context.id)
        .where(Context.key.in_([c.strip().lower() for c in contexts]),
               ContextPlaylist.harvested_at > model_row.created_at).distinct()).all()
    if reharvested:
        reasons.append("the contexts " + ", ".join(sorted(reharvested)) + " were harvested again since")
    if not reasons:
        return None
    return ("The sync keeps working with your current model, but " + "; ".join(reasons)
            + ". Retrain on the Model page and sort again for better playlists.")


# ------------------------------------------------------------------------------------------ the sync


@dataclass
class Placement:
    context: str
    track_id: int
    uri: str | None
    probability: float
    reasons: list[str] = field(default_factory=list)


def score(session: Session, user_id: int, run: SortRun, track_ids: list[int]) -> list[Placement]:
    """What the saved sort's decision keeps among `track_ids`: one placement per (track, context) it assigns."""
    if not track_ids:
        return []
    from app.models.service import REVIEW_FLOOR, adapted_model, load_owned_model

    _, model = load_owned_model(session, user_id, run.model_id)
    frame = feature_frame(session, track_ids).reindex(columns=model.spec.columns)
    frame = frame[frame.notna().any(axis=1)]  # a track with no feature at all cannot be placed yet
    if frame.empty:
        return []
    # The sort's own cutoffs (as the user saved them): chosen under the whole library's mix and what its songs read,
    # which a few new likes are too few to estimate again.
    result = adapted_model(model, run).sort(frame.rename_axis("track_id").reset_index(), id_col="track_id", explain=True,
                        explain_floor=REVIEW_FLOOR, adapt=False)
    spotify = dict(session.execute(select(Track.id, Track.spotify_id).where(Track.id.in_(track_ids))).all())
    return [Placement(a["context"], int(a["track_id"]), f"spotify:track:{spotify[int(a['track_id'])]}"
                      if spotify.get(int(a["track_id"])) else None, float(a["probability"]), list(a["reasons"] or []))
            for a in result.assignments if a["assigned"]]


@dataclass
class SyncOutcome:
    status: str
    message: str
    added: dict[str, list[str]] = field(default_factory=dict)
    queued: dict[str, list[str]] = field(default_factory=dict)
    duplicates: int = 0
    stale: str | None = None
    deleted: list[str] = field(default_factory=list)   # contexts whose playlist was deleted on Spotify


def sync_user(session: Session, user_id: int, sync_run: SyncRun, client: SpotifyClient, *,
              import_new: Callable[[], None] | None = None, dry_run: bool = False) -> SyncOutcome:
    """One sync (see the module docstring); records its items and outcome on `sync_run` and returns it."""
    from app.models.service import ReviewError

    settings = sync_settings(session, user_id)
    sync_run.status = "running"
    session.commit()
    try:
        outcome = _sync(session, user_id, sync_run, client, settings, import_new, dry_run)
    except NeedsLogin:
        session.rollback()
        pause(session, user_id, PAUSED_LOGIN)
        outcome = SyncOutcome("paused", PAUSED_LOGIN)
    except ReviewError as exc:  # the model's file is gone: nothing can be sorted until it is trained again
        session.rollback()
        outcome = SyncOutcome("failed", f"The sync could not sort your new likes: {exc}.")
    except Exception:
        session.rollback()
        _record(session, sync_run, SyncOutcome("failed", "The sync failed unexpectedly; nothing more was written, and "
                                                         "it runs again at the next period."))
        raise
    _record(session, sync_run, outcome)
    return outcome


def _record(session: Session, sync_run: SyncRun, outcome: SyncOutcome) -> None:
    sync_run.status, sync_run.message, sync_run.finished_at = outcome.status, outcome.message, utcnow()
    sync_run.stale = outcome.stale
    sync_run.counts = {"added": {c: len(u) for c, u in outcome.added.items()},
                       "queued": {c: len(u) for c, u in outcome.queued.items()}, "duplicates": outcome.duplicates,
                       "deleted": outcome.deleted}
    session.commit()


def _sync(session: Session, user_id: int, sync_run: SyncRun, client: SpotifyClient, settings: SyncSetting,
          import_new: Callable[[], None] | None, dry_run: bool) -> SyncOutcome:
    run = base_sort(session, user_id)
    if run is None:
        return SyncOutcome("done", "Nothing to keep sorted yet: save your playlists once from the Save page.")
    sync_run.sort_run_id, sync_run.model_id = run.id, run.model_id
    session.commit()
    if import_new is not None:
        try:
            import_new()
        except RateLimited as exc:
            return SyncOutcome("stopped", f"Your new likes could not be read: {service_problem(exc)}. The next "
                                          "sync tries again.")
        except ServiceError as exc:
            return SyncOutcome("stopped", f"Your new likes could not be read: {service_problem(exc)}. The next "
                                          "sync tries again.")
        session.expire_all()
    from app.models.service import load_owned_model

    model_row, _ = load_owned_model(session, user_id, run.model_id)
    stale = staleness(session, user_id, run, model_row)
    new = candidates(session, user_id, run)
    songs = library_songs(session, user_id)
    done = handled(session, user_id, run)
    placements = [p for p in score(session, user_id, run, new) if (p.track_id, p.context) not in done]
    outcome = SyncOutcome("done", "", stale=stale)
    by_context: dict[str, list[Placement]] = {}
    for p in placements:
        if not songs.stands_for_itself(p.track_id):
            outcome.duplicates += 1
            if not dry_run:
                session.add(SyncItem(user_id=user_id, sync_run_id=sync_run.id, context=p.context, track_id=p.track_id,
                                     uri=p.uri, probability=p.probability, status="duplicate",
                                     note=_version_note(session, songs.first[p.track_id])))
            continue
        if p.uri:
            by_context.setdefault(p.context, []).append(p)
    session.commit()
    rows = {r.context: r for r in session.scalars(owned(ExportedPlaylist, user_id)
                                                   .where(ExportedPlaylist.spotify_playlist_id.is_not(None)))}
    followed = None
    notes: list[str] = []
    for context in sorted(by_context):
        row = rows.get(context)
        if row is None:  # contextify made no playlist for it (nothing was kept then): never create one silently
            continue
        wanted = sorted(by_context[context], key=lambda p: -p.probability)
        if dry_run:
            outcome.added[context] = [p.uri for p in wanted]
            continue
        if settings.mode == "review":
            for p in wanted:
                session.add(SyncItem(user_id=user_id, sync_run_id=sync_run.id, context=context, track_id=p.track_id,
                                     uri=p.uri, probability=p.probability, status="queued"))
            session.commit()
            outcome.queued[context] = [p.uri for p in wanted]
            continue
        try:
            if followed is None:
                followed = {p.get("id") for p in client.my_playlists() if isinstance(p, dict)}
            if row.spotify_playlist_id not in followed:
                if context not in (settings.recreate_contexts or []):
                    outcome.deleted.append(context)
                    notes.append(f"{row.name} was deleted on Spotify, so contextify left it alone; its "
                                 f"{len(wanted)} new tracks wait until you ask for it to be made again.")
                    continue
                recreate(session, row, client, settings)
            added = append_verified(session, user_id, sync_run, row, wanted, client)
        except (RateLimited, ServiceError) as exc:
            session.rollback()
            outcome.status = "stopped"
            notes.append(f"The sync stopped at {row.name}: {service_problem(exc)}. What was added before was "
                         "read back and kept; the rest is tried at the next sync.")
            break
        if isinstance(added, str):
            outcome.status = "failed"
            notes.append(f"{row.name}: {added}")
            continue
        outcome.added[context] = added
    outcome.message = _summary(outcome, dry_run, len(new)) + (" " + " ".join(notes) if notes else "")
    return outcome


def recreate(session: Session, row: ExportedPlaylist, client: SpotifyClient, settings: SyncSetting) -> None:
    """Make a deleted playlist again with what contextify last wrote to it (the user asked for it)."""
    writer = PlaylistWriter(client)
    row.spotify_playlist_id, row.snapshot_id = writer.create(row.name, public=False,
                                                             description=DESCRIPTION.format(context=row.context))
    session.commit()
    writer.append(row.spotify_playlist_id, list(row.track_uris or []))
    settings.recreate_contexts = [c for c in settings.recreate_contexts or [] if c != row.context]
    session.commit()


def append_verified(session: Session, user_id: int, sync_run: SyncRun, row: ExportedPlaylist,
                    wanted: list[Placement], client: SpotifyClient) -> list[str] | str:
    """Append the placements the playlist lacks, read it back, and record what landed; the difference in words
    when the read-back is not the playlist as it was plus the new tracks at its end."""
    writer = PlaylistWriter(client)
    change = writer.append_new(row.spotify_playlist_id, [p.uri for p in wanted])
    if change.problem:
        return change.problem
    written = set(change.written)
    for p in wanted:  # already there (a cut-off earlier sync, or the user added it): recorded as placed too
        session.add(SortAssignment(user_id=user_id, sort_run_id=sync_run.sort_run_id, track_id=p.track_id,
                                   context=p.context, probability=p.probability, assigned=True, decision="pending",
                                   reasons=p.reasons))
        session.add(SyncItem(user_id=user_id, sync_run_id=sync_run.id, context=p.context, track_id=p.track_id,
                             uri=p.uri, probability=p.probability, status="added" if p.uri in written else "present",
                             note=None if p.uri in written else "It was already in the playlist, so nothing was written."))
    row.track_uris, row.saved_at = change.after, utcnow()
    row.snapshot_id = writer.snapshot(row.spotify_playlist_id)
    session.commit()
    return [p.uri for p in wanted if p.uri in written]


def _version_note(session: Session, first_id: int) -> str:
    artist, title = session.execute(select(Track.artist, Track.title).where(Track.id == first_id)).one()
    return f"Another version of {artist} – {title}, which you liked first; a playlist holds each song once."


def _summary(outcome: SyncOutcome, dry_run: bool, new: int) -> str:
    added = sum(len(u) for u in outcome.added.values())
    queued = sum(len(u) for u in outcome.queued.values())
    verb = "would add" if dry_run else "added"
    parts = [f"{new} liked song{'s' if new != 1 else ''} newer than your sort checked", f"{added} {verb} to your playlists"
             + ("" if dry_run else " and read back")]
    if queued:
        parts.append(f"{queued} waiting for your review")
    if outcome.duplicates:
        parts.append(f"{outcome.duplicates} left out as other versions of songs you have")
    return "; ".join(parts) + "."
