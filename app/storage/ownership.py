"""Queries on user-owned rows, always scoped to one owner: the only way the app reads them."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session

from app.storage.tables import USER_OWNED_MODELS, TasteInvite

M = TypeVar("M")


class OwnershipError(TypeError):
    """A query tried to read user-owned data without naming the owner, or named a global table."""


def _check(model: type, user_id: Any) -> None:
    if model not in USER_OWNED_MODELS:
        raise OwnershipError(f"{model.__name__} is not a user-owned table; query it directly.")
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        # A missing or string id from a form would silently match nothing or everything; refuse it.
        raise OwnershipError(f"An owner id must be an int, got {user_id!r}.")


def owned(model: type[M], user_id: int) -> Select[tuple[M]]:
    """`SELECT model WHERE model.user_id = user_id`, to refine with `.where()` / `.order_by()`."""
    _check(model, user_id)
    return select(model).where(model.user_id == user_id)  # type: ignore[attr-defined]


def get_owned(session: Session, model: type[M], user_id: int, pk: Any) -> M | None:
    """The row with this primary key if, and only if, it belongs to `user_id`."""
    _check(model, user_id)
    return session.execute(owned(model, user_id).where(model.id == pk)).scalar_one_or_none()  # type: ignore[attr-defined]


def delete_all_user_data(session: Session, user_id: int) -> dict[str, int]:
    """Delete every row the user owns, children before parents; returns rows deleted per table."""
    deleted: dict[str, int] = {}
    for model in reversed(USER_OWNED_MODELS):
        _check(model, user_id)
        result = session.execute(delete(model).where(model.user_id == user_id))  # type: ignore[attr-defined]
        deleted[model.__tablename__] = result.rowcount or 0  # type: ignore[attr-defined]
    # Invites someone else sent that this user accepted: their consent ends with their data.
    guest_of = session.execute(delete(TasteInvite).where(TasteInvite.guest_user_id == user_id))
    deleted[TasteInvite.__tablename__] += guest_of.rowcount or 0
    return deleted
