"""One row in every user-owned table for a user, each carrying a marker string, for the isolation and deletion tests."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.storage.encryption import TokenCipher
from app.storage.tables import (
    USER_OWNED_MODELS,
    Dataset,
    ExportedPlaylist,
    Job,
    LibraryImport,
    LibraryItem,
    LibraryPlaylist,
    ModelRun,
    OAuthToken,
    SortAssignment,
    SortRun,
    SongSplit,
    Suggestion,
    SyncItem,
    SyncRun,
    SyncSetting,
    TasteInvite,
    Track,
    TrainedModel,
    User,
)


def fill(session: Session, user_id: int, marker: str, secret_key: str, *, pk: int | None = None,
         guest_id: int | None = None) -> dict[str, Any]:
    """One row per table of USER_OWNED_MODELS owned by `user_id`; every text field it can carries `marker`.

    With `pk`, every integer primary key is `pk`, so one number names the user's model, sort run, playlist,
    suggestion, invite... at once: whatever a callback takes an id for, `pk` is the owner's row of that kind.
    Returns {"job": job id, "track": track id, table name: primary key}.
    """
    ids = {} if pk is None else {"id": pk}
    track = Track(title=f"{marker} track", artist=f"{marker} artist",
                  spotify_id=hashlib.md5(marker.encode()).hexdigest()[:22])
    session.add(track)
    session.flush()
    job = Job(id=hashlib.md5(f"job {marker}".encode()).hexdigest(), user_id=user_id, kind="sort", status="succeeded",
              params={"note": marker, "sort_run_id": pk, "model_id": pk},
              result={"model_id": pk, "sort_run_id": pk, "run_id": pk, "summary": marker},
              log=[f"{marker} job log"], error=None)
    session.add(job)
    session.flush()
    cipher = TokenCipher(secret_key)
    rows: list[Any] = [
        OAuthToken(user_id=user_id, provider="spotify", access_token=cipher.encrypt(f"BQ-{marker}-access"),
                   refresh_token=cipher.encrypt(f"AQ-{marker}-refresh"), scope=f"user-library-read {marker}",
                   **ids),
        LibraryImport(user_id=user_id, kind="file", filename=f"{marker}.csv", status="done",
                      counts={"note": marker}, **ids),
        LibraryPlaylist(user_id=user_id, external_key=f"file:{marker}", name=f"{marker} playlist", **ids),
    ]
    session.add_all(rows)
    session.flush()
    playlist, library_import = rows[2], rows[1]
    session.add(LibraryItem(user_id=user_id, collection=f"playlist:{playlist.id}", track_id=track.id,
                            library_playlist_id=playlist.id, import_id=library_import.id, **ids))
    dataset = Dataset(user_id=user_id, name=f"{marker} dataset", contexts=[f"{marker}"], job_id=job.id, **ids)
    session.add(dataset)
    session.flush()
    model = TrainedModel(user_id=user_id, kind="context", name=f"{marker} model", dataset_id=dataset.id,
                         params={"contexts": ["workout"], "note": marker}, metrics={"note": marker},
                         features=["tempo"], job_id=job.id, **ids)
    session.add(model)
    session.flush()
    run = SortRun(user_id=user_id, model_id=model.id, params={"floor": 0.1, "cutoffs": {"workout": {
        "context": "workout", "cutoff": 0.5, "target_precision": 0.7, "promised_precision": 0.7}}, "note": marker},
        job_id=job.id, **ids)
    session.add(run)
    session.flush()
    session.add_all([
        SortAssignment(user_id=user_id, sort_run_id=run.id, track_id=track.id, context="workout", probability=0.9,
                       assigned=True, reasons=[f"{marker} reason"], **ids),
        ExportedPlaylist(user_id=user_id, context="workout", sort_run_id=run.id, spotify_playlist_id=marker[:20],
                         name=f"{marker} export", track_uris=[f"spotify:track:{track.spotify_id}"], status="saved",
                         **ids),
        ModelRun(user_id=user_id, mode="enhance", name=f"{marker} run", params={"note": marker},
                 metrics={"note": marker}, result={"note": marker}, model_id=model.id, job_id=job.id, **ids),
        Suggestion(user_id=user_id, mode="enhance", model_id=model.id, target=f"playlist:{playlist.id}",
                   track_id=track.id, probability=0.8, reasons=[f"{marker} suggestion"], **ids),
        TasteInvite(user_id=user_id, token_hash=hashlib.sha256(f"{marker} link".encode()).hexdigest(),
                    guest_user_id=guest_id, **ids),
        SyncSetting(user_id=user_id, enabled=True, period="daily", mode="auto", paused_reason=f"{marker} paused",
                    recreate_contexts=["workout"], **ids),
        SongSplit(user_id=user_id, track_id=track.id, **ids),
    ])
    sync_run = SyncRun(user_id=user_id, run_key=f"{user_id}:{marker}", model_id=model.id, sort_run_id=run.id,
                       status="done", message=f"{marker} sync", counts={"added": {"workout": 1}}, **ids)
    session.add(sync_run)
    session.flush()
    session.add(SyncItem(user_id=user_id, sync_run_id=sync_run.id, context="workout", track_id=track.id,
                         uri=f"spotify:track:{track.spotify_id}", probability=0.9, status="added",
                         note=f"{marker} item", **ids))
    session.commit()
    return {"job": job.id, "track": track.id, "model": model.id, "run": run.id, "playlist": playlist.id}


def counts(session: Session, user_id: int) -> dict[str, int]:
    """Rows per user-owned table for `user_id` (read directly by owner, as a check of what the app deleted)."""
    return {model.__tablename__: session.scalar(select(func.count()).select_from(model).where(
        model.user_id == user_id)) for model in USER_OWNED_MODELS}


def snapshot(session: Session, user_id: int) -> dict[str, list[tuple]]:
    """Every column of every row the user owns, to prove nothing of theirs changed."""
    found = {}
    for model in USER_OWNED_MODELS:
        columns = list(model.__table__.columns)
        rows = session.execute(select(*columns).where(model.user_id == user_id).order_by(columns[0])).all()
        found[model.__tablename__] = [tuple(repr(value) for value in row) for row in rows]
    return found


def add_user_with_id(session: Session, user_id: int, spotify_id: str) -> int:
    session.add(User(id=user_id, spotify_id=spotify_id, display_name=spotify_id))
    session.commit()
    return user_id
