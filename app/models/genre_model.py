"""A genre classifier over the catalog's features (never the genre itself): data, pipeline, evaluation, storage."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
from sklearn.pipeline import Pipeline

from app.models.features import FeatureSpec
from app.models.persistence import _major_minor, library_versions
from app.models.pipeline import make_pipeline

#: A genre with fewer catalog tracks than this cannot be learned (nor checked): it is left out.
MIN_TRACKS_PER_GENRE = 8
#: A feature must be known for at least this share of the training tracks (the rest are imputed).
MIN_COVERAGE = 0.5
CATEGORICAL = ("key", "mode", "decade")
MAX_FOLDS = 5
#: Columns that are the answer, or describe the album the answer comes from, so they are never features.
LEAKING = ("genre",)


class GenreModelError(ValueError):
    """The genre model cannot be trained or used as asked; plain words."""


@dataclass
class GenreData:
    """What the model learns from: features X, genre y, album groups (for the folds), and what was left out."""

    X: pd.DataFrame
    y: pd.Series
    groups: pd.Series
    spec: FeatureSpec
    notes: list[str] = field(default_factory=list)


def genre_data(catalog: pd.DataFrame, min_tracks: int = MIN_TRACKS_PER_GENRE) -> GenreData:
    """Catalog rows with a Deezer genre shared by at least `min_tracks` tracks, and the usable feature columns."""
    if catalog.empty or "genre" not in catalog.columns:
        raise GenreModelError("The catalog is empty: harvest some contexts on the Contexts page first.")
    rows = catalog[catalog["genre"].notna()]
    counts = rows["genre"].value_counts()
    kept = counts[counts >= min_tracks]
    notes = []
    dropped = counts[counts < min_tracks]
    if len(dropped):
        notes.append(f"Left out {len(dropped)} genre{'s' if len(dropped) != 1 else ''} with fewer than "
                     f"{min_tracks} tracks: {', '.join(dropped.index[:8])}{'…' if len(dropped) > 8 else ''}.")
    if len(kept) < 2:
        raise GenreModelError(f"A genre model needs at least two genres with {min_tracks} or more tracks each; "
                              f"the catalog has {len(kept)}. Harvest more contexts first.")
    rows = rows[rows["genre"].isin(kept.index)]
    feature_part = rows[[c for c in rows.columns if _is_feature(c)]]
    coverage = feature_part.notna().mean()
    numeric = tuple(c for c in feature_part.columns
                    if c not in CATEGORICAL and coverage[c] >= MIN_COVERAGE and feature_part[c].nunique() > 1)
    categorical = tuple(c for c in CATEGORICAL if c in feature_part.columns and coverage[c] >= MIN_COVERAGE)
    if not numeric and not categorical:
        raise GenreModelError("No feature is known for enough of the catalog's tracks to learn genres from.")
    spec = FeatureSpec(numeric, categorical)
    groups = rows["album_key"] if "album_key" in rows.columns else pd.Series(rows.index, index=rows.index)
    return GenreData(rows[spec.columns], rows["genre"].astype(str), groups.astype(str), spec, notes)


def _is_feature(column: str) -> bool:
    if column in LEAKING or column.endswith("_id"):  # identifiers (deezer_id) carry no music
        return False
    return column in CATEGORICAL or ("_" in column and column.split("_", 1)[0] in
                                     ("deezer", "preview", "musicnn", "reccobeats", "spotify"))


def make_genre_pipeline(spec: FeatureSpec) -> Pipeline:
    """The context model's preprocessing (impute, scale, one-hot), then a class-weighted logistic regression."""
    pipeline = make_pipeline(spec)
    # Balanced weights: a catalog's genres are very uneven, and an unweighted model would mostly say "Pop".
    return pipeline.set_params(classifier=LogisticRegression(max_iter=2000, class_weight="balanced", C=1.0))


def evaluate(data: GenreData, seed: int = 0) -> dict[str, Any]:
    """Accuracy and macro-F1 from folds that keep each album on one side.

    Every track of an album has the album's genre and release year, so folds that split an album would
    let the model recognise the album instead of the genre, and look better than it is.
    """
    smallest = int(data.groups.groupby(data.y).nunique().min())
    folds = min(MAX_FOLDS, smallest)
    majority = float(data.y.value_counts(normalize=True).iloc[0])
    if folds < 2:
        return {"folds": 0, "accuracy": None, "macro_f1": None, "majority_share": round(majority, 3),
                "note": "Too few albums per genre to check the model on albums it has not seen."}
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    predicted = cross_val_predict(make_genre_pipeline(data.spec), data.X, data.y, groups=data.groups,
                                  cv=splitter)
    return {"folds": folds, "accuracy": round(float(accuracy_score(data.y, predicted)), 3),
            "macro_f1": round(float(f1_score(data.y, predicted, average="macro")), 3),
            "majority_share": round(majority, 3), "tracks": len(data.y), "genres": int(data.y.nunique())}


def fit(data: GenreData) -> tuple[Pipeline, float]:
    """The pipeline fitted on every row, and the seconds it took."""
    started = time.perf_counter()
    pipeline = make_genre_pipeline(data.spec).fit(data.X, data.y)
    return pipeline, time.perf_counter() - started


def to_bytes(pipeline: Pipeline) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)
    return buffer.getvalue()


def from_bytes(blob: bytes, versions: dict[str, Any] | None) -> Pipeline:
    """Load a stored pipeline; refuses one pickled by other major.minor library versions (it may load wrongly).

    Unpickling runs code: only artifacts contextify wrote to its own database are loaded here.
    """
    here = library_versions()
    saved = versions or {}
    differing = [name for name in ("scikit-learn", "numpy", "pandas", "joblib")
                 if _major_minor(str(saved.get(name, ""))) != _major_minor(here[name])]
    if differing:
        raise GenreModelError(f"The genre model was trained with other versions of {', '.join(differing)}; "
                              "train it again.")
    pipeline = joblib.load(io.BytesIO(blob))
    if not isinstance(pipeline, Pipeline):
        raise GenreModelError("The stored genre model is damaged; train it again.")
    return pipeline


def predict(pipeline: Pipeline, features: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """Genre probabilities for the first row of `features`, most likely first."""
    row = features.reindex(columns=columns).iloc[[0]]
    proba = pipeline.predict_proba(row)[0]
    order = np.argsort(-proba)
    return [{"genre": str(pipeline.classes_[i]), "probability": round(float(proba[i]), 4)} for i in order]
