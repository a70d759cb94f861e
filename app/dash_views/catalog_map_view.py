"""The Map page's figures and pieces, built from plain data (points, runs, predictions), testable without Dash."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import html

from app.analysis.explore import feature_label
from app.dash_views.figures import LAYOUT, PALETTE, empty_figure

MIN_SIZE, MAX_SIZE = 4.0, 16.0
COLOUR_GROUPS = {"genre": "Genre (Deezer album)", "context": "Context", "cluster": "Cluster (your latest run)"}


def feature_options(columns: Sequence[str]) -> list[dict[str, str]]:
    return [{"label": feature_label(c), "value": c} for c in columns]


def colour_options(columns: Sequence[str]) -> list[dict[str, str]]:
    return [*({"label": label, "value": value} for value, label in COLOUR_GROUPS.items()),
            *feature_options(columns)]


def size_options(columns: Sequence[str]) -> list[dict[str, str]]:
    return [{"label": "Same size", "value": "none"}, *feature_options(columns)]


def scatter_figure(points: pd.DataFrame) -> go.Figure:
    """A WebGL scatter: one trace per category, or one trace coloured by a number; hover names the track.

    Each point carries [track_id, title, artist] as customdata, which the click callback reads.
    """
    if points.empty:
        return empty_figure("No track has values for both of these features.")
    x, y = points.attrs.get("x", "x"), points.attrs.get("y", "y")
    sizes = _sizes(points["size"])
    hover = ("<b>%{customdata[1]}</b><br>%{customdata[2]}<br>" + f"{feature_label(x)}: %{{x}}<br>"
             + f"{feature_label(y)}: %{{y}}")
    kind = points.attrs.get("colour_kind", "none")
    # Traces are given numpy arrays and built in one go: plotly checks a Python list element by element and
    # copies the figure at each added trace, which took most of this callback's time at 4,000 points.
    traces = []
    if kind == "category":
        order = points["colour"].value_counts().index.tolist()
        for i, name in enumerate(order):
            mask = (points["colour"] == name).to_numpy()
            traces.append(_trace(points[mask], sizes[mask], str(name), hover + f"<br>{name}<extra></extra>",
                                 {"color": PALETTE[i % len(PALETTE)]}))
    elif kind == "number":
        colour = points.attrs.get("colour")
        marker = {"color": points["colour"].to_numpy(dtype=float), "colorscale": "Viridis", "showscale": True,
                  "colorbar": {"title": feature_label(colour) if colour else ""}}
        traces.append(_trace(points, sizes, "tracks", hover + "<br>%{marker.color}<extra></extra>", marker))
    else:
        traces.append(_trace(points, sizes, "tracks", hover + "<extra></extra>", {"color": PALETTE[0]}))
    figure = go.Figure(data=traces, layout=LAYOUT)
    figure.update_layout(xaxis_title=feature_label(x), yaxis_title=feature_label(y), height=520,
                         legend={"itemsizing": "constant"}, clickmode="event", hovermode="closest")
    return figure


def _trace(points: pd.DataFrame, sizes: np.ndarray, name: str, hover: str, marker: dict[str, Any]) -> go.Scattergl:
    return go.Scattergl(
        x=points["x"].round(4).to_numpy(dtype=float), y=points["y"].round(4).to_numpy(dtype=float), mode="markers",
        name=name, customdata=points[["track_id", "title", "artist"]].to_numpy(dtype=object),
        marker={"size": sizes, "opacity": 0.7, **marker}, hovertemplate=hover)


def _sizes(values: pd.Series) -> np.ndarray:
    """Marker sizes from a feature, MIN_SIZE..MAX_SIZE; missing values (or no size feature) get the smallest."""
    numbers = values.astype(float).to_numpy()
    if np.all(np.isnan(numbers)):
        return np.full(len(numbers), 7.0)
    low, high = np.nanmin(numbers), np.nanmax(numbers)
    scaled = (numbers - low) / (high - low) if high > low else np.zeros_like(numbers)
    return np.round(MIN_SIZE + np.nan_to_num(scaled, nan=0.0) * (MAX_SIZE - MIN_SIZE), 2)


def clicked_track(click: Mapping[str, Any] | None) -> Any:
    """The track id a click on the scatter names, or None."""
    try:
        return click["points"][0]["customdata"][0]  # type: ignore[index]
    except (TypeError, KeyError, IndexError):
        return None


def player(url: str | None, message: str) -> html.Div:
    """An audio player for a preview link, or the sentence saying why there is none."""
    if not url:
        return html.Div(html.P(message, className="muted"), className="map-player")
    return html.Div([html.P(message), html.Audio(src=url, controls=True, autoPlay=True, className="map-audio")],
                    className="map-player")


def sweep_figure(sweep: Sequence[Mapping[str, Any]], chosen: float | None = None) -> go.Figure:
    """Number of clusters against the preference percentile, from the sweep on a sample."""
    if not sweep:
        return empty_figure("Cluster the catalog to see how the number of clusters follows the preference.")
    figure = go.Figure(go.Scatter(
        x=[row["percentile"] for row in sweep], y=[row["n_clusters"] for row in sweep], mode="lines+markers",
        customdata=[[row["preference"]] for row in sweep],
        hovertemplate="preference at the %{x}th percentile (%{customdata[0]}): %{y} clusters<extra></extra>"),
        layout=LAYOUT)
    if chosen is not None:
        figure.add_vline(x=chosen, line_dash="dot", line_color="#5f6368")
    figure.update_layout(xaxis_title="preference (percentile of the similarities)", yaxis_title="clusters",
                         height=300, showlegend=False)
    return figure


def sweep_sentence(sweep: Sequence[Mapping[str, Any]]) -> str:
    if not sweep:
        return ""
    from app.models.clustering import SWEEP_SAMPLE  # scikit-learn: imported when a sweep is shown, not at app start

    low, high = sweep[0], sweep[-1]
    return (f"On {low['tracks']:,} tracks (a random sample of at most {SWEEP_SAMPLE:,}), affinity propagation finds "
            f"{low['n_clusters']} clusters with "
            f"the preference at the {low['percentile']:g}th percentile of the similarities and {high['n_clusters']} "
            f"at the {high['percentile']:g}th: a higher preference lets more tracks be exemplars, so there are more, "
            "smaller clusters. scikit-learn's default is the 50th (the median).")


def composition_figure(composition: Mapping[str, Any] | None) -> go.Figure:
    """Stacked bars: each cluster's tracks by genre (shares, so small and large clusters compare)."""
    if not composition or not composition.get("clusters"):
        return empty_figure("Cluster the catalog to see the genres in each cluster.")
    counts = np.asarray(composition["counts"], dtype=float)
    shares = counts / counts.sum(axis=1, keepdims=True)
    labels = [f"cluster {c}" for c in composition["clusters"]]
    figure = go.Figure(layout=LAYOUT)
    for j, genre in enumerate(composition["genres"]):
        figure.add_trace(go.Bar(x=labels, y=shares[:, j].round(4).tolist(), name=genre,
                                customdata=counts[:, j].astype(int).tolist(),
                                marker_color=PALETTE[j % len(PALETTE)],
                                hovertemplate=f"%{{x}} · {genre}: %{{y:.0%}} (%{{customdata}} tracks)<extra></extra>"))
    figure.update_layout(barmode="stack", yaxis={"tickformat": ".0%", "title": "share of the cluster"},
                         height=380, legend={"traceorder": "normal"})
    return figure


def sentences_list(sentences: Mapping[str, str] | None) -> html.Div:
    if not sentences:
        return html.Div()
    ordered = sorted(sentences.items(), key=lambda item: int(item[0]))
    return html.Div([html.H3("What each cluster is"),
                     html.Ul([html.Li(text) for _, text in ordered], className="compact-list map-sentences")])


def prediction_panel(result: Mapping[str, Any] | None) -> html.Div:
    """The predicted genre beside Deezer's, in words."""
    if not result:
        return html.Div()
    deezer = result.get("deezer_genre")
    predicted = result["predicted"]
    top = result["probabilities"][0]["probability"]
    if deezer is None:
        verdict = "Deezer gives this track's album no genre."
    elif deezer == predicted:
        verdict = f"Deezer agrees: its genre for the album is {deezer}."
    elif deezer not in {row["genre"] for row in result["probabilities"]}:
        verdict = f"Deezer says {deezer}, a genre the model does not know (too few catalog tracks have it)."
    else:
        verdict = f"Deezer says {deezer}."
    known = f"{result.get('features_known', 0)} of {result.get('features_used', 0)} features were known for it."
    return html.Div([
        html.H3(f"{result['title']} — {result['artist']}"),
        html.Div([html.Div([html.Span("Predicted", className="map-label"), html.Strong(predicted),
                            html.Span(f" {top:.0%}")], className="map-genre"),
                  html.Div([html.Span("Deezer", className="map-label"), html.Strong(deezer or "none")],
                           className="map-genre")], className="map-genres"),
        html.P(f"{verdict} {known}"),
    ], className="map-prediction")


def probability_figure(result: Mapping[str, Any] | None) -> go.Figure:
    if not result:
        return empty_figure("Search a track and predict its genre.")
    rows = list(result["probabilities"])[:10][::-1]
    deezer = result.get("deezer_genre")
    colours = ["#137333" if row["genre"] == deezer else PALETTE[0] for row in rows]
    figure = go.Figure(go.Bar(x=[row["probability"] for row in rows], y=[row["genre"] for row in rows],
                              orientation="h", marker_color=colours,
                              hovertemplate="%{y}: %{x:.1%}<extra></extra>"), layout=LAYOUT)
    figure.update_layout(xaxis={"tickformat": ".0%", "range": [0, 1], "title": "probability"},
                         height=max(220, 28 * len(rows) + 80))
    return figure
