"""The Map page's work on the store: catalog frame, per-user clusterings and genre models (lookups: catalog_lookup)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from threadpoolctl import threadpool_limits

from app.analysis.explore import feature_columns
from app.runs.progress import Progress
from app.pipeline.catalog import upsert_deezer_tracks
from app.pipeline.clients.base import NotFound
from app.pipeline.enrich import enrich_tracks
from app.pipeline.features_table import feature_frame
from app.pipeline.clients.factory import deezer_client
from app.runs.summary import RunSummary
from app.storage.tables import Context, Label, ModelRun, Track, TrackFeatures, TrainedModel
from app.storage.ownership import get_owned, owned

# The clustering and genre models (app.models) load scikit-learn, about 1.5 CPU-s: imported by the functions that
# fit or read them, so the web app, whose Map page imports this module, starts without them.
MAP_MODE = "map"
GENRE_MODE = "genre"
GENRE_KIND = "genre"
PLOT_POINTS = 4000         # points drawn at most; WebGL copes with more, but the page's JSON would not
MAX_CATEGORIES = 12        # colours a legend can tell apart; the rest are "other"
EMPTY_CATALOG = "The catalog is empty: harvest some contexts on the Contexts page first."
# OpenMP/BLAS threads spin-wait when the cores are busy (other jobs, the web process): k-means on 20,000
# tracks took 23 s with the default threads and 0.7 s with one on a loaded 2-core machine.
COMPUTE_THREADS = 1
META = ("title", "artist", "deezer_id", "album_key", "context")


class MapError(ValueError):
    """A Map action cannot be done as asked; the message is plain words for the user."""


# ----------------------------------------------------------------------------------------- the catalog


def catalog_frame(session: Session) -> pd.DataFrame:
    """Every harvested (labelled) track once, index track_id: title, artist, deezer_id, album_key, context, features.

    The catalog is the labelled tracks only: they are global, while other tracks in the store may have come
    from someone's library. A track in several contexts gets them joined ("sleep + study").
    """
    pairs = session.execute(select(Label.track_id, Context.name).join(Context, Context.id == Label.context_id)
                            .distinct()).all()
    if not pairs:
        return pd.DataFrame(columns=[*META, "genre"])
    labels = pd.DataFrame(pairs, columns=["track_id", "context"])
    contexts = labels.groupby("track_id")["context"].agg(lambda names: " + ".join(sorted(set(names))))
    ids = [int(t) for t in contexts.index]
    meta = []
    for start in range(0, len(ids), 500):
        meta.extend(session.execute(select(Track.id, Track.title, Track.artist, Track.deezer_id,
                                           Track.deezer_album_id).where(Track.id.in_(ids[start:start + 500]))))
    info = pd.DataFrame(meta, columns=["track_id", "title", "artist", "deezer_id", "album_id"]).set_index("track_id")
    # Tracks without a Deezer album form their own group when folds keep albums apart.
    info["album_key"] = [f"album:{a}" if pd.notna(a) else f"track:{t}" for t, a in zip(info.index, info["album_id"])]
    info = info.drop(columns="album_id")
    info["context"] = contexts
    features = feature_frame(session, ids)
    return info.reindex(ids).join(features)


def catalog_version(session: Session) -> tuple[Any, ...]:
    """Changes whenever a label or feature row is added, removed or refreshed in place: the catalog's cache key."""
    labels = session.execute(select(func.count(Label.id), func.max(Label.id))).one()
    features = session.execute(select(func.count(TrackFeatures.id), func.max(TrackFeatures.id),
                                      func.max(TrackFeatures.fetched_at))).one()
    return (*labels, *features)


def numeric_columns(catalog: pd.DataFrame) -> list[str]:
    """Feature columns with values for at least half the catalog and more than one value (Explore's rule)."""
    if catalog.empty:
        return []
    features = catalog[[c for c in catalog.columns if c not in META]]
    return feature_columns(features.reset_index())


def default_axes(columns: Sequence[str]) -> tuple[str | None, str | None]:
    """Tempo across and energy (or loudness) up when the catalog has them, else the first features."""
    tempo = ("preview_tempo", "reccobeats_tempo", "spotify_tempo", "deezer_bpm")
    energy = ("preview_energy", "reccobeats_energy", "spotify_energy", "preview_loudness_db", "deezer_gain")
    x = next((c for c in tempo if c in columns), None)
    y = next((c for c in energy if c in columns), None)
    rest = [c for c in columns if c not in (x, y)]
    x = x or (rest.pop(0) if rest else None)
    y = y or (rest.pop(0) if rest else x)
    return x, y


# ------------------------------------------------------------------------------------- the scatter


def scatter_points(catalog: pd.DataFrame, x: str, y: str, colour: str | None, size: str | None,
                   cluster_labels: pd.Series | None = None, limit: int = PLOT_POINTS,
                   seed: int = 0) -> pd.DataFrame:
    """The tracks to draw: those with both x and y, a random `limit` of them at most (attrs: total, shown).

    Columns track_id, title, artist, x, y, colour (a category name or a number), size (a number or NaN);
    `attrs["colour_kind"]` says whether colour is "category" or "number".
    """
    usable = numeric_columns(catalog)
    for name in (x, y):
        if name not in usable:
            raise MapError(f"The catalog has no feature called {name!r} with enough values to draw.")
    size = size if size in usable else None
    rows = catalog[catalog[x].notna() & catalog[y].notna()]
    total = len(rows)
    if total > limit:
        rows = rows.sample(n=limit, random_state=seed)
    points = pd.DataFrame({"track_id": rows.index.astype(int), "title": rows["title"].fillna(""),
                           "artist": rows["artist"].fillna(""), "x": rows[x].astype(float),
                           "y": rows[y].astype(float)})
    kind = "none"
    if colour in ("genre", "context"):
        points["colour"] = _top_categories(rows[colour].fillna(f"no {colour}").astype(str))
        kind = "category"
    elif colour == "cluster":
        labels = cluster_labels if cluster_labels is not None else pd.Series(dtype=int)
        points["colour"] = [f"cluster {labels[t]}" if t in labels.index else "not clustered"
                            for t in points["track_id"]]
        kind = "category"
    elif colour in usable:
        points["colour"] = rows[colour].astype(float).to_numpy()
        kind = "number"
    points["size"] = rows[size].astype(float).to_numpy() if size else float("nan")
    points.attrs.update(total=total, shown=len(points), colour_kind=kind, x=x, y=y, colour=colour, size=size)
    return points.reset_index(drop=True)


def _top_categories(values: pd.Series) -> pd.Series:
    top = values.value_counts().index[:MAX_CATEGORIES]
    return values.where(values.isin(top), "other").to_numpy()


def points_sentence(points: pd.DataFrame) -> str:
    total, shown = points.attrs.get("total", len(points)), points.attrs.get("shown", len(points))
    if total == 0:
        return "No track has values for both of these features."
    if shown < total:
        return (f"Showing a random {shown:,} of the {total:,} tracks with both features (a sample keeps the "
                "page fast). Click a point to hear its preview.")
    return f"Showing all {total:,} tracks with both features. Click a point to hear its preview."


# ------------------------------------------------------------------------------------------ clusters


def run_clustering(session: Session, user_id: int, params: Mapping[str, Any], job_id: str | None = None,
                   progress: Progress | None = None, catalog: pd.DataFrame | None = None) -> ModelRun:
    """Cluster the catalog as `params` say (method ap|kmeans, preference_percentile, k, sample, features) and
    record the run, with its genre composition, sentences and the preference sweep, as the user's ModelRun."""
    from app.models import clustering

    progress = progress or Progress()
    catalog = catalog_frame(session) if catalog is None else catalog
    if catalog.empty:
        raise MapError(EMPTY_CATALOG)
    usable = numeric_columns(catalog)
    columns = [c for c in (params.get("features") or usable) if c in usable]
    if not columns:
        raise MapError("No feature has values for enough of the catalog's tracks to cluster on.")
    features = catalog[columns]
    method = str(params.get("method", "kmeans"))
    progress.stage("clustering", total=2)
    try:
        with threadpool_limits(limits=COMPUTE_THREADS):
            started = time.perf_counter()
            if method == "ap":
                result = clustering.affinity_propagation(
                    features, percentile=_number(params.get("preference_percentile"), clustering.DEFAULT_PERCENTILE),
                    sample=bool(params.get("sample")))
            elif method == "kmeans":
                result = clustering.kmeans(features, k=int(_number(params.get("k"), clustering.DEFAULT_K)))
            else:
                raise MapError("Choose affinity propagation or k-means.")
            seconds = time.perf_counter() - started
            progress.advance("clustering")
            sweep = clustering.preference_sweep(features)
    except clustering.ClusteringError as exc:
        raise MapError(str(exc)) from None
    progress.advance("clustering")
    labels = pd.Series(result.labels, index=result.track_ids)
    composition = clustering.genre_composition(labels, catalog["genre"])
    sentences = clustering.cluster_sentences(labels, catalog["genre"], features)
    run = ModelRun(user_id=user_id, mode=MAP_MODE, name=result.method, params=result.params,
                   metrics={**result.metrics, "tracks": len(labels), "catalog_tracks": len(catalog)},
                   result={"track_ids": result.track_ids, "labels": result.labels, "notes": result.notes,
                           "composition": {"clusters": [int(c) for c in composition.index],
                                           "genres": [str(g) for g in composition.columns],
                                           "counts": composition.to_numpy().tolist()},
                           "sentences": {str(k): v for k, v in sentences.items()}, "sweep": sweep},
                   seconds=round(seconds, 3), job_id=job_id)
    session.add(run)
    session.commit()
    return run


def _number(value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise MapError(f"{value!r} is not a number.") from None


def cluster_run(session: Session, user_id: int, run_id: int | None = None) -> ModelRun | None:
    """The user's clustering run `run_id`, or their latest one; None when there is none (or not theirs)."""
    if run_id is not None:
        run = get_owned(session, ModelRun, user_id, int(run_id))
        return run if run is not None and run.mode == MAP_MODE else None
    return session.scalars(owned(ModelRun, user_id).where(ModelRun.mode == MAP_MODE)
                           .order_by(ModelRun.id.desc()).limit(1)).first()


def run_labels(run: ModelRun | None) -> pd.Series | None:
    if run is None or not run.result:
        return None
    return pd.Series(run.result["labels"], index=run.result["track_ids"])


def run_summary(run: ModelRun) -> str:
    metrics, params = run.metrics or {}, run.params or {}
    if run.name == "affinity propagation":
        how = (f"Affinity propagation with the preference at the {params.get('preference_percentile', 50):g}th "
               f"percentile of the similarities ({params.get('preference')})")
    else:
        how = f"k-means with k = {params.get('k')}"
    silhouette = metrics.get("silhouette")
    quality = f"; silhouette {silhouette:.2f} (1 is perfectly separated, 0 is overlapping)" \
        if silhouette is not None else ""
    notes = " ".join((run.result or {}).get("notes") or [])
    return (f"{how} found {metrics.get('n_clusters')} clusters in {metrics.get('tracks', 0):,} tracks in "
            f"{run.seconds or 0:.1f} s{quality}. {notes}").strip()


# ------------------------------------------------------------------------------------- genre model


def train_genre_model(session: Session, user_id: int, job_id: str | None = None,
                      progress: Progress | None = None, catalog: pd.DataFrame | None = None) -> TrainedModel:
    """Fit the genre model on the catalog, check it on unseen albums, store it (TrainedModel kind="genre")
    and record the run (ModelRun mode="genre")."""
    from app.models import genre_model
    from app.models.persistence import library_versions

    progress = progress or Progress()
    catalog = catalog_frame(session) if catalog is None else catalog
    progress.stage("genre model", total=2)
    try:
        data = genre_model.genre_data(catalog)
        with threadpool_limits(limits=COMPUTE_THREADS):
            metrics = genre_model.evaluate(data)
            progress.advance("genre model")
            pipeline, seconds = genre_model.fit(data)
    except genre_model.GenreModelError as exc:
        raise MapError(str(exc)) from None
    progress.advance("genre model")
    providers = sorted({c.split("_", 1)[0] for c in data.spec.numeric})
    params = {"estimator": "logistic regression", "class_weight": "balanced", "C": 1.0,
              "min_tracks_per_genre": genre_model.MIN_TRACKS_PER_GENRE, "providers": providers or ["deezer"],
              "classes": [str(c) for c in pipeline.classes_], "notes": data.notes}
    model = TrainedModel(user_id=user_id, kind=GENRE_KIND, name="genre (logistic regression)",
                         artifact=genre_model.to_bytes(pipeline), params=params, metrics=metrics,
                         features=data.spec.columns, versions=library_versions(), job_id=job_id)
    session.add(model)
    session.flush()
    session.add(ModelRun(user_id=user_id, mode=GENRE_MODE, name="logistic regression", params=params,
                         metrics=metrics, seconds=round(seconds, 3), model_id=model.id, job_id=job_id))
    session.commit()
    return model


def genre_model_row(session: Session, user_id: int) -> TrainedModel | None:
    return session.scalars(owned(TrainedModel, user_id).where(TrainedModel.kind == GENRE_KIND)
                           .order_by(TrainedModel.id.desc()).limit(1)).first()


def genre_model_sentence(model: TrainedModel | None) -> str:
    if model is None:
        return "No genre model yet: train one on the catalog (a few seconds)."
    metrics = model.metrics or {}
    classes = (model.params or {}).get("classes", [])
    if metrics.get("accuracy") is None:
        checked = metrics.get("note", "It could not be checked.")
    else:
        checked = (f"On albums it had not seen it named the genre right {metrics['accuracy']:.0%} of the time "
                   f"(macro-F1 {metrics['macro_f1']:.2f}; always guessing the commonest genre would be right "
                   f"{metrics['majority_share']:.0%} of the time).")
        if metrics["accuracy"] <= metrics["majority_share"] + 0.05:
            checked += (" That is no better than guessing: the catalog's features say little about genre, so read "
                        "its predictions as a hint at most.")
    return f"The genre model knows {len(classes)} genres ({', '.join(classes)}). {checked}"


def predict_genre(session: Session, user_id: int, track_id: int) -> dict[str, Any]:
    """The user's genre model's probabilities for a stored track, beside the genre Deezer gives its album."""
    from app.models import genre_model

    model = genre_model_row(session, user_id)
    if model is None or model.artifact is None:
        raise MapError("Train the genre model first (the button above).")
    try:
        pipeline = genre_model.from_bytes(model.artifact, model.versions)
    except genre_model.GenreModelError as exc:
        raise MapError(str(exc)) from None
    features = feature_frame(session, [track_id])
    track = session.get(Track, track_id)
    probabilities = genre_model.predict(pipeline, features, list(model.features or []))
    known = features[[c for c in model.features or [] if c in features.columns]].notna().sum(axis=1).iloc[0]
    deezer_genre = features["genre"].iloc[0] if "genre" in features.columns else None
    return {"track_id": track_id, "title": track.title if track else "", "artist": track.artist if track else "",
            "deezer_genre": deezer_genre if isinstance(deezer_genre, str) else None,
            "predicted": probabilities[0]["genre"], "probabilities": probabilities, "model_id": model.id,
            "features_known": int(known), "features_used": len(model.features or [])}


def fetch_and_enrich(session_factory: Callable[[], Session], config: Mapping[str, Any], deezer_id: int,
                     providers: Sequence[str], progress: Progress | None = None) -> int:
    """Put one Deezer track into the store (`/track/{id}`) and fetch its features; returns its tracks.id."""
    client = deezer_client(config)
    try:
        answer = client.track(deezer_id)
    except NotFound:
        raise MapError("Deezer has no track with that id any more; search again.") from None
    with session_factory() as session:
        ids = upsert_deezer_tracks(session, [answer])
        session.commit()
    if deezer_id not in ids:
        raise MapError("Deezer's answer for that track was incomplete; try another one.")
    track_id = ids[deezer_id]
    enrich_tracks(session_factory, [track_id], config, RunSummary("genre-predict"), progress or Progress(),
                  providers=[p for p in providers if p in ("deezer", "preview", "musicnn", "reccobeats")] or ["deezer"])
    return track_id
