"""The whole product's schema: a global catalog and label store, and per-user rows that always carry their owner."""
# Over 400 lines on purpose: the whole schema in one module, so readers and Alembic's autogenerate see every table together.

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from app.storage.base import Base, Timestamped, utcnow


class Owned:
    """Mixin for user-owned rows: the owner column that every query on them must filter by."""

    @declared_attr
    def user_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False)


# --------------------------------------------------------------------------------------------- users


class User(Timestamped, Base):
    """A person who logged in with Spotify (or a sandbox user), or a listener's local account without Spotify.

    Ids are never handed out twice (SQLite AUTOINCREMENT; PostgreSQL sequences never go back), so no old cookie
    or file can ever name a later person. `session_key` is the server-side half of every session cookie of this
    user: a new random value ends all of them (log out, delete my data, a token Spotify revoked).
    A local account has no `spotify_id` until its owner connects Spotify; it signs in with a one-time key of which
    only `local_key_hash` (SHA-256: the key is 256 random bits, so a slow hash adds nothing) is stored.
    """

    __tablename__ = "users"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    spotify_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    local_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(256))
    account_id: Mapped[str | None] = mapped_column(String(128))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    session_key: Mapped[str | None] = mapped_column(String(64))


class OAuthToken(Owned, Base):
    """A user's tokens for one provider, stored encrypted (see app.storage.encryption)."""

    __tablename__ = "oauth_tokens"
    __table_args__ = (UniqueConstraint("user_id", "provider"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32), default="spotify")
    access_token: Mapped[bytes] = mapped_column(LargeBinary)
    refresh_token: Mapped[bytes | None] = mapped_column(LargeBinary)
    scope: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


# ------------------------------------------------------------------------------ global track catalog


class Track(Timestamped, Base):
    """One recording, known by any of its identifiers; shared by all users, so fetched once for everyone.

    A Spotify track matched to a Deezer track already held by another row (another edition of the same
    recording) keeps its own row and points at that row with `canonical_id`, whose features it shares.
    """

    __tablename__ = "tracks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    spotify_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    deezer_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    isrc: Mapped[str | None] = mapped_column(String(16), index=True)
    title: Mapped[str] = mapped_column(String(512))
    artist: Mapped[str] = mapped_column(String(512))  # main artist, for display and search
    artists: Mapped[list[str]] = mapped_column(JSON, default=list)
    album: Mapped[str | None] = mapped_column(String(512))
    deezer_album_id: Mapped[int | None] = mapped_column(BigInteger)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    explicit: Mapped[bool | None] = mapped_column(Boolean)
    release_date: Mapped[str | None] = mapped_column(String(10))  # YYYY, YYYY-MM or YYYY-MM-DD
    canonical_id: Mapped[int | None] = mapped_column(ForeignKey("tracks.id", ondelete="SET NULL"))
    # How this track was tied to Deezer: isrc | search | source (it came from Deezer) | none.
    match_method: Mapped[str | None] = mapped_column(String(16))
    match_confidence: Mapped[float | None] = mapped_column(Float)
    match_note: Mapped[str | None] = mapped_column(Text)  # why it did not match, in plain words
    matched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    features: Mapped[list[TrackFeatures]] = relationship(back_populates="track", cascade="all, delete-orphan")


class TrackFeatures(Base):
    """What one feature provider said about one track: its values, or why it could not say."""

    __tablename__ = "track_features"
    __table_args__ = (UniqueConstraint("track_id", "provider"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32))  # deezer | preview | spotify | reccobeats
    provider_version: Mapped[str] = mapped_column(String(32))  # a changed version makes the row stale
    status: Mapped[str] = mapped_column(String(16))  # ok | failed | unavailable
    values: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Failures in a row: each one waits longer before the next run asks again (enrich.retry_after).
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    track: Mapped[Track] = relationship(back_populates="features")


# ------------------------------------------------------------------------- global contexts and labels


class Context(Base):
    """A context name people make playlists for ("workout"); global, because public playlists are."""

    __tablename__ = "contexts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)  # normalised: case-folded, spaces collapsed
    name: Mapped[str] = mapped_column(String(100))  # as first entered, for display
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SourcePlaylist(Base):
    """A public playlist on a label source (Deezer or Spotify) that gave tracks their labels."""

    __tablename__ = "source_playlists"
    __table_args__ = (UniqueConstraint("service", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service: Mapped[str] = mapped_column(String(16))  # deezer | spotify
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(512))
    owner_name: Mapped[str | None] = mapped_column(String(256))
    fans: Mapped[int | None] = mapped_column(Integer)
    nb_tracks: Mapped[int | None] = mapped_column(Integer)
    checksum: Mapped[str | None] = mapped_column(String(64))  # Deezer checksum / Spotify snapshot_id
    fetched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ContextPlaylist(Base):
    """A playlist considered for a context: how relevant it looked, whether it was taken, and whether it is done."""

    __tablename__ = "context_playlists"
    __table_args__ = (UniqueConstraint("context_id", "source_playlist_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    context_id: Mapped[int] = mapped_column(ForeignKey("contexts.id", ondelete="CASCADE"), index=True)
    source_playlist_id: Mapped[int] = mapped_column(ForeignKey("source_playlists.id", ondelete="CASCADE"))
    relevance: Mapped[float | None] = mapped_column(Float)
    chosen: Mapped[bool] = mapped_column(Boolean, default=False)
    # taken | spare (ranked past the limit) | duplicate | skipped (not relevant, too small) | failed
    status: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)  # why, in plain words, for people
    harvested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # null: not finished


class Label(Base):
    """Provenance of one label: this track is in this source playlist, which was taken for this context."""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("context_id", "track_id", "source_playlist_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    context_id: Mapped[int] = mapped_column(ForeignKey("contexts.id", ondelete="CASCADE"), index=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    source_playlist_id: Mapped[int] = mapped_column(ForeignKey("source_playlists.id", ondelete="CASCADE"),
                                                    index=True)
    position: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# --------------------------------------------------------------------------------- a user's library


class LibraryImport(Owned, Base):
    """One sync of a user's library from Spotify or a file: when, how far it got, what it found."""

    __tablename__ = "library_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # spotify-liked | spotify-playlists | file
    filename: Mapped[str | None] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | done | failed | cancelled
    cursor: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # e.g. newest added_at seen, for incremental syncs
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LibraryPlaylist(Owned, Timestamped, Base):
    """One of the user's own playlists (from Spotify or an export file)."""

    __tablename__ = "library_playlists"
    __table_args__ = (UniqueConstraint("user_id", "external_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_key: Mapped[str] = mapped_column(String(128))  # "spotify:<id>" or "file:<name>"
    spotify_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(512))
    snapshot_id: Mapped[str | None] = mapped_column(String(128))  # unchanged snapshot: skip on re-import
    owned_by_user: Mapped[bool] = mapped_column(Boolean, default=True)
    track_count: Mapped[int | None] = mapped_column(Integer)
    synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LibraryItem(Owned, Base):
    """A track in one of the user's collections: Liked Songs, one of their playlists, or an imported file."""

    __tablename__ = "library_items"
    __table_args__ = (UniqueConstraint("user_id", "collection", "track_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "liked", "playlist:<library_playlists.id>" or "file:<library_imports.id>": never null, so the
    # unique constraint holds on PostgreSQL too (where NULLs never collide).
    collection: Mapped[str] = mapped_column(String(64))
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    library_playlist_id: Mapped[int | None] = mapped_column(ForeignKey("library_playlists.id", ondelete="CASCADE"))
    import_id: Mapped[int | None] = mapped_column(ForeignKey("library_imports.id", ondelete="SET NULL"))
    position: Mapped[int | None] = mapped_column(Integer)
    added_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# ------------------------------------------------------------------------------ datasets and models


class Dataset(Owned, Base):
    """The training data a user asked for: which contexts, with which parameters and features."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    contexts: Mapped[list[str]] = mapped_column(JSON, default=list)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    feature_columns: Mapped[list[str] | None] = mapped_column(JSON)
    n_tracks: Mapped[int | None] = mapped_column(Integer)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TrainedModel(Owned, Base):
    """A fitted model: where its artifact is, how it was made, and how well it did."""

    __tablename__ = "trained_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # context | enhance | discover | genre | compare
    name: Mapped[str] = mapped_column(String(256))
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"))
    artifact_path: Mapped[str | None] = mapped_column(String(1024))
    artifact: Mapped[bytes | None] = mapped_column(LargeBinary)  # small artifacts may live in the row
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    features: Mapped[list[str] | None] = mapped_column(JSON)
    versions: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # library and provider versions
    target_precision: Mapped[float | None] = mapped_column(Float)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SortRun(Owned, Base):
    """One sort of a user's library with one model and its cutoffs."""

    __tablename__ = "sort_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("trained_models.id", ondelete="CASCADE"), index=True)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # cutoffs / target precision per context
    coverage: Mapped[float | None] = mapped_column(Float)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SortAssignment(Owned, Base):
    """A track's probability for one context in a sort, whether it made the cut, and the user's verdict."""

    __tablename__ = "sort_assignments"
    # The review reads one playlist's page of 25 and moves its cutoff by probability: both walk this index
    # instead of ranking every row of the run. (Migration 0008 also leaves room on PostgreSQL pages for flips.)
    __table_args__ = (UniqueConstraint("sort_run_id", "track_id", "context"),
                      Index("ix_sort_assignments_run_context_probability", "sort_run_id", "context", "probability"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sort_run_id: Mapped[int] = mapped_column(ForeignKey("sort_runs.id", ondelete="CASCADE"), index=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    context: Mapped[str] = mapped_column(String(100))
    probability: Mapped[float] = mapped_column(Float)
    assigned: Mapped[bool] = mapped_column(Boolean, default=False)
    decision: Mapped[str] = mapped_column(String(16), default="pending")  # pending | accepted | rejected
    reasons: Mapped[list[str] | None] = mapped_column(JSON)


class ExportedPlaylist(Owned, Timestamped, Base):
    """A playlist contextify wrote to the user's Spotify account; only these are ever modified."""

    __tablename__ = "exported_playlists"
    __table_args__ = (UniqueConstraint("user_id", "context"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    context: Mapped[str] = mapped_column(String(100))
    sort_run_id: Mapped[int | None] = mapped_column(ForeignKey("sort_runs.id", ondelete="SET NULL"))
    spotify_playlist_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(256))
    snapshot_id: Mapped[str | None] = mapped_column(String(128))
    track_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | saved | failed
    saved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# ------------------------------------------------------------- enhance, discover, map, compare (issue 7)


class ModelRun(Owned, Base):
    """One recorded modelling run (an estimator on a dataset): parameters, metrics and time, to compare past runs."""

    __tablename__ = "model_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mode: Mapped[str] = mapped_column(String(32), index=True)  # enhance | discover | map | genre | compare
    name: Mapped[str] = mapped_column(String(128))  # e.g. "random forest", "logistic regression (oversampled)"
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # small per-run results (a table, a matrix)
    seconds: Mapped[float | None] = mapped_column(Float)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("trained_models.id", ondelete="SET NULL"))
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Suggestion(Owned, Base):
    """A track a model proposes to the user (for one of their playlists, for Discover, for both of two tastes)."""

    __tablename__ = "suggestions"
    __table_args__ = (UniqueConstraint("user_id", "mode", "model_id", "target", "track_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mode: Mapped[str] = mapped_column(String(32), index=True)  # enhance | discover | compare
    model_id: Mapped[int | None] = mapped_column(ForeignKey("trained_models.id", ondelete="CASCADE"), index=True)
    # What the track is proposed for: "playlist:<library_playlists.id>", "discover" or "both".
    target: Mapped[str] = mapped_column(String(64))
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    probability: Mapped[float] = mapped_column(Float)
    rank: Mapped[int | None] = mapped_column(Integer)
    reasons: Mapped[list[str] | None] = mapped_column(JSON)
    decision: Mapped[str] = mapped_column(String(16), default="pending")  # pending | accepted | rejected | added
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TasteInvite(Owned, Base):
    """An invite link from the owner to a second user, whose library the owner may then compare with theirs.

    Only a hash of the link's token is stored; the guest's consent is `accepted_at`.
    """

    __tablename__ = "taste_invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    guest_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


# ------------------------------------------------------------------ playlists that stay sorted (issue 18)


class SyncSetting(Owned, Base):
    """A user's opt-in to keep their saved playlists sorted: how often, and whether to add or queue for review."""

    __tablename__ = "sync_settings"
    __table_args__ = (UniqueConstraint("user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    period: Mapped[str] = mapped_column(String(16), default="weekly")  # daily | weekly
    mode: Mapped[str] = mapped_column(String(16), default="auto")  # auto (add at the promise) | review (queue)
    # Why the sync stopped running by itself (a revoked token), in plain words; None while it runs.
    paused_reason: Mapped[str | None] = mapped_column(Text)
    # Contexts whose playlist was deleted on Spotify and which the user asked to have made again.
    recreate_contexts: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class SyncRun(Owned, Base):
    """One sync of one user for one period; `run_key` is unique, so however many processes try, one runs."""

    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_key: Mapped[str] = mapped_column(String(96), unique=True)  # "<user>:<period>:<period start>" or manual
    trigger: Mapped[str] = mapped_column(String(16), default="schedule")  # schedule | command | page
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued | running | done | stopped | failed
    model_id: Mapped[int | None] = mapped_column(ForeignKey("trained_models.id", ondelete="SET NULL"))
    sort_run_id: Mapped[int | None] = mapped_column(ForeignKey("sort_runs.id", ondelete="SET NULL"))
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(Text)  # what happened, in plain words
    stale: Mapped[str | None] = mapped_column(Text)  # why the model should be retrained, or None
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SyncItem(Owned, Base):
    """One new like a sync placed (or queued, or left out as another version) for one context's playlist."""

    __tablename__ = "sync_items"
    __table_args__ = (UniqueConstraint("sync_run_id", "context", "track_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sync_run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id", ondelete="CASCADE"), index=True)
    context: Mapped[str] = mapped_column(String(100))
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    uri: Mapped[str | None] = mapped_column(String(64))
    probability: Mapped[float | None] = mapped_column(Float)
    # added | present (already there) | queued | dismissed | undone | failed | duplicate (another version)
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SongSplit(Owned, Base):
    """A track the user said is not the same song as the versions it was collapsed with: it stands alone."""

    __tablename__ = "song_splits"
    __table_args__ = (UniqueConstraint("user_id", "track_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# ---------------------------------------------------------------------------------------------- jobs


def new_job_id() -> str:
    return uuid.uuid4().hex


class Job(Base):
    """Slow work (harvest, import, enrich, train, sort) with persisted progress, so any tab or restart sees it.

    Jobs started by a user carry their owner; jobs started from the command line have none.
    """

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_job_id)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    # queued | running | succeeded | failed | cancelled | interrupted
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {stage: {"done": n, "total": m}}
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    log: Mapped[list[str] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    worker: Mapped[str | None] = mapped_column(String(120))  # host:pid:start of the process running it


# Every table whose rows belong to one user: "delete all my data" and the isolation tests walk this.
USER_OWNED_MODELS: tuple[type[Base], ...] = (
    OAuthToken, LibraryImport, LibraryPlaylist, LibraryItem, Dataset, TrainedModel, SortRun,
    SortAssignment, ExportedPlaylist, ModelRun, Suggestion, TasteInvite, SyncSetting, SyncRun, SyncItem, SongSplit,
    Job,
)
