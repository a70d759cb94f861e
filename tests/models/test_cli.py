"""The train and sort commands, driven through click's CliRunner."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from app.commands.context_model import sort_command, train_command

from tests.models.conftest import make_rows


@pytest.fixture
def csv(tmp_path):
    path = tmp_path / "tracks.csv"
    make_rows().to_csv(path, index=False)
    return path


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def model(tmp_path, csv, runner, small_grid):
    out = tmp_path / "model.joblib"
    result = runner.invoke(train_command, ["--from-csv", str(csv), "--label", "context",
                                           "--min-tracks", "10", "--folds", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


COLUMNS = ("track_id, playlist_id, context, energy, tempo, acousticness, key, mode, "
           "release_date")


@pytest.mark.parametrize("args, message", [
    (["--label", "mood"], f"--label: column 'mood' is not in the CSV (columns: {COLUMNS})"),
    (["--label", "context", "--id-col", "isrc"],
     f"--id-col: column 'isrc' is not in the CSV (columns: {COLUMNS})"),
    (["--label", "context", "--group-col", "album"],
     f"--group-col: column 'album' is not in the CSV (columns: {COLUMNS})"),
    (["--label", "context", "--features", "energy,loudness"],
     "--features: column 'loudness' is not in the CSV"),
    (["--label", "context", "--context-precision", "sleep=2"],
     "'sleep=2' is not CONTEXT=PRECISION with 0 < PRECISION < 1"),
])
def test_train_usage_errors_name_the_column(runner, csv, tmp_path, args, message):
    result = runner.invoke(train_command, ["--from-csv", str(csv), *args,
                                           "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


@pytest.mark.parametrize("labels, message", [
    ([""] * 3, "Error: label column 'context' has no values"),
    (["gym"] * 3, "Error: label column 'context' has a single context ('gym'); need at least two"),
])
def test_unusable_label_is_a_clear_error(runner, tmp_path, labels, message):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"track_id": ["a", "b", "c"], "context": labels,
                  "energy": [0.1, 0.5, 0.9]}).to_csv(path, index=False)
    result = runner.invoke(train_command, ["--from-csv", str(path), "--label", "context",
                                           "--out", str(tmp_path / "m")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == message


def test_missing_id_column_is_a_clear_error(runner, tmp_path):
    path = tmp_path / "noid.csv"
    pd.DataFrame({"context": ["a", "b"], "energy": [0.1, 0.2]}).to_csv(path, index=False)
    result = runner.invoke(train_command, ["--from-csv", str(path), "--label", "context",
                                           "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "no id column: the CSV has none of track_id, id; pass --id-col" in result.output


def test_train_json_is_the_last_line(runner, csv, tmp_path, small_grid):
    out = tmp_path / "model.joblib"
    result = runner.invoke(train_command, ["--from-csv", str(csv), "--label", "context",
                                           "--min-tracks", "10", "--folds", "3",
                                           "--context-precision", "Sleep=0.9",
                                           "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["model"] == str(out)
    assert report["contexts"]["sleep"]["target_precision"] == 0.9
    assert report["contexts"]["workout"]["target_precision"] == 0.8
    assert out.exists()


def test_sort_writes_one_row_per_track(runner, csv, model, tmp_path):
    out = tmp_path / "sorted.csv"
    result = runner.invoke(sort_command, ["--model", str(model), "--from-csv", str(csv),
                                          "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == ["track_id", "contexts", "best_effort", "p_sleep", "p_study",
                                   "p_workout"]
    assert len(table) == make_rows().track_id.nunique()
    assert summary["tracks"] == len(table)
    assert summary["coverage"] == pytest.approx((table["contexts"] != "").mean())
    for context, numbers in summary["contexts"].items():
        assert numbers["assigned"] == table["contexts"].str.split(";").map(
            lambda cs, c=context: c in cs).sum()
        assert 0 <= numbers["promised_precision"] <= 1
    assert "repeated id(s)" in result.stderr


def test_sort_explain_adds_reasons(runner, csv, model, tmp_path):
    out = tmp_path / "sorted.csv"
    result = runner.invoke(sort_command, ["--model", str(model), "--from-csv", str(csv),
                                          "--explain", "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, keep_default_na=False)
    placed = table[table.contexts != ""]
    assert placed.why.str.match(r"^(sleep|study|workout): ").all()


def test_sort_refuses_a_foreign_model_and_missing_features(runner, csv, model, tmp_path):
    fake = tmp_path / "fake.joblib"
    fake.write_text("hello")
    result = runner.invoke(sort_command, ["--model", str(fake), "--from-csv", str(csv),
                                          "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 1
    assert f"Error: {fake} is not a contextify model artifact" in result.output
    thin = tmp_path / "thin.csv"
    make_rows().drop(columns=["tempo"]).to_csv(thin, index=False)
    result = runner.invoke(sort_command, ["--model", str(model), "--from-csv", str(thin),
                                          "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert "missing feature column(s) the model needs: tempo" in result.output


def test_empty_labels_and_a_background_file_teach_none_of_these(runner, csv, tmp_path, small_grid):
    rows = make_rows()
    # Tracks that fit none of the contexts: loud, fast and acoustic at once.
    odd = rows.drop_duplicates("track_id").head(40).assign(
        track_id=lambda f: "odd-" + f.track_id, context=None, playlist_id="odd-pl",
        energy=0.95, tempo=190.0, acousticness=0.95)
    labelled = tmp_path / "with_empty.csv"
    pd.concat([rows, odd.head(20)]).to_csv(labelled, index=False)
    background = tmp_path / "background.csv"
    odd.tail(20).drop(columns=["context"]).to_csv(background, index=False)
    result = runner.invoke(train_command, ["--from-csv", str(labelled), "--label", "context",
                                           "--background", str(background), "--target-precision",
                                           "0.8", "--out", str(tmp_path / "m"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["data"]["background_tracks"] == 40
    assert report["data"]["grouped_by"] == "playlist"
    assert report["data"]["training_mix"]["none of these"] > 0
    assert report["data"]["reliability"]["bins"]


@pytest.mark.parametrize("change, message", [
    (lambda f: f.assign(context="sleep"), "has a single context ('sleep')"),
    (lambda f: f.assign(energy=None, tempo=None, acousticness=None, key=None, mode=None,
                        release_date=None), "every feature column is empty"),
])
def test_bad_training_data_is_refused_and_nothing_is_written(runner, tmp_path, change, message):
    bad = tmp_path / "bad.csv"
    change(make_rows()).to_csv(bad, index=False)
    out = tmp_path / "m"
    result = runner.invoke(train_command, ["--from-csv", str(bad), "--label", "context",
                                           "--out", str(out)])
    assert result.exit_code != 0
    assert message in " ".join(result.output.split())
    assert not out.exists()


@pytest.mark.parametrize("target", ["0", "1", "1.5"])
def test_a_target_outside_zero_one_is_refused(runner, csv, tmp_path, target):
    out = tmp_path / "m"
    result = runner.invoke(train_command, ["--from-csv", str(csv), "--label", "context",
                                           "--target-precision", target, "--out", str(out)])
    assert result.exit_code == 2 and not out.exists()


def test_a_background_bigger_than_the_data_is_refused(runner, csv, tmp_path):
    rows = make_rows()
    big = pd.concat([rows.assign(track_id=rows.track_id + f"-bg{i}") for i in range(2)])
    background = tmp_path / "big.csv"
    big.drop(columns=["context"]).to_csv(background, index=False)
    out = tmp_path / "m"
    result = runner.invoke(train_command, ["--from-csv", str(csv), "--label", "context",
                                           "--background", str(background), "--out", str(out)])
    assert result.exit_code == 1 and not out.exists()
    assert "more than the" in result.output and "labelled ones" in result.output


def test_best_effort_contexts_get_their_own_column_never_contexts(runner, csv, model, tmp_path):
    out = tmp_path / "sorted.csv"
    result = runner.invoke(sort_command, ["--model", str(model), "--from-csv", str(csv),
                                          "--target-precision", "0.999", "--best-effort",
                                          "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, keep_default_na=False)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    effort = [c for c, s in summary["contexts"].items() if s["best_effort"]]
    assert effort, summary
    for context in effort:
        assert not table["contexts"].str.contains(context).any()
        assert "BEST EFFORT" in summary["contexts"][context]["words"]
