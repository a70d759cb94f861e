"""The shapes every library-file reader returns, the per-file row limit, and the field checks they share."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# The per-file row limit: tracks (CSV rows, JSON items) one file may list. Far above any real library export,
# and a file over it is refused while it is being read, before anything is written.
MAX_ROWS = 100_000
MAX_LISTED_PROBLEMS = 5

SPOTIFY_ID_RE = re.compile(r"^[0-9A-Za-z]{22}$")
ISRC_RE = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}\d{7}$")
TRACK_URL_RE = re.compile(r"^https?://open\.spotify\.com/(?:intl-[a-z-]+/)?track/([0-9A-Za-z]{22})")


class FileImportError(ValueError):
    """The file cannot be imported; the message says where and why, in words its owner can act on."""


@dataclass(frozen=True)
class FileTrack:
    """One track as a file describes it; `line` says where (a line number, or a JSON path)."""

    title: str
    artist: str
    artists: tuple[str, ...] = ()
    album: str | None = None
    isrc: str | None = None
    spotify_id: str | None = None
    duration_ms: int | None = None
    added_at: datetime | None = None
    line: str = ""


@dataclass
class FileCollection:
    """A list of tracks from a file: its main list (`name` None: liked songs, a CSV) or a named playlist."""

    name: str | None
    tracks: list[FileTrack] = field(default_factory=list)


@dataclass
class ParsedFile:
    format: str  # spotify-library | spotify-playlists | exportify | exportify-watsonbox | plain-csv
    collections: list[FileCollection]
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> rows left out on purpose

    @property
    def n_tracks(self) -> int:
        return sum(len(c.tracks) for c in self.collections)


class Problems:
    """Collects every problem of a file, so its owner can fix them all at once."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")

    def raise_if_any(self, filename: str) -> None:
        if not self.items:
            return
        shown = "; ".join(self.items[:MAX_LISTED_PROBLEMS])
        more = len(self.items) - MAX_LISTED_PROBLEMS
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
        raise FileImportError(f"{filename} was not imported, nothing was changed. {shown}{tail}.")


def too_many_rows(filename: str) -> FileImportError:
    return FileImportError(f"{filename} lists more than {MAX_ROWS:,} tracks, the most one file may hold; nothing "
                           "was imported. Split it into smaller files and import them one by one.")


# ------------------------------------------------------------------------------------ fields


def parse_spotify_id(value: Any, where: str, problems: Problems, bare_ok: bool = False) -> str | None:
    text = value.strip() if isinstance(value, str) else ""
    if text.startswith("spotify:track:") and SPOTIFY_ID_RE.match(text[len("spotify:track:"):]):
        return text[len("spotify:track:"):]
    url = TRACK_URL_RE.match(text)
    if url:
        return url.group(1)
    if bare_ok and SPOTIFY_ID_RE.match(text):
        return text
    problems.add(where, f"not a Spotify track URI (spotify:track: and 22 letters or digits): {value!r}")
    return None


def parse_date(value: Any, where: str, problems: Problems) -> datetime | None:
    if value in (None, ""):
        return None
    text = value.strip() if isinstance(value, str) else ""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        problems.add(where, f"not a date (like 2024-01-19 or 2024-01-19T18:02:11Z): {value!r}")
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
