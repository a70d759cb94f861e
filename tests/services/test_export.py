"""Exports: CSV cells cannot run as formulas, M3U and JSON are well-formed, and only kept tracks go out."""

from __future__ import annotations

import csv
import io
import json

import pytest

from app.services.export import neutralise, to_csv, to_json, to_m3u
from app.services.selection import KeptTrack


def track(i: int, title: str = "Song", artist: str = "Band", spotify_id: str | None = "x" * 22) -> KeptTrack:
    return KeptTrack(assignment_id=i, track_id=i, title=title, artist=artist, album="Album", duration_ms=181_000,
                     spotify_id=spotify_id, isrc="GBAAA0000001", probability=0.8, decision="pending")


PLAYLISTS = {"workout": [track(1, "=HYPERLINK(\"http://evil\")", "+Band"), track(2, "-minus", "@at")],
             "sleep": [track(3, "Calm\nNight", "Ana", spotify_id=None)]}


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("plain", "plain"),
    ("a=b", "a=b"), (None, ""), (3, "3"), ("\u00a0=1+1", "'\u00a0=1+1"), ("\u200b+1", "'\u200b+1"),
    ("\u3000@x", "'\u3000@x"), ("\u00a0plain", "\u00a0plain"), ("\tplain", "'\tplain")])
def test_a_cell_that_a_spreadsheet_would_run_is_neutralised(value, expected):
    assert neutralise(value) == expected


def test_csv_neutralises_every_formula_cell_and_keeps_the_rest():
    rows = list(csv.DictReader(io.StringIO(to_csv(PLAYLISTS))))
    assert [r["playlist"] for r in rows] == ["Workout", "Workout", "Sleep"]
    assert rows[0]["title"] == "'=HYPERLINK(\"http://evil\")" and rows[0]["artist"] == "'+Band"
    assert rows[1]["title"] == "'-minus" and rows[1]["artist"] == "'@at"
    assert rows[0]["spotify_uri"] == f"spotify:track:{'x' * 22}" and rows[2]["spotify_uri"] == ""
    assert [r["position"] for r in rows] == ["1", "2", "1"]
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values())


def test_m3u_is_extended_m3u_with_one_entry_per_track():
    lines = to_m3u(PLAYLISTS).splitlines()
    assert lines[0] == "#EXTM3U"
    assert lines.count("#PLAYLIST:Workout") == 1 and lines.count("#PLAYLIST:Sleep") == 1
    extinf = [i for i, line in enumerate(lines) if line.startswith("#EXTINF:")]
    assert len(extinf) == 3
    assert all(not lines[i + 1].startswith("#") for i in extinf), "every #EXTINF is followed by its location"
    assert lines[extinf[0]] .startswith("#EXTINF:181,+Band - =HYPERLINK")
    assert lines[extinf[2] + 1] == "Ana - Calm Night", "no Spotify id: a searchable name, on one line"


def test_json_round_trips_with_every_kept_track_in_order():
    body = json.loads(to_json(PLAYLISTS))
    assert [p["context"] for p in body["playlists"]] == ["workout", "sleep"]
    assert [t["title"] for t in body["playlists"][0]["tracks"]] == ["=HYPERLINK(\"http://evil\")", "-minus"]
    assert body["playlists"][1]["tracks"][0]["spotify_uri"] is None
