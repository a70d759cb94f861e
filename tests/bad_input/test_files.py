"""Library files and training CSVs: every bad file refused with its exact message, formulas imported as text and neutralised on export."""

from __future__ import annotations

import csv
import io

import pytest

from app.models.dataset import MAX_CSV_BYTES, DatasetError, parse_csv_bytes, read_csv
from app.pipeline.file_records import FileImportError
from app.pipeline.files import MAX_BYTES, parse_bytes, parse_file
from app.services.export import to_csv
from app.services.selection import KeptTrack

UTF8_HINT = "Save it as UTF-8 (in a spreadsheet: “CSV UTF-8”) and import it again."
NEEDS = ("A CSV needs a header with “artist” and “title” (optionally “isrc” and “spotify id”), or must be an "
         "Exportify export; the header found was: ")
NOT_IMPORTED = "f.csv was not imported, nothing was changed. "
BINARY = "f.csv is not a text file (it holds binary data). Export a CSV (UTF-8) or use Spotify's JSON export, then import that."

LIBRARY_FILES = [
    ("empty", b"", "f.csv is empty."),
    ("only blank lines", b"  \r\n\n\t\n", "f.csv is empty."),
    ("only a byte-order mark", b"\xef\xbb\xbf", "f.csv is empty."),
    ("UTF-16 with BOM", "artist,title\nA,B\n".encode("utf-16"),
     "f.csv is UTF-16 encoded; save it as UTF-8 (in a spreadsheet: “CSV UTF-8”) and import it again."),
    ("UTF-16 without BOM", "artist,title\nA,B\n".encode("utf-16-le"),
     "f.csv is UTF-16 encoded; save it as UTF-8 (in a spreadsheet: “CSV UTF-8”) and import it again."),
    ("UTF-16 big-endian without BOM", "artist,title\nA,B\n".encode("utf-16-be"),
     "f.csv is UTF-16 encoded; save it as UTF-8 (in a spreadsheet: “CSV UTF-8”) and import it again."),
    ("Latin-1", "artist,title\nBj\xf6rk,J\xf3ga\n".encode("latin-1"),
     "f.csv is not UTF-8: line 2 has the byte 0xF6, which UTF-8 does not allow (the file is probably Latin-1 or "
     f"Windows-1252). {UTF8_HINT}"),
    ("Windows-1252 quotes", b"artist,title\nA,\x93Hey\x94\n",
     "f.csv is not UTF-8: line 2 has the byte 0x93, which UTF-8 does not allow (the file is probably Latin-1 or "
     f"Windows-1252). {UTF8_HINT}"),
    ("a PNG", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", BINARY),
    ("a ZIP (xlsx)", b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00", BINARY),
    ("all byte values", bytes(range(256)), BINARY),
    ("a NUL in a cell", b"artist,title\nA\x00,B\n", BINARY),
    ("missing artist column", b"title,album\nA,B\n", f"f.csv: line 1 has no artist column. {NEEDS}title, album."),
    ("missing both columns", b"foo;bar\n1;2\n", f"f.csv: line 1 has no artist and title column. {NEEDS}foo, bar."),
    ("header only", b"artist,title\n", "f.csv has a header but no tracks."),
    ("Exportify header without names", b",,,track uri,artist uri(s)\r,,,,0",
     "f.csv: line 1 looks like an Exportify export but has no “track name” or “artist name(s)” column; the header "
     "found was: , , , track uri, artist uri(s)."),
    ("a quote never closed", b'artist,title\nA,"B\n' + b"x" * 140_000 + b"\n",
     "f.csv: line 2 has a field longer than 131,072 characters (a quote that is never closed?); nothing was imported."),
    ("too few fields", b"artist,title,album\nA,B\n",
     f"{NOT_IMPORTED}line 2: 2 fields, but the header has 3 (a separator inside an unquoted field?)."),
    ("empty title", b"artist,title\nA,\n", f"{NOT_IMPORTED}line 2: “title” is empty."),
    ("negative duration", b"artist,title,duration_ms\nA,B,-1\n",
     f"{NOT_IMPORTED}line 2: “duration_ms” is not a whole number of milliseconds: '-1'."),
    ("superscript digit duration", "artist,title,duration_ms\nA,B,²\n".encode(),
     f"{NOT_IMPORTED}line 2: “duration_ms” is not a whole number of milliseconds: '²'."),
    ("bad ISRC", b"artist,title,isrc\nA,B,123\n",
     f"{NOT_IMPORTED}line 2: “isrc” is not an ISRC (12 letters and digits like GBAYE0601498): '123'."),
    ("bad Spotify id", b"artist,title,spotify id\nA,B,javascript:alert(1)\n",
     f"{NOT_IMPORTED}line 2, “spotify id”: not a Spotify track URI (spotify:track: and 22 letters or digits): "
     "'javascript:alert(1)'."),
    ("bad date", b"artist,title,added_at\nA,B,2024-13-45\n",
     f"{NOT_IMPORTED}line 2, “added_at”: not a date (like 2024-01-19 or 2024-01-19T18:02:11Z): '2024-13-45'."),
    ("eight problems listed as five", b"artist,title,album\n" + b",,x\n" * 4,
     f"{NOT_IMPORTED}line 2: “title” is empty; line 2: “artist” is empty; line 3: “title” is empty; line 3: "
     "“artist” is empty; line 4: “title” is empty (and 3 more problems)."),
    ("JSON cut short", b'{"tracks": [', "f.csv is not valid JSON: line 1, column 13: Expecting value."),
    ("JSON of another shape", b'[1, 2, 3]', "f.csv is neither Spotify's YourLibrary.json (with a “tracks” list) "
     "nor a Playlist1.json (with a “playlists” list)."),
    ("JSON tracks not a list", b'{"tracks": "all of them"}', "f.csv is neither Spotify's YourLibrary.json (with a "
     "“tracks” list) nor a Playlist1.json (with a “playlists” list)."),
    ("JSON null items", b'{"tracks": [null, 5, {"artist": 1, "track": "x"}]}',
     f"{NOT_IMPORTED}tracks[0]: is not an object; tracks[1]: is not an object; tracks[2]: “artist” is missing or "
     "empty."),
    ("JSON NaN as a URI", b'{"tracks": [{"artist": "a", "track": "b", "uri": NaN}]}',
     f"{NOT_IMPORTED}tracks[0].uri: not a Spotify track URI (spotify:track: and 22 letters or digits): nan."),
    ("JSON items not a list", b'{"playlists": [{"name": "x", "items": {"a": 1}}]}',
     f"{NOT_IMPORTED}playlists[0]: “items” is not a list."),
    ("JSON playlist without a name", b'{"playlists": [{"name": "  ", "items": []}]}',
     f"{NOT_IMPORTED}playlists[0]: “name” is missing or empty."),
    ("JSON with no tracks", b'{"tracks": []}', "f.csv lists no tracks."),
    ("JSON playlists of episodes only", b'{"playlists": [{"name": "Pods", "items": [{"track": null, "episode": {}}]}]}',
     "f.csv lists no tracks (only episodes or local files)."),
    ("JSON nested 100,000 deep", b"[" * 100_000,
     "f.csv is not a Spotify export: it holds a number too long or lists nested too deeply to be one."),
    ("JSON number of 5,000 digits", b'{"tracks": [' + b"1" * 5000 + b"]}",
     "f.csv is not a Spotify export: it holds a number too long or lists nested too deeply to be one."),
]


@pytest.mark.parametrize("data, message", [c[1:] for c in LIBRARY_FILES], ids=[c[0] for c in LIBRARY_FILES])
def test_a_bad_library_file_is_refused_with_its_exact_message(data, message):
    with pytest.raises(FileImportError) as refused:
        parse_bytes(data, "f.csv")
    assert str(refused.value) == message


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.csv"
    with open(path, "wb") as handle:  # sparse: the size is real, the disk use is not
        handle.write(b"artist,title\n")
        handle.truncate(MAX_BYTES + 1)
    with pytest.raises(FileImportError) as refused:
        parse_file(path)
    assert str(refused.value) == ("huge.csv is 20.0 MB; files up to 20 MB can be imported. Split it, or export "
                                  "playlists one by one.")
    with pytest.raises(FileImportError) as refused:  # the same limit for bytes that arrive another way
        parse_bytes(b"artist,title\n" + b"a,b\n" * (MAX_BYTES // 4), "upload.csv")
    assert str(refused.value) == ("upload.csv is 20.0 MB; files up to 20 MB can be imported. Split it, or export "
                                  "playlists one by one.")
    with pytest.raises(FileImportError) as refused:
        parse_file(tmp_path / "absent.csv")
    assert str(refused.value) == f"There is no file at {tmp_path / 'absent.csv'}."


FORMULAS = ["=HYPERLINK(\"http://evil.example\",\"click\")", "+1+1", "-2+3", "@SUM(A1:A9)", " =1+1",
            "\uff1dcmd|' /C calc'!A0", "\t=1"]


def test_a_formula_in_a_cell_is_imported_as_text_and_neutralised_on_export():
    rows = "".join(f'"{cell.replace(chr(34), 2 * chr(34))}",Artist {i}\r\n' for i, cell in enumerate(FORMULAS))
    parsed = parse_bytes(("title,artist\r\n" + rows).encode(), "f.csv")
    titles = [track.title for track in parsed.collections[0].tracks]
    assert titles == [cell.strip() for cell in FORMULAS], "imported exactly as text (cells are stripped)"

    kept = [KeptTrack(assignment_id=i, track_id=i, title=cell, artist="=evil()" if i == 0 else "Band", album="@x",
                      duration_ms=1000, spotify_id=None, isrc=None, probability=0.5, decision="accepted")
            for i, cell in enumerate(FORMULAS)]
    exported = list(csv.DictReader(io.StringIO(to_csv({"-context": kept}))))
    assert [row["title"] for row in exported] == [f"'{cell}" for cell in FORMULAS]
    assert exported[0]["artist"] == "'=evil()" and {row["album"] for row in exported} == {"'@x"}
    assert {row["playlist"] for row in exported} == {"'-context"}
    for row in exported:
        for cell in row.values():
            assert not cell.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r", "\uff1d")), cell


# ------------------------------------------------------------------------------------- the training CSV

TRAINING_FILES = [
    ("empty", b"", "t.csv is empty"),
    ("blank lines", b"\n \n", "t.csv is empty"),
    ("UTF-16 with BOM", "track_id,context\n1,a\n".encode("utf-16"), "t.csv is UTF-16 encoded; save it as UTF-8 and try again"),
    ("UTF-16 without BOM", "track_id,context\n1,a\n".encode("utf-16-le"),
     "t.csv is UTF-16 encoded; save it as UTF-8 and try again"),
    ("Latin-1", "track_id,context\n1,caf\xe9\n".encode("latin-1"),
     "t.csv is not UTF-8: line 2 has the byte 0xE9 (Latin-1 or Windows-1252?); save it as UTF-8 and try again"),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "t.csv is not a text file (it holds binary data)"),
    ("quote never closed", b'track_id,context\n"1,a\n', "t.csv is not a readable CSV: EOF inside string starting at row 1"),
    ("a row longer than the header", b"track_id,context\n1,a,0.5,9\n2,b\n",
     "t.csv is not a readable CSV: line 2 has more fields than the header (2)"),
    ("a later row longer than the header", b"track_id,context\n1,a\n2,b,0.5\n",
     "t.csv is not a readable CSV: Expected 2 fields in line 3, saw 3"),
    ("header only", b"track_id,context\n", "t.csv has a header but no rows"),
]


@pytest.mark.parametrize("data, message", [c[1:] for c in TRAINING_FILES], ids=[c[0] for c in TRAINING_FILES])
def test_a_bad_training_csv_is_refused_with_its_exact_message(data, message):
    with pytest.raises(DatasetError) as refused:
        parse_csv_bytes(data, "t.csv")
    assert str(refused.value) == message


def test_a_training_csv_over_the_limit_or_absent_is_refused(tmp_path):
    path = tmp_path / "big.csv"
    with open(path, "wb") as handle:
        handle.truncate(MAX_CSV_BYTES + 1)
    with pytest.raises(DatasetError) as refused:
        read_csv(path)
    assert str(refused.value) == "big.csv is 200 MB; CSVs up to 200 MB can be read"
    with pytest.raises(DatasetError) as refused:
        read_csv(tmp_path / "absent.csv")
    assert str(refused.value) == f"cannot read {tmp_path / 'absent.csv'}: No such file or directory"


def test_a_formula_in_a_training_csv_is_text_not_a_number():
    frame = parse_csv_bytes(b"track_id,context,energy\n=1+1,@gym,0.5\n+3,-sleep,0.2\n", "t.csv")
    assert frame["track_id"].tolist() == ["=1+1", "+3"] and frame["context"].tolist() == ["@gym", "-sleep"]
    assert frame["energy"].tolist() == [0.5, 0.2]
