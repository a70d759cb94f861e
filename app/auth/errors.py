"""What can go wrong around a login and outside services, in plain words: the errors jobs and services raise."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.pipeline.clients.base import RateLimited, ServiceError
from app.storage.tables import utcnow

log = logging.getLogger("contextify.errors")

SERVICE_NAMES = {"spotify": "Spotify", "deezer": "Deezer", "reccobeats": "ReccoBeats", "previews": "Deezer previews"}


class NeedsLogin(Exception):
    """The user's Spotify login cannot be used any more (no token, refresh refused): they must log in again."""

    def __init__(self, why: str) -> None:
        super().__init__("Your Spotify login has expired or was withdrawn. Log in again to continue.")
        self.why = why  # for the server log; never shown, never a token


def is_database_outage(exc: BaseException) -> bool:
    """The database is unreachable or dropped the connection: not a bug in a query, so a 503 says "try later"."""
    if isinstance(exc, (OperationalError, DisconnectionError, PoolTimeout)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def time_of_day(after_s: float) -> str:
    """When to try again, as a time of day in UTC, rounded up to the minute ("14:32 UTC"); with the date when it is
    not today ("03:25 UTC on 7 December")."""
    now = utcnow()
    moment = now + timedelta(seconds=max(0.0, after_s) + 59)
    moment = moment.replace(second=0, microsecond=0)
    when = moment.strftime("%H:%M UTC")
    if moment.date() != now.date():
        when += f" on {moment.day} {moment.strftime('%B')}"
    return when


def job_failure_message(exc: ServiceError) -> str:
    """A service's refusal as the job's failure, in plain words: which service, what happened, when to try again;
    never the raw answer or URL (they go to the server log)."""
    name = SERVICE_NAMES.get(exc.service, exc.service)
    log.info("job stopped by %s: %s", exc.service, exc)
    if isinstance(exc, RateLimited):
        return (f"{name} asked contextify to wait {human_duration(exc.retry_after_s)} before more requests: its "
                f"limit for this app is used up. Start this again after {time_of_day(exc.retry_after_s)}.")
    reason = exc.reason if "://" not in exc.reason and len(exc.reason) <= 120 else "no usable answer"
    return f"{name} did not answer properly ({reason}). Try again in a few minutes."


def human_duration(seconds: float) -> str:
    """`2 hours 5 minutes`, `40 seconds`: how long to wait, in words."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(hours, "hour"), (minutes, "minute")] if hours else [(minutes, "minute"), (secs, "second")]
    words = [f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n]
    return " ".join(words) or "a moment"
