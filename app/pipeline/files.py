"""Read a library file people bring (size and encoding checks), and Spotify's JSON exports; CSVs go to files_csv."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from app.pipeline.file_records import (
    MAX_ROWS, FileCollection, FileImportError, FileTrack, ParsedFile, Problems, parse_date, parse_spotify_id,
    too_many_rows)
from app.pipeline.files_csv import parse_csv

# The per-file limit for every import path (command line, upload page): a whole parse (text, rows, tracks)
# of a file this size stays within one request's or worker's memory.
MAX_BYTES = 20 * 1024 * 1024


def parse_file(path: str | Path) -> ParsedFile:
    """Read and validate a whole file; raises FileImportError before anything could be written."""
    path = Path(path)
    if not path.is_file():
        raise FileImportError(f"There is no file at {path}.")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise FileImportError(too_large(path.name, size))
    return parse_bytes(path.read_bytes(), path.name)


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
    problems = Problems()
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
    problems = Problems()
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
                added = parse_date(item.get("addedDate"), f"{item_where}.addedDate", problems)
                found = _json_track(track, f"{item_where}.track", problems, title="trackName",
                                    artist="artistName", album="albumName", uri="trackUri", added_at=added)
                if found:
                    collection.tracks.append(found)
        collections.append(collection)
    problems.raise_if_any(filename)
    return ParsedFile("spotify-playlists", collections, skipped)


def _json_track(item: dict[str, Any], where: str, problems: Problems, *, title: str, artist: str, album: str,
                uri: str, added_at: datetime | None = None) -> FileTrack | None:
    name, by = item.get(title), item.get(artist)
    ok = True
    for key, value in ((title, name), (artist, by)):
        if not isinstance(value, str) or not value.strip():
            problems.add(where, f"“{key}” is missing or empty")
            ok = False
    spotify_id = parse_spotify_id(item.get(uri), f"{where}.{uri}", problems) if item.get(uri) else None
    if not ok:
        return None
    album_name = item.get(album) if isinstance(item.get(album), str) else None
    return FileTrack(name.strip(), by.strip(), (by.strip(),), album_name, None, spotify_id, None, added_at, where)
