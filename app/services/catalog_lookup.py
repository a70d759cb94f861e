"""The Map page's Deezer lookups: a catalog track's fresh preview link, and track search; each one quick request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.pipeline.clients.base import NotFound, ServiceError
from app.pipeline.clients.factory import deezer_client
from app.services.catalog_map import MapError
from app.storage.tables import Label, Track

SEARCH_LIMIT = 10
NO_PREVIEW = "no preview for this track."
QUICK_TIMEOUT = (3.0, 8.0)  # a lookup the user waits for: fail fast rather than hang the page


def search_query(query: Any) -> str:
    """The search text, trimmed; MapError (plain words) when it is empty or too long, before any request."""
    query = (query if isinstance(query, str) else "").strip()
    if not query:
        raise MapError("Type a title or an artist to search for.")
    if len(query) > 200:
        raise MapError("That search is too long; use a title or an artist.")
    return query


def search_tracks(config: Mapping[str, Any], query: str) -> list[dict[str, Any]]:
    """Deezer's track search, as {deezer_id, label} options; one quick request (it refuses an empty query)."""
    query = search_query(query)
    try:
        items = deezer_client(config, timeout=QUICK_TIMEOUT, max_attempts=2, max_retry_after_s=2).search_tracks(
            query, limit=SEARCH_LIMIT)
    except ServiceError:
        raise MapError("Deezer did not answer the search; try again in a moment.") from None
    found = []
    for item in items:
        artist = item.get("artist") if isinstance(item.get("artist"), dict) else {}
        if isinstance(item.get("id"), int) and item.get("title"):
            found.append({"deezer_id": item["id"], "label": f"{item['title']} — {artist.get('name', '?')}"})
    return found


def catalog_track(session: Session, track_id: Any) -> Track | None:
    """The catalog (labelled) track with this id, else None: the map only plays what it shows."""
    try:
        track_id = int(track_id)
    except (TypeError, ValueError):
        return None
    if session.scalar(select(Label.id).where(Label.track_id == track_id).limit(1)) is None:
        return None
    return session.get(Track, track_id)


def preview_url(session: Session, config: Mapping[str, Any], track_id: Any) -> tuple[str | None, str]:
    """A fresh 30-second preview link for a catalog track, and what to say about it.

    Links are signed and expire within minutes, so contextify never stores them: one `/track/{id}` call
    gets a new one when the user clicks.
    """
    track = catalog_track(session, track_id)
    if track is None:
        return None, "That track is not in the catalog."
    name = f"{track.title} — {track.artist}"
    if track.deezer_id is None:
        return None, f"{name}: {NO_PREVIEW}"
    try:
        answer = deezer_client(config, timeout=QUICK_TIMEOUT, max_attempts=2, max_retry_after_s=2).track(
            track.deezer_id)
    except NotFound:
        return None, f"{name}: {NO_PREVIEW}"
    except ServiceError:
        return None, f"{name}: Deezer did not answer, so the preview cannot play now; try again."
    link = answer.get("preview") if isinstance(answer, dict) else None
    if not isinstance(link, str) or not link.startswith(("http://", "https://")):
        return None, f"{name}: {NO_PREVIEW}"
    return link, f"Playing the preview of {name}."
