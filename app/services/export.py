"""Playlists as files for anyone the Spotify API does not serve: CSV (spreadsheet-safe), M3U and JSON."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence

from app.services.selection import KeptTrack, display_context

CSV_COLUMNS = ("playlist", "position", "title", "artist", "album", "duration_ms", "isrc", "spotify_uri",
               "probability", "decision")
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection, OWASP), also after
# leading spaces, and East Asian spreadsheets read the full-width forms the same way.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
# Spreadsheets also skip non-breaking and other Unicode spaces and zero-width characters before a formula.
INVISIBLE_LEAD = re.compile(r"^[\s\u200b\u200c\u200d\u2060\ufeff]*")

Playlists = Mapping[str, Sequence[KeptTrack]]


def neutralise(value: object) -> str:
    """The cell as text, prefixed with ' when a spreadsheet would otherwise read it as a formula."""
    text = "" if value is None else str(value)
    visible = INVISIBLE_LEAD.sub("", text, count=1)
    return "'" + text if text.startswith(FORMULA_STARTS) or visible.startswith(FORMULA_STARTS) else text


def to_csv(playlists: Playlists) -> str:
    """One row per (playlist, track), positions from 1; every cell neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for context, tracks in playlists.items():
        for position, track in enumerate(tracks, start=1):
            writer.writerow([neutralise(value) for value in (
                display_context(context), position, track.title, track.artist, track.album, track.duration_ms,
                track.isrc, track.uri, f"{track.probability:.3f}", track.decision)])
    return out.getvalue()


def to_m3u(playlists: Playlists) -> str:
    """An extended M3U: a `#PLAYLIST` section per context, each track an `#EXTINF` line and its location.

    The location is the Spotify URI when the track has one, else "Artist - Title" for players that search.
    """
    lines = ["#EXTM3U"]
    for context, tracks in playlists.items():
        lines.append(f"#PLAYLIST:{_one_line(display_context(context))}")
        for track in tracks:
            seconds = round(track.duration_ms / 1000) if track.duration_ms else -1
            name = _one_line(f"{track.artist} - {track.title}")
            lines += [f"#EXTINF:{seconds},{name}", track.uri or name]
    return "\n".join(lines) + "\n"


def to_json(playlists: Playlists) -> str:
    """{"playlists": [{"context", "name", "tracks": [...]}]}, UTF-8 text."""
    body = {"playlists": [
        {"context": context, "name": display_context(context), "tracks": [
            {"position": i, "title": t.title, "artist": t.artist, "album": t.album, "duration_ms": t.duration_ms,
             "isrc": t.isrc, "spotify_uri": t.uri, "probability": round(t.probability, 4), "decision": t.decision}
            for i, t in enumerate(tracks, start=1)]}
        for context, tracks in playlists.items()]}
    return json.dumps(body, ensure_ascii=False, indent=2)


def _one_line(text: str) -> str:
    # A newline inside a title would start a new M3U entry.
    return " ".join(text.split())


FORMATS = {"csv": (to_csv, "text/csv"), "m3u": (to_m3u, "audio/x-mpegurl"), "json": (to_json, "application/json")}
