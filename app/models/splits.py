"""Splits that hold out whole source playlists, so scores measure generalisation to unseen playlists.

Tracks and playlists form one connected web (on the TidyTuesday data one component holds 88% of the
tracks), so grouping by connected component would leave nothing to split. Instead whole playlists
are assigned to folds, stratified by each playlist's main context; a track belongs to a fold when
all of its playlists are in that fold. A track whose playlists fall in different folds ("straddler")
is never scored: it is left out of the test side of every split, and out of the training side of
any split whose test fold holds one of its playlists. So no track and no playlist is ever on both
sides. Tracks without a known playlist are their own group.
"""

from __future__ import annotations

import numpy as np

from app.models.dataset import ContextDataset


def _playlist_table(dataset: ContextDataset) -> tuple[list[str], list[np.ndarray]]:
    """Playlist names and the track positions of each; a track with no playlist is its own group."""
    members: dict[str, list[int]] = {}
    for i, playlists in enumerate(dataset.playlists):
        for playlist in playlists or (f"track:{dataset.features.index[i]}",):
            members.setdefault(playlist, []).append(i)
    names = list(members)
    return names, [np.asarray(members[n]) for n in names]


def _track_folds(dataset: ContextDataset, fold_of: dict[str, int]) -> list[frozenset[int]]:
    """The set of folds each track's playlists fall in."""
    return [
        frozenset(fold_of[p] for p in (playlists or (f"track:{dataset.features.index[i]}",)))
        for i, playlists in enumerate(dataset.playlists)
    ]


def _main_context(dataset: ContextDataset, tracks: np.ndarray) -> int:
    """The context most of the tracks are in; ``n_contexts`` for a group of background tracks."""
    counts = dataset.labels[tracks].sum(axis=0)
    return int(counts.argmax()) if counts.any() else len(dataset.contexts)


def playlist_folds(
    dataset: ContextDataset, n_splits: int = 4, random_state: int = 0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cross-validation splits holding out whole playlists.

    Each playlist goes to the fold that so far has the fewest tracks of the playlist's main context
    (ties: fewest tracks), largest playlists first, so every context is spread over the folds.

    Parameters
    ----------
    dataset : ContextDataset
    n_splits : int
        Number of folds.
    random_state : int
        Seeds the order of equally large playlists.

    Returns
    -------
    list of (train, test) index arrays
        Usable as ``cv=`` in scikit-learn. The test sides are disjoint and leave out straddlers.
    """
    names, members = _playlist_table(dataset)
    rng = np.random.default_rng(random_state)
    order = sorted(rng.permutation(len(names)), key=lambda k: -len(members[k]))
    per_context = np.zeros((n_splits, len(dataset.contexts) + 1))
    totals = np.zeros(n_splits)
    fold_of = {}
    for k in order:
        context = _main_context(dataset, members[k])
        fold = min(range(n_splits), key=lambda f: (per_context[f, context], totals[f]))
        fold_of[names[k]] = fold
        per_context[fold, context] += len(members[k])
        totals[fold] += len(members[k])
    track_folds = _track_folds(dataset, fold_of)
    return [
        (
            np.asarray([i for i, folds in enumerate(track_folds) if fold not in folds], dtype=int),
            np.asarray([i for i, folds in enumerate(track_folds) if folds == {fold}], dtype=int),
        )
        for fold in range(n_splits)
    ]


def holdout_split(
    dataset: ContextDataset, test_size: float = 0.2, random_state: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out whole playlists for testing; every context keeps at least one training playlist.

    Per context (a playlist's main context), playlists are taken in random order: the first stays
    in training, each further one is held out while the context's held-out tracks are below
    ``test_size`` of its tracks. A context found in only one playlist is therefore never tested.

    Returns
    -------
    train, test : ndarray of int
        Track positions; straddlers between the two sides are in neither.
    """
    names, members = _playlist_table(dataset)
    rng = np.random.default_rng(random_state)
    by_context: dict[int, list[int]] = {}
    for k in rng.permutation(len(names)):
        by_context.setdefault(_main_context(dataset, members[k]), []).append(int(k))
    fold_of = {}
    for context, playlists in by_context.items():
        total = sum(len(members[k]) for k in playlists)
        held = 0
        for rank, k in enumerate(playlists):
            test = rank > 0 and held < test_size * total
            fold_of[names[k]] = int(test)
            held += len(members[k]) if test else 0
    track_folds = _track_folds(dataset, fold_of)
    train = np.asarray([i for i, f in enumerate(track_folds) if f == {0}], dtype=int)
    test = np.asarray([i for i, f in enumerate(track_folds) if f == {1}], dtype=int)
    return train, test
