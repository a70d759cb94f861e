"""Recognise a write that lost a race with another job (a row merged away, a unique key taken, a deadlock)."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError

# PostgreSQL SQLSTATEs of a transaction that lost to a concurrent one: retrying it is the documented answer.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
CONFLICT_NOTE = ("Another job changed some of the same tracks at the same moment; this job went on where it "
                 "stopped, building on what the other one did.")


def is_write_conflict(exc: BaseException) -> bool:
    """True when `exc` means "someone else wrote these rows first": re-read them and try again."""
    if isinstance(exc, (StaleDataError, IntegrityError)):
        return True
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if code in _RETRYABLE_SQLSTATES:
            return True
        return "database is locked" in str(exc.orig)
    return False
