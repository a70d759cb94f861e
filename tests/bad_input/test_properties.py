"""Property-based: whatever bytes, text or rows arrive, the importers answer with data or their own error, never a crash.

Valid files built from generated tracks and labels read back with the same ids, names and contexts.
"""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.models.dataset import DatasetError, binarise_labels, normalise_context, parse_csv_bytes
from app.pipeline.file_records import FileImportError
from app.pipeline.files import parse_bytes

# Modest: the whole module runs in CI within seconds.
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------------------------- anything

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["track", "artist", "album", "uri", "name", "items", "trackName", "artistName",
                         "trackUri", "addedDate", "albumName", "x"]), children, max_size=6),
    max_leaves=25)
spotify_shaped = st.builds(lambda key, value: json.dumps({key: value}).encode(),
                           st.sampled_from(["tracks", "playlists", "other"]), json_values)
cells = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
header_words = st.sampled_from(["artist", "title", "isrc", "spotify id", "uri", "album", "duration_ms", "added_at",
                                "track name", "artist name(s)", "track uri", "artist uri(s)", "Track URI", "x", ""])


@st.composite
def csv_files(draw) -> bytes:
    header = draw(st.lists(header_words, min_size=1, max_size=6))
    rows = draw(st.lists(st.lists(cells, min_size=0, max_size=len(header) + 1), max_size=6))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])))
    writer.writerow(header)
    writer.writerows(rows)
    text = out.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-8", "latin-1", "utf-16-le"]))
    return text.encode(encoding, errors="replace")


any_file = st.one_of(st.binary(max_size=600), st.text(max_size=300).map(str.encode), spotify_shaped, csv_files())


def refused_cleanly(error: Exception, kind: type) -> None:
    assert type(error) is kind, repr(error)
    assert str(error).strip() and "Traceback" not in str(error)


@PROPERTY
@given(any_file)
def test_a_library_file_is_read_or_refused_with_a_file_import_error(data):
    try:
        parsed = parse_bytes(data, "upload.csv")
    except FileImportError as error:
        refused_cleanly(error, FileImportError)
        assert str(error).startswith(("upload.csv", "There is no file"))
        return
    assert parsed.n_tracks >= 1
    for collection in parsed.collections:
        for track in collection.tracks:
            assert track.title.strip() and track.artist.strip()


@PROPERTY
@given(st.one_of(st.binary(max_size=600), st.text(max_size=300).map(str.encode), csv_files()))
def test_a_training_csv_is_read_or_refused_with_a_dataset_error(data):
    try:
        frame = parse_csv_bytes(data, "train.csv", ["track_id", "context"])
    except DatasetError as error:
        refused_cleanly(error, DatasetError)
        assert str(error).startswith("train.csv ")
        return
    assert isinstance(frame, pd.DataFrame) and len(frame) >= 1


# ------------------------------------------------------------------------------------------ round trips

# Printable text without the NUL byte (a binary file's mark) and without blanks at either end (cells are trimmed).
names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).map(str.strip).filter(bool)
spotify_ids = st.from_regex(r"[0-9A-Za-z]{22}", fullmatch=True)
isrcs = st.from_regex(r"[A-Z]{2}[A-Z0-9]{3}[0-9]{7}", fullmatch=True)
tracks = st.lists(st.tuples(names, names, st.none() | spotify_ids, st.none() | isrcs), min_size=1, max_size=15)


@PROPERTY
@given(tracks, st.sampled_from([",", ";", "\t"]), st.booleans())
def test_a_valid_csv_library_reads_back_the_same_tracks(rows, delimiter, bom):
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(["title", "artist", "spotify id", "isrc"])
    writer.writerows([title, artist, spotify_id or "", isrc or ""] for title, artist, spotify_id, isrc in rows)
    parsed = parse_bytes(out.getvalue().encode("utf-8-sig" if bom else "utf-8"), "library.csv")
    assert [(t.title, t.artist, t.spotify_id, t.isrc) for t in parsed.collections[0].tracks] == rows


@PROPERTY
@given(tracks)
def test_a_valid_library_json_reads_back_the_same_tracks(rows):
    body = {"tracks": [{"track": title, "artist": artist, "album": "A",
                        **({"uri": f"spotify:track:{spotify_id}"} if spotify_id else {})}
                       for title, artist, spotify_id, _isrc in rows]}
    parsed = parse_bytes(json.dumps(body, ensure_ascii=False).encode(), "YourLibrary.json")
    assert [(t.title, t.artist, t.spotify_id) for t in parsed.collections[0].tracks] == \
        [(title, artist, spotify_id) for title, artist, spotify_id, _isrc in rows]


track_ids = st.one_of(st.from_regex(r"[0-9A-Za-z]{1,22}", fullmatch=True), names)
labelled = st.lists(st.tuples(track_ids, names, st.floats(0, 1)), min_size=1, max_size=25)


@PROPERTY
@given(labelled)
def test_a_valid_training_csv_keeps_every_id_and_label(rows):
    frame = pd.DataFrame(rows, columns=["track_id", "context", "energy"])
    data = frame.to_csv(index=False).encode()
    read = parse_csv_bytes(data, "train.csv", ["track_id", "context"])
    assert read["track_id"].tolist() == [track_id for track_id, _c, _e in rows], "ids read as written ('007', 'NA')"
    ids, labels, contexts, _ = binarise_labels(read, "track_id", "context")
    expected: dict[str, set[str]] = {}
    for track_id, context, _energy in rows:
        if normalise_context(context):
            expected.setdefault(track_id, set()).add(normalise_context(context))
    assert list(ids) == list(expected)
    assert {i: {c for c, on in zip(contexts, row) if on} for i, row in zip(ids, labels)} == expected
