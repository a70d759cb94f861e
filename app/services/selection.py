"""Which tracks of a sort go into each playlist: assigned ones minus rejected ones, plus every accepted one."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy.orm import Session

from app.services.songs import library_songs
from app.storage.tables import SortAssignment, SortRun, Track
from app.storage.ownership import get_owned, owned


@dataclass(frozen=True)
class KeptTrack:
    """One track as a playlist holds it: what a person reads, and the ids Spotify and files need."""

    assignment_id: int
    track_id: int
    title: str
    artist: str
    album: str | None
    duration_ms: int | None
    spotify_id: str | None
    isrc: str | None
    probability: float
    decision: str

    @property
    def uri(self) -> str | None:
        return f"spotify:track:{self.spotify_id}" if self.spotify_id else None

    def as_dict(self) -> dict:
        return {**asdict(self), "uri": self.uri}


def latest_sort_run(session: Session, user_id: int) -> SortRun | None:
    return session.scalar(owned(SortRun, user_id).order_by(SortRun.id.desc()).limit(1))


def owned_run(session: Session, user_id: int, sort_run_id: int | None) -> SortRun | None:
    """The user's sort with this id, or their latest when no id is given; None when there is none of theirs."""
    if sort_run_id is None:
        return latest_sort_run(session, user_id)
    return get_owned(session, SortRun, user_id, sort_run_id)


def run_contexts(run: SortRun) -> list[str]:
    """The contexts a sort scored, in the model's order."""
    return list((run.params or {}).get("cutoffs") or {})


def kept_clause():
    """SQL for a kept assignment: accepted, or assigned (over the cutoff) and not rejected."""
    return (SortAssignment.decision == "accepted") | (
        SortAssignment.assigned.is_(True) & (SortAssignment.decision != "rejected"))


def kept_tracks(session: Session, user_id: int, sort_run_id: int) -> dict[str, list[KeptTrack]]:
    """Per context of the user's sort, the tracks its playlist holds, most likely first.

    Kept means accepted, or assigned (over the cutoff) and not rejected. One entry per song: a track that is
    another version of a song the user liked earlier (see app.services.songs) is never kept beside it. Every
    context of the run has an entry, empty when nothing is kept; another user's run gives {}.
    """
    run = get_owned(session, SortRun, user_id, sort_run_id)
    if run is None:
        return {}
    kept = kept_clause()
    # Only the columns a playlist needs: whole rows would parse every assignment's reasons and artists.
    rows = session.execute(
        owned(SortAssignment, user_id)
        .where(SortAssignment.sort_run_id == run.id, kept)
        .join(Track, Track.id == SortAssignment.track_id)
        .with_only_columns(SortAssignment.id, SortAssignment.context, SortAssignment.probability,
                           SortAssignment.decision, Track.id, Track.title, Track.artist, Track.album,
                           Track.duration_ms, Track.spotify_id, Track.isrc)
        .order_by(SortAssignment.context, SortAssignment.probability.desc(), SortAssignment.track_id)).all()
    hidden = library_songs(session, user_id).hidden
    by_context: dict[str, list[KeptTrack]] = {context: [] for context in run_contexts(run)}
    for (assignment_id, context, probability, decision, track_id, title, artist, album, duration_ms, spotify_id,
         isrc) in rows:
        if track_id in hidden:
            continue
        by_context.setdefault(context, []).append(KeptTrack(
            assignment_id=assignment_id, track_id=track_id, title=title, artist=artist, album=album,
            duration_ms=duration_ms, spotify_id=spotify_id, isrc=isrc, probability=probability, decision=decision))
    return by_context


def display_context(context: str) -> str:
    """A context as a title: its first letter upper-cased, the rest as the user typed it."""
    return context[:1].upper() + context[1:]
