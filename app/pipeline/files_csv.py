"""Read library CSVs (Exportify's and plain ones with a header) into the shapes of app.pipeline.file_records."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from app.pipeline.file_records import (
    ISRC_RE, MAX_ROWS, FileCollection, FileImportError, FileTrack, ParsedFile, Problems, parse_date,
    parse_spotify_id, too_many_rows)

# The csv module's own cap on one field; a longer "field" is an unclosed quote swallowing the file.
MAX_FIELD_CHARS = csv.field_size_limit()


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
    problems = Problems()
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


def _csv_track(row: list[str], header: list[str], layout: _Layout, where: str, problems: Problems) -> FileTrack | None:
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
        spotify_id = parse_spotify_id(uri, f"{where}, {label(layout.uri)}", problems,
                                      bare_ok=layout.format == "plain-csv")
    isrc = cell(layout.isrc).upper() or None
    if isrc and not ISRC_RE.match(isrc):
        problems.add(where, f"{label(layout.isrc)} is not an ISRC (12 letters and digits like GBAYE0601498): "
                            f"{cell(layout.isrc)!r}")
    duration = None
    if cell(layout.duration):
        raw = cell(layout.duration)
        if raw.isascii() and raw.isdigit():  # str.isdigit() also takes "²", which int() refuses
            duration = int(raw)
        else:
            problems.add(where, f"{label(layout.duration)} is not a whole number of milliseconds: {raw!r}")
    added_at = parse_date(cell(layout.added_at), f"{where}, {label(layout.added_at)}", problems) \
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

