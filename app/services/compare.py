"""Compare's data: invite links to a second user (hashed tokens, consent, revocation) and the two libraries it reads."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.storage.tables import (
    LibraryImport, LibraryItem, ModelRun, Suggestion, TasteInvite, Track, TrainedModel, User, utcnow,
)
from app.storage.ownership import get_owned, owned

INVITE_DAYS = 7
OTHER_INVITE = "invite"
OTHER_FILE = "file"
BOTH = "both"
LIKED = "liked"  # LibraryItem.collection of Liked Songs


class InviteError(LookupError):
    """An invite link cannot be used; the message says why in words the person holding it can act on."""


class CompareError(LookupError):
    """The second library cannot be compared (not shared, gone, not found); plain words."""


# ------------------------------------------------------------------------------------------ invites


def hash_token(token: str) -> str:
    """The SHA-256 hex digest kept in the table; the token itself exists only in the link."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_invite(session: Session, owner_id: int, days: int = INVITE_DAYS) -> tuple[TasteInvite, str]:
    """A new invite for `owner_id` and its token (returned once: only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    invite = TasteInvite(user_id=owner_id, token_hash=hash_token(token), expires_at=utcnow() + timedelta(days=days))
    session.add(invite)
    session.commit()
    return invite, token


def revoke_invite(session: Session, owner_id: int, invite_id: int) -> bool:
    """Revoke one of the owner's invites; False when it is not theirs."""
    invite = get_owned(session, TasteInvite, owner_id, invite_id)
    if invite is None:
        return False
    invite.revoked = True
    session.commit()
    return True


def usable_invite(session: Session, token: str, user_id: int) -> TasteInvite:
    """The invite behind `token` if `user_id` may accept it (or already did); else InviteError saying why."""
    # Looked up by hash across owners on purpose: the link is the guest's only way to name the invite.
    invite = session.scalar(select(TasteInvite).where(TasteInvite.token_hash == hash_token(token or "")))
    if invite is None:
        raise InviteError("This invite link is not valid. Check that you copied all of it, or ask for a new one.")
    if invite.revoked:
        raise InviteError("This invite link was withdrawn by the person who sent it. Ask them for a new one.")
    if invite.user_id == user_id:
        raise InviteError("This is your own invite link: send it to the person you want to compare with.")
    if invite.guest_user_id is not None and invite.guest_user_id != user_id:
        raise InviteError("This invite link was already used by someone else. Ask for a new one.")
    if invite.accepted_at is None and _expired(invite):
        raise InviteError("This invite link has expired. Ask the person who sent it for a new one.")
    return invite


def accept_invite(session: Session, token: str, guest_id: int) -> TasteInvite:
    """Record the guest's consent; accepting twice is harmless."""
    invite = usable_invite(session, token, guest_id)
    if invite.accepted_at is None:
        invite.guest_user_id, invite.accepted_at = guest_id, utcnow()
        session.commit()
    return invite


def forget_guest(session: Session, guest_id: int) -> int:
    """Delete the comparisons owners ran with this guest's Liked Songs (their rows hold the guest's track names);
    for "delete all my data", before the guest's invites go. Returns how many comparisons were deleted."""
    deleted = 0
    invites = session.execute(select(TasteInvite.id, TasteInvite.user_id)
                              .where(TasteInvite.guest_user_id == guest_id)).all()
    for invite_id, owner_id in invites:
        for run in session.scalars(owned(ModelRun, owner_id).where(ModelRun.mode == "compare")).all():
            if (run.params or {}).get("other") != f"{OTHER_INVITE}:{invite_id}":
                continue
            if run.model_id is not None:
                session.execute(delete(Suggestion).where(Suggestion.user_id == owner_id,
                                                         Suggestion.model_id == run.model_id))
                session.execute(delete(TrainedModel).where(TrainedModel.user_id == owner_id,
                                                           TrainedModel.id == run.model_id))
            session.delete(run)
            deleted += 1
    session.flush()
    return deleted


def display_name(session: Session, user_id: int | None) -> str:
    user = session.get(User, user_id) if user_id is not None else None
    return (user.display_name or user.spotify_id) if user else "someone who left contextify"


@dataclass(frozen=True)
class InviteRow:
    id: int
    status: str  # waiting | accepted | expired | revoked
    guest: str | None
    created_at: datetime
    expires_at: datetime | None


def invite_rows(session: Session, owner_id: int) -> list[InviteRow]:
    """The owner's invites, newest first, each with its state in one word."""
    rows = []
    for invite in session.scalars(owned(TasteInvite, owner_id).order_by(TasteInvite.id.desc())):
        if invite.revoked:
            status = "revoked"
        elif invite.accepted_at is not None:
            status = "accepted"
        elif _expired(invite):
            status = "expired"
        else:
            status = "waiting"
        guest = display_name(session, invite.guest_user_id) if invite.guest_user_id else None
        rows.append(InviteRow(invite.id, status, guest, invite.created_at, invite.expires_at))
    return rows


def _expired(invite: TasteInvite) -> bool:
    if invite.expires_at is None:
        return False
    expires = invite.expires_at if invite.expires_at.tzinfo else invite.expires_at.replace(tzinfo=UTC)
    return expires <= utcnow()


# -------------------------------------------------------------------------------- the two libraries


@dataclass(frozen=True)
class Other:
    """The second library: a guest who accepted an invite, or a file the owner imported."""

    kind: str  # invite | file
    ref: int  # the invite's id or the file import's id
    name: str
    guest_id: int | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.ref}"

    @property
    def library(self) -> str:
        """How a sentence names it: "Ana's Liked Songs", "the file friend.csv"."""
        return f"{self.name}'s Liked Songs" if self.kind == OTHER_INVITE else self.name


def parse_other(value: str | None) -> tuple[str, int]:
    """("invite", 3) from "invite:3"; CompareError for anything else."""
    kind, _, ref = (value or "").partition(":")
    if kind not in (OTHER_INVITE, OTHER_FILE) or not ref.isdigit():
        raise CompareError("Choose whose library to compare with: an accepted invite or an imported file.")
    return kind, int(ref)


def resolve_other(session: Session, owner_id: int, value: str | None) -> Other:
    """The second library named by `value`, only if the owner may read it (their file, or an accepted invite)."""
    kind, ref = parse_other(value)
    if kind == OTHER_FILE:
        imported = get_owned(session, LibraryImport, owner_id, ref)
        if imported is None or imported.kind != "file":
            raise CompareError("That imported file is not one of yours any more. Import it again on the Library page.")
        return Other(OTHER_FILE, ref, f"the file {imported.filename}")
    invite = get_owned(session, TasteInvite, owner_id, ref)
    if invite is None:
        raise CompareError("That invite is not one of yours.")
    if invite.revoked:
        raise CompareError("You withdrew that invite, so its library can no longer be compared.")
    if invite.accepted_at is None or invite.guest_user_id is None or session.get(User, invite.guest_user_id) is None:
        raise CompareError("Nobody has accepted that invite yet: send the link and wait until they agree.")
    return Other(OTHER_INVITE, ref, display_name(session, invite.guest_user_id), invite.guest_user_id)


def choices(session: Session, owner_id: int) -> list[Other]:
    """Every second library the owner may compare with now: accepted invites, then imported files."""
    found = []
    for row in invite_rows(session, owner_id):
        if row.status == "accepted" and row.guest:
            try:
                found.append(resolve_other(session, owner_id, f"{OTHER_INVITE}:{row.id}"))
            except CompareError:
                continue
    for imported in session.scalars(owned(LibraryImport, owner_id).where(LibraryImport.kind == "file")
                                    .order_by(LibraryImport.id.desc())):
        found.append(Other(OTHER_FILE, imported.id, f"the file {imported.filename}"))
    return found


def owner_track_ids(session: Session, owner_id: int) -> list[int]:
    """The owner's Liked Songs: what the invite promises the guest is compared with theirs."""
    query = owned(LibraryItem, owner_id).where(LibraryItem.collection == LIKED)
    return sorted(set(session.scalars(query.with_only_columns(LibraryItem.track_id))))


def other_track_ids(session: Session, owner_id: int, other: Other) -> list[int]:
    """The second library's tracks: every track of the file, or the guest's Liked Songs (what they agreed to share,
    not their playlists). A guest's rows are read only through an invite the owner holds and the guest accepted,
    checked again here, never by a bare user id."""
    checked = resolve_other(session, owner_id, other.key)
    if checked.kind == OTHER_FILE:
        query = owned(LibraryItem, owner_id).where(LibraryItem.import_id == checked.ref)
    else:
        query = owned(LibraryItem, checked.guest_id).where(LibraryItem.collection == LIKED)
    return sorted(set(session.scalars(query.with_only_columns(LibraryItem.track_id))))


def track_names(session: Session, track_ids: list[int]) -> dict[int, str]:
    """'Title – Artist' per track id (the global catalog)."""
    names: dict[int, str] = {}
    for start in range(0, len(track_ids), 500):
        chunk = [int(t) for t in track_ids[start:start + 500]]
        for tid, title, artist in session.execute(select(Track.id, Track.title, Track.artist)
                                                  .where(Track.id.in_(chunk))):
            names[tid] = f"{title} – {artist}"
    return names


# ------------------------------------------------------------------------------------------ results


def latest_run(session: Session, owner_id: int) -> ModelRun | None:
    """The owner's latest finished comparison whose second library is still shared with them."""
    for run in session.scalars(owned(ModelRun, owner_id).where(ModelRun.mode == "compare")
                               .order_by(ModelRun.id.desc()).limit(20)):
        try:
            resolve_other(session, owner_id, (run.params or {}).get("other"))
        except CompareError:
            # The guest withdrew (revoked, deleted their data): their track names are not shown any more.
            continue
        return run
    return None


@dataclass(frozen=True)
class BothTrack:
    track_id: int
    name: str
    spotify_id: str | None
    probability: float
    rank: int
    reasons: list[str]


def both_tracks(session: Session, owner_id: int, model_id: int | None) -> list[BothTrack]:
    """The saved "songs you would both like" of one comparison, in rank order."""
    if model_id is None:
        return []
    rows = session.execute(owned(Suggestion, owner_id).where(
        Suggestion.mode == "compare", Suggestion.target == BOTH, Suggestion.model_id == model_id)
        .join(Track, Track.id == Suggestion.track_id).order_by(Suggestion.rank)
        .with_only_columns(Suggestion, Track.title, Track.artist, Track.spotify_id)).all()
    return [BothTrack(s.track_id, f"{title} – {artist}", sid, s.probability, s.rank or 0, s.reasons or [])
            for s, title, artist, sid in rows]
