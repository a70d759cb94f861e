"""The Explore page's numbers: one row per (track, context) from the store, and what the contexts look like.

Everything past `context_frame` takes and returns pandas objects, so it is tested without a database or
Dash. Statistics are computed over distinct tracks (a track labelled for two contexts counts once) except
where a per-context view needs the track once per context.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.pipeline.features_table import CATEGORICAL, feature_frame
from app.pipeline.naming import context_key
from app.storage.tables import Context, Label, TrackFeatures

# scikit-learn (about 1.5 CPU-s to import) is imported by the three functions that fit a model, not with the module:
# the Explore and Model pages import it, and the web app starts with every page.
MIN_COVERAGE = 0.5        # a feature known for fewer tracks than this says more about the provider than the music
TSNE_SAMPLE = 3000        # t-SNE is quadratic-ish: it runs on a sample, never on 50,000 tracks
MAP_POINTS = 5000         # points drawn on the map; PCA itself uses every track
STRONG_OVERLAP = 0.2      # Jaccard above this: a model will confuse the two contexts
STRONG_CORRELATION = 0.7
HIGH_VIF = 5.0            # the usual rule of thumb: above 5 a feature is mostly explained by the others


# ------------------------------------------------------------------------------------- from the store


def harvested_contexts(session: Session) -> list[tuple[str, int]]:
    """Every context that has labels, as (name, distinct labelled tracks), largest first."""
    rows = session.execute(
        select(Context.name, func.count(func.distinct(Label.track_id)))
        .join(Label, Label.context_id == Context.id).group_by(Context.id, Context.name)
        .order_by(func.count(func.distinct(Label.track_id)).desc(), Context.name))
    return [(name, count) for name, count in rows]


def data_version(session: Session) -> tuple[int, int]:
    """Changes whenever labels or features are added: the cache key part that says the frame is stale."""
    return (session.scalar(select(func.max(Label.id))) or 0, session.scalar(select(func.max(TrackFeatures.id))) or 0)


def context_frame(session: Session, contexts: Sequence[str]) -> pd.DataFrame:
    """One row per (track, context) for the named contexts: `track_id`, `context` (display name), then features."""
    keys = list(dict.fromkeys(context_key(name) for name in contexts))
    pairs = session.execute(
        select(Label.track_id, Context.name).join(Context, Context.id == Label.context_id)
        .where(Context.key.in_(keys)).distinct()).all()
    if not pairs:
        return pd.DataFrame(columns=["track_id", "context"])
    labels = pd.DataFrame(pairs, columns=["track_id", "context"])
    features = feature_frame(session, labels["track_id"].unique().tolist())
    return labels.merge(features, left_on="track_id", right_index=True, how="left")


# -------------------------------------------------------------------------------------- the numbers


#: Column prefixes of learned embeddings (musicnn's): model inputs, not axes a person can read.
LEARNED_DIMENSIONS = ("musicnn_emb_",)


def feature_columns(frame: pd.DataFrame, min_coverage: float = MIN_COVERAGE) -> list[str]:
    """Numeric feature columns known for at least `min_coverage` of the tracks and not constant."""
    tracks = distinct_tracks(frame)
    columns = []
    for column in tracks.columns:
        if column in ("track_id", "context", *CATEGORICAL) or not pd.api.types.is_numeric_dtype(tracks[column]):
            continue
        if column.startswith(LEARNED_DIMENSIONS):
            continue  # 200 unnamed dimensions would drown the pickers and the tables; the tags stay
        values = tracks[column]
        if values.notna().mean() >= min_coverage and values.nunique(dropna=True) > 1:
            columns.append(column)
    return columns


def distinct_tracks(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with each track once (features are the same for every context a track has)."""
    return frame.drop(columns="context", errors="ignore").drop_duplicates("track_id")


def class_sizes(frame: pd.DataFrame) -> pd.Series:
    """Distinct tracks per context, largest first."""
    if frame.empty:
        return pd.Series(dtype=int, name="tracks")
    sizes = frame.groupby("context")["track_id"].nunique().sort_values(ascending=False, kind="stable")
    return sizes.rename("tracks")


def feature_means(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Mean of each feature per context in standard deviations from the all-tracks mean (context × feature)."""
    if frame.empty or not columns:
        return pd.DataFrame()
    tracks = distinct_tracks(frame)[list(columns)]
    spread = tracks.std(ddof=0).replace(0, np.nan)
    standardised = (frame[list(columns)] - tracks.mean()) / spread
    return standardised.groupby(frame["context"]).mean().reindex(class_sizes(frame).index)


def distribution_stats(frame: pd.DataFrame, feature: str) -> pd.DataFrame:
    """Box-plot numbers of one feature per context: n, q1, median, q3, whiskers (1.5 IQR) and mean."""
    if frame.empty or feature not in frame.columns:
        return pd.DataFrame(columns=["n", "q1", "median", "q3", "low", "high", "mean"])
    rows = {}
    for context, values in frame.groupby("context")[feature]:
        values = values.dropna()
        if values.empty:
            continue
        q1, median, q3 = values.quantile([0.25, 0.5, 0.75])
        reach = 1.5 * (q3 - q1)
        rows[context] = {"n": len(values), "q1": q1, "median": median, "q3": q3,
                         "low": values[values >= q1 - reach].min(), "high": values[values <= q3 + reach].max(),
                         "mean": values.mean()}
    order = [c for c in class_sizes(frame).index if c in rows]
    return pd.DataFrame.from_dict(rows, orient="index").reindex(order)


def track_sets(frame: pd.DataFrame) -> dict[str, set[int]]:
    return {context: set(ids) for context, ids in frame.groupby("context")["track_id"]}


def jaccard_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """|A ∩ B| / |A ∪ B| of the contexts' track sets (1 on the diagonal), in class-size order."""
    sets = track_sets(frame)
    order = list(class_sizes(frame).index)
    matrix = pd.DataFrame(1.0, index=order, columns=order)
    for a, b in itertools.combinations(order, 2):
        union = len(sets[a] | sets[b])
        matrix.loc[a, b] = matrix.loc[b, a] = len(sets[a] & sets[b]) / union if union else 0.0
    return matrix


def multi_context_share(frame: pd.DataFrame) -> float:
    """Share of distinct tracks labelled for two contexts or more."""
    if frame.empty:
        return 0.0
    per_track = frame.groupby("track_id")["context"].nunique()
    return float((per_track > 1).mean())


def correlation(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Pearson correlation of the features over distinct tracks."""
    if frame.empty or len(columns) < 2:
        return pd.DataFrame()
    return distinct_tracks(frame)[list(columns)].corr()


def vif_table(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Variance inflation factor per feature: regress it on the others, VIF = 1 / (1 - R²); highest first.

    Missing values are filled with the column median, so a sparse provider does not drop whole tracks.
    A feature the others explain exactly gets VIF = inf.
    """
    if frame.empty or len(columns) < 2:
        return pd.DataFrame(columns=["feature", "vif", "r2"])
    from sklearn.linear_model import LinearRegression

    data = _filled(distinct_tracks(frame), columns)
    rows = []
    for i, column in enumerate(columns):
        target = data[:, i]
        others = np.delete(data, i, axis=1)
        r2 = LinearRegression().fit(others, target).score(others, target)
        r2 = min(max(r2, 0.0), 1.0)
        vif = math.inf if r2 >= 1 - 1e-12 else 1 / (1 - r2)
        rows.append({"feature": column, "vif": vif, "r2": r2})
    return pd.DataFrame(rows).sort_values("vif", ascending=False, kind="stable").reset_index(drop=True)


def pca_map(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Every (track, context) placed by the first two principal components of the standardised features.

    Columns `track_id`, `context`, `x`, `y`; `attrs["explained"]` holds the two components' variance shares.
    """
    if frame.empty or len(columns) < 2:
        return pd.DataFrame(columns=["track_id", "context", "x", "y"])
    from sklearn.decomposition import PCA

    tracks = distinct_tracks(frame)
    model = PCA(n_components=2)
    coords = model.fit_transform(_standardised(_filled(tracks, columns)))
    points = _placed(frame, tracks["track_id"], coords)
    points.attrs["explained"] = [float(v) for v in model.explained_variance_ratio_]
    points.attrs["method"] = "PCA"
    return points


def tsne_map(frame: pd.DataFrame, columns: Sequence[str], sample: int = TSNE_SAMPLE, seed: int = 0) -> pd.DataFrame:
    """Like `pca_map` but t-SNE, on at most `sample` distinct tracks drawn at random (seeded)."""
    if frame.empty or len(columns) < 2:
        return pd.DataFrame(columns=["track_id", "context", "x", "y"])
    tracks = distinct_tracks(frame)
    if len(tracks) > sample:
        tracks = tracks.sample(sample, random_state=seed)
    if len(tracks) < 5:
        return pca_map(frame, columns)
    from sklearn.manifold import TSNE

    perplexity = min(30.0, (len(tracks) - 1) / 3)
    coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        _standardised(_filled(tracks, columns)))
    points = _placed(frame[frame["track_id"].isin(tracks["track_id"])], tracks["track_id"], coords)
    points.attrs["method"] = "t-SNE"
    points.attrs["sampled"] = len(tracks)
    return points


def map_sample(points: pd.DataFrame, limit: int = MAP_POINTS, seed: int = 0) -> pd.DataFrame:
    """At most `limit` points to draw, the same share from every context, so a chart of 50,000 stays light."""
    if len(points) <= limit:
        return points
    share = limit / len(points)
    sampled = points.groupby("context", group_keys=False).sample(frac=share, random_state=seed)
    sampled.attrs = dict(points.attrs)
    return sampled


def _filled(tracks: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    data = tracks[list(columns)].astype(float)
    return data.fillna(data.median()).fillna(0.0).to_numpy()


def _standardised(data: np.ndarray) -> np.ndarray:
    spread = data.std(axis=0)
    return (data - data.mean(axis=0)) / np.where(spread == 0, 1.0, spread)


def _placed(frame: pd.DataFrame, track_ids: pd.Series, coords: np.ndarray) -> pd.DataFrame:
    placed = pd.DataFrame({"track_id": track_ids.to_numpy(), "x": coords[:, 0], "y": coords[:, 1]})
    return frame[["track_id", "context"]].merge(placed, on="track_id", how="inner")


# ------------------------------------------------------------------------------------- the sentences


def feature_label(column: str) -> str:
    """`preview_spectral_centroid` -> `spectral centroid (preview)`: how a feature is named on the page."""
    if column.startswith("musicnn_tag_"):
        return f"sounds {column.removeprefix('musicnn_tag_').replace('_', ' ')} (musicnn tag)"
    provider, _, name = column.partition("_")
    return f"{name.replace('_', ' ')} ({provider})" if name else column


def sizes_sentence(sizes: pd.Series) -> str:
    if sizes.empty:
        return "No tracks are labelled for these contexts yet."
    largest, smallest = sizes.index[0], sizes.index[-1]
    if len(sizes) == 1:
        return f"Only {largest} is here ({sizes.iloc[0]:,} tracks): pick at least two contexts to compare them."
    ratio = sizes.iloc[0] / max(sizes.iloc[-1], 1)
    text = (f"{largest} is the largest context ({sizes.iloc[0]:,} tracks) and {smallest} the smallest "
            f"({sizes.iloc[-1]:,}).")
    if ratio >= 3:
        return text + f" A {ratio:.0f}× imbalance: harvest more playlists for {smallest} to give it a fair chance."
    return text + " The classes are reasonably balanced."


def means_sentence(means: pd.DataFrame) -> str:
    if means.empty:
        return "No features are stored for these tracks yet: run the harvest with enrichment."
    stacked = means.stack().dropna()
    if stacked.empty:
        return "The features do not vary across these tracks."
    (context, feature) = stacked.abs().idxmax()
    value = stacked[(context, feature)]
    direction = "higher" if value > 0 else "lower"
    return (f"The clearest signature: {context} has a much {direction} {feature_label(feature)} than average "
            f"({value:+.2f} standard deviations). Features with strong colours separate contexts well.")


def distribution_sentence(stats: pd.DataFrame, feature: str) -> str:
    if stats.empty:
        return f"No values of {feature_label(feature)} are stored for these contexts."
    if len(stats) == 1:
        return f"{stats.index[0]}: median {feature_label(feature)} {stats['median'].iloc[0]:.3g}."
    high, low = stats["median"].idxmax(), stats["median"].idxmin()
    spread = (stats["q3"] - stats["q1"]).replace(0, np.nan).mean()
    gap = (stats.loc[high, "median"] - stats.loc[low, "median"]) / spread if spread and not np.isnan(spread) else 0.0
    verdict = ("boxes barely overlap: this feature tells them apart" if gap >= 1.5 else
               "boxes overlap a lot: on its own this feature hardly separates them")
    return (f"{high} has the highest median {feature_label(feature)} ({stats.loc[high, 'median']:.3g}), "
            f"{low} the lowest ({stats.loc[low, 'median']:.3g}); their {verdict}.")


def most_overlapping(jaccard: pd.DataFrame) -> tuple[str, str, float] | None:
    """The pair of contexts whose track sets overlap most, or None with fewer than two contexts."""
    pairs = [(a, b, float(jaccard.loc[a, b])) for a, b in itertools.combinations(jaccard.index, 2)]
    return max(pairs, key=lambda pair: pair[2]) if pairs else None


def overlap_sentence(jaccard: pd.DataFrame, share: float) -> str:
    pair = most_overlapping(jaccard)
    if pair is None:
        return "Overlap needs at least two contexts."
    a, b, value = pair
    shared = f"{share:.0%} of the tracks belong to more than one context."
    if value >= STRONG_OVERLAP:
        return f"{a} and {b} overlap heavily (Jaccard {value:.2f}): expect them to be confused. {shared}"
    if value == 0:
        return f"No track is shared between contexts: the classes are disjoint. {shared}"
    return f"The largest overlap is {a} and {b} (Jaccard {value:.2f}), which is small. {shared}"


def strongest_correlation(corr: pd.DataFrame) -> tuple[str, str, float] | None:
    pairs = [(a, b, float(corr.loc[a, b])) for a, b in itertools.combinations(corr.index, 2)
             if not np.isnan(corr.loc[a, b])]
    return max(pairs, key=lambda pair: abs(pair[2])) if pairs else None


def correlation_sentence(corr: pd.DataFrame) -> str:
    pair = strongest_correlation(corr)
    if pair is None:
        return "Correlation needs at least two features with values."
    a, b, r = pair
    if abs(r) >= STRONG_CORRELATION:
        return (f"{feature_label(a)} and {feature_label(b)} are strongly correlated (r = {r:.2f}): "
                "they carry much the same information.")
    return (f"The strongest correlation is {feature_label(a)} with {feature_label(b)} (r = {r:.2f}); "
            "no pair of features is redundant.")


def format_vif(value: float) -> str:
    """A VIF for people: past 10,000 the exact size says nothing more than "explained entirely"."""
    return "∞" if math.isinf(value) else ("> 10,000" if value > 10_000 else f"{value:,.1f}")


def vif_sentence(vif: pd.DataFrame) -> str:
    if vif.empty:
        return "VIF needs at least two features."
    high = vif[vif["vif"] > HIGH_VIF]
    if high.empty:
        return f"Every VIF is below {HIGH_VIF:g}: no feature is just a mix of the others."
    top = high.iloc[0]
    value = format_vif(top["vif"])
    return (f"{len(high)} feature(s) have VIF above {HIGH_VIF:g}, {feature_label(top['feature'])} most "
            f"(VIF {value}): the others almost predict it, so its weight in a linear model is unstable.")


def map_sentence(points: pd.DataFrame) -> str:
    if points.empty:
        return "The map needs at least two features."
    centres = points.groupby("context")[["x", "y"]].mean()
    spread = float(np.sqrt(points[["x", "y"]].var().sum())) or 1.0
    method = points.attrs.get("method", "PCA")
    lead = method
    if "explained" in points.attrs:
        lead = f"The first two components explain {sum(points.attrs['explained']):.0%} of the variance"
    elif "sampled" in points.attrs:
        lead = f"t-SNE of {points.attrs['sampled']:,} sampled tracks"
    if len(centres) < 2:
        return f"{lead}."
    distances = [(a, b, float(np.hypot(*(centres.loc[a] - centres.loc[b]))))
                 for a, b in itertools.combinations(centres.index, 2)]
    closest = min(distances, key=lambda d: d[2])
    farthest = max(distances, key=lambda d: d[2])
    return (f"{lead}. {farthest[0]} and {farthest[1]} sit furthest apart (easy to tell apart); "
            f"{closest[0]} and {closest[1]} sit closest ({closest[2] / spread:.2f} of the overall spread), "
            "so they are the likeliest to be mixed up.")
