"""Assembles a training set from harvested labels and stored features, under the enrichment coverage rule."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.models.dataset import DEFAULT_MIN_TRACKS, ContextDataset, DatasetError, binarise_labels, \
    drop_small_contexts
from app.models.features import FeatureSpec
from app.pipeline.features_table import (
    CATEGORICAL, common_feature_columns, dropped_sentences, feature_frame, readiness,
)
from app.pipeline.library import library_track_ids
from app.pipeline.naming import context_key
from app.storage.tables import Context, Label, LibraryItem, SourcePlaylist, Track, TrackFeatures, User

#: Tracks in the order of their service ids (store ids are a tie-break only), so the same store content gives the
#: same dataset whatever order its rows were inserted in.
STABLE_TRACK_ORDER = (Track.deezer_id, Track.spotify_id, Track.isrc, Track.id)
#: A source playlist as the service names it ("deezer:908622995"): the first of a track's playlists stands for its
#: cluster when a promise is bounded, so the name must not depend on the order the harvest stored playlists in.
PLAYLIST_NAME = (SourcePlaylist.service + ":" + SourcePlaylist.external_id).label("playlist")

#: The enrichment rule's share: a feature must be present for this much of both sides.
MIN_COVERAGE = 0.8


class UnharvestedContexts(DatasetError):
    """Some requested contexts have no harvested labels; the message names them and the fix."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        quoted = " ".join(f'"{n}"' if " " in n else n for n in names)
        super().__init__(f"no harvested playlists for {', '.join(repr(n) for n in names)}: "
                         f"run `flask harvest {quoted}` first")


def user_id_for(session: Session, spotify_id: str) -> int:
    """The store id of the user with this Spotify id; a DatasetError naming the fix when unknown."""
    user_id = session.scalar(select(User.id).where(User.spotify_id == spotify_id))
    if user_id is None:
        raise DatasetError(f"no user '{spotify_id}' in the store: run "
                           f"`flask import-library --user {spotify_id}` first")
    return user_id


def labelled_rows(session: Session, contexts: Sequence[str]) -> pd.DataFrame:
    """One row per (track, context key, source playlist) for the named contexts.

    Raises
    ------
    UnharvestedContexts
        When a context is unknown or none of its playlists has finished harvesting.
    """
    keys = list(dict.fromkeys(context_key(name) for name in contexts))
    ids = dict(session.execute(select(Context.key, Context.id).where(Context.key.in_(keys))).all())
    # Ordered by what the services call things, not by store ids: concurrent harvests insert in whatever order
    # their calls finish, and the same harvest must give the same training set, folds and model.
    rows = pd.DataFrame(
        session.execute(select(Label.track_id, Context.key, PLAYLIST_NAME)
                        .join(Context, Context.id == Label.context_id)
                        .join(Track, Track.id == Label.track_id)
                        .join(SourcePlaylist, SourcePlaylist.id == Label.source_playlist_id)
                        .where(Label.context_id.in_(list(ids.values())))
                        .order_by(*STABLE_TRACK_ORDER, Context.key, PLAYLIST_NAME)).all(),
        columns=["track_id", "context", "playlist"])
    missing = [key for key in keys if key not in set(rows["context"])]
    if missing:
        raise UnharvestedContexts(missing)
    return rows.astype({"playlist": str})


#: Background tracks kept per labelled track, at most.
MAX_BACKGROUND_RATIO = 1.0


def analysed_catalog(session: Session, providers: Sequence[str] | None = None) -> set[int]:
    """Catalog tracks with a feature row stored ok (their own or their canonical row's): what a dataset may draw on."""
    query = select(TrackFeatures.track_id).where(TrackFeatures.status == "ok")
    if providers:
        query = query.where(TrackFeatures.provider.in_(list(providers)))
    ok = query.distinct().scalar_subquery()
    return set(session.scalars(select(Track.id).where(or_(Track.id.in_(ok), Track.canonical_id.in_(ok)))))


def background_rows(session: Session, labelled: Sequence[int], limit: int,
                    random_state: int = 0, among: set[int] | None = None) -> tuple[list[int], list[tuple[str, ...]]]:
    """Stored tracks that fit none of the contexts being trained, with their source playlists.

    They are the tracks harvested for other contexts and the wider catalog in the store (chart
    and genre playlists), but never a track in anyone's library: nobody labelled those, so they
    are not known to fit none. At most ``limit``, sampled at random (seeded); only ids in ``among`` when given.
    """
    taken = set(labelled) | set(session.scalars(select(LibraryItem.track_id).distinct()))
    candidates = [i for i in session.scalars(select(Track.id).order_by(*STABLE_TRACK_ORDER))
                  if i not in taken and (among is None or i in among)]
    if len(candidates) > limit:
        rng = np.random.default_rng(random_state)
        picked = np.sort(rng.choice(len(candidates), limit, replace=False))
        candidates = [candidates[k] for k in picked]
    sources: dict[int, set[str]] = {}
    for track_id, playlist in session.execute(
            select(Label.track_id, PLAYLIST_NAME)
            .join(SourcePlaylist, SourcePlaylist.id == Label.source_playlist_id)
            .where(Label.track_id.in_(candidates))).all() if candidates else []:
        sources.setdefault(track_id, set()).add(str(playlist))
    return candidates, [tuple(sorted(sources.get(i, ()))) for i in candidates]


def usable_columns(train: pd.DataFrame, library: pd.DataFrame | None) -> tuple[list[str], list[str]]:
    """Feature columns the coverage rule allows, and a few plain sentences on the columns it leaves out.

    Without a library the training side alone must reach :data:`MIN_COVERAGE`.
    """
    other = train if library is None else library
    kept = common_feature_columns(train, other, MIN_COVERAGE)
    return kept, dropped_sentences(train, library, kept, MIN_COVERAGE)


def dataset_from_store(
    session: Session,
    contexts: Sequence[str],
    *,
    user_id: int | None = None,
    providers: Sequence[str] | None = None,
    min_tracks: int = DEFAULT_MIN_TRACKS,
    ready: set[int] | None = None,
) -> ContextDataset:
    """A :class:`ContextDataset` of the harvested tracks labelled with ``contexts``.

    One row per track (indexed by store track id) with the set of its contexts; each track's groups
    are its source playlists, so splits hold out whole playlists. Features come from
    :func:`app.pipeline.features_table.feature_frame`; a column is used only when present for at
    least :data:`MIN_COVERAGE` of the training tracks and, when ``user_id`` is given, of that
    user's library tracks too.

    Parameters
    ----------
    session : Session
    contexts : sequence of str
        Context names as typed; they are matched by their normalised key.
    user_id : int, optional
        Owner of the library the model will sort.
    providers : sequence of str, optional
        Feature providers to read (default: all stored).
    min_tracks : int
        Contexts with fewer distinct tracks are dropped, with a message.
    ready : set of int, optional
        Progressive work (issue 19): only these track ids (those analysed so far) take part, as training,
        background and library tracks alike, so a first model rests on what is known instead of waiting.

    Raises
    ------
    UnharvestedContexts
        A context has no harvested labels.
    DatasetError
        Fewer than two contexts, an empty library, or no feature meets the coverage rule.
    """
    rows = labelled_rows(session, contexts)
    if ready is not None:
        rows = rows[rows["track_id"].isin(ready)]
        if rows.empty:
            raise DatasetError("none of the training songs is analysed yet")
    ids, labels, names, playlists = binarise_labels(rows, "track_id", "context", "playlist")
    if len(names) < 2:
        raise DatasetError(f"only one context ('{names[0]}') to learn; give at least two")
    labels, names, kept, messages = drop_small_contexts(labels, names, min_tracks)
    if len(names) < 2:
        raise DatasetError(f"fewer than two contexts have at least {min_tracks} harvested tracks; "
                           f"kept: {', '.join(names) or 'none'}. Harvest more playlists per context")
    track_ids = [int(i) for i in ids[kept]]
    # Only songs with features: a background song not analysed yet would be a row of blanks, and would let a model
    # count as having learnt "none of these" (`ContextModel.unpromisable`) before it has.
    extra, extra_groups = background_rows(session, track_ids, int(MAX_BACKGROUND_RATIO * len(track_ids)),
                                          among=ready if ready is not None else analysed_catalog(session, providers))
    if extra:
        messages.append(f"{len(extra)} stored track(s) in none of these contexts (other "
                        "harvested contexts, the wider catalog) serve as background")
    train = feature_frame(session, track_ids + extra, providers)
    library = None
    if user_id is not None:
        library_ids = library_track_ids(session, user_id)
        if ready is not None:
            library_ids = [i for i in library_ids if i in ready]
        if not library_ids:
            raise DatasetError("this user's library is empty: import it first, on the Library page "
                               "or with `flask import-library --user ...` (contextify only learns from features "
                               "your library has too)")
        library = feature_frame(session, library_ids, providers)
    wait = readiness(train, library, MIN_COVERAGE)
    if wait:
        raise DatasetError(wait)
    columns, dropped = usable_columns(train, library)
    if not [c for c in columns if c != "decade"]:
        raise DatasetError("no feature but the release decade is present for enough tracks, and a model on "
                           "the decade alone would score every song alike: run `flask enrich` (and the library "
                           "import) first")
    if not columns:
        raise DatasetError("no feature is present for enough tracks: run `flask enrich` "
                           "(and the library import) first")
    spec = FeatureSpec(numeric=tuple(c for c in columns if c not in CATEGORICAL),
                       categorical=tuple(c for c in columns if c in CATEGORICAL))
    playlist_contexts = {p: frozenset(c) for p, c in rows.groupby("playlist")["context"]}
    labels = np.vstack([labels, np.zeros((len(extra), len(names)), dtype=bool)])
    return ContextDataset(
        features=train[spec.columns], labels=labels, contexts=names,
        playlists=[playlists[i] for i in kept] + extra_groups, spec=spec,
        playlist_contexts=playlist_contexts, messages=[*messages, *dropped],
    )
