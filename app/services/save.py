"""Saving a sort to Spotify: a dry-run plan per context, then create-or-update, then read back and compare.

Only playlists recorded in `exported_playlists` (ones contextify created) are ever written. A playlist's
items are replaced, not appended (PUT the first 100, POST the rest), so a save that stopped half-way and is
run again ends with every track exactly once. A playlist is "saved" only when reading it back gives exactly
the wanted tracks in order; otherwise it is "failed", with the difference in words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from app.auth.errors import human_duration
from app.pipeline.clients.base import NotFound, RateLimited, ServiceError
from app.pipeline.clients.spotify import SpotifyClient
from app.pipeline.playlist_writer import PlaylistWriter, tracks_in_words
from app.services.selection import KeptTrack, display_context, kept_tracks, owned_run, run_contexts
from app.storage.tables import ExportedPlaylist, SortRun, utcnow
from app.storage.ownership import owned

NAME_PREFIX = "contextify · "
DESCRIPTION = "Sorted from your Liked Songs by contextify ({context})."
#: A playlist the user asked for although its context cannot keep the target precision says so.
BEST_EFFORT_DESCRIPTION = ("Best effort, not promised: sorted from your Liked Songs by contextify ({context}), "
                           "which could not keep its target precision for this context.")
SHOWN_WITHOUT_URI = 5

ReadItems = Callable[[str], list[str]]


class SaveError(LookupError):
    """There is nothing of this user's to save (no such sort); plain words."""


def playlist_name(context: str) -> str:
    return NAME_PREFIX + display_context(context)


@dataclass
class PlaylistPlan:
    """What saving one context would do: create or update which playlist, adding and removing what."""

    context: str
    name: str
    action: str                    # create | update | unchanged | skip
    spotify_playlist_id: str | None
    wanted: list[str]              # Spotify URIs in the order they will stand
    current: list[str] | None      # what the playlist holds now (None: no playlist yet)
    add: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    reordered: bool = False
    without_uri: list[str] = field(default_factory=list)   # "Artist – Title" of kept tracks Spotify cannot take
    note: str = ""


def exported(session: Session, user_id: int) -> dict[str, ExportedPlaylist]:
    """The playlists contextify created for this user, by context."""
    return {row.context: row for row in session.scalars(owned(ExportedPlaylist, user_id))}


def plan_save(session: Session, user_id: int, sort_run_id: int | None, read_items: ReadItems | None = None
              ) -> list[PlaylistPlan]:
    """The dry run: per context of the sort, the playlist to create or update and the tracks to add or remove.

    `read_items(playlist_id)` reads what Spotify holds now; without it, or when Spotify cannot be read, the
    plan compares with what contextify last wrote and says so.
    """
    run = _run(session, user_id, sort_run_id)
    rows = exported(session, user_id)
    kept = kept_tracks(session, user_id, run.id)
    return [_plan(context, kept.get(context, []), rows.get(context), read_items) for context in run_contexts(run)]


def plan_summary(plan: PlaylistPlan) -> dict:
    """What the Save page shows of a plan: counts, not the URIs (a playlist runs to thousands), and at most
    SHOWN_WITHOUT_URI of the tracks Spotify cannot take."""
    return {"context": plan.context, "name": plan.name, "action": plan.action, "tracks": len(plan.wanted),
            "add": len(plan.add), "remove": len(plan.remove), "reordered": plan.reordered,
            "without_uri": plan.without_uri[:SHOWN_WITHOUT_URI], "without_uri_count": len(plan.without_uri),
            "note": plan.note}


def _plan(context: str, tracks: Sequence[KeptTrack], row: ExportedPlaylist | None,
          read_items: ReadItems | None) -> PlaylistPlan:
    wanted = list(dict.fromkeys(t.uri for t in tracks if t.uri))  # a track kept twice is written once
    plan = PlaylistPlan(context=context, name=row.name if row else playlist_name(context), action="create",
                        spotify_playlist_id=row.spotify_playlist_id if row else None, wanted=wanted, current=None,
                        without_uri=[f"{t.artist} – {t.title}" for t in tracks if not t.uri])
    if plan.spotify_playlist_id is None:
        plan.action, plan.add = ("create", wanted) if wanted else ("skip", [])
        if not wanted:
            plan.note = "Nothing is kept for this context, so no playlist is created."
        return plan
    current, plan.note = _current(plan.spotify_playlist_id, row, read_items)
    if current is None:  # deleted on Spotify: a save makes a new one
        plan.action, plan.spotify_playlist_id, plan.add = "create", None, wanted
        return plan
    plan.current = current
    current_set, wanted_set = set(current), set(wanted)  # once each: playlists run to thousands of tracks
    plan.add = [uri for uri in wanted if uri not in current_set]
    plan.remove = [uri for uri in current if uri not in wanted_set]
    plan.reordered = not plan.add and not plan.remove and current != wanted
    plan.action = "unchanged" if current == wanted else "update"
    return plan


def _current(playlist_id: str, row: ExportedPlaylist, read_items: ReadItems | None) -> tuple[list[str] | None, str]:
    if read_items is None:
        return list(row.track_uris or []), "Compared with what contextify last wrote."
    try:
        return read_items(playlist_id), ""
    except NotFound:
        return None, "The playlist was deleted on Spotify; saving creates it again."
    except ServiceError as exc:
        return list(row.track_uris or []), (f"Spotify could not be read just now ({service_problem(exc)}), so "
                                            "this compares with what contextify last wrote.")


def _run(session: Session, user_id: int, sort_run_id: int | None) -> SortRun:
    run = owned_run(session, user_id, sort_run_id)
    if run is None:
        raise SaveError("There is no sort of yours to save. Sort your library first.")
    return run


# --------------------------------------------------------------------------------------------- saving


@dataclass
class SaveOutcome:
    context: str
    name: str
    status: str                  # saved | failed | skipped
    spotify_playlist_id: str | None
    tracks: int
    message: str

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def save_playlists(session: Session, user_id: int, sort_run_id: int | None, client: SpotifyClient, *,
                   public: bool = False, after_each: Callable[[SaveOutcome], None] | None = None
                   ) -> list[SaveOutcome]:
    """Create or update one playlist per context of the sort, verifying each; stops at a spent quota.

    Every context gets an outcome; those not attempted after the quota ran out are "skipped" and keep the
    status they had.
    """
    run = _run(session, user_id, sort_run_id)
    plans = plan_save(session, user_id, run.id)
    outcomes: list[SaveOutcome] = []
    quota: RateLimited | None = None
    for plan in plans:
        if quota is not None:
            outcome = SaveOutcome(plan.context, plan.name, "skipped", plan.spotify_playlist_id, 0,
                                  f"Not attempted: {service_problem(quota)}.")
        elif plan.action == "skip":
            outcome = SaveOutcome(plan.context, plan.name, "skipped", None, 0, plan.note)
        else:
            try:
                outcome = save_one(session, user_id, run, plan, client, public=public)
            except RateLimited as exc:
                quota = exc
                outcome = _failed(session, user_id, plan, service_problem(exc))
        outcomes.append(outcome)
        if after_each is not None:
            after_each(outcome)
    return outcomes


def save_one(session: Session, user_id: int, run: SortRun, plan: PlaylistPlan, client: SpotifyClient, *,
             public: bool = False) -> SaveOutcome:
    """Write one context's playlist and verify it. A spent quota (RateLimited) is raised after marking it failed."""
    row = exported(session, user_id).get(plan.context)
    if row is None:
        row = ExportedPlaylist(user_id=user_id, context=plan.context, name=plan.name, track_uris=[])
        session.add(row)
    row.sort_run_id, row.status = run.id, "pending"
    session.commit()
    best_effort = bool((run.params or {}).get("cutoffs", {}).get(plan.context, {}).get("best_effort"))
    try:
        problem = write_exported(session, row, plan.wanted, PlaylistWriter(client), public=public,
                                 description=(BEST_EFFORT_DESCRIPTION if best_effort else DESCRIPTION).format(
                                     context=plan.context))
    except RateLimited:
        raise
    except ServiceError as exc:
        return _failed(session, user_id, plan, service_problem(exc))
    if problem:
        return _failed(session, user_id, plan, problem)
    verb = "Created" if plan.action == "create" else "Updated"
    return SaveOutcome(plan.context, row.name, "saved", row.spotify_playlist_id, len(plan.wanted),
                       f"{verb} with {tracks_in_words(len(plan.wanted))}; read back and checked.")


def write_exported(session: Session, row: ExportedPlaylist, uris: Sequence[str], writer: PlaylistWriter, *,
                   public: bool = False, description: str = "") -> str | None:
    """Make the playlist of one of contextify's own `exported_playlists` rows hold exactly `uris`, read it back,
    and mark the row saved; the difference in words when the read-back differs (the row is left for the caller).

    A new playlist's id is committed at once, so a retry never makes a second; one deleted on Spotify is made
    again, once. Used by Save, Discover and Compare.
    """
    def make() -> str:
        row.spotify_playlist_id, row.snapshot_id = writer.create(row.name, public=public, description=description)
        session.commit()
        return row.spotify_playlist_id

    playlist_id, problem = writer.write_exactly(row.spotify_playlist_id, uris, make)
    if problem:
        return problem
    row.status, row.track_uris, row.saved_at = "saved", list(uris), utcnow()
    row.snapshot_id = writer.snapshot(playlist_id)
    session.commit()
    return None


def service_problem(exc: ServiceError) -> str:
    """A Spotify failure as words a user can act on."""
    if isinstance(exc, RateLimited):
        return (f"Spotify's request quota for contextify is used up; it frees up in about "
                f"{human_duration(exc.retry_after_s)}. Save again then: playlists already made are updated, "
                "not duplicated")
    if isinstance(exc, NotFound):
        return "Spotify no longer has this playlist"
    return f"Spotify refused or did not answer ({exc.reason})"


def _failed(session: Session, user_id: int, plan: PlaylistPlan, message: str) -> SaveOutcome:
    session.rollback()
    row = exported(session, user_id).get(plan.context)
    if row is not None:
        row.status = "failed"
        session.commit()
    return SaveOutcome(plan.context, plan.name, "failed", row.spotify_playlist_id if row else None, 0,
                       message if message.endswith(".") else message + ".")


