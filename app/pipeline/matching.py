"""Tie tracks known by Spotify id (or only by name, from files) to a Deezer track: by ISRC, else artist + title + duration."""
# Over 400 lines: scoring a candidate, applying a decision (merges, editions) and the stage that writes them keep one
# set of rules about which row stands for a track.

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from difflib import SequenceMatcher
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.runs.progress import Progress
from app.pipeline.clients.base import ServiceError
from app.pipeline.providers.run import RunClients, bounded_map
from app.runs.summary import RunSummary
from app.storage.conflicts import is_write_conflict
from app.storage.tables import Label, LibraryItem, SortAssignment, Track, TrackFeatures, utcnow


NETWORK_THREADS = 8
WRITE_EVERY = 25
RETRY_UNMATCHED_AFTER = timedelta(days=30)  # the catalogue changes: unmatched tracks are tried again
SEARCH_LIMIT = 10
MIN_CONFIDENCE = 0.75

# Version words that name another recording (a live take is not the studio track) versus ones that
# only name another edition of the same recording (a remaster, a radio edit of similar length).
_OTHER_RECORDING = frozenset({"live", "acoustic", "remix", "instrumental", "demo", "karaoke", "cover", "unplugged"})
_EDITION = re.compile(r"\b(remaster(ed)?( version)?( \d{4})?|\d{4} remaster(ed)?|radio edit|single version|"
                      r"album version|edit|mono|stereo|deluxe( edition)?|original mix|bonus track)\b")
_FEAT = re.compile(r"[\(\[]\s*(feat\.?|ft\.?|featuring|with)\s[^\)\]]*[\)\]]|\s(feat\.?|ft\.?|featuring)\s.*$",
                   re.IGNORECASE)
_BRACKETED = re.compile(r"[\(\[]([^\)\]]*)[\)\]]")


@dataclass(frozen=True)
class Wanted:
    """What we know of a track we want on Deezer."""

    track_id: int
    title: str
    artist: str
    artists: tuple[str, ...] = ()
    isrc: str | None = None
    duration_ms: int | None = None
    spotify_id: str | None = None  # finds the row again if another job merged this one away meanwhile


@dataclass(frozen=True)
class Match:
    """A decision: the Deezer track (or none), how it was found, how sure, and in plain words why not."""

    deezer_id: int | None
    method: str  # isrc | search | none
    confidence: float | None = None
    note: str | None = None
    album_id: int | None = None
    isrc: str | None = None


# ------------------------------------------------------------------------------------ normalisation


def normalise(text: str) -> str:
    """Case-, accent- and punctuation-free text with single spaces ("Beyoncé & JAY-Z" -> "beyonce and jay z")."""
    text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    text = text.replace("&", " and ")
    return " ".join("".join(c if c.isalnum() else " " for c in text).split())


def split_title(title: str) -> tuple[str, frozenset[str]]:
    """(base title, version words): strips "feat." credits, remaster/edit notes and " - " or bracketed versions.

    Spotify writes `Title - Remastered 2011` where Deezer writes `Title (Remastered 2011)`; both give
    ("title", {}) here, while `Title - Live` gives ("title", {"live"}).
    """
    title = _FEAT.sub("", title or "")
    versions: list[str] = [m.group(1) for m in _BRACKETED.finditer(title)]
    title = _BRACKETED.sub(" ", title)
    if " - " in title:
        title, _, suffix = title.partition(" - ")
        versions.append(suffix)
    words: set[str] = set()
    for version in versions:
        words.update(w for w in normalise(_EDITION.sub(" ", normalise(version))).split()
                     if w in _OTHER_RECORDING or w in ("mix", "extended", "club"))
    return normalise(title), frozenset(words)


def durations_agree(a_ms: int | None, b_ms: int | None) -> bool:
    """Within 3 seconds or 3 %, whichever is larger (unknown durations agree)."""
    if not a_ms or not b_ms:
        return True
    return abs(a_ms - b_ms) <= max(3000, 0.03 * max(a_ms, b_ms))


def _similar(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    return SequenceMatcher(None, a, b).ratio()


def _artist_similarity(wanted: Wanted, name: str) -> float:
    candidate = normalise(name)
    best = 0.0
    for artist in (wanted.artist, *wanted.artists):
        mine = normalise(artist)
        if mine and candidate and (mine == candidate or mine in candidate.split(" and ") or candidate in mine):
            return 1.0
        best = max(best, _similar(mine, candidate))
    return best


def score(wanted: Wanted, candidate: dict[str, Any]) -> float | None:
    """Confidence 0..1 that a Deezer search result is the wanted recording, or None when it clearly is not."""
    artist = candidate.get("artist")
    name = artist.get("name") if isinstance(artist, dict) else None
    title = candidate.get("title")
    duration = candidate.get("duration")
    if not isinstance(name, str) or not isinstance(title, str):
        return None
    base, versions = split_title(wanted.title)
    their_base, their_versions = split_title(title)
    title_sim = _similar(base, their_base)
    artist_sim = _artist_similarity(wanted, name)
    if title_sim < 0.85 or artist_sim < 0.8:
        return None
    if (versions ^ their_versions) & _OTHER_RECORDING:
        return None  # a live or remixed take is another recording, with other audio
    seconds = duration if isinstance(duration, (int, float)) and not isinstance(duration, bool) else None
    if seconds is not None and not durations_agree(wanted.duration_ms, int(seconds * 1000)):
        return None
    confidence = 0.55 * title_sim + 0.3 * artist_sim + (0.15 if seconds is not None and wanted.duration_ms else 0.05)
    if versions != their_versions:
        confidence -= 0.1
    return round(confidence, 3)


# ------------------------------------------------------------------------------------ finding


def find_match(clients: RunClients, wanted: Wanted) -> Match:
    """ISRC first, then Deezer's advanced search and a plain one; raises ServiceError when Deezer cannot answer."""
    if wanted.isrc:
        answer = clients.deezer.track_by_isrc(wanted.isrc)
        if isinstance(answer, dict) and isinstance(answer.get("id"), int):
            clients.answers.remember_track(answer)  # the full track: the deezer provider needs no second call
            return _isrc_match(wanted, answer)
    base, _ = split_title(wanted.title)
    artist = wanted.artist.replace('"', " ")
    queries = [f'artist:"{artist}" track:"{base}"', f"{artist} {base}"]
    for query in queries:
        best: tuple[float, int, dict] | None = None
        for candidate in clients.deezer.search_tracks(query, limit=SEARCH_LIMIT):
            confidence = score(wanted, candidate)
            rank = candidate.get("rank") if isinstance(candidate.get("rank"), int) else 0
            if confidence is not None and isinstance(candidate.get("id"), int) and \
                    (best is None or (confidence, rank) > best[:2]):
                best = (confidence, rank, candidate)
        if best is not None and best[0] >= MIN_CONFIDENCE:
            album = best[2].get("album")
            return Match(best[2]["id"], "search", best[0],
                         album_id=album.get("id") if isinstance(album, dict) else None,
                         isrc=best[2].get("isrc") if isinstance(best[2].get("isrc"), str) else None)
    isrc_part = f"no Deezer track has ISRC {wanted.isrc}, and " if wanted.isrc else ""
    return Match(None, "none", None,
                 note=f"Not found on Deezer: {isrc_part}no search result for “{wanted.artist} – {wanted.title}” "
                      "matched artist, title and duration (±3 s).")


def _isrc_match(wanted: Wanted, answer: dict[str, Any]) -> Match:
    duration = answer.get("duration")
    album = answer.get("album")
    album_id = album.get("id") if isinstance(album, dict) else None
    seconds = duration if isinstance(duration, int) and not isinstance(duration, bool) else None
    if seconds is not None and not durations_agree(wanted.duration_ms, seconds * 1000):
        return Match(answer["id"], "isrc", 0.85, album_id=album_id,
                     note=f"Matched by ISRC, but the durations differ ({(wanted.duration_ms or 0) / 1000:.0f} s "
                          f"here, {seconds} s on Deezer).")
    return Match(answer["id"], "isrc", 1.0, album_id=album_id)


# ------------------------------------------------------------------------------------ storing


def apply_match(session: Session, track: Track, match: Match) -> Track:
    """Record the decision on the track; returns the row that now stands for it (another one after a merge).

    When the Deezer id already belongs to another row:
    - that row, or this one, has no Spotify id (a track harvested from Deezer, or a file row known
      by name only): they are one track, so this row is merged into that one;
    - both have Spotify ids (two Spotify editions of one Deezer recording): each keeps its own identity,
      and the older row (the lower id) holds the Deezer id while the other points at it with `canonical_id`,
      sharing its features. Whichever was matched first: answers come back in any order (a slow lookup, a
      retry, a killed run resumed), and the data must not depend on it.
    """
    track.match_method, track.match_confidence, track.match_note = match.method, match.confidence, match.note
    track.matched_at = utcnow()
    if match.deezer_id is None:
        return track
    owner = session.scalar(select(Track).where(Track.deezer_id == match.deezer_id))
    if owner is None or owner.id == track.id:
        track.deezer_id = match.deezer_id
        track.deezer_album_id = track.deezer_album_id or match.album_id
        track.isrc = track.isrc or match.isrc
        return track
    if owner.spotify_id is None or track.spotify_id is None:
        return merge_tracks(session, source=track, target=owner)
    if track.id < owner.id:
        take_over(session, track, owner, match)
        return track
    track.canonical_id = owner.canonical_id or owner.id
    track.match_note = f"Same Deezer track as Spotify track {owner.spotify_id}; shares its features."
    return track


def take_over(session: Session, track: Track, owner: Track, match: Match) -> None:
    """`track`, the older edition, holds the Deezer id `owner` was matched to first: the data a run that matched them
    in row order leaves. The owner points at it, and its features and the rows pointing at it move over."""
    album_id = owner.deezer_album_id
    owner.deezer_id, owner.deezer_album_id = None, None
    session.flush()  # deezer_id is unique: free it before the older row takes it
    track.deezer_id = match.deezer_id
    track.deezer_album_id = track.deezer_album_id or album_id or match.album_id
    track.isrc = track.isrc or match.isrc
    owner.canonical_id = track.id
    owner.match_note = f"Same Deezer track as Spotify track {track.spotify_id}; shares its features."
    session.flush()
    session.execute(update(Track).where(Track.canonical_id == owner.id).values(canonical_id=track.id))
    _repoint(session, TrackFeatures, owner.id, track.id, ("provider",))


def merge_tracks(session: Session, source: Track, target: Track) -> Track:
    """Fold `source` into `target`: identities, missing metadata and everything that points at it."""
    spotify_id = source.spotify_id
    if spotify_id and not target.spotify_id:
        source.spotify_id = None
        session.flush()  # spotify_id is unique: free it before the target takes it
        target.spotify_id = spotify_id
    for column in ("isrc", "album", "duration_ms", "explicit", "release_date"):
        if getattr(target, column) is None and getattr(source, column) is not None:
            setattr(target, column, getattr(source, column))
    if target.match_method in (None, "none", "source"):
        target.match_method, target.match_confidence = source.match_method, source.match_confidence
        target.match_note, target.matched_at = source.match_note, source.matched_at
    session.flush()
    _repoint(session, LibraryItem, source.id, target.id, ("user_id", "collection"))
    _repoint(session, Label, source.id, target.id, ("context_id", "source_playlist_id"))
    _repoint(session, SortAssignment, source.id, target.id, ("sort_run_id", "context"))
    _repoint(session, TrackFeatures, source.id, target.id, ("provider",))
    session.execute(update(Track).where(Track.canonical_id == source.id).values(canonical_id=target.id))
    session.delete(source)
    session.flush()
    return target


def _repoint(session: Session, model: type, old_id: int, new_id: int, unique_with: tuple[str, ...]) -> None:
    """Move rows from track old_id to new_id; rows the target already has (same unique key) are dropped."""
    kept = {tuple(getattr(row, c) for c in unique_with)
            for row in session.scalars(select(model).where(model.track_id == new_id))}
    for row in session.scalars(select(model).where(model.track_id == old_id)).all():
        if tuple(getattr(row, c) for c in unique_with) in kept:
            session.delete(row)
        else:
            row.track_id = new_id
    session.flush()


# ------------------------------------------------------------------------------------ the stage


def tracks_to_match(session: Session, track_ids: Iterable[int]) -> list[Wanted]:
    """Tracks with no Deezer id and no canonical row, never tried or unmatched long enough ago."""
    ids = list(dict.fromkeys(track_ids))
    retry_before = utcnow() - RETRY_UNMATCHED_AFTER
    wanted: list[Wanted] = []
    for start in range(0, len(ids), 500):
        rows = session.scalars(select(Track).where(
            Track.id.in_(ids[start:start + 500]), Track.deezer_id.is_(None), Track.canonical_id.is_(None),
            or_(Track.match_method.is_(None), (Track.match_method == "none") & (Track.matched_at < retry_before))))
        wanted.extend(Wanted(t.id, t.title, t.artist, tuple(t.artists or ()), t.isrc, t.duration_ms, t.spotify_id)
                      for t in rows)
    return sorted(wanted, key=lambda w: w.track_id)


def catalog_isrc_matches(session: Session, wanted: list[Wanted]) -> dict[int, Match]:
    """Tracks whose ISRC a Deezer row of the global catalog already carries (learned from an earlier full-track
    answer, for any user): matched here without asking Deezer. Durations must agree, as for a Deezer answer."""
    by_isrc: dict[str, list[Wanted]] = {}
    for item in wanted:
        if item.isrc:
            by_isrc.setdefault(item.isrc.upper(), []).append(item)
    found: dict[int, Match] = {}
    isrcs = sorted(by_isrc)
    for start in range(0, len(isrcs), 500):
        rows = session.execute(select(Track.isrc, Track.deezer_id, Track.deezer_album_id, Track.duration_ms)
                               .where(Track.isrc.in_(isrcs[start:start + 500]), Track.deezer_id.is_not(None))
                               .order_by(Track.id))
        for isrc, deezer_id, album_id, duration_ms in rows:
            for item in by_isrc.get(isrc, []):
                if item.track_id not in found and durations_agree(item.duration_ms, duration_ms):
                    found[item.track_id] = Match(deezer_id, "isrc", 1.0, album_id=album_id)
    return found


def match_tracks(session_factory: Callable[[], Session], track_ids: Iterable[int], clients: RunClients,
                 summary: RunSummary, progress: Progress, later: int = 0,
                 check_stop: Callable[[], None] | None = None) -> dict[int, int]:
    """Match every track that needs it, writing decisions as they come; returns {old id: surviving id} for merges.

    A track Deezer could not be asked about (the service kept failing) keeps no decision and is tried again next
    run; its reason is in `match_note` and the summary's failures. `later`: tracks of the caller's later chunks.
    `check_stop` is called after each answer and stops the run by raising; the answers stored until then stay.
    """
    before = clients.deezer.calls
    with session_factory() as session:
        wanted = tracks_to_match(session, track_ids)
        known = catalog_isrc_matches(session, wanted)
    progress.add_total("tracks matched", len(wanted))
    progress.expect("tracks matched", later)
    merged: dict[int, int] = {}
    pending: list[tuple[Wanted, Match | ServiceError]] = [(w, known[w.track_id]) for w in wanted if w.track_id in known]
    wanted = [w for w in wanted if w.track_id not in known]
    if known:
        summary.count("matched by ISRC from the catalog (no call)", len(known))

    def ask(item: Wanted) -> tuple[Wanted, Match | ServiceError]:
        try:
            return item, find_match(clients, item)
        except ServiceError as exc:
            return item, exc

    try:
        with ThreadPoolExecutor(NETWORK_THREADS, thread_name_prefix="match") as pool:
            for answer in bounded_map(pool, ask, wanted, 2 * NETWORK_THREADS):
                if check_stop is not None:
                    check_stop()
                pending.append(answer)
                if len(pending) >= WRITE_EVERY:
                    _store(session_factory, pending, merged, summary, progress)
        _store(session_factory, pending, merged, summary, progress)
    finally:
        summary.add_calls("deezer", clients.deezer.calls - before)
    return merged


STORE_ATTEMPTS = 4  # a track whose row keeps changing under other jobs is left for the next run after these


def _store(session_factory: Callable[[], Session], pending: list[tuple[Wanted, Match | ServiceError]],
           merged: dict[int, int], summary: RunSummary, progress: Progress) -> None:
    """Write a batch of decisions in one transaction; when another job changed one of these rows meanwhile
    (merged it away, matched it), write them one by one, each re-read and retried, so every decision that
    can be kept is kept and the rest are tried again next run."""
    counts: list[str] = []
    local = dict(merged)  # merges count only once committed
    try:
        with session_factory() as session:
            for wanted, outcome in pending:
                counts.extend(_store_one(session, wanted, outcome, local))
            session.commit()
        merged.update(local)
    except Exception as exc:  # noqa: BLE001  (only write conflicts are handled; anything else goes on up)
        if not is_write_conflict(exc):
            raise
        counts = []
        for wanted, outcome in pending:
            counts.extend(_store_alone(session_factory, wanted, outcome, merged))
    for key in counts:
        (summary.fail if key.startswith("match:") else summary.count)(key)
    # After the commit: progress writes the job row from its own session, which must not wait on ours.
    progress.advance("tracks matched", len(pending))
    pending.clear()


def _store_alone(session_factory: Callable[[], Session], wanted: Wanted, outcome: Match | ServiceError,
                 merged: dict[int, int]) -> list[str]:
    for _attempt in range(STORE_ATTEMPTS):
        local = dict(merged)
        try:
            with session_factory() as session:
                counts = _store_one(session, wanted, outcome, local)
                session.commit()
        except Exception as exc:  # noqa: BLE001
            if not is_write_conflict(exc):
                raise
            continue
        merged.update(local)
        return counts
    return ["match: the track kept changing under another job; tried again next run"]


def _store_one(session: Session, wanted: Wanted, outcome: Match | ServiceError,
               merged: dict[int, int]) -> list[str]:
    """Apply one decision to the row that stands for the track now; returns what to count."""
    track = _current_row(session, wanted, merged)
    if track is None:
        return []
    if track.id != wanted.track_id and (track.deezer_id is not None or track.canonical_id is not None):
        return []  # another job merged it into a matched row: nothing left to decide
    if isinstance(outcome, ServiceError):
        track.match_note = f"Deezer could not be asked this time ({outcome.reason}); tried again next run."
        return [f"match: deezer {outcome.reason}"]
    survivor = apply_match(session, track, outcome)
    session.flush()
    if survivor.id != wanted.track_id:
        merged[wanted.track_id] = survivor.id
    return [f"matched by {outcome.method}" if outcome.deezer_id else "not matched"]


def _current_row(session: Session, wanted: Wanted, merged: dict[int, int]) -> Track | None:
    """The track's row, or the row another job merged it into (found by its Spotify id); fresh from the database."""
    track = session.get(Track, merged.get(wanted.track_id, wanted.track_id), populate_existing=True)
    if track is None and wanted.spotify_id:
        track = session.scalar(select(Track).where(Track.spotify_id == wanted.spotify_id))
        if track is not None:
            merged[wanted.track_id] = track.id
    return track
