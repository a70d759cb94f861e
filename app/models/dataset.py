"""Assembles a training set from labelled rows: one row per track, a set of contexts per track."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from app.models.features import FeatureSpec

#: Contexts with fewer distinct tracks than this are dropped before training.
DEFAULT_MIN_TRACKS = 30


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
    """

    features: pd.DataFrame
    labels: np.ndarray
    contexts: list[str]
    playlists: list[tuple[str, ...]]
    spec: FeatureSpec
    playlist_contexts: dict[str, frozenset[str]] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.features)

    def subset(self, rows: np.ndarray) -> ContextDataset:
        """The tracks at positions ``rows``, with the same contexts."""
        return ContextDataset(
            features=self.features.iloc[rows], labels=self.labels[rows], contexts=self.contexts,
            playlists=[self.playlists[i] for i in rows], spec=self.spec,
            playlist_contexts=self.playlist_contexts, messages=self.messages,
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
) -> ContextDataset:
    """Assemble a :class:`ContextDataset` from labelled rows.

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
        Keep only these contexts (normalised names); tracks under no kept context are dropped.

    Raises
    ------
    DatasetError
        When the label is empty or fewer than two contexts remain.
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
    features = features.loc[ids[kept]]
    playlist_contexts = {}
    if group_col is not None:
        pairs = pd.DataFrame({"p": frame[group_col].astype("string"),
                              "c": frame[label_col].map(normalise_context)}).dropna()
        playlist_contexts = {p: frozenset(c) for p, c in pairs.groupby("p")["c"]}
    return ContextDataset(
        features=features, labels=labels, contexts=names,
        playlists=[playlists[i] for i in kept], spec=spec,
        playlist_contexts=playlist_contexts, messages=messages,
    )
