"""Library files: every supported format read right, every malformed one refused with the line and field, nothing half-written."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import sessionmaker

from app.runs.progress import Progress
from app.pipeline import files
from app.pipeline.file_records import FileImportError
from app.pipeline.files import parse_bytes, parse_file
from app.pipeline.library_file import import_file
from app.runs.summary import RunSummary
from app.storage.base import Base
from app.storage.tables import LibraryImport, LibraryItem, LibraryPlaylist, Track, User

SID = "3n8XqPzL0aBcDeFgHiJkLm"
SID2 = "1Qw2Er3Ty4Ui5Op6As7Df8"

PAVEL_HEADER = ("Track URI,Track Name,Album Name,Artist Name(s),Release Date,Duration (ms),Popularity,Explicit,"
                "Added By,Added At,Genres,Record Label,Danceability,Energy,Key,Loudness,Mode,Speechiness,"
                "Acousticness,Instrumentalness,Liveness,Valence,Tempo,Time Signature")
WATSON_HEADER = ('"Track URI","Track Name","Artist URI(s)","Artist Name(s)","Album URI","Album Name",'
                 '"Album Artist URI(s)","Album Artist Name(s)","Album Release Date","Album Image URL",'
                 '"Disc Number","Track Number","Track Duration (ms)","Track Preview URL","Explicit","Popularity",'
                 '"ISRC","Added By","Added At"')
# The same columns as the UI shows them in German (best effort: read by position).
WATSON_GERMAN = ('"Titel-URI","Titelname","Künstler-URI(s)","Künstlername(n)","Album-URI","Albumname",'
                 '"Albumkünstler-URI(s)","Albumkünstlername(n)","Erscheinungsdatum","Albumbild-URL",'
                 '"Disc-Nummer","Titelnummer","Titeldauer (ms)","Vorschau-URL","Explizit","Beliebtheit",'
                 '"ISRC","Hinzugefügt von","Hinzugefügt am"')


def pavel_row(uri=f"spotify:track:{SID}", name="Night Drive", artists="Luma Vale;Kai Ro", duration="214360",
              added="2026-03-14T18:02:11Z") -> str:
    return (f'{uri},{name},Afterglow,{artists},2024-05-10,{duration},0,false,ana.k,{added},'
            '"indie pop,dream pop",Label,,,,,,,,,,,,')


def watson_row(name="Night Drive", artists="Luma Vale, Kai\\, Ro", isrc="GBXYZ2400123") -> str:
    cells = [f"spotify:track:{SID}", name, "spotify:artist:7Rt2mKq9WvB1xYz0PaLcDe", artists,
             "spotify:album:1Qw2Er3Ty4Ui5Op6As7Df8", "Afterglow", "spotify:artist:7Rt2mKq9WvB1xYz0PaLcDe",
             "Luma Vale", "2024-05-10", "https://i.scdn.co/image/x", "1", "3", "214360", "", "false", "0", isrc,
             "spotify:user:ana.k", "2026-03-14T18:02:11Z"]
    return ",".join(f'"{c}"' for c in cells)


def library_json(tracks) -> bytes:
    return json.dumps({"tracks": tracks, "albums": [], "shows": [], "episodes": [], "bannedTracks": [],
                       "artists": [], "bannedArtists": [], "other": []}).encode()


GOOD = [
    pytest.param(library_json([{"artist": "Luma Vale", "album": "Afterglow", "track": "Night Drive",
                                "uri": f"spotify:track:{SID}"}]),
                 "spotify-library", [("Night Drive", "Luma Vale", SID, None)], id="YourLibrary.json"),
    pytest.param(json.dumps({"playlists": [{"name": "Late", "lastModifiedDate": "2024-02-21", "items": [
        {"track": {"trackName": "Night Drive", "artistName": "Luma Vale", "albumName": "A",
                   "trackUri": f"spotify:track:{SID}"}, "episode": None, "localTrack": None,
         "addedDate": "2024-01-19"},
        {"track": None, "episode": {"episodeName": "x"}, "localTrack": None, "addedDate": "2024-01-19"}]}]}).encode(),
                 "spotify-playlists", [("Night Drive", "Luma Vale", SID, None)], id="Playlist1.json"),
    pytest.param(("\ufeff" + PAVEL_HEADER + "\n" + pavel_row() + "\n").encode(), "exportify",
                 [("Night Drive", "Luma Vale", SID, None)], id="exportify.net with BOM"),
    pytest.param((WATSON_HEADER + "\n" + watson_row() + "\n").encode(), "exportify-watsonbox",
                 [("Night Drive", "Luma Vale", SID, "GBXYZ2400123")], id="watsonbox"),
    pytest.param((WATSON_GERMAN + "\n" + watson_row() + "\n").encode(), "exportify-watsonbox",
                 [("Night Drive", "Luma Vale", SID, "GBXYZ2400123")], id="watsonbox, localized header"),
    pytest.param(b"artist,title,isrc,spotify id\nLuma Vale,Night Drive,gbxyz2400123,\nKai Ro,Deep,," + SID2.encode()
                 + b"\n", "plain-csv",
                 [("Night Drive", "Luma Vale", None, "GBXYZ2400123"), ("Deep", "Kai Ro", SID2, None)], id="plain CSV"),
    pytest.param(b"Title;Artist\r\n=HYPERLINK(\"http://x\");+Plus Minus\r\n", "plain-csv",
                 [('=HYPERLINK("http://x")', "+Plus Minus", None, None)], id="semicolons, formula-looking cells"),
]


@pytest.mark.parametrize(("data", "fmt", "expected"), GOOD)
def test_supported_formats_are_read(data, fmt, expected):
    parsed = parse_bytes(data, "upload")
    assert parsed.format == fmt
    got = [(t.title, t.artist, t.spotify_id, t.isrc) for c in parsed.collections for t in c.tracks]
    assert got == expected


def test_exportify_artists_are_split_by_each_variants_rule():
    pavel = parse_bytes((PAVEL_HEADER + "\n" + pavel_row() + "\n").encode()).collections[0].tracks[0]
    watson = parse_bytes((WATSON_HEADER + "\n" + watson_row() + "\n").encode()).collections[0].tracks[0]
    assert pavel.artists == ("Luma Vale", "Kai Ro") and pavel.duration_ms == 214360
    assert watson.artists == ("Luma Vale", "Kai, Ro"), "watsonbox escapes commas inside names as \\,"


BAD = [
    pytest.param((PAVEL_HEADER + "\n" + pavel_row() + "\n" + pavel_row(name="") + "\n").encode(),
                 "upload was not imported, nothing was changed. line 3: “Track Name” is empty.", id="empty title"),
    pytest.param((PAVEL_HEADER + "\n" + pavel_row(duration="3:34") + "\n").encode(),
                 "upload was not imported, nothing was changed. line 2: “Duration (ms)” is not a whole number of "
                 "milliseconds: '3:34'.", id="bad duration"),
    pytest.param((PAVEL_HEADER + "\n" + pavel_row(uri="spotify:track:short") + "\n").encode(),
                 "upload was not imported, nothing was changed. line 2, “Track URI”: not a Spotify track URI "
                 "(spotify:track: and 22 letters or digits): 'spotify:track:short'.", id="bad URI"),
    pytest.param((PAVEL_HEADER + "\n" + pavel_row(added="yesterday") + "\n").encode(),
                 "upload was not imported, nothing was changed. line 2, “Added At”: not a date (like 2024-01-19 or "
                 "2024-01-19T18:02:11Z): 'yesterday'.", id="bad date"),
    pytest.param(b"artist,title\nA,B,C\n", "upload was not imported, nothing was changed. line 2: 3 fields, but "
                 "the header has 2 (a separator inside an unquoted field?).", id="extra field"),
    pytest.param(b"artist,title,isrc\nA,B,XX\n", "upload was not imported, nothing was changed. line 2: “isrc” is "
                 "not an ISRC (12 letters and digits like GBAYE0601498): 'XX'.", id="bad ISRC"),
    pytest.param(b"singer,tune\nA,B\n", "upload: line 1 has no artist and title column. A CSV needs a header with "
                 "“artist” and “title” (optionally “isrc” and “spotify id”), or must be an Exportify export; the "
                 "header found was: singer, tune.", id="unknown header"),
    pytest.param(b"artist,title\n", "upload has a header but no tracks.", id="no rows"),
    pytest.param(library_json([{"artist": "A", "track": ""}]),
                 "upload was not imported, nothing was changed. tracks[0]: “track” is missing or empty.",
                 id="YourLibrary without track name"),
    pytest.param(b'{"tracks": [}', "upload is not valid JSON: line 1, column 13: Expecting value.", id="broken JSON"),
    pytest.param(b'{"podcasts": []}', "upload is neither Spotify's YourLibrary.json (with a “tracks” list) nor a "
                 "Playlist1.json (with a “playlists” list).", id="other JSON"),
    pytest.param("artist,title\nBjörk,Jóga\n".encode("latin-1"), "upload is not UTF-8: line 2 has the byte 0xF6, "
                 "which UTF-8 does not allow (the file is probably Latin-1 or Windows-1252). Save it as UTF-8 (in a "
                 "spreadsheet: “CSV UTF-8”) and import it again.", id="Latin-1"),
    pytest.param("artist,title\nA,B\n".encode("utf-16"), "upload is UTF-16 encoded; save it as UTF-8 (in a "
                 "spreadsheet: “CSV UTF-8”) and import it again.", id="UTF-16"),
]


@pytest.mark.parametrize(("data", "message"), BAD)
def test_malformed_files_are_refused_with_the_line_and_field(data, message):
    with pytest.raises(FileImportError) as refused:
        parse_bytes(data, "upload")
    assert str(refused.value) == message


def test_many_problems_are_listed_together_with_a_count_of_the_rest():
    rows = "\n".join(f"A{i}," for i in range(8))
    with pytest.raises(FileImportError, match=r"line 2: “title” is empty; .* line 6: “title” is empty \(and 3 more "
                                              r"problems\)\.$"):
        parse_bytes(f"artist,title\n{rows}\n".encode(), "upload")


def test_files_over_the_size_limit_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "MAX_BYTES", 1024 * 1024)
    big = tmp_path / "big.csv"
    big.write_bytes(b"artist,title\n" + b"A,B\n" * 300_000)
    with pytest.raises(FileImportError, match=r"^big\.csv is 1\.1 MB; files up to 1 MB can be imported\."):
        parse_file(big)


@pytest.fixture
def factory(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'files.db'}")
    Base.metadata.create_all(engine)
    session_factory = sessionmaker(bind=engine, expire_on_commit=False)
    with session_factory() as session:
        session.add(User(spotify_id="local-ana"))
        session.commit()
    return session_factory


def counts(factory) -> tuple[int, int, int, int]:
    with factory() as session:
        return tuple(session.scalar(select(func.count()).select_from(model))
                     for model in (Track, LibraryItem, LibraryImport, LibraryPlaylist))


def test_a_bad_row_anywhere_leaves_the_store_untouched(factory, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("artist,title\n" + "".join(f"A{i},T{i}\n" for i in range(500)) + "broken,\n")
    with pytest.raises(FileImportError, match="line 502"):
        import_file(factory, 1, path, RunSummary("t"), Progress())
    assert counts(factory) == (0, 0, 0, 0)


def test_a_file_import_writes_tracks_items_and_playlists_and_replaces_its_earlier_import(factory, tmp_path):
    path = tmp_path / "Playlist1.json"
    playlist = {"name": "Late", "items": [
        {"track": {"trackName": "Night Drive", "artistName": "Luma Vale", "albumName": "A",
                   "trackUri": f"spotify:track:{SID}"}, "addedDate": "2024-01-19"},
        {"track": {"trackName": "Deep", "artistName": "Kai Ro", "albumName": "B", "trackUri": ""},
         "addedDate": "2024-01-20"}]}
    path.write_text(json.dumps({"playlists": [playlist]}))
    import_file(factory, 1, path, RunSummary("t"), Progress())
    import_file(factory, 1, path, RunSummary("t"), Progress())
    assert counts(factory) == (2, 2, 2, 1), "the same file again: same tracks, same playlist, items replaced"
    with factory() as session:
        deep = session.scalar(select(Track).where(Track.title == "Deep"))
        assert deep.spotify_id is None and deep.artist == "Kai Ro"
