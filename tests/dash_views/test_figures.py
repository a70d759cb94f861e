"""Figures carry the data they are given, and say so in words when there is none."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.analysis import explore
from app.dash_views import figures

FRAME = pd.DataFrame({"track_id": [1, 2, 3, 3, 4], "context": ["gym", "gym", "gym", "nap", "nap"],
                      "preview_tempo": [150.0, 140.0, 100.0, 100.0, 60.0],
                      "preview_energy": [0.9, 0.8, 0.5, 0.5, 0.1]})
COLUMNS = ["preview_energy", "preview_tempo"]


def is_empty_state(figure) -> bool:
    return not figure.data and figure.layout.meta == {"empty": True} and bool(figure.layout.annotations[0].text)


def test_class_sizes_bars_carry_the_counts():
    figure = figures.class_sizes_figure(explore.class_sizes(FRAME))
    assert list(figure.data[0].x) == ["gym", "nap"] and list(figure.data[0].y) == [3, 2]


def test_feature_means_heatmap_carries_the_means():
    means = explore.feature_means(FRAME, COLUMNS)
    figure = figures.feature_means_figure(means)
    assert np.allclose(np.array(figure.data[0].z, dtype=float), means.to_numpy())
    assert list(figure.data[0].x) == ["energy (preview)", "tempo (preview)"]


def test_distribution_boxes_carry_the_quartiles():
    stats = explore.distribution_stats(FRAME, "preview_tempo")
    figure = figures.distribution_figure(stats, "preview_tempo")
    assert [trace.name for trace in figure.data] == ["gym", "nap"]
    assert figure.data[0].median == (140.0,)


def test_overlap_heatmap_carries_jaccard_off_the_diagonal():
    figure = figures.jaccard_figure(explore.jaccard_matrix(FRAME))
    z = np.array(figure.data[0].z, dtype=float)
    assert z[0, 1] == pytest.approx(1 / 4) and np.isnan(z[0, 0])


def test_correlation_heatmap_and_map_carry_the_data():
    corr = figures.correlation_figure(explore.correlation(FRAME, COLUMNS))
    assert np.array(corr.data[0].z, dtype=float).shape == (2, 2)
    points = explore.pca_map(FRAME, COLUMNS)
    scatter = figures.map_figure(points, ["gym", "nap"])
    assert [trace.name for trace in scatter.data] == ["gym", "nap"]
    assert sum(len(trace.x) for trace in scatter.data) == len(FRAME)
    assert scatter.layout.xaxis.title.text == "PC1"


def test_a_context_keeps_its_colour_across_charts():
    sizes = figures.class_sizes_figure(explore.class_sizes(FRAME))
    scatter = figures.map_figure(explore.pca_map(FRAME, COLUMNS), ["gym", "nap"])
    assert sizes.data[0].marker.color[1] == scatter.data[1].marker.color


@pytest.mark.parametrize("figure", [
    figures.class_sizes_figure(pd.Series(dtype=int)),
    figures.feature_means_figure(pd.DataFrame()),
    figures.distribution_figure(pd.DataFrame(), "preview_tempo"),
    figures.jaccard_figure(pd.DataFrame()),
    figures.correlation_figure(pd.DataFrame()),
    figures.map_figure(pd.DataFrame(columns=["track_id", "context", "x", "y"])),
])
def test_no_data_gives_an_explicit_empty_state(figure):
    assert is_empty_state(figure)
