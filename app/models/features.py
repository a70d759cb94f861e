"""Which input columns are model features, how they are derived, and which would leak the label."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

#: Columns that are categories even when they hold numbers (a key of 11 is not "more" than 2).
CATEGORICAL_NAMES = ("genre", "genres", "key", "mode", "time_signature", "decade")

#: Release-date columns a ``decade`` category is derived from, in order of preference.
RELEASE_DATE_COLUMNS = ("release_date", "album_release_date", "track_album_release_date")

# Numeric identifiers and row numbers carry no musical information but would be picked up as numbers.
_IDENTIFIER = re.compile(r"(^id$|_id$|^index$|^unnamed: \d+$)", re.IGNORECASE)

# A feature constant inside nearly every source playlist describes the playlist, not the track.
_PLAYLIST_LEVEL_SHARE = 0.95
_MIN_PLAYLIST_ROWS = 5
_MIN_PLAYLISTS_CHECKED = 5


class FeatureError(ValueError):
    """The requested feature columns cannot be used; the message names the column."""


@dataclass(frozen=True)
class FeatureSpec:
    """The model's input columns.

    Attributes
    ----------
    numeric : tuple of str
        Columns scaled as numbers.
    categorical : tuple of str
        Columns one-hot encoded as categories.
    """

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        """All input columns, numeric first."""
        return [*self.numeric, *self.categorical]

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        return {"numeric": list(self.numeric), "categorical": list(self.categorical)}


def derive_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Add derived feature columns (``decade`` from a release date) to a copy of ``frame``.

    The decade is read from the first four characters of the first release-date column present
    (Spotify gives ``2019-06-14``, ``2019-06`` or ``2019``); unparseable dates give a missing decade.
    An existing ``decade`` column is kept as it is.
    """
    date_column = next((c for c in RELEASE_DATE_COLUMNS if c in frame.columns), None)
    if date_column is None or "decade" in frame.columns:
        return frame
    year = pd.to_numeric(frame[date_column].astype("string").str.slice(0, 4), errors="coerce")
    frame = frame.copy()
    decade = (year // 10 * 10).astype("Int64").astype("string") + "s"
    frame["decade"] = decade.astype(object).where(year.notna(), None)
    return frame


def _split_names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]


def infer_feature_spec(
    frame: pd.DataFrame,
    *,
    exclude: tuple[str, ...],
    features: str | list[str] | None = None,
    categorical: str | list[str] | None = None,
    group_col: str | None = None,
) -> tuple[FeatureSpec, list[str]]:
    """Choose the feature columns of a (derived) training frame.

    Parameters
    ----------
    frame : DataFrame
        Training rows after :func:`derive_columns`.
    exclude : tuple of str
        Columns that are never features (id, label, group).
    features : str or list of str, optional
        The complete feature list (comma-separated string or list). By default every numeric column
        except identifiers (``id``, ``*_id``, ``index``) plus the categorical names present.
    categorical : str or list of str, optional
        Columns to treat as categories (they become features too). By default the names in
        :data:`CATEGORICAL_NAMES`.
    group_col : str, optional
        Source-playlist column, used to refuse playlist-level columns (see below).

    Returns
    -------
    spec : FeatureSpec
    messages : list of str
        What was left out and why.

    Raises
    ------
    FeatureError
        A listed column is missing, excluded, non-numeric without being categorical, or describes
        the source playlist rather than the track (constant within nearly every playlist), which
        would leak the label into the features.
    """
    features = _split_names(features) if isinstance(features, str) else features
    categorical = _split_names(categorical) if isinstance(categorical, str) else categorical
    messages: list[str] = []
    explicit = features is not None or categorical is not None
    for option, names in (("--features", features), ("--categorical", categorical)):
        for name in names or ():
            if name not in frame.columns:
                raise FeatureError(f"{option}: column '{name}' is not in the CSV")
            if name in exclude:
                raise FeatureError(f"{option}: column '{name}' is the id, label or group column")
    if features is None:
        features = [
            c for c in frame.columns
            if c not in exclude and not _IDENTIFIER.search(c)
            and (pd.api.types.is_numeric_dtype(frame[c]) or c in CATEGORICAL_NAMES)
        ]
    cat_names = set(categorical if categorical is not None else CATEGORICAL_NAMES)
    chosen = list(dict.fromkeys([*features, *(categorical or ())]))
    numeric = [c for c in chosen if c not in cat_names]
    for name in numeric:
        if not pd.api.types.is_numeric_dtype(frame[name]):
            raise FeatureError(f"column '{name}' is not numeric; pass it with --categorical")
    if group_col is not None:
        for name in list(chosen):
            share = _playlist_level_share(frame, name, group_col)
            if share is None or share < _PLAYLIST_LEVEL_SHARE:
                continue
            why = (f"column '{name}' is constant within {share:.0%} of playlists ({group_col}): it "
                   "describes the playlist, not the track, and would leak the label")
            if explicit:
                raise FeatureError(why + "; leave it out of the features")
            messages.append(why + "; left out")
            chosen.remove(name)
    spec = FeatureSpec(
        numeric=tuple(c for c in chosen if c not in cat_names),
        categorical=tuple(c for c in chosen if c in cat_names),
    )
    if not spec.columns:
        raise FeatureError("no feature columns: the CSV has no numeric columns; pass --features")
    return spec, messages


def _playlist_level_share(frame: pd.DataFrame, column: str, group_col: str) -> float | None:
    """Share of sizeable playlists inside which ``column`` is constant, or None when unmeasurable."""
    sizes = frame.groupby(group_col, sort=False)[column].size()
    big = sizes.index[sizes >= _MIN_PLAYLIST_ROWS]
    if len(big) < _MIN_PLAYLISTS_CHECKED or frame[column].nunique() < 2:
        return None
    # Only the two columns are taken: masking the whole frame copied every column once per feature checked.
    rows = frame.loc[frame[group_col].isin(big), list(dict.fromkeys([group_col, column]))]
    distinct = rows.groupby(group_col, sort=False)[column].nunique()
    return float((distinct <= 1).mean())
