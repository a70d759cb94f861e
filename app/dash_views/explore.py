"""The Explore page: what the harvested contexts look like, chart by chart, each with a sentence on how to read it."""

from __future__ import annotations

from typing import Any

import pandas as pd
from dash import Input, Output, dcc, html
from flask import current_app

from app.analysis import explore
from app.analysis.cache import TTLCache
from app.auth.session import require_user_id
from app.dash_views import figures, ids
from app.dash_views.components import chart_card, empty_state, page_header, table
from app.dash_views.harvests import latest_harvest_contexts
from app.extensions import db
from app.pipeline.naming import context_key

PAGE = {"path": "/explore", "name": "Explore", "title": "contextify · Explore", "order": 2}
CACHE = "contextify.explore_cache"
NO_CONTEXTS = "No harvested contexts yet — start one on the Contexts page."
NONE_CHOSEN = "Choose one or more contexts above to explore them."
VIF_COLUMNS = {"feature": "Feature", "vif": "VIF", "r2": "R² on the other features"}


def layout(**_query: Any) -> html.Div:
    available = _available()
    chosen = default_contexts(latest_harvest_contexts(require_user_id()), [name for name, _ in available])
    return html.Div([
        page_header("Explore", "How the harvested contexts differ, where they overlap, and which features carry "
                    "the same information, before a model learns from them.", step="Step 2 of 6"),
        html.Section([
            html.Label("Contexts", htmlFor=ids.EXPLORE_CONTEXTS),
            dcc.Dropdown(id=ids.EXPLORE_CONTEXTS, multi=True, value=chosen, placeholder="Choose contexts…",
                         options=[{"label": f"{name} ({count:,} tracks)", "value": name} for name, count in available]),
            html.P("Defaults to the contexts of your latest harvest.", className="hint"),
        ], className="card"),
        html.Div(id=ids.EXPLORE_EMPTY),
        html.Div([
            html.Div([
                chart_card("Class sizes", ids.EXPLORE_SIZES, ids.EXPLORE_SIZES_TEXT),
                chart_card("Class overlap", ids.EXPLORE_OVERLAP, ids.EXPLORE_OVERLAP_TEXT),
            ], className="card-grid"),
            chart_card("Feature averages per context", ids.EXPLORE_MEANS, ids.EXPLORE_MEANS_TEXT),
            chart_card("Distribution of one feature", ids.EXPLORE_DISTRIBUTION, ids.EXPLORE_DISTRIBUTION_TEXT,
                       controls=[html.Label("Feature", htmlFor=ids.EXPLORE_FEATURE),
                                 dcc.Dropdown(id=ids.EXPLORE_FEATURE, clearable=False)]),
            chart_card("Collinearity", ids.EXPLORE_CORRELATION, ids.EXPLORE_CORRELATION_TEXT),
            html.Section([html.H2("Variance inflation"), html.Div(id=ids.EXPLORE_VIF),
                          html.P(id=ids.EXPLORE_VIF_TEXT, className="chart-reading")], className="card"),
            chart_card("Map of the tracks", ids.EXPLORE_MAP, ids.EXPLORE_MAP_TEXT, controls=[
                dcc.Checklist(id=ids.EXPLORE_TSNE, value=[], className="checkbox", options=[{
                    "label": f" Use t-SNE on a sample of up to {explore.TSNE_SAMPLE:,} tracks (slower, "
                             "shows clusters better)", "value": "tsne"}])]),
        ], id=ids.EXPLORE_CHARTS),
    ], className="page explore-page")


def _available() -> list[tuple[str, int]]:
    return explore.harvested_contexts(db.session)


def default_contexts(latest: list[str], available: list[str]) -> list[str]:
    """The latest harvest's contexts that have labels, spelled as the store spells them."""
    by_key = {context_key(name): name for name in available}
    return [by_key[key] for key in dict.fromkeys(context_key(name) for name in latest) if key in by_key]


def load_frame(contexts: list[str]) -> pd.DataFrame:
    """The (track, context) frame for these contexts, from a short-lived per-app cache.

    Labels and features are global, so the key is the contexts plus the store's data version, not the user:
    any user asking for the same contexts gets the same numbers.
    """
    return _frame(contexts, data_key(contexts))


def data_key(contexts: list[str]) -> tuple:
    """What the page's cached numbers depend on: the contexts (any order or case) and the store's data version."""
    return tuple(sorted({context_key(name) for name in contexts})), explore.data_version(db.session)


def _cache() -> TTLCache:
    return current_app.extensions.setdefault(CACHE, TTLCache(maxsize=16, ttl_s=120))


def _frame(contexts: list[str], key: tuple) -> pd.DataFrame:
    return _cache().get(("frame", *key), lambda: explore.context_frame(db.session, contexts))


def cached_overview(contexts: list[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The contexts' frame and :func:`overview`, both kept under one key: the figures and the variance inflation
    table cost most of the page's time on a large catalog, and every user asking for the same contexts sees the
    same."""
    key = data_key(contexts)
    frame = _frame(contexts, key)
    if frame.empty:  # nothing harvested for them: the page shows its empty state instead
        return frame, None
    return frame, _cache().get(("overview", *key), lambda: overview(frame))


def overview(frame: pd.DataFrame) -> dict[str, Any]:
    """Everything the page shows that depends on the contexts only: figures, sentences, VIF rows, features."""
    columns = explore.feature_columns(frame)
    sizes = explore.class_sizes(frame)
    means = explore.feature_means(frame, columns)
    jaccard = explore.jaccard_matrix(frame)
    corr = explore.correlation(frame, columns)
    vif = explore.vif_table(frame, columns)
    return {
        "columns": columns,
        "sizes": (figures.class_sizes_figure(sizes), explore.sizes_sentence(sizes)),
        "means": (figures.feature_means_figure(means), explore.means_sentence(means)),
        "overlap": (figures.jaccard_figure(jaccard),
                    explore.overlap_sentence(jaccard, explore.multi_context_share(frame))),
        "correlation": (figures.correlation_figure(corr), explore.correlation_sentence(corr)),
        "vif": (vif_rows(vif), explore.vif_sentence(vif)),
    }


def vif_rows(vif: pd.DataFrame) -> list[dict[str, str]]:
    return [{"feature": explore.feature_label(row.feature),
             "vif": explore.format_vif(row.vif), "r2": f"{row.r2:.3f}"}
            for row in vif.itertuples()]


def default_feature(columns: list[str], frame: pd.DataFrame) -> str | None:
    """The feature whose per-context means differ most: the most telling one to show first."""
    means = explore.feature_means(frame, columns)
    if means.empty:
        return None
    spread = (means.max() - means.min()).dropna()
    return str(spread.idxmax()) if not spread.empty else columns[0]


def map_points(frame: pd.DataFrame, columns: list[str], tsne: bool) -> pd.DataFrame:
    if not tsne:
        return explore.pca_map(frame, columns)
    return _cache().get(("tsne", *data_key(sorted(set(frame["context"])))),
                        lambda: explore.tsne_map(frame, columns))


def register_callbacks(dash_app) -> None:
    @dash_app.callback(
        Output(ids.EXPLORE_EMPTY, "children"), Output(ids.EXPLORE_CHARTS, "hidden"),
        Output(ids.EXPLORE_SIZES, "figure"), Output(ids.EXPLORE_SIZES_TEXT, "children"),
        Output(ids.EXPLORE_MEANS, "figure"), Output(ids.EXPLORE_MEANS_TEXT, "children"),
        Output(ids.EXPLORE_OVERLAP, "figure"), Output(ids.EXPLORE_OVERLAP_TEXT, "children"),
        Output(ids.EXPLORE_CORRELATION, "figure"), Output(ids.EXPLORE_CORRELATION_TEXT, "children"),
        Output(ids.EXPLORE_VIF, "children"), Output(ids.EXPLORE_VIF_TEXT, "children"),
        Output(ids.EXPLORE_FEATURE, "options"), Output(ids.EXPLORE_FEATURE, "value"),
        Input(ids.EXPLORE_CONTEXTS, "value"))
    def show_overview(contexts):
        require_user_id()
        frame, shown = cached_overview(contexts) if contexts else (pd.DataFrame(), None)
        if frame.empty:
            message = NONE_CHOSEN if _available() else NO_CONTEXTS
            blank = figures.empty_figure(message)
            return (empty_state(message, "Go to Contexts", "/app/contexts"), True,
                    *([blank, ""] * 4), None, "", [], None)
        options = [{"label": explore.feature_label(c), "value": c} for c in shown["columns"]]
        vif_rows_, vif_text = shown["vif"]
        return (None, False, *shown["sizes"], *shown["means"], *shown["overlap"], *shown["correlation"],
                table(vif_rows_, VIF_COLUMNS, "VIF needs at least two features."), vif_text,
                options, default_feature(shown["columns"], frame))

    @dash_app.callback(
        Output(ids.EXPLORE_DISTRIBUTION, "figure"), Output(ids.EXPLORE_DISTRIBUTION_TEXT, "children"),
        Input(ids.EXPLORE_CONTEXTS, "value"), Input(ids.EXPLORE_FEATURE, "value"))
    def show_distribution(contexts, feature):
        require_user_id()
        if not contexts or not feature:
            return figures.empty_figure("Choose contexts and a feature."), ""
        frame = load_frame(contexts)
        stats = explore.distribution_stats(frame, feature)
        order = list(explore.class_sizes(frame).index)
        return (figures.distribution_figure(stats, feature, order),
                explore.distribution_sentence(stats, feature))

    @dash_app.callback(
        Output(ids.EXPLORE_MAP, "figure"), Output(ids.EXPLORE_MAP_TEXT, "children"),
        Input(ids.EXPLORE_CONTEXTS, "value"), Input(ids.EXPLORE_TSNE, "value"))
    def show_map(contexts, tsne):
        require_user_id()
        frame = load_frame(contexts) if contexts else pd.DataFrame()
        if frame.empty:
            return figures.empty_figure(NONE_CHOSEN), ""
        points = map_points(frame, explore.feature_columns(frame), "tsne" in (tsne or []))
        order = list(explore.class_sizes(frame).index)
        return figures.map_figure(explore.map_sample(points), order), explore.map_sentence(points)
