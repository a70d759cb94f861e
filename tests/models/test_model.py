"""Training on synthetic playlists, sorting a library, and saving/loading the model."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from app.models import persistence
from app.models.cutoffs import CutoffChoice
from app.models.dataset import build_dataset
from app.models.features import derive_columns, infer_feature_spec
from app.models.model import ModelInputError, how_many, promise_words
from app.models.persistence import ArtifactError, load_model, save_model
from app.models.training import train_context_model

from tests.models.conftest import SMALL_GRID, make_rows


@pytest.fixture(scope="module")
def trained():
    # A promise rests on the playlists, not their tracks: 24 small playlists per context can show 0.8.
    rows = derive_columns(make_rows(playlists_per_context=24, tracks_per_playlist=5, shared=1))
    spec, _ = infer_feature_spec(rows, exclude=("track_id", "context", "playlist_id"),
                                 group_col="playlist_id")
    dataset = build_dataset(rows, id_col="track_id", label_col="context", spec=spec,
                            group_col="playlist_id", min_tracks=10)
    model, report = train_context_model(dataset, id_col="track_id", grid=SMALL_GRID, n_splits=3,
                                        test_size=0.2, min_positives=5, n_jobs=1)
    return model, report, rows


def test_report_is_json_data_with_the_promised_sections(trained):
    _, report, _ = trained
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data["contexts"]) == {"sleep", "study", "workout"}
    workout = data["contexts"]["workout"]
    assert [row["cutoff"] for row in workout["curve"]][:2] == [0.05, 0.1]
    assert len(workout["curve"]) == 19
    assert workout["coefficients"]["for"][0]["feature"]
    assert data["grid"]["grid"] == [{"C": [1.0], "penalty": ["l2"], "class_weight": [None]}]
    assert data["test"]["tracks"] > 0 and "workout" in data["test"]["contexts"]
    assert data["confusion"]["columns"][-1] == "unsorted"
    assert data["data"]["class_sizes"]["sleep"] == {"tracks": 120, "playlists": 24}


def test_well_separated_contexts_reach_the_target(trained):
    model, _, _ = trained
    for context in ("sleep", "workout"):  # study sits between them and shares workout tracks
        assert model.cutoffs[context].reached
        assert model.cutoffs[context].promised_precision >= 0.8


def test_sort_output_has_one_row_per_track_and_joined_contexts(trained):
    model, _, rows = trained
    library = rows.drop_duplicates("track_id").sample(60, random_state=0)
    odd = library.iloc[:1].assign(track_id="odd", energy=0.5, tempo=100.0, acousticness=1.0)
    result = model.sort(pd.concat([library, odd]))
    table = result.table
    assert list(table.columns) == ["track_id", "contexts", "best_effort", "p_sleep", "p_study",
                                   "p_workout"]
    assert len(table) == 61
    adapted = {c: result.choices[c] for c in model.contexts}
    for _, row in table.iterrows():
        best = max(row[f"p_{c}"] for c in model.contexts)
        top = [c for c in model.contexts if row[f"p_{c}"] == best]
        expected = [c for c in model.contexts if adapted[c].cutoff is not None
                    and row[f"p_{c}"] >= adapted[c].cutoff
                    and (c in top or set(model.partners.get(c, ())) & set(top))]
        assert row["contexts"] == ";".join(expected)
        assert row["best_effort"] == ""
    assert 0 < result.coverage <= 1
    first = result.assignments[0]
    assert set(first) == {"track_id", "context", "probability", "assigned", "best_effort",
                          "reasons"}
    assert all(a["assigned"] for a in result.assignments)
    assert first["reasons"] and all(isinstance(r, str) for r in first["reasons"])
    # Calibrated: each track's probabilities and "none of these" sum to one.
    assert (table[[f"p_{c}" for c in model.contexts]].sum(axis=1) <= 1 + 1e-9).all()
    assert "sound like" in result.contexts["sleep"]["words"]


def _choice(context, cutoff, top_only):
    return CutoffChoice(context, cutoff, 0.8, 0.8, 0.8, 0.5, 10, True, "", top_only)


def test_the_exclusive_rule_gives_a_track_its_most_likely_context_only(trained):
    model, _, _ = trained
    model = replace(model, partners={}, cutoffs={"sleep": _choice("sleep", 0.3, True),
                                                 "study": _choice("study", 0.3, True),
                                                 "workout": _choice("workout", 0.3, True)})
    proba = np.array([
        [0.35, 0.0, 0.6],  # sleep passes its cutoff but workout fits better: workout only
        [0.1, 0.6, 0.2],   # study
        [0.2, 0.2, 0.1],   # nothing passes: unsorted
    ])
    np.testing.assert_array_equal(model.assign(proba), [
        [False, False, True], [False, True, False], [False, False, False]])
    # Contexts that genuinely co-occur may share a track; so may any when multi-context is on.
    paired = replace(model, partners={"sleep": ["workout"], "workout": ["sleep"]})
    assert paired.assign(proba)[0].tolist() == [True, False, True]
    assert replace(model, multi_context=True).assign(proba)[0].tolist() == [True, False, True]


def test_co_occurrence_is_read_from_the_training_labels():
    from app.models.training import co_occurring
    labels = np.array([[1, 1, 0]] * 4 + [[1, 0, 0]] * 6 + [[0, 0, 1]] * 10, dtype=bool)
    assert co_occurring(labels, ["a", "b", "c"], share=0.3) == {"a": ["b"], "b": ["a"]}
    assert co_occurring(labels, ["a", "b", "c"], share=1.01) == {}


def test_an_unreachable_target_gives_no_playlist_unless_best_effort(trained):
    model, _, rows = trained
    strict = model.retarget(context_targets={"study": 0.999})
    choice = strict.cutoffs["study"]
    assert not choice.reached and choice.cutoff is None
    assert "no playlist, because" in choice.message
    effort = model.retarget(context_targets={"study": 0.999}, best_effort=True)
    choice, j = effort.cutoffs["study"], model.contexts.index("study")
    assert choice.best_effort and choice.cutoff is not None
    proba, weights = effort._oof_view()
    taken = effort.assign(proba)[:, j]
    assert taken.sum() == choice.assigned
    assert model.oof_truth[taken, j].mean() == pytest.approx(choice.expected_precision)
    # A best-effort context stays out of `contexts`, in its own column.
    library = rows.drop_duplicates("track_id")
    table = effort.sort(library, explain=False, adapt=False).table
    assert not table["contexts"].str.contains("study").any()
    assert table["best_effort"].str.contains("study").any()


def test_a_higher_target_never_realises_less_on_the_training_folds(trained):
    model, _, _ = trained
    previous = 0.0
    for target in (0.6, 0.8, 0.9, 0.95):
        m = model.retarget(target)
        assigned = m.assign(m.oof_proba)
        made = assigned.sum()
        precision = (assigned & model.oof_truth).sum() / made if made else 1.0
        assert precision >= previous - 1e-9
        previous = precision


def test_a_library_unlike_the_training_tracks_is_flagged(trained):
    model, _, rows = trained
    strange = rows.drop_duplicates("track_id").head(40).assign(
        energy=1.0, tempo=260.0, acousticness=0.0)
    result = model.sort(strange)
    assert result.contexts["workout"]["assigned"] >= 5
    assert result.contexts["workout"]["looks_off"]
    assert any(m.startswith("'workout' looks off") for m in result.messages)
    normal = model.sort(rows.drop_duplicates("track_id"))
    assert not any(s["looks_off"] for s in normal.contexts.values())


def test_sorting_needs_the_feature_columns(trained):
    model, _, rows = trained
    with pytest.raises(ModelInputError, match="missing feature column.*: tempo"):
        model.sort(rows.drop(columns="tempo"))


def test_retarget_rechooses_cutoffs_without_training(trained):
    model, _, _ = trained
    strict = model.retarget(context_targets={"study": 0.95})
    assert strict.cutoffs["study"].target_precision == 0.95
    assert strict.cutoffs["sleep"] == model.cutoffs["sleep"]
    with pytest.raises(KeyError, match="unknown context"):
        model.retarget(context_targets={"party": 0.9})


def test_artifact_round_trip(trained, tmp_path):
    model, _, rows = trained
    path = tmp_path / "model.joblib"
    header = save_model(model, path, {"metrics": {"note": "x"}})
    loaded, read = load_model(path)
    assert read == header
    assert read["libraries"]["scikit-learn"] and read["format_version"] == 3
    np.testing.assert_allclose(loaded.predict_proba(rows), model.predict_proba(rows))


def test_foreign_file_is_refused(tmp_path):
    path = tmp_path / "other.joblib"
    path.write_bytes(b"not a model")
    with pytest.raises(ArtifactError, match="is not a contextify model artifact"):
        load_model(path)


def test_incompatible_versions_are_named(trained, tmp_path, monkeypatch):
    model, _, _ = trained
    path = tmp_path / "model.joblib"
    real = persistence.library_versions()
    monkeypatch.setattr(persistence, "library_versions",
                        lambda: {**real, "scikit-learn": "1.2.0"})
    monkeypatch.setattr(persistence, "FORMAT_VERSION", 0)
    save_model(model, path)
    monkeypatch.undo()
    with pytest.raises(ArtifactError) as error:
        load_model(path)
    sklearn_here = ".".join(real["scikit-learn"].split(".")[:2])
    assert str(error.value) == (
        f"incompatible model artifact: format version 0 (artifact) vs {persistence.FORMAT_VERSION} (here); "
        f"scikit-learn 1.2 (artifact) vs {sklearn_here} (here). Retrain it with `flask train`.")


def test_two_contexts_train_like_any_other_number():
    # With exactly two contexts the grid-search scorer once took the problem for a binary one and crashed.
    rows = derive_columns(make_rows())
    rows = rows[rows["context"].isin(sorted(rows["context"].unique())[:2])]
    spec, _ = infer_feature_spec(rows, exclude=("track_id", "context", "playlist_id"), group_col="playlist_id")
    dataset = build_dataset(rows, id_col="track_id", label_col="context", spec=spec, group_col="playlist_id",
                            min_tracks=10)
    model, report = train_context_model(dataset, id_col="track_id", grid=SMALL_GRID, n_splits=3, test_size=0.2,
                                        min_positives=5, n_jobs=1)
    assert len(model.contexts) == 2
    assert report.grid["best_score"] > 0.5


def test_the_promise_says_how_many_songs_only_as_far_as_the_estimate_can_tell():
    assert how_many(0.3, 0.01, 1000) == "about 300"
    assert how_many(0.3, None, 1000) == "about 300"  # a model adapted before errors were kept
    assert how_many(0.3, 0.08, 100) == "between 14 and 46"  # 0.3 +- 1.96 x 0.08
    assert how_many(0.3, 1.3, 100) == ""
    choice = CutoffChoice("sleep", 0.6, 0.8, 0.8, 0.8, 0.5, 10, True, "", False)
    assert promise_words("sleep", how_many(0.3, 1.3, 100), 12, choice).startswith(
        "how many of these songs are Sleep cannot be told from their sound; the playlist holds the 12")
    assert promise_words("sleep", how_many(0.3, 0.01, 1000), 12, choice).startswith(
        "about 300 of these songs sound like Sleep")
