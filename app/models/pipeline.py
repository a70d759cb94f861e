"""The scikit-learn pipeline (preprocessing + one-vs-rest logistic regression) and its grid search."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.model_selection import GridSearchCV
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.parallel import Parallel, delayed

from app.models.features import FeatureSpec

#: Categories rarer than this share of the training tracks are grouped as "rare".
DEFAULT_MIN_FREQUENCY = 0.01

#: The hyper-parameter grid: regularisation strength C, L2 or L1 penalty (``l1_ratio`` 0 or 1) and
#: class weighting. L2 uses lbfgs; L1 needs liblinear and is searched only at strong regularisation,
#: where it differs from L2 by dropping features: at C >= 1 liblinear's L1 took 10-50 times as long
#: on the TidyTuesday tracks (near-separable categories) for what L2 already covers.
DEFAULT_GRID = [
    {"classifier__estimator__C": [0.01, 0.1, 1.0, 10.0],
     "classifier__estimator__l1_ratio": [0.0],
     "classifier__estimator__solver": ["lbfgs"],
     "classifier__estimator__class_weight": [None, "balanced"]},
    {"classifier__estimator__C": [0.01, 0.1],
     "classifier__estimator__l1_ratio": [1.0],
     "classifier__estimator__solver": ["liblinear"],
     "classifier__estimator__class_weight": [None, "balanced"]},
]

#: Name of the grid's score in reports.
SCORING = "average_precision"


def present_average_precision(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Average precision of P(context), averaged over the contexts present in the fold.

    It rewards precision at the top of each context's ranking, where the precision-first cutoffs
    operate. Contexts without a track in a fold (a context from few playlists) are skipped rather
    than scored as zero.
    """
    present = np.asarray(y_true).any(axis=0)
    return float(np.mean([average_precision_score(y_true[:, j], y_score[:, j])
                          for j in np.flatnonzero(present)]))


def present_average_precision_scorer(estimator, X: pd.DataFrame, y: np.ndarray) -> float:
    """:func:`present_average_precision` of the estimator's P(context) as a grid-search scorer.

    Not ``make_scorer(..., response_method="predict_proba")``: with exactly two contexts the one-vs-rest
    model's ``classes_`` has two entries, the scorer takes the problem for a binary one and passes only the
    second column of probabilities.
    """
    return present_average_precision(np.asarray(y), estimator.predict_proba(X))


def as_categories(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as strings: integral numbers lose their ``.0``, missing becomes "missing".

    Module-level so pipelines holding it can be pickled.
    """
    out = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values):
            numbers = pd.to_numeric(values, errors="coerce")
            text = numbers.map(lambda v: "missing" if pd.isna(v) else
                               (str(int(v)) if float(v).is_integer() else str(v)))
        else:
            text = values.astype(object).map(lambda v: "missing" if pd.isna(v) else str(v))
        out[column] = text.astype(object)
    return pd.DataFrame(out, index=frame.index)


def make_pipeline(spec: FeatureSpec, min_frequency: float | int = DEFAULT_MIN_FREQUENCY) -> Pipeline:
    """Preprocessing and a one-vs-rest logistic regression for the columns of ``spec``.

    Numeric columns are median-imputed with missing-value indicators, then standardised;
    categorical columns are one-hot encoded with rare and unseen categories grouped together.
    """
    transformers = []
    if spec.numeric:
        transformers.append(("num", Pipeline([
            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
            ("scale", StandardScaler()),
        ]), list(spec.numeric)))
    if spec.categorical:
        transformers.append(("cat", Pipeline([
            ("text", FunctionTransformer(as_categories, feature_names_out="one-to-one")),
            ("onehot", OneHotEncoder(min_frequency=min_frequency, sparse_output=False,
                                     handle_unknown="infrequent_if_exist")),
        ]), list(spec.categorical)))
    return Pipeline([
        ("preprocess", ColumnTransformer(transformers)),
        # liblinear (the grid's L1 points) shuffles its coordinates with this seed: unseeded, two trainings on the
        # same tracks could differ (emotify's mood AUC 0.753 or 0.759).
        ("classifier", OneVsRestClassifier(LogisticRegression(max_iter=1000, random_state=0))),
    ])


def grid_search(
    pipeline: Pipeline, X: pd.DataFrame, Y: np.ndarray, folds, grid=None, n_jobs: int = 2,
) -> GridSearchCV:
    """Grid search over ``grid`` (default :data:`DEFAULT_GRID`) on the given grouped folds.

    ``refit`` is off: the chosen parameters are refitted by the training procedure, which also needs
    out-of-fold probabilities.
    """
    search = GridSearchCV(pipeline, grid or DEFAULT_GRID, scoring=present_average_precision_scorer, cv=folds,
                          n_jobs=n_jobs, refit=False, error_score="raise")
    return search.fit(X, Y)


def _fit_predict(pipeline, X, Y, train, test):
    fitted = clone(pipeline).fit(X.iloc[train], Y[train])
    return test, fitted.predict_proba(X.iloc[test]), fitted


def out_of_fold_proba(
    pipeline: Pipeline, X: pd.DataFrame, Y: np.ndarray, folds, n_jobs: int = 2,
    return_models: bool = False,
):
    """P(context) for each track from the fold model that did not see its playlists.

    Tracks in no test fold (straddlers) get NaN rows. With ``return_models`` the fitted fold
    models come too, in fold order.
    """
    proba = np.full(Y.shape, np.nan)
    jobs = Parallel(n_jobs=n_jobs)(
        delayed(_fit_predict)(pipeline, X, Y, train, test) for train, test in folds)
    for test, fold_proba, _ in jobs:
        proba[test] = fold_proba
    return (proba, [fitted for _, _, fitted in jobs]) if return_models else proba


def grid_table(search: GridSearchCV) -> list[dict]:
    """The grid's candidates with readable parameters and their mean and spread of score."""
    results = search.cv_results_
    rows = []
    for params, mean, std in zip(results["params"], results["mean_test_score"],
                                 results["std_test_score"]):
        rows.append({**readable_params(params), "score": float(mean), "score_std": float(std)})
    return rows


def readable_params(params: dict) -> dict:
    """``classifier__estimator__l1_ratio=1`` as ``penalty="l1"``, and so on (solver left out)."""
    readable = {}
    for key, value in params.items():
        name = key.rsplit("__", 1)[-1]
        if name == "l1_ratio":
            readable["penalty"] = {0.0: "l2", 1.0: "l1"}.get(float(value), f"elasticnet {value}")
        elif name != "solver":
            readable[name] = value
    return readable


def readable_grid(grid) -> list[dict]:
    """The grid (a dict or a list of dicts) with the names of :func:`readable_params`."""
    readable = []
    for part in [grid] if isinstance(grid, dict) else grid:
        names = {}
        for key, values in part.items():
            name = key.rsplit("__", 1)[-1]
            if name == "l1_ratio":
                names["penalty"] = [readable_params({key: v})["penalty"] for v in values]
            elif name != "solver":
                names[name] = list(values)
        readable.append(names)
    return readable
