"""The whose-song network: form validation, shared tracks kept out, the hidden-layer forward pass and the doubts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from app.models.whose_song import (
    OTHER, OWNER, CompareInputError, NetworkSettings, compare, last_hidden_layer, least_sure, make_network,
    network_settings, two_libraries,
)


@pytest.mark.parametrize("form, problem", [
    ({"layers": 0}, "Hidden layers must be from 1 to 4, not 0"),
    ({"layers": 5}, "Hidden layers must be from 1 to 4, not 5"),
    ({"layers": "two"}, "Hidden layers must be a whole number"),
    ({"layers": 1.5}, "Hidden layers must be a whole number"),
    ({"units": 1}, "Units per layer must be from 2 to 256, not 1"),
    ({"units": 1000}, "Units per layer must be from 2 to 256, not 1000"),
    ({"units": None}, "Units per layer must be a whole number"),
    ({"activation": "softmax"}, "Activation must be one of relu, tanh, logistic"),
])
def test_the_form_is_refused_outside_its_bounds_naming_the_field(form, problem):
    with pytest.raises(CompareInputError, match=problem):
        network_settings(form)


def test_valid_settings_build_the_network_asked_for():
    settings = network_settings({"layers": "3", "units": 16, "activation": "tanh"})
    assert settings == NetworkSettings(3, 16, "tanh")
    assert settings.hidden_layer_sizes == (16, 16, 16)


def features(n_owner: int, n_other: int, n_shared: int, seed: int = 0) -> tuple[pd.DataFrame, list[int], list[int]]:
    """Two tastes apart in tempo and energy (with overlap), a genre each, and some songs both hold."""
    rng = np.random.default_rng(seed)
    ids = list(range(1, n_owner + n_other + n_shared + 1))
    owner_ids = ids[:n_owner] + ids[-n_shared:] if n_shared else ids[:n_owner]
    other_ids = ids[n_owner:]
    centre = np.array([1.0] * n_owner + [-1.0] * n_other + [0.0] * n_shared)
    frame = pd.DataFrame({"deezer_bpm": 120 + 20 * centre + rng.normal(0, 15, len(ids)),
                          "deezer_gain": centre + rng.normal(0, 1.0, len(ids)),
                          "genre": np.where(centre > 0, "Dance", np.where(centre < 0, "Jazz", "Pop")),
                          "decade": "2010s"}, index=pd.Index(ids, name="track_id"))
    return frame, owner_ids, other_ids


def test_tracks_in_both_libraries_are_kept_out_of_training_and_reported():
    frame, owner_ids, other_ids = features(60, 50, 7)
    data = two_libraries(frame, owner_ids, other_ids)
    assert len(data.shared) == 7
    assert not set(data.shared) & set(data.frame.index)
    assert (data.y == OWNER).sum() == 60 and (data.y == OTHER).sum() == 50
    assert data.spec.numeric == ("deezer_bpm", "deezer_gain") and data.spec.categorical == ("genre", "decade")


def test_a_column_most_of_one_library_lacks_is_not_used():
    frame, owner_ids, other_ids = features(60, 50, 0)
    frame["reccobeats_energy"] = np.where(frame.index.isin(other_ids), np.nan, 0.5)
    assert "reccobeats_energy" not in two_libraries(frame, owner_ids, other_ids).spec.columns


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_the_last_hidden_layer_is_what_the_output_layer_reads():
    """The forward pass through coefs_/intercepts_ reproduces predict_proba when the output layer is applied."""
    frame, owner_ids, other_ids = features(60, 50, 0)
    data = two_libraries(frame, owner_ids, other_ids)
    for activation in ("relu", "tanh", "logistic"):
        network = make_network(data.spec, NetworkSettings(2, 8, activation)).fit(data.frame, data.y)
        hidden = last_hidden_layer(network, data.frame)
        mlp = network.named_steps["classifier"]
        assert hidden.shape == (len(data.frame), 8)
        p_owner = expit(hidden @ mlp.coefs_[-1] + mlp.intercepts_[-1]).ravel()
        np.testing.assert_allclose(p_owner, network.predict_proba(data.frame)[:, 1], rtol=1e-6, atol=1e-9)


def test_compare_scores_held_out_tracks_and_maps_every_track():
    frame, owner_ids, other_ids = features(80, 60, 10)
    data = two_libraries(frame, owner_ids, other_ids)
    result = compare(data, NetworkSettings(1, 8, "relu"), shared_features=frame.loc[data.shared])
    metrics = result.metrics
    assert metrics["roc_auc"] > 0.8, metrics  # the two made-up tastes are far apart
    assert 0 <= metrics["f1"] <= 1
    assert np.array(metrics["confusion"]).sum() == metrics["n_test"] == 35
    assert {p["owner"] for p in result.points} == {OWNER, OTHER, "both"}
    assert len(result.points) == 150
    assert set(result.probabilities.index) == set(data.frame.index)


def test_least_sure_picks_the_probabilities_nearest_one_half():
    p = pd.Series([0.9, 0.52, 0.1, 0.45, 0.6], index=[1, 2, 3, 4, 5])
    assert list(least_sure(p, 3).index) == [2, 4, 5]
