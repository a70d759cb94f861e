"""Plotly figures for the pages: each takes the data frames of `app.analysis` and returns a Figure.

Every function answers an empty frame with an explicit empty-state figure (a sentence, no axes), never a
blank chart. Contexts keep one colour across every chart of a page.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from app.analysis.explore import feature_label

PALETTE = qualitative.Plotly + qualitative.Safe
DIVERGING = "RdBu_r"
LAYOUT = {"template": "plotly_white", "margin": {"l": 10, "r": 10, "t": 30, "b": 10},
          "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"}}


def context_colours(contexts: Sequence[str]) -> dict[str, str]:
    return {context: PALETTE[i % len(PALETTE)] for i, context in enumerate(contexts)}


def empty_figure(message: str) -> go.Figure:
    """A figure that says why there is nothing to draw."""
    figure = go.Figure(layout=LAYOUT)
    figure.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                          font={"size": 15, "color": "#5f6368"})
    figure.update_layout(xaxis={"visible": False}, yaxis={"visible": False}, height=220,
                         meta={"empty": True})
    return figure


def class_sizes_figure(sizes: pd.Series) -> go.Figure:
    if sizes.empty:
        return empty_figure("No labelled tracks for these contexts.")
    colours = context_colours(list(sizes.index))
    figure = go.Figure(go.Bar(x=list(sizes.index), y=sizes.tolist(), marker_color=[colours[c] for c in sizes.index],
                              text=[f"{n:,}" for n in sizes], textposition="outside",
                              hovertemplate="%{x}: %{y:,} tracks<extra></extra>"), layout=LAYOUT)
    figure.update_layout(yaxis_title="tracks", height=320)
    return figure


def feature_means_figure(means: pd.DataFrame) -> go.Figure:
    if means.empty:
        return empty_figure("No features are stored for these tracks yet.")
    labels = [feature_label(c) for c in means.columns]
    limit = max(float(means.abs().max().max()), 0.5)
    figure = go.Figure(go.Heatmap(z=means.to_numpy(), x=labels, y=list(means.index), colorscale=DIVERGING,
                                  zmin=-limit, zmax=limit, colorbar={"title": "SD"},
                                  hovertemplate="%{y} · %{x}: %{z:+.2f} SD<extra></extra>"), layout=LAYOUT)
    figure.update_layout(height=max(260, 40 * len(means) + 160), xaxis={"tickangle": -40})
    return figure


def distribution_figure(stats: pd.DataFrame, feature: str, contexts: Sequence[str] | None = None) -> go.Figure:
    """Box plots from precomputed quartiles (so 50,000 values never travel to the browser)."""
    if stats.empty:
        return empty_figure(f"No values of {feature_label(feature)} for these contexts.")
    colours = context_colours(list(contexts) if contexts else list(stats.index))
    figure = go.Figure(layout=LAYOUT)
    for context, row in stats.iterrows():
        figure.add_trace(go.Box(name=context, x=[context], q1=[row["q1"]], median=[row["median"]], q3=[row["q3"]],
                                lowerfence=[row["low"]], upperfence=[row["high"]], mean=[row["mean"]],
                                marker_color=colours[context], boxpoints=False))
    figure.update_layout(yaxis_title=feature_label(feature), showlegend=False, height=360)
    return figure


def jaccard_figure(jaccard: pd.DataFrame) -> go.Figure:
    if len(jaccard) < 2:
        return empty_figure("Overlap needs at least two contexts.")
    off_diagonal = jaccard.where(~pd.DataFrame(
        [[a == b for b in jaccard.columns] for a in jaccard.index], index=jaccard.index, columns=jaccard.columns))
    figure = go.Figure(go.Heatmap(z=off_diagonal.to_numpy(), x=list(jaccard.columns), y=list(jaccard.index),
                                  colorscale="Blues", zmin=0, zmax=max(float(off_diagonal.max().max()), 0.05),
                                  text=jaccard.round(2).to_numpy(), texttemplate="%{text}",
                                  hovertemplate="%{y} ∩ %{x}: Jaccard %{z:.2f}<extra></extra>",
                                  colorbar={"title": "Jaccard"}), layout=LAYOUT)
    figure.update_layout(height=max(260, 40 * len(jaccard) + 140), yaxis={"autorange": "reversed"})
    return figure


def correlation_figure(corr: pd.DataFrame) -> go.Figure:
    if corr.empty:
        return empty_figure("Correlation needs at least two features.")
    labels = [feature_label(c) for c in corr.columns]
    figure = go.Figure(go.Heatmap(z=corr.to_numpy(), x=labels, y=labels, colorscale=DIVERGING, zmin=-1, zmax=1,
                                  hovertemplate="%{y} · %{x}: r = %{z:.2f}<extra></extra>",
                                  colorbar={"title": "r"}), layout=LAYOUT)
    figure.update_layout(height=max(320, 26 * len(corr) + 200), xaxis={"tickangle": -40},
                         yaxis={"autorange": "reversed"})
    return figure


def map_figure(points: pd.DataFrame, contexts: Sequence[str] | None = None) -> go.Figure:
    """A scatter of the 2-D map, one WebGL trace per context (fast with thousands of points)."""
    if points.empty:
        return empty_figure("The map needs at least two features with values.")
    order = list(contexts) if contexts else list(dict.fromkeys(points["context"]))
    colours = context_colours(order)
    figure = go.Figure(layout=LAYOUT)
    for context in order:
        rows = points[points["context"] == context]
        if rows.empty:
            continue
        figure.add_trace(go.Scattergl(x=rows["x"].round(4).tolist(), y=rows["y"].round(4).tolist(), mode="markers",
                                      name=context, marker={"size": 5, "opacity": 0.6, "color": colours[context]},
                                      hovertemplate=f"{context}<extra></extra>"))
    method = points.attrs.get("method", "PCA")
    axis = ("PC1", "PC2") if method == "PCA" else ("t-SNE 1", "t-SNE 2")
    figure.update_layout(xaxis_title=axis[0], yaxis_title=axis[1], height=460, legend={"itemsizing": "constant"})
    return figure


def cutoff_curve_figure(curve: pd.DataFrame, cutoff: float | None, target: float | None) -> go.Figure:
    """Precision, recall and F1 against the cutoff (columns cutoff, precision, recall, f1), the chosen cutoff
    as a vertical line and the target precision as a horizontal one."""
    if curve.empty:
        return empty_figure("No out-of-fold scores for this context.")
    figure = go.Figure(layout=LAYOUT)
    for column, colour in (("precision", PALETTE[0]), ("recall", PALETTE[1]), ("f1", PALETTE[2])):
        figure.add_trace(go.Scatter(x=curve["cutoff"], y=curve[column], name="F1" if column == "f1" else column,
                                    mode="lines+markers", line={"color": colour}, marker={"size": 4},
                                    hovertemplate=f"cutoff %{{x:.2f}}: {column} %{{y:.2f}}<extra></extra>"))
    if cutoff is not None:
        figure.add_vline(x=cutoff, line_dash="dash", line_color="#202124",
                         annotation_text=f"cutoff {cutoff:.2f}", annotation_position="top")
    if target is not None:
        figure.add_hline(y=target, line_dash="dot", line_color="#5f6368",
                         annotation_text=f"target {target:.2f}", annotation_position="bottom right")
    figure.update_layout(xaxis={"title": "cutoff (probability)", "range": [0, 1]},
                         yaxis={"title": "share", "range": [0, 1.05]}, height=360)
    return figure


def reliability_figure(frame: pd.DataFrame) -> go.Figure:
    """Calibration: mean predicted probability per bin against the share that came true."""
    if frame.empty:
        return empty_figure("No reliability curve for this model.")
    figure = go.Figure([
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                   line={"dash": "dot", "color": "#999"}, hoverinfo="skip"),
        go.Scatter(x=frame["predicted"], y=frame["observed"], mode="lines+markers", name="this model",
                   customdata=frame["pairs"],
                   hovertemplate="predicted %{x:.2f}, came true %{y:.2f} (%{customdata:,} pairs)<extra></extra>"),
    ], layout=LAYOUT)
    figure.update_layout(height=320, xaxis={"title": "predicted probability", "range": [0, 1]},
                         yaxis={"title": "share that came true", "range": [0, 1]})
    return figure


def co_assignment_figure(counts: pd.DataFrame) -> go.Figure:
    """Tracks assigned to both contexts (a square frame: contexts by contexts)."""
    if len(counts) < 2:
        return empty_figure("Co-assignment needs at least two contexts.")
    figure = go.Figure(go.Heatmap(z=counts.to_numpy(), x=list(counts.columns), y=list(counts.index),
                                  colorscale="Blues", text=counts.to_numpy(), texttemplate="%{text}",
                                  hovertemplate="%{y} and %{x}: %{z:,} tracks<extra></extra>",
                                  colorbar={"title": "tracks"}), layout=LAYOUT)
    figure.update_layout(height=max(260, 40 * len(counts) + 140), yaxis={"autorange": "reversed"})
    return figure
