"""`flask train`, `flask sort` and `flask import-library` given bad input: the exact message, a non-zero exit, no traceback."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from app.extensions import db
from app.models import pipeline, training
from app.commands.context_model import sort_command, train_command
from app.models.persistence import FORMAT_VERSION, MAGIC, _major_minor, library_versions
from app.commands.library import import_library_command
from tests.auth.helpers import sandbox_app
from tests.models.conftest import SMALL_GRID, make_rows

COLUMNS = "track_id, playlist_id, context, energy, tempo, acousticness, key, mode, release_date"


@pytest.fixture
def cli():
    return CliRunner()


@pytest.fixture
def good_csv(tmp_path):
    path = tmp_path / "tracks.csv"
    make_rows().to_csv(path, index=False)
    return path


def run(cli, command, args):
    result = cli.invoke(command, [str(a) for a in args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def last_line(result) -> str:
    return " ".join(result.output.strip().splitlines()[-1].split())


def write(tmp_path, name: str, data: bytes | pd.DataFrame):
    path = tmp_path / name
    if isinstance(data, pd.DataFrame):
        data.to_csv(path, index=False)
    else:
        path.write_bytes(data)
    return path


def labels(values) -> pd.DataFrame:
    return pd.DataFrame({"track_id": [f"t{i}" for i in range(len(values))], "context": values,
                         "energy": [0.1 * (i % 10) for i in range(len(values))]})


TRAIN_CASES = [
    # name, csv (bytes, frame or None for the good one), extra args, exit code, last line of output
    ("unknown label column", None, ["--label", "mood"], 2,
     f"Error: --label: column 'mood' is not in the CSV (columns: {COLUMNS})"),
    ("no label given", None, [], 2, "Error: --from-csv needs --label, the column holding each row's context"),
    ("unknown id column", None, ["--label", "context", "--id-col", "isrc"], 2,
     f"Error: --id-col: column 'isrc' is not in the CSV (columns: {COLUMNS})"),
    ("unknown group column", None, ["--label", "context", "--group-col", "album"], 2,
     f"Error: --group-col: column 'album' is not in the CSV (columns: {COLUMNS})"),
    ("unknown feature column", None, ["--label", "context", "--features", "energy,loudness"], 2,
     "Error: --features: column 'loudness' is not in the CSV"),
    ("no id column", labels(["a", "b"]).drop(columns=["track_id"]), ["--label", "context"], 2,
     "Error: no id column: the CSV has none of track_id, id; pass --id-col"),
    ("all labels empty", labels([""] * 4), ["--label", "context"], 1, "Error: label column 'context' has no values"),
    ("one class", labels(["gym"] * 4), ["--label", "context"], 1,
     "Error: label column 'context' has a single context ('gym'); need at least two"),
    ("one class in other spellings", labels(["Gym", " gym ", "GYM", "gym"]), ["--label", "context"], 1,
     "Error: label column 'context' has a single context ('gym'); need at least two"),
    ("too few tracks per class", labels(["gym", "sleep"] * 3), ["--label", "context"], 1,
     "Error: fewer than two contexts in 'context' have at least 30 tracks (--min-tracks); kept: none"),
    ("unknown context in a precision", None, ["--label", "context", "--context-precision", "jazz=0.9"], 2,
     "Error: Invalid value for --context-precision: unknown context(s): jazz"),
    ("precision out of range", None, ["--label", "context", "--context-precision", "sleep=2"], 2,
     "Error: Invalid value for --context-precision: 'sleep=2' is not CONTEXT=PRECISION with 0 < PRECISION < 1"),
    ("both sources", None, ["--label", "context", "--contexts", "gym"], 2,
     "Error: give either --contexts (harvested playlists) or --from-csv"),
    ("empty CSV", b"", ["--label", "context"], 2, "Error: --from-csv: in.csv is empty"),
    ("binary CSV", b"PK\x03\x04\x14\x00\x00\x00", ["--label", "context"], 2,
     "Error: --from-csv: in.csv is not a text file (it holds binary data)"),
    ("UTF-16 CSV", "track_id,context\n1,a\n".encode("utf-16-le"), ["--label", "context"], 2,
     "Error: --from-csv: in.csv is UTF-16 encoded; save it as UTF-8 and try again"),
    ("Latin-1 CSV", "track_id,context\n1,caf\xe9\n".encode("latin-1"), ["--label", "context"], 2,
     "Error: --from-csv: in.csv is not UTF-8: line 2 has the byte 0xE9 (Latin-1 or Windows-1252?); save it as "
     "UTF-8 and try again"),
    ("ragged CSV", b"track_id,context\n1,a\n2,b,c\n", ["--label", "context"], 2,
     "Error: --from-csv: in.csv is not a readable CSV: Expected 2 fields in line 3, saw 3"),
]


@pytest.mark.parametrize("data, args, code, message", [c[1:] for c in TRAIN_CASES], ids=[c[0] for c in TRAIN_CASES])
def test_train_refuses_bad_input_exactly(cli, tmp_path, good_csv, data, args, code, message):
    path = good_csv if data is None else write(tmp_path, "in.csv", data)
    result = run(cli, train_command, ["--from-csv", path, *args, "--out", tmp_path / "m.model"])
    assert (result.exit_code, last_line(result)) == (code, message)
    assert not (tmp_path / "m.model").exists(), "no model is written"


def test_train_refuses_a_missing_csv(cli, tmp_path):
    result = run(cli, train_command, ["--from-csv", tmp_path / "absent.csv", "--label", "context",
                                      "--out", tmp_path / "m.model"])
    assert (result.exit_code, last_line(result)) == (
        2, f"Error: --from-csv: cannot read {tmp_path / 'absent.csv'}: No such file or directory")


# ------------------------------------------------------------------------------------------- flask sort


def artifact(tmp_path, name: str, **header_changes) -> str:
    """A file with a model header as `flask train` writes it (changed as asked) and a payload never reached."""
    header = {"format_version": FORMAT_VERSION, "libraries": library_versions(), "contexts": ["a", "b"],
              **header_changes}
    path = tmp_path / name
    path.write_bytes(MAGIC + json.dumps(header).encode() + b"\n" + b"not a pickle: refused before it is read")
    return path


def sklearn_here() -> str:
    return _major_minor(library_versions()["scikit-learn"])


SORT_CASES = [
    ("a model of format version 1", lambda p: artifact(p, "v1.model", format_version=1), 1,
     f"Error: incompatible model artifact: format version 1 (artifact) vs {FORMAT_VERSION} (here). Retrain it "
     "with `flask train`."),
    ("a model without a version", lambda p: artifact(p, "none.model", format_version=None), 1,
     f"Error: incompatible model artifact: format version None (artifact) vs {FORMAT_VERSION} (here). Retrain it "
     "with `flask train`."),
    ("a model from another scikit-learn", lambda p: artifact(
        p, "old.model", libraries={**library_versions(), "scikit-learn": "0.24.2"}), 1,
     f"Error: incompatible model artifact: scikit-learn 0.24 (artifact) vs {sklearn_here()} (here). Retrain it "
     "with `flask train`."),
    ("not a model at all", lambda p: write(p, "fake.model", b"hello"), 1,
     "Error: {path} is not a contextify model artifact"),
    ("a damaged header", lambda p: write(p, "broken.model", MAGIC + b"{not json\n"), 1,
     "Error: {path} has a damaged header: Expecting property name enclosed in double quotes: line 1 column 2 "
     "(char 1)"),
    ("no model file", lambda p: p / "absent.model", 2, "Error: --model: {path} does not exist"),
]


@pytest.mark.parametrize("make, code, message", [c[1:] for c in SORT_CASES], ids=[c[0] for c in SORT_CASES])
def test_sort_refuses_a_model_it_cannot_trust_before_unpickling_it(cli, tmp_path, good_csv, make, code, message):
    path = make(tmp_path)
    result = run(cli, sort_command, ["--model", path, "--from-csv", good_csv, "--out", tmp_path / "o.csv"])
    assert (result.exit_code, last_line(result)) == (code, message.format(path=path))
    assert not (tmp_path / "o.csv").exists()


@pytest.fixture
def trained(cli, tmp_path, good_csv, monkeypatch):
    monkeypatch.setattr(pipeline, "DEFAULT_GRID", SMALL_GRID)
    monkeypatch.setattr(training, "DEFAULT_GRID", SMALL_GRID)
    out = tmp_path / "good.model"
    result = run(cli, train_command, ["--from-csv", good_csv, "--label", "context", "--min-tracks", 10,
                                      "--folds", 3, "--out", out])
    assert result.exit_code == 0, result.output
    return out


def test_sort_refuses_a_csv_without_what_the_model_needs(cli, tmp_path, trained):
    cases = [
        (make_rows().drop(columns=["tempo"]), [], 2, "Error: missing feature column(s) the model needs: tempo"),
        (make_rows(), ["--id-col", "isrc"], 2, f"Error: --id-col: column 'isrc' is not in the CSV (columns: {COLUMNS})"),
        (b"\x00\x01binary", [], 2, "Error: --from-csv: in.csv is not a text file (it holds binary data)"),
        (make_rows(), ["--context-precision", "jazz=0.5"], 2, "Error: Invalid value for --context-precision: unknown "
         "context(s): jazz; the model knows sleep, study, workout"),
    ]
    for data, args, code, message in cases:
        result = run(cli, sort_command, ["--model", trained, "--from-csv", write(tmp_path, "in.csv", data), *args,
                                         "--out", tmp_path / "o.csv"])
        assert (result.exit_code, last_line(result)) == (code, message)
        assert not (tmp_path / "o.csv").exists()


# ------------------------------------------------------------------------------------ flask import-library


@pytest.fixture
def library_app(app_config, sandbox):
    app = sandbox_app(app_config, sandbox)
    yield app
    with app.app_context():
        db.engine.dispose()


IMPORT_CASES = [
    ("binary file", "lib.xlsx", b"PK\x03\x04\x14\x00\x06\x00", "Error: lib.xlsx is not a text file (it holds binary "
     "data). Export a CSV (UTF-8) or use Spotify's JSON export, then import that."),
    ("missing columns", "lib.csv", b"name,album\nA,B\n", "Error: lib.csv: line 1 has no artist column. A CSV needs a "
     "header with “artist” and “title” (optionally “isrc” and “spotify id”), or must be an Exportify export; the "
     "header found was: name, album."),
    ("Latin-1", "lib.csv", "artist,title\nBj\xf6rk,J\xf3ga\n".encode("latin-1"), "Error: lib.csv is not UTF-8: line "
     "2 has the byte 0xF6, which UTF-8 does not allow (the file is probably Latin-1 or Windows-1252). Save it as "
     "UTF-8 (in a spreadsheet: “CSV UTF-8”) and import it again."),
    ("empty", "lib.json", b"", "Error: lib.json is empty."),
]


@pytest.mark.parametrize("name, data, message", [c[1:] for c in IMPORT_CASES], ids=[c[0] for c in IMPORT_CASES])
def test_import_library_refuses_a_bad_file_exactly(library_app, tmp_path, name, data, message):
    path = write(tmp_path, name, data)
    result = library_app.test_cli_runner().invoke(import_library_command, ["--user", "mira.s", "--file", str(path)])
    assert "Traceback" not in result.output
    assert (result.exit_code, last_line(result)) == (1, message)
