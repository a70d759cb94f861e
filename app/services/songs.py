"""One entry per song: which of a user's library tracks are versions of one song, and which version stands for it.

Two tracks are the same song when they carry the same ISRC, or when their main artist and their title with
edition words removed ("Remastered 2011", "Live", "- Single Version", "feat. ...") are equal and their
durations are within 3 s. The version that stands for the song is the one the user liked first. A track the
user split off (`song_splits`) is never merged again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.pipeline.matching import normalise, split_title
from app.storage.tables import LibraryItem, SongSplit, Track
from app.storage.ownership import owned

SAME_DURATION_MS = 3000
_NEVER = float("inf")


def song_title(title: str) -> str:
    """A title without its edition words: "Tonight - Remastered 2011" and "Tonight (Live)" give "tonight"."""
    base, _ = split_title(title)
    return base or normalise(title)


@dataclass
class SongIndex:
    """The user's library grouped into songs: `first[track] is` the version that stands for its song."""

    first: dict[int, int] = field(default_factory=dict)
    versions: dict[int, list[int]] = field(default_factory=dict)   # standing track -> all its versions, first first

    def stands_for_itself(self, track_id: int) -> bool:
        return self.first.get(track_id, track_id) == track_id

    @property
    def hidden(self) -> set[int]:
        """Tracks shown through another version of their song."""
        return {t for t, f in self.first.items() if t != f}

    def others(self, track_id: int) -> list[int]:
        """The other versions collapsed into this track's song."""
        return [t for t in self.versions.get(self.first.get(track_id, track_id), []) if t != track_id]


def _find(parent: dict[int, int], x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def group_songs(rows: list[tuple[int, str | None, str, str, int | None, datetime | None]],
                split: set[int] = frozenset()) -> SongIndex:
    """Group (track id, isrc, artist, title, duration ms, first liked at) rows into songs (see module docstring)."""
    parent = {row[0]: row[0] for row in rows}

    def union(a: int, b: int) -> None:
        ra, rb = _find(parent, a), _find(parent, b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    by_isrc: dict[str, list[int]] = defaultdict(list)
    by_title: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for track_id, isrc, artist, title, duration_ms, _ in rows:
        if track_id in split:
            continue
        if isrc:
            by_isrc[isrc.strip().upper()].append(track_id)
        if duration_ms:
            by_title[(normalise(artist), song_title(title))].append((duration_ms, track_id))
    for ids in by_isrc.values():
        for other in ids[1:]:
            union(ids[0], other)
    for durations in by_title.values():
        durations.sort()
        for (d1, a), (d2, b) in zip(durations, durations[1:]):
            if d2 - d1 <= SAME_DURATION_MS:
                union(a, b)
    liked_at = {row[0]: (row[5].timestamp() if row[5] else _NEVER, row[0]) for row in rows}
    groups: dict[int, list[int]] = defaultdict(list)
    for track_id in parent:
        groups[_find(parent, track_id)].append(track_id)
    index = SongIndex()
    for members in groups.values():
        members.sort(key=lambda t: liked_at[t])
        for track_id in members:
            index.first[track_id] = members[0]
        if len(members) > 1:
            index.versions[members[0]] = members
    return index


_CACHE: OrderedDict[tuple, SongIndex] = OrderedDict()
_CACHE_SIZE = 64
_cache_lock = threading.Lock()


def library_songs(session: Session, user_id: int) -> SongIndex:
    """The user's library (Liked Songs, playlists, files) grouped into songs; the first liked version stands.

    Kept per process for as long as the library and the user's splits are unchanged: the review redraws on
    every slider move, and grouping a 50,000-track library each time would cost more than the redraw.
    """
    key = (str(session.get_bind().url), user_id, *session.execute(owned(LibraryItem, user_id).with_only_columns(
        func.count(LibraryItem.id), func.max(LibraryItem.id), func.sum(LibraryItem.track_id))).one(),
        *session.execute(owned(SongSplit, user_id).with_only_columns(func.count(SongSplit.id),
                                                                      func.max(SongSplit.id))).one())
    with _cache_lock:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    index = _group_library(session, user_id)
    with _cache_lock:
        _CACHE[key] = index
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return index


def _group_library(session: Session, user_id: int) -> SongIndex:
    first_liked = (owned(LibraryItem, user_id)
                   .with_only_columns(LibraryItem.track_id, func.min(LibraryItem.added_at).label("at"))
                   .group_by(LibraryItem.track_id).subquery())
    rows = session.execute(select(Track.id, Track.isrc, Track.artist, Track.title, Track.duration_ms,
                                  first_liked.c.at).join(first_liked, first_liked.c.track_id == Track.id)).all()
    split = set(session.scalars(owned(SongSplit, user_id).with_only_columns(SongSplit.track_id)))
    return group_songs([tuple(row) for row in rows], split)


def split_song(session: Session, user_id: int, track_id: int) -> bool:
    """The user says this track is a song of its own: it is never collapsed with others again. True if new."""
    if session.scalar(owned(SongSplit, user_id).where(SongSplit.track_id == track_id)) is not None:
        return False
    session.add(SongSplit(user_id=user_id, track_id=track_id))
    session.commit()
    return True
