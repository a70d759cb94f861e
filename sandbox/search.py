"""Search-query parsing and track matching shared by the Spotify and Deezer search emulations."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .model import Playlist, World
from .state import normalize

# `field:"quoted value"`, `field:value`, `"quoted phrase"` or a bare word.
_TOKEN = re.compile(r'(\w+):"([^"]*)"|(\w+):(\S+)|"([^"]*)"|(\S+)')


@dataclass
class Query:
    """A parsed query: field filters (normalized unless numeric/ISRC) and free-text words."""

    filters: dict[str, str] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)


def parse_query(q: str, fields: frozenset[str]) -> Query:
    """Split `q` into the given field filters and normalized free words; unknown `x:y` stay free text."""
    query = Query()
    for match in _TOKEN.finditer(q):
        name = match.group(1) or match.group(3)
        value = match.group(2) if match.group(1) else match.group(4)
        if name and name.lower() in fields:
            query.filters[name.lower()] = value
        else:
            query.words.extend(normalize(match.group(0)).split())
    return query


def text_matches(words: list[str], haystack: str) -> bool:
    """Every word occurs in the haystack (both normalized)."""
    return all(word in haystack for word in words)


def deezer_playlists_matching(world: World, query: str) -> list[Playlist]:
    """Deezer's playlist search: public playlists whose title holds every word of `query`, most followed first."""
    words = normalize(query).split()
    return sorted((p for p in world.deezer_playlists.values() if p.public and text_matches(words, normalize(p.title))),
                  key=lambda p: -p.fans)
