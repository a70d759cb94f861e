"""The Library page's plain functions: saving an uploaded file safely, and what the user's library holds."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.utils import secure_filename

from app.pipeline.file_records import FileImportError
from app.pipeline.files import MAX_BYTES, parse_bytes
from app.storage.tables import Context, Label, LibraryImport, LibraryItem, LibraryPlaylist, Track
from app.storage.ownership import owned

KIND = "import-library"
UPLOADS = "uploads"
ACCEPTED = ".json,.csv"
TOP_REASONS = 5


class UploadError(ValueError):
    """An uploaded file the page refuses before saving it; plain words naming line or field."""


def upload_dir(config: Mapping[str, Any], user_id: int) -> Path:
    """Where a page stores a user's uploaded library files; import jobs read files only from here."""
    return Path(config["INSTANCE_DIR"]) / UPLOADS / str(user_id)


def save_upload(config: Mapping[str, Any], user_id: int, filename: str | None, contents: str | None) -> str:
    """Check an upload (size first, then the importer's own validation) and store it in the user's upload folder.

    `contents` is the browser's data URL. Returns the stored file's name, which the import job takes as its
    `file` param. Nothing is written for a refused file.
    """
    if not contents or not filename:
        raise UploadError("Choose a file first: YourLibrary.json, a Playlist*.json, or a CSV.")
    _, _, encoded = contents.partition(",")
    if len(encoded) * 3 // 4 > MAX_BYTES + 2:  # refuse before decoding: the size is known from the length
        raise UploadError(f"{filename} is larger than {MAX_BYTES // 1024 // 1024} MB, the most contextify imports. "
                          "Split it, or export playlists one by one.")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise UploadError(f"{filename} did not arrive intact. Upload it again.") from None
    name = secure_filename(filename) or "library-upload"
    try:
        parse_bytes(data, name)
    except FileImportError as exc:
        raise UploadError(str(exc)) from None
    folder = upload_dir(config, user_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return name


def discard_upload(config: Mapping[str, Any], user_id: int, name: str) -> None:
    """Remove a stored upload that will not be imported (its job was refused)."""
    (upload_dir(config, user_id) / name).unlink(missing_ok=True)


@dataclass
class LibrarySummary:
    liked: int = 0
    playlists: int = 0
    files: int = 0
    tracks: int = 0
    matched: int = 0
    unmatched: int = 0
    waiting: int = 0                       # not tried yet (matching runs after the import)
    last_sync: Any = None
    reasons: list[tuple[str, int]] = field(default_factory=list)   # why tracks did not match, most common first


def library_summary(session: Session, user_id: int) -> LibrarySummary:
    """Counts of the user's library: liked songs, playlists, files, and how many tracks matched to Deezer."""
    items = owned(LibraryItem, user_id)
    summary = LibrarySummary(
        liked=session.scalar(items.where(LibraryItem.collection == "liked").with_only_columns(func.count())) or 0,
        playlists=session.scalar(owned(LibraryPlaylist, user_id).with_only_columns(func.count())) or 0,
        files=session.scalar(owned(LibraryImport, user_id).where(LibraryImport.kind == "file")
                             .with_only_columns(func.count(LibraryImport.filename.distinct()))) or 0,
        last_sync=session.scalar(owned(LibraryImport, user_id).where(LibraryImport.status == "done")
                                 .with_only_columns(func.max(LibraryImport.finished_at))))
    track_ids = items.with_only_columns(LibraryItem.track_id).distinct().scalar_subquery()
    rows = session.execute(select(Track.match_method, Track.match_note, func.count())
                           .where(Track.id.in_(track_ids)).group_by(Track.match_method, Track.match_note)).all()
    reasons: dict[str, int] = {}
    for method, note, n in rows:
        summary.tracks += n
        if method is None:
            summary.waiting += n
        elif method == "none":
            summary.unmatched += n
            reason = note or "no reason recorded"
            reasons[reason] = reasons.get(reason, 0) + n
        else:
            summary.matched += n
    summary.reasons = sorted(reasons.items(), key=lambda kv: -kv[1])[:TOP_REASONS]
    return summary


def catalog_counts(session: Session) -> dict[str, int]:
    """Sizes of the shared catalog (shown on Home): tracks, contexts and labels."""
    return {
        "tracks": session.scalar(select(func.count()).select_from(Track)) or 0,
        "contexts": session.scalar(select(func.count()).select_from(Context)) or 0,
        "labels": session.scalar(select(func.count()).select_from(Label)) or 0,
    }
