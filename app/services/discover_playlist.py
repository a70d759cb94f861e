"""The Discover playlist: the best suggestions found on Spotify, each checked once more against the user's saved
songs (by every identifier, and by asking Spotify), written and read back through the playlist writer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.pipeline.clients.base import NotFound, RateLimited, ServiceError
from app.pipeline.clients.deezer import DeezerClient
from app.pipeline.clients.spotify import SpotifyClient
from app.pipeline.playlist_writer import PlaylistWriter
from app.services.discover import DISCOVER_KEY, ShownSuggestion, discover_playlist, suggestions
from app.services.discover_data import DiscoverError, SavedIndex, name_key
from app.services.save import service_problem, write_exported
from app.storage.tables import ExportedPlaylist, Track

PLAYLIST_NAME = "contextify · Discover"
DESCRIPTION = "Tracks you have never saved that contextify's Discover model thinks you will like."
DEFAULT_PLAYLIST_SIZE = 30
MAX_PLAYLIST_SIZE = 200
LIBRARY_CONTAINS_MAX = 40  # URIs per `GET /me/library/contains`


@dataclass
class DiscoverSave:
    status: str                  # saved | failed
    spotify_playlist_id: str | None
    tracks: int
    uris: list[str]
    track_ids: list[int]         # the catalog track behind each URI, in the same order
    left_out: list[str]          # "Artist – Title: why", for tracks not written
    message: str
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def resolve_uri(session: Session, track: ShownSuggestion, spotify: SpotifyClient, deezer: DeezerClient | None,
                index: SavedIndex) -> tuple[str | None, str]:
    """The Spotify URI of a suggested track, or None with why; a track Spotify knows as one of the user's is refused.

    Order: the row's own Spotify id, another catalog row of the same recording, then Spotify search by ISRC
    (asking Deezer for the ISRC when the catalog lacks it), then by title and artist.
    """
    isrc = track.isrc
    spotify_id = track.spotify_id or _sibling_spotify_id(session, track)
    if spotify_id is None and isrc is None and track.deezer_id and deezer is not None:
        try:
            isrc = (deezer.track(track.deezer_id).get("isrc") or None)
        except NotFound:
            isrc = None
    found: dict[str, Any] | None = None
    if spotify_id is None:
        found = _search(spotify, track, isrc)
        if found is None:
            return None, "Spotify has no matching track"
        spotify_id = found["id"]
    found_isrc = ((found or {}).get("external_ids") or {}).get("isrc") or isrc
    found_key = name_key(found["name"], (found.get("artists") or [{}])[0].get("name")) if found else None
    if (spotify_id in index.spotify_ids or (found_isrc and found_isrc.upper() in index.isrcs)
            or (found_key is not None and found_key in index.names)):
        return None, "already among your saved songs on Spotify"
    return f"spotify:track:{spotify_id}", ""


def _sibling_spotify_id(session: Session, track: ShownSuggestion) -> str | None:
    conditions = [Track.canonical_id == track.track_id]
    if track.isrc:
        conditions.append(Track.isrc == track.isrc)
    return session.scalar(select(Track.spotify_id).where(or_(*conditions), Track.spotify_id.is_not(None))
                          .order_by(Track.id).limit(1))


def _search(spotify: SpotifyClient, track: ShownSuggestion, isrc: str | None) -> dict[str, Any] | None:
    wanted = name_key(track.title, track.artist)
    queries = ([f"isrc:{isrc}"] if isrc else []) + [f'track:"{track.title}" artist:"{track.artist}"']
    for query in queries:
        answer = spotify.call(spotify.sp.search, q=query, type="track", limit=10)
        for item in (answer.get("tracks") or {}).get("items") or []:
            if not isinstance(item, dict) or not item.get("id"):
                continue
            item_isrc = ((item.get("external_ids") or {}).get("isrc") or "").upper()
            artist = (item.get("artists") or [{}])[0].get("name")
            if (isrc and item_isrc == isrc.upper()) or name_key(item.get("name"), artist) == wanted:
                return item
    return None


def save_discover(session: Session, user_id: int, spotify: SpotifyClient, *, deezer: DeezerClient | None = None,
                  size: int = DEFAULT_PLAYLIST_SIZE, public: bool = False,
                  after_each: Callable[[], None] | None = None) -> DiscoverSave:
    """Create or replace the user's Discover playlist with the best ``size`` suggestions, then read it back.

    Every track is checked against the user's saved songs once more, by every identifier, including the
    Spotify id and ISRC found for it now; ``after_each`` is called for each track found on Spotify. "saved"
    means the playlist reads back exactly as written.
    """
    if not 1 <= size <= MAX_PLAYLIST_SIZE:
        raise DiscoverError(f"The Discover playlist can hold 1 to {MAX_PLAYLIST_SIZE} tracks.")
    index = SavedIndex.for_user(session, user_id)
    ranked = iter(suggestions(session, user_id, index=index))
    uris: list[str] = []
    track_ids: list[int] = []
    left_out: list[str] = []
    notes: list[str] = []
    exhausted = False
    while len(uris) < size and not exhausted:
        pending: list[tuple[ShownSuggestion, str]] = []
        while len(uris) + len(pending) < size:
            track = next(ranked, None)
            if track is None:
                exhausted = True
                break
            try:
                uri, why = resolve_uri(session, track, spotify, deezer, index)
            except RateLimited:
                raise
            except ServiceError as exc:
                uri, why = None, service_problem(exc)
            if uri is None:
                left_out.append(f"{track.artist} – {track.title}: {why}")
            elif uri not in uris and uri not in {u for _, u in pending}:
                pending.append((track, uri))
        # Liked on Spotify after the last import: only Spotify knows, so ask it right before writing.
        liked = liked_on_spotify(spotify, [uri for _, uri in pending], notes)
        for track, uri in pending:
            if uri in liked:
                left_out.append(f"{track.artist} – {track.title}: saved on Spotify since your library was imported")
            else:
                uris.append(uri)
                track_ids.append(track.track_id)
                if after_each is not None:
                    after_each()
    if not track_ids and not left_out:
        raise DiscoverError("There are no Discover suggestions of yours to save. Run Discover first.")
    if not uris:
        return DiscoverSave("failed", None, 0, [], [], left_out, "None of the suggestions could be found on Spotify.",
                            notes)
    row = discover_playlist(session, user_id)
    if row is None:
        row = ExportedPlaylist(user_id=user_id, context=DISCOVER_KEY, name=PLAYLIST_NAME, track_uris=[])
        session.add(row)
    row.status = "pending"
    session.commit()
    try:
        problem = write_exported(session, row, uris, PlaylistWriter(spotify), public=public, description=DESCRIPTION)
    except ServiceError as exc:
        row.status = "failed"
        session.commit()
        return DiscoverSave("failed", row.spotify_playlist_id, 0, uris, track_ids, left_out,
                            service_problem(exc) + ".", notes)
    if problem:
        row.status = "failed"
        session.commit()
        return DiscoverSave("failed", row.spotify_playlist_id, 0, uris, track_ids, left_out, problem, notes)
    return DiscoverSave("saved", row.spotify_playlist_id, len(uris), uris, track_ids, left_out,
                        f"{PLAYLIST_NAME} holds {len(uris):,} tracks you have never saved; read back and checked.",
                        notes)


def liked_on_spotify(spotify: SpotifyClient, uris: Sequence[str], notes: list[str]) -> set[str]:
    """The URIs among ``uris`` in the user's Liked Songs on Spotify now (``GET /me/library/contains``, 40 a call).

    When Spotify cannot say, the check against the imported library stands alone, and a note says so.
    """
    liked: set[str] = set()
    for start in range(0, len(uris), LIBRARY_CONTAINS_MAX):
        batch = list(uris[start:start + LIBRARY_CONTAINS_MAX])
        try:
            answer = spotify.call(spotify.sp._get, "me/library/contains", uris=",".join(batch))
        except RateLimited:
            raise
        except ServiceError as exc:
            notes.append(f"Spotify could not say which tracks you saved since the import ({service_problem(exc)}); "
                         "they were checked against your imported library only.")
            continue
        liked.update(uri for uri, yes in zip(batch, answer if isinstance(answer, list) else []) if yes is True)
    return liked
