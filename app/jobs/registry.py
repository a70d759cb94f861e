"""The job task registry: `@task("harvest")` names a function that does one kind of slow work, given a JobContext."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.runs.progress import Progress
from app.runs.records import JobCancelled, log_line  # JobCancelled re-exported: tasks catch it from here
from app.storage.tables import Job

TaskFunction = Callable[["JobContext"], "dict[str, Any] | None"]

_TASKS: dict[str, TaskFunction] = {}


class TaskError(Exception):
    """A task failure whose message is already plain words for the user (a bad parameter, a refused import)."""


class UnknownTask(KeyError):
    """No task is registered under this kind."""


@dataclass
class JobContext:
    """Everything a task gets: who asked, with what parameters, and where to report progress and notes.

    `user_id` is None only for jobs started from the command line. `session_factory` gives fresh short
    sessions (commit what you write); `progress` is bound to this job's row, so every tab sees it.
    `on_note` also hears every note (a command echoes them); `local` holds what only a command run by the
    operator may hand a task (a file anywhere on disk, a client already checked), never a page's input.
    """

    job_id: str
    user_id: int | None
    params: dict[str, Any]
    config: Mapping[str, Any]
    session_factory: Callable[[], Session]
    progress: Progress
    on_note: Callable[[str], None] | None = None
    local: dict[str, Any] = field(default_factory=dict)

    def note(self, message: str) -> None:
        """Append a plain-words line to the job's log (shown to the user)."""
        with self.session_factory() as session:
            log_line(session, self.job_id, message)
        if self.on_note is not None:
            self.on_note(message)

    def check_cancelled(self) -> None:
        """Raise JobCancelled when the user asked to cancel; call it between units of work."""
        with self.session_factory() as session:
            job = session.get(Job, self.job_id)
            if job is None or job.cancel_requested:
                # A vanished row means the user deleted their data: stop as for a cancel.
                raise JobCancelled(self.job_id)

    def spotify(self, doing: str, user_id: int | None = None):  # noqa: ANN201  (a spotipy client)
        """The Spotify client of `user_id` (default: the job's owner); when their login is gone or refused, a
        TaskError asking them to log in again before contextify can do `doing` ("save playlists")."""
        from app.auth.errors import NeedsLogin
        from app.auth.spotify import spotify_for_user

        try:
            return spotify_for_user(user_id if user_id is not None else self.require_user(), self.config,
                                    self.session_factory)
        except NeedsLogin:
            raise TaskError(f"Spotify needs you to log in again before contextify can {doing}.") from None

    def require_user(self) -> int:
        """The owner's id; a TaskError for a job that has none (user tasks never run for nobody)."""
        if self.user_id is None:
            raise TaskError("This job needs a logged-in user.")
        return self.user_id


def task(kind: str) -> Callable[[TaskFunction], TaskFunction]:
    """Register `fn(ctx: JobContext) -> dict | None` as the code for jobs of `kind`; its return is the job's result."""

    def register(fn: TaskFunction) -> TaskFunction:
        if kind in _TASKS and _TASKS[kind] is not fn:
            raise ValueError(f"a task is already registered as {kind!r}: {_TASKS[kind].__qualname__}")
        _TASKS[kind] = fn
        return fn

    return register


def get_task(kind: str) -> TaskFunction:
    load_tasks()
    try:
        return _TASKS[kind]
    except KeyError:
        raise UnknownTask(kind) from None


def task_kinds() -> tuple[str, ...]:
    load_tasks()
    return tuple(sorted(_TASKS))


def load_tasks() -> None:
    """Import the modules that register tasks (idempotent); both runners call this before running anything."""
    import app.jobs.compare_task  # noqa: F401  (registers on import)
    import app.jobs.discover_task  # noqa: F401
    import app.jobs.enhance_task  # noqa: F401
    import app.jobs.map_task  # noqa: F401
    import app.jobs.refine_task  # noqa: F401
    import app.jobs.save_task  # noqa: F401
    import app.jobs.scaleout  # noqa: F401
    import app.jobs.sync_task  # noqa: F401
    import app.jobs.tasks  # noqa: F401
