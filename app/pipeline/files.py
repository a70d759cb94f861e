"""Read library files people bring when the API does not serve them: Spotify's data export, Exportify CSVs, plain CSVs."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The per-file limit for every import path (command line, upload page): a whole parse (text, rows, tracks)
# of a file this size stays within one request's or worker's memory.
MAX_BYTES = 20 * 1024 * 1024
# The per-file row limit: tracks (CSV rows, JSON items) one file may list. Far above any real library export,
# and a file over it is refused while it is being read, before anything is written.
MAX_ROWS = 100_000
MAX_LISTED_PROBLEMS = 5
# The csv module's own cap on one field; a longer "field" is an unclosed quote swallowing the file.
MAX_FIELD_CHARS = csv.field_size_limit()

_SPOTIFY_ID = re.compile(r"^[0-9A-Za-z]{22}$")
_ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}\d{7}$")
_TRACK_URL = re.compile(r"^https?://open\.spotify\.com/(?:intl-[a-z-]+/)?track/([0-9A-Za-z]{22})")


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


class _Problems:
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


# ------------------------------------------------------------------------------------ entry point


def parse_file(path: str | Path) -> ParsedFile:
    """Read and validate a whole file; raises FileImportError before anything could be written."""
    path = Path(path)
    if not path.is_file():
        raise FileImportError(f"There is no file at {path}.")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise FileImportError(too_large(path.name, size))
    return parse_bytes(path.read_bytes(), path.name)


def too_many_rows(filename: str) -> FileImportError:
    return FileImportError(f"{filename} lists more than {MAX_ROWS:,} tracks, the most one file may hold; nothing "
                           "was imported. Split it into smaller files and import them one by one.")


def too_large(filename: str, size: int) -> str:
    return (f"{filename} is {size / 1024 / 1024:.1f} MB; files up to {MAX_BYTES // 1024 // 1024} MB can be "
            "imported. Split it, or export playlists one by one.")


def parse_bytes(data: bytes, filename: str = "the file") -> ParsedFile:
    """Validate the bytes of a file (an upload, or a file read from disk); raises FileImportError only."""
    if len(data) > MAX_BYTES:
        raise FileImportError(too_large(filename, len(data)))
    text = decode(data, filename)
    if not text.strip():
        raise FileImportError(f"{filename} is empty.")
    if text.lstrip().startswith(("{", "[")):
        return parse_json(text, filename)
    return parse_csv(text, filename)


def decode(data: bytes, filename: str) -> str:
    """UTF-8 text with or without a byte-order mark; any other encoding is refused with the line it fails on."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or _looks_like_utf16(data):
        raise FileImportError(f"{filename} is UTF-16 encoded; save it as UTF-8 (in a spreadsheet: "
                              "“CSV UTF-8”) and import it again.")
    if b"\x00" in data:
        # No text export has NUL bytes: this is a spreadsheet, an archive or an image, not a CSV or JSON file.
        raise FileImportError(f"{filename} is not a text file (it holds binary data). Export a CSV (UTF-8) or "
                              "use Spotify's JSON export, then import that.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise FileImportError(
            f"{filename} is not UTF-8: line {line} has the byte 0x{data[exc.start]:02X}, which UTF-8 does not "
            "allow (the file is probably Latin-1 or Windows-1252). Save it as UTF-8 (in a spreadsheet: "
            "“CSV UTF-8”) and import it again.") from None


def _looks_like_utf16(data: bytes) -> bool:
    """UTF-16 without a byte-order mark: mostly-ASCII text has a NUL in every other byte."""
    sample = data[:2048]
    if len(sample) < 4:
        return False
    halves = (sample[0::2], sample[1::2])
    return any(half.count(0) >= 0.8 * len(half) and other.count(0) == 0
               for half, other in (halves, halves[::-1]))


# ------------------------------------------------------------------------------------ JSON exports


def parse_json(text: str, filename: str) -> ParsedFile:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileImportError(f"{filename} is not valid JSON: line {exc.lineno}, column {exc.colno}: "
                              f"{exc.msg}.") from None
    except (ValueError, RecursionError):
        # json's other refusals: a number of thousands of digits, or lists nested thousands deep.
        raise FileImportError(f"{filename} is not a Spotify export: it holds a number too long or lists nested "
                              "too deeply to be one.") from None
    if isinstance(data, dict) and isinstance(data.get("playlists"), list):
        return _not_empty(_playlists_json(data["playlists"], filename), filename)
    if isinstance(data, dict) and isinstance(data.get("tracks"), list):
        return _not_empty(_library_json(data["tracks"], filename), filename)
    raise FileImportError(f"{filename} is neither Spotify's YourLibrary.json (with a “tracks” list) nor a "
                          "Playlist1.json (with a “playlists” list).")


def _not_empty(parsed: ParsedFile, filename: str) -> ParsedFile:
    """A valid export that lists nothing to import is refused like a CSV with a header and no tracks."""
    if parsed.n_tracks:
        return parsed
    only = " (only episodes or local files)" if parsed.skipped else ""
    raise FileImportError(f"{filename} lists no tracks{only}.")


def _library_json(items: list[Any], filename: str) -> ParsedFile:
    if len(items) > MAX_ROWS:
        raise too_many_rows(filename)
    problems = _Problems()
    tracks = []
    for index, item in enumerate(items):
        where = f"tracks[{index}]"
        if not isinstance(item, dict):
            problems.add(where, "is not an object")
            continue
        found = _json_track(item, where, problems, title="track", artist="artist", album="album", uri="uri")
        if found:
            tracks.append(found)
    problems.raise_if_any(filename)
    return ParsedFile("spotify-library", [FileCollection(None, tracks)])


def _playlists_json(playlists: list[Any], filename: str) -> ParsedFile:
    if sum(len(p.get("items") or []) for p in playlists if isinstance(p, dict)
           and isinstance(p.get("items"), list)) > MAX_ROWS:
        raise too_many_rows(filename)
    problems = _Problems()
    skipped: Counter[str] = Counter()
    collections = []
    for p_index, playlist in enumerate(playlists):
        where = f"playlists[{p_index}]"
        if not isinstance(playlist, dict):
            problems.add(where, "is not an object")
            continue
        name = playlist.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.add(where, "“name” is missing or empty")
            continue
        collection = FileCollection(name.strip())
        items = playlist.get("items") or []
        if not isinstance(items, list):
            problems.add(where, "“items” is not a list")
            continue
        for i_index, item in enumerate(items):
            item_where = f"{where}.items[{i_index}]"
            track = item.get("track") if isinstance(item, dict) else None
            if not isinstance(item, dict):
                problems.add(item_where, "is not an object")
            elif track is None:
                skipped["episode or local file"] += 1
            elif not isinstance(track, dict):
                problems.add(f"{item_where}.track", "is not an object")
            else:
                added = _date(item.get("addedDate"), f"{item_where}.addedDate", problems)
                found = _json_track(track, f"{item_where}.track", problems, title="trackName",
                                    artist="artistName", album="albumName", uri="trackUri", added_at=added)
                if found:
                    collection.tracks.append(found)
        collections.append(collection)
    problems.raise_if_any(filename)
    return ParsedFile("spotify-playlists", collections, skipped)


def _json_track(item: dict[str, Any], where: str, problems: _Problems, *, title: str, artist: str, album: str,
                uri: str, added_at: datetime | None = None) -> FileTrack | None:
    name, by = item.get(title), item.get(artist)
    ok = True
    for key, value in ((title, name), (artist, by)):
        if not isinstance(value, str) or not value.strip():
            problems.add(where, f"“{key}” is missing or empty")
            ok = False
    spotify_id = _spotify_id(item.get(uri), f"{where}.{uri}", problems) if item.get(uri) else None
    if not ok:
        return None
    album_name = item.get(album) if isinstance(item.get(album), str) else None
    return FileTrack(name.strip(), by.strip(), (by.strip(),), album_name, None, spotify_id, None, added_at, where)


# ------------------------------------------------------------------------------------ CSV


@dataclass(frozen=True)
class _Layout:
    """Where a CSV variant keeps each field: column indexes, and how it joins several artists."""

    format: str
    title: int
    artist: int
    uri: int | None = None
    album: int | None = None
    isrc: int | None = None
    duration: int | None = None
    added_at: int | None = None
    artist_separator: str = ","


# watsonbox/exportify's fixed column order; its headers are translated to the UI language, so a
# header we do not know is still read by position when the data looks like a watsonbox export.
_WATSONBOX_COLUMNS = 19
_WATSONBOX = _Layout("exportify-watsonbox", title=1, artist=3, uri=0, album=5, isrc=16, duration=12, added_at=18,
                     artist_separator=", ")

_PLAIN_ALIASES = {
    "title": ("title", "track", "track name", "track title", "name", "song", "song title"),
    "artist": ("artist", "artists", "artist name", "artist name(s)", "artist names", "performer"),
    "uri": ("spotify id", "spotify_id", "spotify uri", "spotify_uri", "track uri", "uri", "spotify url", "url"),
    "album": ("album", "album name", "album title"),
    "isrc": ("isrc",),
    "duration": ("duration (ms)", "duration_ms", "duration ms", "track duration (ms)"),
    "added_at": ("added at", "added_at", "date added"),
}


def parse_csv(text: str, filename: str) -> ParsedFile:
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    rows = _numbered_rows(text, delimiter, filename)
    if not rows:
        raise FileImportError(f"{filename} is empty.")
    header_line, header = rows[0]
    layout = _layout(header, rows[1:], filename)
    problems = _Problems()
    tracks = []
    for line, row in rows[1:]:
        if not any(cell.strip() for cell in row):
            continue  # a blank line (often the last one)
        if len(row) != len(header):
            problems.add(f"line {line}", f"{len(row)} fields, but the header has {len(header)} "
                                         "(a separator inside an unquoted field?)")
            continue
        found = _csv_track(row, header, layout, f"line {line}", problems)
        if found:
            tracks.append(found)
    problems.raise_if_any(filename)
    if not tracks:
        raise FileImportError(f"{filename} has a header but no tracks.")
    return ParsedFile(layout.format, [FileCollection(None, tracks)])


def _numbered_rows(text: str, delimiter: str, filename: str) -> list[tuple[int, list[str]]]:
    """Rows with the line each starts on (a quoted field may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows, start = [], 1
    try:
        for row in reader:
            if len(rows) > MAX_ROWS:  # the header and MAX_ROWS rows are read; one more is too many
                raise too_many_rows(filename)
            rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error:
        raise FileImportError(f"{filename}: line {start} has a field longer than {MAX_FIELD_CHARS:,} characters "
                              "(a quote that is never closed?); nothing was imported.") from None
    return rows


def _layout(header: list[str], data: list[tuple[int, list[str]]], filename: str) -> _Layout:
    names = [h.strip().lower() for h in header]

    def at(*candidates: str) -> int | None:
        return next((names.index(c) for c in candidates if c in names), None)

    if "track uri" in names and "artist uri(s)" in names:
        missing = [column for column in ("track name", "artist name(s)") if column not in names]
        if missing:
            raise FileImportError(
                f"{filename}: line 1 looks like an Exportify export but has no {' or '.join(f'“{m}”' for m in missing)}"
                f" column; the header found was: {', '.join(h.strip() for h in header)}.")
        return _Layout("exportify-watsonbox", title=at("track name"), artist=at("artist name(s)"), uri=at("track uri"),
                       album=at("album name"), isrc=at("isrc"), duration=at("track duration (ms)"),
                       added_at=at("added at"), artist_separator=", ")
    if "track uri" in names and "artist name(s)" in names and "track name" in names:
        return _Layout("exportify", title=at("track name"), artist=at("artist name(s)"), uri=at("track uri"),
                       album=at("album name"), duration=at("duration (ms)"), added_at=at("added at"),
                       artist_separator=";")
    if _looks_like_watsonbox(data):
        return _WATSONBOX
    title = at(*_PLAIN_ALIASES["title"])
    artist = at(*_PLAIN_ALIASES["artist"])
    if title is None or artist is None:
        missing = " and ".join(kind for kind, index in (("artist", artist), ("title", title)) if index is None)
        raise FileImportError(
            f"{filename}: line 1 has no {missing} column. A CSV needs a header with “artist” and “title” "
            "(optionally “isrc” and “spotify id”), or must be an Exportify export; the header found was: "
            f"{', '.join(h.strip() for h in header)}.")
    return _Layout("plain-csv", title=title, artist=artist, uri=at(*_PLAIN_ALIASES["uri"]),
                   album=at(*_PLAIN_ALIASES["album"]), isrc=at(*_PLAIN_ALIASES["isrc"]),
                   duration=at(*_PLAIN_ALIASES["duration"]), added_at=at(*_PLAIN_ALIASES["added_at"]))


def _looks_like_watsonbox(data: list[tuple[int, list[str]]]) -> bool:
    sample = [row for _line, row in data[:20] if any(c.strip() for c in row)]
    return bool(sample) and all(
        len(row) >= _WATSONBOX_COLUMNS and row[0].startswith(("spotify:track:", "spotify:local:"))
        and (row[2].startswith("spotify:artist:") or not row[2]) for row in sample)


def _csv_track(row: list[str], header: list[str], layout: _Layout, where: str, problems: _Problems) -> FileTrack | None:
    def cell(index: int | None) -> str:
        return row[index].strip() if index is not None else ""

    def label(index: int) -> str:
        return f"“{header[index].strip()}”"

    title, artist_cell = cell(layout.title), cell(layout.artist)
    count = len(problems.items)
    if not title:
        problems.add(where, f"{label(layout.title)} is empty")
    if not artist_cell:
        problems.add(where, f"{label(layout.artist)} is empty")
    uri = cell(layout.uri)
    spotify_id = None
    if uri and not uri.startswith("spotify:local:"):
        spotify_id = _spotify_id(uri, f"{where}, {label(layout.uri)}", problems, bare_ok=layout.format == "plain-csv")
    isrc = cell(layout.isrc).upper() or None
    if isrc and not _ISRC.match(isrc):
        problems.add(where, f"{label(layout.isrc)} is not an ISRC (12 letters and digits like GBAYE0601498): "
                            f"{cell(layout.isrc)!r}")
    duration = None
    if cell(layout.duration):
        raw = cell(layout.duration)
        if raw.isascii() and raw.isdigit():  # str.isdigit() also takes "²", which int() refuses
            duration = int(raw)
        else:
            problems.add(where, f"{label(layout.duration)} is not a whole number of milliseconds: {raw!r}")
    added_at = _date(cell(layout.added_at), f"{where}, {label(layout.added_at)}", problems) \
        if cell(layout.added_at) else None
    if len(problems.items) > count:
        return None
    artists = _split_artists(artist_cell, layout.artist_separator)
    return FileTrack(title, artists[0], tuple(artists), cell(layout.album) or None, isrc, spotify_id, duration,
                     added_at, where)


def _split_artists(cell: str, separator: str) -> list[str]:
    if separator == ", ":
        # watsonbox joins artists with ", " and escapes commas inside a name as "\,".
        parts = [p.replace("\\,", ",").strip() for p in re.split(r"(?<!\\), ", cell)]
    else:
        parts = [p.strip() for p in cell.split(separator)] if separator == ";" else [cell]
    return [p for p in parts if p] or [cell]


# ------------------------------------------------------------------------------------ fields


def _spotify_id(value: Any, where: str, problems: _Problems, bare_ok: bool = False) -> str | None:
    text = value.strip() if isinstance(value, str) else ""
    if text.startswith("spotify:track:") and _SPOTIFY_ID.match(text[len("spotify:track:"):]):
        return text[len("spotify:track:"):]
    url = _TRACK_URL.match(text)
    if url:
        return url.group(1)
    if bare_ok and _SPOTIFY_ID.match(text):
        return text
    problems.add(where, f"not a Spotify track URI (spotify:track: and 22 letters or digits): {value!r}")
    return None


def _date(value: Any, where: str, problems: _Problems) -> datetime | None:
    if value in (None, ""):
        return None
    text = value.strip() if isinstance(value, str) else ""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        problems.add(where, f"not a date (like 2024-01-19 or 2024-01-19T18:02:11Z): {value!r}")
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
