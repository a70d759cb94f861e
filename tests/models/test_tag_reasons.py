"""musicnn's tags read as "sounds chill, mellow, acoustic" in an assignment's reasons; its embedding never shows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from app.analysis.explore import feature_columns, feature_label
from app.models.explain import FeatureRef, ReasonColumns, RowValues, assignment_reasons, coefficient_words


def refs(*columns):
    return [FeatureRef("numeric", c) for c in columns]


def test_the_tags_that_stand_out_make_one_sounds_reason_in_their_order():
    columns = refs("musicnn_emb_007", "musicnn_tag_chill", "preview_tempo", "musicnn_tag_mellow",
                   "musicnn_tag_acoustic", "musicnn_tag_rock")
    contributions = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.5])
    scaled = np.array([1.0, 1.0, 1.0, 1.0, 1.0, -1.0])  # rock below the mean: its absence speaks
    reasons = assignment_reasons(contributions, scaled, {"preview_tempo": 92.0}, columns)
    assert reasons == ["sounds chill, mellow, acoustic", "92 BPM", "does not sound rock"]


def test_a_tag_below_the_mean_reads_as_its_absence():
    reasons = assignment_reasons(np.array([1.0]), np.array([-1.0]), {}, refs("musicnn_tag_hard_rock"))
    assert reasons == ["does not sound hard rock"]


def test_model_coefficients_name_tags_in_words():
    words = coefficient_words(np.array([2.0, -1.0]), refs("musicnn_tag_female_vocalists", "musicnn_tag_party"))
    assert [w["feature"] for w in words["for"]] == ["sounds female-voiced", "does not sound party"]


def test_explore_and_map_offer_the_tags_but_not_the_embedding():
    frame = pd.DataFrame({"track_id": [1, 2, 3], "context": ["a", "b", "a"], "musicnn_tag_chill": [0.1, 0.5, 0.2],
                          "musicnn_emb_000": [1.0, 2.0, 3.0], "preview_tempo": [90.0, 120.0, 100.0]})
    assert feature_columns(frame) == ["musicnn_tag_chill", "preview_tempo"]
    assert feature_label("musicnn_tag_chill") == "sounds chill (musicnn tag)"


def test_a_table_read_by_column_gives_the_reasons_a_row_dict_gives():
    """The sort explains thousands of tracks from column arrays (`RowValues`) with the columns' kinds worked out once
    (`ReasonColumns`): the reasons are those of the row as a dict, with a missing-value indicator and a present
    value, an integer year and a NaN among them."""
    columns = [FeatureRef("numeric", "deezer_bpm"), FeatureRef("missing", "deezer_bpm"),
               FeatureRef("numeric", "deezer_album_release_year"), FeatureRef("numeric", "musicnn_tag_chill"),
               FeatureRef("numeric", "preview_tempo"), FeatureRef("numeric", "musicnn_emb_001")]
    table = pd.DataFrame({"deezer_bpm": [128.0, np.nan], "deezer_album_release_year": [1987, 2021],
                          "musicnn_tag_chill": [0.7, 0.1], "preview_tempo": [127.5, 90.0],
                          "musicnn_emb_001": [1.0, 2.0]})
    arrays = {c: table[c].to_numpy() for c in table.columns}
    rows = table.to_dict("records")
    kinds = ReasonColumns.of(columns)
    rng = np.random.default_rng(3)
    for _ in range(50):
        contributions, scaled = rng.normal(size=len(columns)), rng.normal(size=len(columns))
        for i, row in enumerate(rows):
            by_dict = assignment_reasons(contributions, scaled, row, columns, top=4)
            assert assignment_reasons(contributions, scaled, RowValues(arrays, i), columns, 4, kinds) == by_dict
    assert RowValues(arrays, 0).get("deezer_album_release_year") == 1987
    assert type(RowValues(arrays, 0).get("deezer_album_release_year")) is int
    assert RowValues(arrays, 0).get("no such column") is None
