"""Assembles a training set from labelled rows: one row per track, a set of contexts per track."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pandas._libs.parsers import STR_NA_VALUES  # pandas' own list of words read as missing

from app.models.features import FeatureSpec

#: Contexts with fewer distinct tracks than this are dropped before training.
DEFAULT_MIN_TRACKS = 30
#: Largest training or sorting CSV read, so a wrong file cannot exhaust the memory of a command.
MAX_CSV_BYTES = 200 * 1024 * 1024


class DatasetError(ValueError):
    """The rows cannot make a training set; the message names the column or the cause."""


@dataclass
class ContextDataset:
    """Tracks with their features, their contexts (binarised) and their source playlists.

    Attributes
    ----------
    features : DataFrame
        One row per track, indexed by track id, holding the raw feature columns.
    labels : ndarray of bool, shape (n_tracks, n_contexts)
        ``labels[i, j]`` is True when track ``i`` was found under context ``j``.
    contexts : list of str
        Context names, the column order of ``labels``.
    playlists : list of tuple of str
        Source playlists of each track. A track without a known playlist is its own group.
    spec : FeatureSpec
        Which feature columns are numeric and which categorical.
    playlist_contexts : dict of str to frozenset of str
        The contexts each source playlist was labelled with.
    messages : list of str
        What was dropped or changed while assembling, and why.
    grouping : str
        What ``playlists`` holds, so what splits hold out together: "playlist", "artist" or
        "track" (each track its own group).

    A track whose ``labels`` row is all False is background ("none of these"): it fits none of the
    contexts and teaches the model what a library's other songs look like.
    """

    features: pd.DataFrame
    labels: np.ndarray
    contexts: list[str]
    playlists: list[tuple[str, ...]]
    spec: FeatureSpec
    playlist_contexts: dict[str, frozenset[str]] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    grouping: str = "playlist"

    @property
    def background_tracks(self) -> int:
        """Tracks in none of the contexts."""
        return int((~self.labels.any(axis=1)).sum())

    def __len__(self) -> int:
        return len(self.features)

    def digest(self) -> str:
        """A digest of everything a fit reads here: two datasets with the same digest train the same model.

        The messages are left out: they only word the report, and some quote the library's share of a feature,
        which moves as likes arrive while the model would not.
        """
        described = [list(self.contexts), [str(c) for c in self.features.columns], list(self.spec.numeric),
                     list(self.spec.categorical), self.grouping, [list(p) for p in self.playlists],
                     sorted((k, sorted(v)) for k, v in self.playlist_contexts.items())]
        digest = hashlib.sha256(json.dumps(described, default=str).encode())
        digest.update(pd.util.hash_pandas_object(self.features, index=True).to_numpy().tobytes())
        digest.update(np.ascontiguousarray(self.labels, dtype=bool).tobytes())
        return digest.hexdigest()

    def subset(self, rows: np.ndarray) -> ContextDataset:
        """The tracks at positions ``rows``, with the same contexts."""
        return ContextDataset(
            features=self.features.iloc[rows], labels=self.labels[rows], contexts=self.contexts,
            playlists=[self.playlists[i] for i in rows], spec=self.spec,
            playlist_contexts=self.playlist_contexts, messages=self.messages,
            grouping=self.grouping,
        )

    def class_sizes(self) -> dict[str, dict[str, int]]:
        """Distinct tracks and source playlists (labelled with the context) per context."""
        sizes = {}
        for j, context in enumerate(self.contexts):
            rows = np.flatnonzero(self.labels[:, j])
            sources = {p for i in rows for p in self.playlists[i]
                       if context in self.playlist_contexts.get(p, ())}
            sizes[context] = {"tracks": int(rows.size), "playlists": len(sources)}
        return sizes


def read_csv(path: str | Path, text_columns: Sequence[str] = ()) -> pd.DataFrame:
    """A labelled or to-be-sorted CSV as a frame of strings and numbers; DatasetError says why it cannot be read.

    UTF-8 (with or without a byte-order mark) only: a UTF-16, Latin-1 or binary file is refused by name
    rather than read into columns of garbage. `text_columns` (ids, labels, playlists) are read as written:
    "007" stays "007" and a context called "NA" or "null" stays a context; only an empty cell is missing.
    """
    path = Path(path)
    name = path.name
    try:
        size = path.stat().st_size
        if size > MAX_CSV_BYTES:
            raise DatasetError(f"{name} is {size / 1024 / 1024:.0f} MB; CSVs up to "
                               f"{MAX_CSV_BYTES // 1024 // 1024} MB can be read")
        data = path.read_bytes()
    except OSError as error:
        raise DatasetError(f"cannot read {path}: {error.strerror or error}") from None
    return parse_csv_bytes(data, name, text_columns)


def parse_csv_bytes(data: bytes, name: str = "the CSV", text_columns: Sequence[str] = ()) -> pd.DataFrame:
    """The frame of CSV bytes (see :func:`read_csv`); raises DatasetError and nothing else."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or _utf16_shape(data[:4096]):
        raise DatasetError(f"{name} is UTF-16 encoded; save it as UTF-8 and try again")
    if b"\x00" in data:
        raise DatasetError(f"{name} is not a text file (it holds binary data)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise DatasetError(f"{name} is not UTF-8: line {line} has the byte 0x{data[error.start]:02X} "
                           "(Latin-1 or Windows-1252?); save it as UTF-8 and try again") from None
    if not text.strip():
        raise DatasetError(f"{name} is empty")
    try:
        frame = pd.read_csv(io.StringIO(text), low_memory=False, **_text_options(text, text_columns))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError) as error:
        detail = " ".join(str(error).replace("Error tokenizing data. C error: ", "").split())
        raise DatasetError(f"{name} is not a readable CSV: {detail}") from None
    if not isinstance(frame.index, pd.RangeIndex):
        # pandas turns the extra leading fields of a too-long first row into an index: refuse, not guess.
        raise DatasetError(f"{name} is not a readable CSV: line 2 has more fields than the header "
                           f"({len(frame.columns)})")
    if frame.empty:
        raise DatasetError(f"{name} has a header but no rows")
    return frame


def _text_options(text: str, text_columns: Sequence[str]) -> dict:
    """read_csv options keeping `text_columns` as strings, with only the empty cell missing in them."""
    header = list(pd.read_csv(io.StringIO(text), nrows=0).columns)
    wanted = [column for column in header if column in set(text_columns)]
    if not wanted:
        return {}
    return {"dtype": dict.fromkeys(wanted, str), "keep_default_na": False,
            "na_values": {column: [""] if column in wanted else sorted(STR_NA_VALUES) for column in header}}


def _utf16_shape(sample: bytes) -> bool:
    """Mostly-ASCII UTF-16 without a byte-order mark: a NUL in every other byte."""
    if len(sample) < 4:
        return False
    halves = (sample[0::2], sample[1::2])
    return any(half.count(0) >= 0.8 * len(half) and other.count(0) == 0 for half, other in (halves, halves[::-1]))


def normalise_context(name: object) -> str | None:
    """The context a label names: whitespace collapsed and case folded, so "Workout " is "workout".

    A ``;`` becomes ``,`` because sorted output joins several contexts with ``;``. Empty labels
    give None.
    """
    if name is None or (isinstance(name, float) and np.isnan(name)) or name is pd.NA:
        return None
    text = " ".join(str(name).split()).casefold().replace(";", ",")
    return text or None


def binarise_labels(
    frame: pd.DataFrame, id_col: str, label_col: str, group_col: str | None = None,
) -> tuple[pd.Index, np.ndarray, list[str], list[tuple[str, ...]]]:
    """Turn one-row-per-(track, label) rows into a track-by-context indicator matrix.

    Parameters
    ----------
    frame : DataFrame
        Rows with an id and a label; several rows with the same id give that track several labels.
    id_col, label_col : str
        Track id and context label columns.
    group_col : str, optional
        Source playlist column; each track collects the playlists it was found in.

    Returns
    -------
    ids : Index
        Track ids in first-seen order; rows without a label are ignored.
    labels : ndarray of bool, shape (n_tracks, n_contexts)
    contexts : list of str
        Sorted context names.
    playlists : list of tuple of str
        Sorted source playlists per track (empty when ``group_col`` is None).
    """
    contexts_of_row = frame[label_col].map(normalise_context)
    keep = contexts_of_row.notna() & frame[id_col].notna()
    ids = frame.loc[keep, id_col].astype(str)
    names = contexts_of_row[keep]
    track_index = pd.Index(ids.unique())
    contexts = sorted(names.unique())
    labels = np.zeros((len(track_index), len(contexts)), dtype=bool)
    labels[track_index.get_indexer(ids), pd.Index(contexts).get_indexer(names)] = True
    if group_col is None:
        playlists = [()] * len(track_index)
    else:
        pairs = pd.DataFrame({"id": ids, "p": frame.loc[keep, group_col].astype("string")}).dropna()
        grouped = pairs.groupby("id", sort=False)["p"].agg(lambda s: tuple(sorted(set(s))))
        playlists = [tuple(p) for p in grouped.reindex(track_index, fill_value=())]
    return track_index, labels, contexts, playlists


def drop_small_contexts(
    labels: np.ndarray, contexts: list[str], min_tracks: int,
) -> tuple[np.ndarray, list[str], np.ndarray, list[str]]:
    """Remove contexts with fewer than ``min_tracks`` tracks, then tracks left without a context.

    Returns
    -------
    labels : ndarray of bool
        The kept columns, restricted to the kept tracks.
    contexts : list of str
        The kept contexts.
    kept_tracks : ndarray of int
        Positions of the tracks that still have a context.
    messages : list of str
        Which contexts were dropped and why, and how many tracks went with them.
    """
    counts = labels.sum(axis=0)
    keep = counts >= min_tracks
    messages = []
    dropped = [f"'{c}' ({n})" for c, n, k in zip(contexts, counts, keep) if not k]
    if dropped:
        messages.append(
            f"dropped {len(dropped)} context(s) with fewer than {min_tracks} tracks "
            f"(--min-tracks): {', '.join(dropped)}"
        )
    labels = labels[:, keep]
    kept_tracks = np.flatnonzero(labels.any(axis=1))
    if kept_tracks.size < len(labels):
        messages.append(f"dropped {len(labels) - kept_tracks.size} track(s) whose only contexts "
                        "were dropped")
    return labels[kept_tracks], [c for c, k in zip(contexts, keep) if k], kept_tracks, messages


def build_dataset(
    frame: pd.DataFrame,
    *,
    id_col: str,
    label_col: str,
    spec: FeatureSpec,
    group_col: str | None = None,
    min_tracks: int = DEFAULT_MIN_TRACKS,
    contexts: list[str] | None = None,
    background: pd.DataFrame | None = None,
    implicit_background: bool = True,
    grouping: str | None = None,
    random_state: int = 0,
) -> ContextDataset:
    """Assemble a :class:`ContextDataset` from labelled rows, with background tracks.

    Background ("none of these") tracks are the rows with an empty label and the tracks of
    contexts not kept (``contexts``, ``min_tracks``) when ``implicit_background``, plus every row
    of ``background``. Implicit background larger than the labelled tracks is sampled down to
    their number (:data:`MAX_BACKGROUND_RATIO`), with a message.

    Parameters
    ----------
    frame : DataFrame
        Rows after :func:`app.models.features.derive_columns`.
    id_col, label_col, group_col : str
        Track id, context label and (optional) source playlist columns.
    spec : FeatureSpec
        Feature columns; a track's features come from its first row that has them.
    min_tracks : int
        Contexts with fewer distinct tracks are dropped (with a message).
    contexts : list of str, optional
        Keep only these contexts (normalised names); tracks under no other kept context become
        background.
    background : DataFrame, optional
        Extra tracks that fit none of the contexts (``--background``), with ``id_col`` and the
        feature columns.
    grouping : str, optional
        What ``group_col`` holds ("playlist" or "artist"); "track" without one.

    Raises
    ------
    DatasetError
        When the label is empty, fewer than two contexts remain, or the background is unusable.
    """
    ids, labels, names, playlists = binarise_labels(frame, id_col, label_col, group_col)
    if not names:
        raise DatasetError(f"label column '{label_col}' has no values")
    if len(names) < 2:
        raise DatasetError(
            f"label column '{label_col}' has a single context ('{names[0]}'); need at least two"
        )
    messages = []
    if contexts is not None:
        wanted = [normalise_context(c) for c in contexts]
        missing = [c for c in wanted if c not in names]
        if missing:
            raise DatasetError(f"context(s) not in label column '{label_col}': {', '.join(missing)}")
        columns = [names.index(c) for c in wanted]
        labels, names = labels[:, columns], wanted
    labels, names, kept, dropped = drop_small_contexts(labels, names, min_tracks)
    messages += dropped
    if len(names) < 2:
        raise DatasetError(
            f"fewer than two contexts in '{label_col}' have at least {min_tracks} tracks "
            f"(--min-tracks); kept: {', '.join(names) or 'none'}"
        )
    features = frame.assign(**{id_col: frame[id_col].astype("string")}).groupby(
        id_col, sort=False)[spec.columns].first()
    labelled_ids = ids[kept]
    empty = [c for c in spec.columns if features.loc[labelled_ids, c].isna().all()]
    if len(empty) == len(spec.columns):
        raise DatasetError(f"every feature column is empty for the labelled tracks "
                           f"({', '.join(spec.columns)}): nothing to learn from")
    track_playlists = [playlists[i] for i in kept]
    extra_ids = pd.Index([], dtype=object)
    if implicit_background:
        extra_ids = features.index.difference(labelled_ids, sort=False)
        limit = int(MAX_BACKGROUND_RATIO * len(labelled_ids))
        if len(extra_ids) > limit:
            rng = np.random.default_rng(random_state)
            extra_ids = extra_ids[np.sort(rng.choice(len(extra_ids), limit, replace=False))]
            messages.append(f"sampled {limit} of the tracks in none of the contexts as background "
                            "(at most as many as the labelled tracks)")
    background_features = features.loc[extra_ids]
    background_groups = _groups_of(frame, id_col, group_col, extra_ids)
    if background is not None:
        extra = _background_rows(background, id_col, spec, group_col, len(labelled_ids))
        extra = extra[~extra.index.isin(labelled_ids) & ~extra.index.isin(extra_ids)]
        background_features = pd.concat([background_features, extra[spec.columns]])
        background_groups += _groups_of(extra.reset_index(), id_col, group_col, extra.index)
    features = pd.concat([features.loc[labelled_ids], background_features])
    labels = np.vstack([labels, np.zeros((len(background_features), len(names)), dtype=bool)])
    if len(background_features):
        messages.append(f"{len(background_features)} background track(s) (in none of the "
                        "contexts) teach the model what the rest of a library looks like")
    playlist_contexts = {}
    if group_col is not None:
        pairs = pd.DataFrame({"p": frame[group_col].astype("string"),
                              "c": frame[label_col].map(normalise_context)}).dropna()
        playlist_contexts = {p: frozenset(c) for p, c in pairs.groupby("p")["c"]}
    return ContextDataset(
        features=features, labels=labels, contexts=names,
        playlists=track_playlists + background_groups, spec=spec,
        playlist_contexts=playlist_contexts, messages=messages,
        grouping=grouping or ("playlist" if group_col else "track"),
    )


#: Implicit background tracks kept per labelled track, at most.
MAX_BACKGROUND_RATIO = 1.0


def _groups_of(frame: pd.DataFrame, id_col: str, group_col: str | None,
               ids: pd.Index) -> list[tuple[str, ...]]:
    if group_col is None or group_col not in frame.columns or not len(ids):
        return [()] * len(ids)
    pairs = pd.DataFrame({"id": frame[id_col].astype("string"),
                          "p": frame[group_col].astype("string")}).dropna()
    grouped = pairs.groupby("id", sort=False)["p"].agg(lambda s: tuple(sorted(set(s))))
    return [tuple(p) for p in grouped.reindex(ids, fill_value=())]


def _background_rows(background: pd.DataFrame, id_col: str, spec: FeatureSpec,
                     group_col: str | None, labelled: int) -> pd.DataFrame:
    """The ``--background`` tracks, one row each, refused clearly when unusable."""
    if id_col not in background.columns:
        raise DatasetError(f"the background has no '{id_col}' column (the training id column)")
    missing = [c for c in spec.columns if c not in background.columns]
    if missing:
        raise DatasetError(f"the background lacks feature column(s): {', '.join(missing)}")
    rows = background.dropna(subset=[id_col]).assign(
        **{id_col: background[id_col].astype("string")})
    rows = rows.groupby(id_col, sort=False).first()
    if len(rows) > labelled:
        raise DatasetError(f"the background has {len(rows)} tracks, more than the {labelled} "
                           "labelled ones: cutoffs would be chosen mostly against it. Give at "
                           "most as many background tracks as labelled ones")
    if rows[spec.columns].isna().all(axis=None):
        raise DatasetError("every feature of the background is empty")
    return rows
