"""Discover for one user: the tracks they never saved, ranking them with the like model, and the Discover playlist.

"Never saved" is strict: a catalog row is the user's when it, its canonical row, or any row sharing its
Spotify id, Deezer id, ISRC or normalised title + artist is in any of their collections. The rule is applied
when the ranking is made, when it is shown, and again when the playlist is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from app.runs.progress import Progress
from app.models.discover import DiscoverFit, feature_spec, fit_discover
from app.models.persistence import library_versions
from app.models.service import artifact_path, provider_versions
from app.pipeline.catalog import upsert_deezer_tracks
from app.pipeline.clients.base import NotFound, RateLimited, ServiceError
from app.pipeline.clients.deezer import DeezerClient
from app.pipeline.clients.spotify import SpotifyClient
from app.pipeline.features_table import CATEGORICAL, common_feature_columns, feature_frame
from app.pipeline.matching import normalise, split_title
from app.services.save import service_problem, verify, write_items
from app.storage.tables import ExportedPlaylist, LibraryItem, ModelRun, Suggestion, Track, TrainedModel, utcnow
from app.storage.ownership import owned

MODE = "discover"
TARGET = "discover"
#: The `exported_playlists.context` of the Discover playlist: not a context name anyone harvests.
DISCOVER_KEY = "mode:discover"
PLAYLIST_NAME = "contextify · Discover"
DESCRIPTION = "Tracks you have never saved that contextify's Discover model thinks you will like."
CHART_REASON = "On Deezer's charts now"
#: Unsaved catalog tracks with features that Discover needs before it trains (negatives and candidates).
DEFAULT_MIN_CATALOG = 50
#: Ranked suggestions stored per run.
DEFAULT_LIMIT = 200
DEFAULT_PLAYLIST_SIZE = 30
MAX_PLAYLIST_SIZE = 200
#: Training tracks per side at most: beyond this the forest's grid search takes long for little gain.
MAX_PER_CLASS = 3000
#: A track is ranked only when it has a value for at least this share of the model's columns.
MIN_FEATURE_SHARE = 0.5
DEFAULT_CHART_LIMIT = 100
LIBRARY_CONTAINS_MAX = 40  # URIs per `GET /me/library/contains`
_BATCH = 500
_NO_PROGRESS = Progress()


class DiscoverError(ValueError):
    """Discover cannot run or save for this user now; the message says why and what to do, in plain words."""


# ------------------------------------------------------------------------------------- what is saved


def name_key(title: str | None, artist: str | None) -> tuple | None:
    """Title without edition notes, its version words (live, remix...) and the main artist, normalised."""
    base, versions = split_title(title or "")
    artist_key = normalise(artist or "")
    if not base or not artist_key:
        return None
    return base, tuple(sorted(versions)), artist_key


@dataclass
class SavedIndex:
    """Every identifier of every track in a user's collections, so a duplicate catalog row is known as saved."""

    track_ids: set[int] = field(default_factory=set)
    spotify_ids: set[str] = field(default_factory=set)
    deezer_ids: set[int] = field(default_factory=set)
    isrcs: set[str] = field(default_factory=set)
    names: set[tuple] = field(default_factory=set)
    library_ids: set[int] = field(default_factory=set)

    @classmethod
    def for_user(cls, session: Session, user_id: int) -> SavedIndex:
        library = set(session.scalars(owned(LibraryItem, user_id).with_only_columns(LibraryItem.track_id)))
        index = cls(library_ids=library)
        rows = _track_rows(session, Track.id, library)
        # The rows these share a recording with, both ways: their canonical rows, and rows pointing at them.
        related = {r.canonical_id for r in rows if r.canonical_id} | {r.id for r in rows}
        rows += _track_rows(session, Track.id, related - library)
        rows += _track_rows(session, Track.canonical_id, related)
        for row in rows:
            index.add(row)
        return index

    def add(self, row: Any) -> None:
        self.track_ids.add(row.id)
        if row.canonical_id:
            self.track_ids.add(row.canonical_id)
        if row.spotify_id:
            self.spotify_ids.add(row.spotify_id)
        if row.deezer_id:
            self.deezer_ids.add(int(row.deezer_id))
        if row.isrc:
            self.isrcs.add(row.isrc.upper())
        key = name_key(row.title, row.artist)
        if key:
            self.names.add(key)

    def contains(self, row: Any) -> bool:
        """Whether this catalog row (a Track, or a row with its columns) is one of the user's saved recordings."""
        return (row.id in self.track_ids or (row.canonical_id is not None and row.canonical_id in self.track_ids)
                or (row.spotify_id is not None and row.spotify_id in self.spotify_ids)
                or (row.deezer_id is not None and int(row.deezer_id) in self.deezer_ids)
                or (bool(row.isrc) and row.isrc.upper() in self.isrcs)
                or name_key(row.title, row.artist) in self.names)

    def __len__(self) -> int:
        return len(self.library_ids)


_COLUMNS = (Track.id, Track.canonical_id, Track.spotify_id, Track.deezer_id, Track.isrc, Track.title, Track.artist)


def _track_rows(session: Session, column, values: Iterable[Any]) -> list[Any]:
    values = sorted(v for v in set(values) if v is not None)
    rows: list[Any] = []
    for start in range(0, len(values), _BATCH):
        rows.extend(session.execute(select(*_COLUMNS).where(column.in_(values[start:start + _BATCH]))).all())
    return rows


def library_refusal(index: SavedIndex) -> str | None:
    if not index.library_ids:
        return ("Your library is not imported yet. Import it on the Library page first: Discover learns what you "
                "like from the songs you saved.")
    return None


def readiness(session: Session, user_id: int, min_catalog: int = DEFAULT_MIN_CATALOG, charts: bool = True
              ) -> str | None:
    """None when Discover can be started; else why not, in words (a quick check for the page).

    With charts on, the catalog's size is judged by the job, once the charts' tracks are in.
    """
    index = SavedIndex.for_user(session, user_id)
    refusal = library_refusal(index)
    if refusal or charts:
        return refusal
    # A count, not a NOT IN over a large library: the job makes the exact check on features later.
    others = max(0, (session.scalar(select(func.count(Track.id))) or 0) - len(index.track_ids))
    if others < min_catalog:
        return (f"The catalog holds only {others:,} tracks besides yours; Discover needs at least {min_catalog:,} to "
                "compare your taste with. Harvest a few contexts on the Contexts page first (Deezer's charts are added "
                "when Discover runs).")
    return None


# ------------------------------------------------------------------------------------------- charts


def chart_tracks(deezer: DeezerClient, genre_id: int, limit: int = DEFAULT_CHART_LIMIT) -> list[dict[str, Any]]:
    """The tracks of Deezer's chart for one genre (0: all genres), most popular first."""
    # DeezerClient.chart_tracks reads only the all-genre chart; the per-genre ones share its shape.
    data = deezer.get(f"chart/{int(genre_id)}/tracks", {"limit": int(limit)})
    return [item for item in data.get("data") or [] if isinstance(item, dict)]


def add_chart_tracks(session_factory: Callable[[], Session], deezer: DeezerClient, genre_ids: Sequence[int],
                     limit: int = DEFAULT_CHART_LIMIT, progress: Progress = _NO_PROGRESS) -> list[int]:
    """Put the charts' tracks into the global catalog; returns their track ids (chart order, each once)."""
    progress.stage("chart tracks", total=len(genre_ids))
    ids: list[int] = []
    for genre_id in genre_ids:
        items = chart_tracks(deezer, genre_id, limit)
        with session_factory() as session:
            by_deezer = upsert_deezer_tracks(session, items)
            session.commit()
        ids.extend(by_deezer[item["id"]] for item in items if item.get("id") in by_deezer)
        progress.advance("chart tracks")
    return list(dict.fromkeys(ids))


# ----------------------------------------------------------------------------------- train and rank


@dataclass
class DiscoverData:
    """The training rows (saved tracks against a balanced sample of unsaved ones) and every rankable candidate."""

    X: pd.DataFrame
    y: np.ndarray
    groups: np.ndarray
    candidates: pd.DataFrame
    columns: list[str]
    counts: dict[str, int]
    messages: list[str]


def assemble(session: Session, user_id: int, *, providers: Sequence[str] | None = None,
             chart_track_ids: Iterable[int] = (), min_catalog: int = DEFAULT_MIN_CATALOG, seed: int = 0,
             index: SavedIndex | None = None) -> DiscoverData:
    """Features of the user's saved tracks and of every catalog track they never saved, and the balanced sample.

    Raises
    ------
    DiscoverError
        The library is not imported, has no features in common with the catalog, or too few unsaved
        catalog tracks have features.
    """
    index = index or SavedIndex.for_user(session, user_id)
    refusal = library_refusal(index)
    if refusal:
        raise DiscoverError(refusal)
    rows = {row.id: row for row in session.execute(select(*_COLUMNS)).all()}
    unsaved = [tid for tid, row in rows.items() if not index.contains(row)]
    positives = feature_frame(session, sorted(index.library_ids), providers)
    pool = feature_frame(session, unsaved, providers)
    positives, pool = positives[_has_features(positives)], pool[_has_features(pool)]
    messages: list[str] = []
    if positives.empty:
        raise DiscoverError("None of your saved songs has features yet. Import your library again with enrichment "
                            "on (the Library page does this), then run Discover.")
    columns = common_feature_columns(positives, pool)
    if not columns:
        raise DiscoverError(_too_few(len(pool), min_catalog) if len(pool) < min_catalog else
                            "No feature is known for both your saved songs and the catalog, so they cannot be "
                            "compared. Enrich the catalog (`flask enrich`) and try again.")
    positives, pool = _rankable(positives, columns), _rankable(pool, columns)
    if len(pool) < min_catalog:
        raise DiscoverError(_too_few(len(pool), min_catalog))
    chart = set(chart_track_ids)
    rng = np.random.default_rng(seed)
    # Chart tracks may be drawn too: a sampled negative is ranked by the fold model that did not learn it.
    n = min(len(positives), len(pool), MAX_PER_CLASS)
    negatives = sorted(rng.choice(list(pool.index), size=n, replace=False).tolist())
    liked = list(positives.index)
    if len(liked) > n:
        liked = sorted(rng.choice(liked, size=n, replace=False).tolist())
        why = ("to keep training to a few minutes" if n == MAX_PER_CLASS else
               "because the catalog has fewer tracks you never saved, and the two sides stay the same size")
        messages.append(f"{n:,} of your {len(positives):,} saved songs with features were sampled {why}.")
    X = pd.concat([positives.loc[liked, columns], pool.loc[negatives, columns]])
    X.index = pd.Index([*liked, *negatives], name="track_id")
    y = np.array([1] * len(liked) + [0] * len(negatives))
    groups = np.array([normalise(rows[tid].artist) or f"track {tid}" for tid in X.index])
    counts = {"saved_tracks": len(index.library_ids), "saved_with_features": len(positives),
              "unsaved_catalog": len(unsaved), "candidates": len(pool), "positives": len(liked),
              "negatives": len(negatives), "chart_candidates": len(chart & set(pool.index))}
    return DiscoverData(X, y, groups, pool[columns], columns, counts, messages)


def _has_features(frame: pd.DataFrame) -> pd.Series:
    """Rows with at least one provider value (a decade from a release date alone says too little)."""
    provider_columns = [c for c in frame.columns if c not in CATEGORICAL or c in ("genre", "key", "mode")]
    return frame[provider_columns].notna().any(axis=1) if provider_columns else pd.Series(False, index=frame.index)


def _rankable(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return frame[frame[columns].notna().mean(axis=1) >= MIN_FEATURE_SHARE]


def _too_few(n: int, needed: int) -> str:
    return (f"Only {n:,} catalog tracks you have not saved have features; Discover needs at least {needed:,} to "
            "learn your taste against. Harvest a few more contexts on the Contexts page, or let Discover add "
            "Deezer's charts, then try again.")


@dataclass
class DiscoverOutcome:
    model_id: int
    chosen: str
    suggestions: int
    counts: dict[str, int]
    runs: list[dict[str, Any]]
    messages: list[str]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def train_discover(
    session: Session, user_id: int, *, instance_dir: str | Path, providers: Sequence[str] | None = None,
    chart_track_ids: Iterable[int] = (), rf_grid: Mapping[str, Sequence] | None = None,
    lr_grid: Mapping[str, Sequence] | None = None, folds: int = 3, min_catalog: int = DEFAULT_MIN_CATALOG,
    limit: int = DEFAULT_LIMIT, seed: int = 0, n_jobs: int = 1, job_id: str | None = None,
    progress: Progress = _NO_PROGRESS,
) -> DiscoverOutcome:
    """Train the like model for the user, record both estimators' runs, keep the better and store its ranking.

    Writes a TrainedModel (kind "discover") with its artifact, one ModelRun per estimator (mode "discover")
    and up to ``limit`` Suggestions (replacing the user's earlier Discover suggestions), and commits.
    """
    chart = list(dict.fromkeys(chart_track_ids))
    progress.stage("dataset", total=1)
    index = SavedIndex.for_user(session, user_id)
    data = assemble(session, user_id, providers=providers, chart_track_ids=chart, min_catalog=min_catalog,
                    seed=seed, index=index)
    progress.advance("dataset")
    progress.stage("model comparison", total=2)
    fit = fit_discover(data.X, data.y, data.groups, feature_spec(data.columns), rf_grid=rf_grid, lr_grid=lr_grid,
                       folds=folds, random_state=seed, n_jobs=n_jobs,
                       on_step=lambda _name: progress.advance("model comparison"))
    progress.stage("ranking", total=1)
    ranked = rank(fit, data, chart, limit)
    progress.advance("ranking")
    progress.stage("saving", total=1)
    outcome = _store(session, user_id, fit, data, ranked, instance_dir=instance_dir, job_id=job_id,
                     params={"providers": list(providers) if providers else None, "charts": len(chart),
                             "folds": folds, "min_catalog": min_catalog, "limit": limit, "seed": seed})
    progress.advance("saving")
    return outcome


def rank(fit: DiscoverFit, data: DiscoverData, chart_track_ids: Iterable[int], limit: int) -> pd.DataFrame:
    """The candidates most likely liked first, with reasons; a training negative is scored out of fold."""
    proba = pd.Series(fit.proba(data.candidates), index=data.candidates.index)
    negatives = data.X.index[data.y == 0]
    proba.loc[negatives] = fit.oof_proba[data.y == 0]
    order = proba.sort_values(ascending=False, kind="stable")
    top = order.index[:max(1, int(limit))]
    chart = set(chart_track_ids)
    reasons = fit.reasons(data.candidates.loc[top])
    return pd.DataFrame({"track_id": top, "probability": order.loc[top].to_numpy(),
                         "reasons": [([CHART_REASON] if tid in chart else []) + words
                                     for tid, words in zip(top, reasons)]})


def _store(session: Session, user_id: int, fit: DiscoverFit, data: DiscoverData, ranked: pd.DataFrame, *,
           instance_dir: str | Path, job_id: str | None, params: dict[str, Any]) -> DiscoverOutcome:
    runs = [{"name": r.name, "params": r.params, "cv_roc_auc": r.cv_score, "cv_std": r.cv_std, **r.metrics,
             "seconds": r.seconds, "chosen": r.name == fit.chosen} for r in fit.runs]
    versions = {"libraries": library_versions(), "providers": provider_versions(data.columns)}
    row = TrainedModel(user_id=user_id, kind="discover", name=f"Discover · {fit.chosen}", params=params,
                       metrics={"chosen": fit.chosen, "runs": runs, "counts": data.counts,
                                "messages": data.messages + fit.messages},
                       features=data.columns, versions=versions, job_id=job_id)
    session.add(row)
    session.flush()
    for run in fit.runs:
        session.add(ModelRun(user_id=user_id, mode=MODE, name=run.name,
                             params={"best": run.params, "grid": run.grid, "folds": params["folds"]},
                             metrics={"cv_roc_auc": run.cv_score, "cv_std": run.cv_std, **run.metrics,
                                      "chosen": run.name == fit.chosen},
                             result={"grid": run.table}, seconds=run.seconds, model_id=row.id, job_id=job_id))
    session.execute(delete(Suggestion).where(Suggestion.user_id == user_id, Suggestion.mode == MODE))
    for position, item in enumerate(ranked.itertuples(index=False), start=1):
        session.add(Suggestion(user_id=user_id, mode=MODE, model_id=row.id, target=TARGET,
                               track_id=int(item.track_id), probability=float(item.probability), rank=position,
                               reasons=list(item.reasons)))
    path = artifact_path(instance_dir, user_id, row.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        joblib.dump({"pipeline": fit.pipeline, "columns": data.columns, "versions": versions}, path)
        row.artifact_path = str(path)
        session.commit()
    except BaseException:
        session.rollback()
        path.unlink(missing_ok=True)
        raise
    return DiscoverOutcome(model_id=row.id, chosen=fit.chosen, suggestions=len(ranked), counts=data.counts,
                           runs=runs, messages=data.messages + fit.messages)


# ------------------------------------------------------------------------------------ reading back


def latest_model(session: Session, user_id: int) -> TrainedModel | None:
    return session.scalar(owned(TrainedModel, user_id).where(TrainedModel.kind == "discover")
                          .order_by(TrainedModel.id.desc()).limit(1))


def model_runs(session: Session, user_id: int, model_id: int | None = None) -> list[ModelRun]:
    """The user's Discover runs: those behind one model, or every one, newest first."""
    query = owned(ModelRun, user_id).where(ModelRun.mode == MODE)
    if model_id is not None:
        query = query.where(ModelRun.model_id == model_id)
    return list(session.scalars(query.order_by(ModelRun.id.desc())))


@dataclass(frozen=True)
class ShownSuggestion:
    rank: int
    track_id: int
    title: str
    artist: str
    album: str | None
    spotify_id: str | None
    deezer_id: int | None
    isrc: str | None
    probability: float
    reasons: list[str]


def suggestions(session: Session, user_id: int, limit: int | None = None,
                index: SavedIndex | None = None) -> list[ShownSuggestion]:
    """The user's current Discover ranking, best first, minus anything they have saved since it was made."""
    query = (owned(Suggestion, user_id).where(Suggestion.mode == MODE, Suggestion.decision != "rejected")
             .join(Track, Track.id == Suggestion.track_id).add_columns(Track).order_by(Suggestion.rank))
    if index is None:
        # Reading the whole library into the index is the slow part: skipped when there is no ranking to check.
        if session.scalar(query.with_only_columns(Suggestion.id).limit(1)) is None:
            return []
        index = SavedIndex.for_user(session, user_id)
    shown = []
    for suggestion, track in session.execute(query):
        if index.contains(track):
            continue
        shown.append(ShownSuggestion(len(shown) + 1, track.id, track.title, track.artist, track.album,
                                     track.spotify_id, track.deezer_id, track.isrc, suggestion.probability,
                                     list(suggestion.reasons or [])))
        if limit is not None and len(shown) >= limit:
            break
    return shown


def discover_playlist(session: Session, user_id: int) -> ExportedPlaylist | None:
    return session.scalar(owned(ExportedPlaylist, user_id).where(ExportedPlaylist.context == DISCOVER_KEY))


# ------------------------------------------------------------------------------------------- saving


@dataclass
class DiscoverSave:
    status: str                  # saved | failed
    spotify_playlist_id: str | None
    tracks: int
    uris: list[str]
    track_ids: list[int]         # the catalog track behind each URI, in the same order
    left_out: list[str]          # "Artist – Title: why", for tracks not written
    message: str
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def resolve_uri(session: Session, track: ShownSuggestion, spotify: SpotifyClient, deezer: DeezerClient | None,
                index: SavedIndex) -> tuple[str | None, str]:
    """The Spotify URI of a suggested track, or None with why; a track Spotify knows as one of the user's is refused.

    Order: the row's own Spotify id, another catalog row of the same recording, then Spotify search by ISRC
    (asking Deezer for the ISRC when the catalog lacks it), then by title and artist.
    """
    isrc = track.isrc
    spotify_id = track.spotify_id or _sibling_spotify_id(session, track)
    if spotify_id is None and isrc is None and track.deezer_id and deezer is not None:
        try:
            isrc = (deezer.track(track.deezer_id).get("isrc") or None)
        except NotFound:
            isrc = None
    found: dict[str, Any] | None = None
    if spotify_id is None:
        found = _search(spotify, track, isrc)
        if found is None:
            return None, "Spotify has no matching track"
        spotify_id = found["id"]
    found_isrc = ((found or {}).get("external_ids") or {}).get("isrc") or isrc
    found_key = name_key(found["name"], (found.get("artists") or [{}])[0].get("name")) if found else None
    if (spotify_id in index.spotify_ids or (found_isrc and found_isrc.upper() in index.isrcs)
            or (found_key is not None and found_key in index.names)):
        return None, "already among your saved songs on Spotify"
    return f"spotify:track:{spotify_id}", ""


def _sibling_spotify_id(session: Session, track: ShownSuggestion) -> str | None:
    conditions = [Track.canonical_id == track.track_id]
    if track.isrc:
        conditions.append(Track.isrc == track.isrc)
    return session.scalar(select(Track.spotify_id).where(or_(*conditions), Track.spotify_id.is_not(None))
                          .order_by(Track.id).limit(1))


def _search(spotify: SpotifyClient, track: ShownSuggestion, isrc: str | None) -> dict[str, Any] | None:
    wanted = name_key(track.title, track.artist)
    queries = ([f"isrc:{isrc}"] if isrc else []) + [f'track:"{track.title}" artist:"{track.artist}"']
    for query in queries:
        answer = spotify.call(spotify.sp.search, q=query, type="track", limit=10)
        for item in (answer.get("tracks") or {}).get("items") or []:
            if not isinstance(item, dict) or not item.get("id"):
                continue
            item_isrc = ((item.get("external_ids") or {}).get("isrc") or "").upper()
            artist = (item.get("artists") or [{}])[0].get("name")
            if (isrc and item_isrc == isrc.upper()) or name_key(item.get("name"), artist) == wanted:
                return item
    return None


def save_discover(session: Session, user_id: int, spotify: SpotifyClient, *, deezer: DeezerClient | None = None,
                  size: int = DEFAULT_PLAYLIST_SIZE, public: bool = False,
                  after_each: Callable[[], None] | None = None) -> DiscoverSave:
    """Create or replace the user's Discover playlist with the best ``size`` suggestions, then read it back.

    Every track is checked against the user's saved songs once more, by every identifier, including the
    Spotify id and ISRC found for it now; ``after_each`` is called for each track found on Spotify. "saved"
    means the playlist reads back exactly as written.
    """
    if not 1 <= size <= MAX_PLAYLIST_SIZE:
        raise DiscoverError(f"The Discover playlist can hold 1 to {MAX_PLAYLIST_SIZE} tracks.")
    index = SavedIndex.for_user(session, user_id)
    ranked = iter(suggestions(session, user_id, index=index))
    uris: list[str] = []
    track_ids: list[int] = []
    left_out: list[str] = []
    notes: list[str] = []
    exhausted = False
    while len(uris) < size and not exhausted:
        pending: list[tuple[ShownSuggestion, str]] = []
        while len(uris) + len(pending) < size:
            track = next(ranked, None)
            if track is None:
                exhausted = True
                break
            try:
                uri, why = resolve_uri(session, track, spotify, deezer, index)
            except RateLimited:
                raise
            except ServiceError as exc:
                uri, why = None, service_problem(exc)
            if uri is None:
                left_out.append(f"{track.artist} – {track.title}: {why}")
            elif uri not in uris and uri not in {u for _, u in pending}:
                pending.append((track, uri))
        # Liked on Spotify after the last import: only Spotify knows, so ask it right before writing.
        liked = liked_on_spotify(spotify, [uri for _, uri in pending], notes)
        for track, uri in pending:
            if uri in liked:
                left_out.append(f"{track.artist} – {track.title}: saved on Spotify since your library was imported")
            else:
                uris.append(uri)
                track_ids.append(track.track_id)
                if after_each is not None:
                    after_each()
    if not track_ids and not left_out:
        raise DiscoverError("There are no Discover suggestions of yours to save. Run Discover first.")
    if not uris:
        return DiscoverSave("failed", None, 0, [], [], left_out, "None of the suggestions could be found on Spotify.",
                            notes)
    row = discover_playlist(session, user_id)
    if row is None:
        row = ExportedPlaylist(user_id=user_id, context=DISCOVER_KEY, name=PLAYLIST_NAME, track_uris=[])
        session.add(row)
    row.status = "pending"
    session.commit()
    try:
        if row.spotify_playlist_id is None:
            _create(session, row, spotify, public)
        try:
            write_items(spotify, row.spotify_playlist_id, uris)
        except NotFound:  # deleted on Spotify since: make it again, once
            _create(session, row, spotify, public)
            write_items(spotify, row.spotify_playlist_id, uris)
        problem = verify(spotify, row.spotify_playlist_id, uris)
    except ServiceError as exc:
        row.status = "failed"
        session.commit()
        return DiscoverSave("failed", row.spotify_playlist_id, 0, uris, track_ids, left_out,
                            service_problem(exc) + ".", notes)
    if problem:
        row.status = "failed"
        session.commit()
        return DiscoverSave("failed", row.spotify_playlist_id, 0, uris, track_ids, left_out, problem, notes)
    row.status, row.track_uris, row.saved_at = "saved", uris, utcnow()
    row.snapshot_id = spotify.playlist(row.spotify_playlist_id).get("snapshot_id")
    session.commit()
    return DiscoverSave("saved", row.spotify_playlist_id, len(uris), uris, track_ids, left_out,
                        f"{PLAYLIST_NAME} holds {len(uris):,} tracks you have never saved; read back and checked.",
                        notes)


def liked_on_spotify(spotify: SpotifyClient, uris: Sequence[str], notes: list[str]) -> set[str]:
    """The URIs among ``uris`` in the user's Liked Songs on Spotify now (``GET /me/library/contains``, 40 a call).

    When Spotify cannot say, the check against the imported library stands alone, and a note says so.
    """
    liked: set[str] = set()
    for start in range(0, len(uris), LIBRARY_CONTAINS_MAX):
        batch = list(uris[start:start + LIBRARY_CONTAINS_MAX])
        try:
            answer = spotify.call(spotify.sp._get, "me/library/contains", uris=",".join(batch))
        except RateLimited:
            raise
        except ServiceError as exc:
            notes.append(f"Spotify could not say which tracks you saved since the import ({service_problem(exc)}); "
                         "they were checked against your imported library only.")
            continue
        liked.update(uri for uri, yes in zip(batch, answer if isinstance(answer, list) else []) if yes is True)
    return liked


def _create(session: Session, row: ExportedPlaylist, spotify: SpotifyClient, public: bool) -> None:
    # The new id is committed at once, so a retried save replaces this playlist instead of making a second.
    created = spotify.create_playlist(row.name, public=public, description=DESCRIPTION)
    row.spotify_playlist_id, row.snapshot_id = created["id"], created.get("snapshot_id")
    session.commit()
