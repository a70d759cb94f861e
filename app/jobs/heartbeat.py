"""Proof that a job's worker is alive: the heartbeat thread that stamps its rows, and who that worker is."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.storage.tables import Job, utcnow

log = logging.getLogger("contextify.jobs")

HEARTBEAT_S = 15.0
# Several missed beats: the worker is gone. Only for a worker on another machine; one on this machine is
# judged at once by whether its process still exists. Not shorter: on a saturated machine a live worker's
# beats can lag tens of seconds, and its job must not be marked interrupted while it runs (SECURITY.md).
STALE_AFTER_S = 120.0
SWEEP_EVERY_S = 60.0
ACTIVE = ("queued", "running")

# The jobs some thread of this process is running now: a row that names this process as its worker but is
# missing here lost its thread (see `worker_gone`).
_RUNNING_HERE: set[str] = set()
_RUNNING_LOCK = threading.Lock()


@functools.cache
def _start_token(pid: int) -> str:
    return _proc_start(pid) or ""


def _proc_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), so a reused pid is not taken for the old one."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return None
    # After the command name: state is the first field, starttime the 20th.
    return fields[19] if len(fields) > 19 and fields[0] not in ("Z", "X") else None


def worker_id() -> str:
    """This process as a job's worker: host, pid and start time."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_token(pid)}"


def worker_gone(worker: str | None, job_id: str) -> bool:
    """True when the worker named on a running job certainly ended: its process on this machine is gone (or is
    another process now), or it is this very process and no thread here runs the job. False when unknown
    (another machine, or no worker recorded): the heartbeat's age decides those."""
    if not worker:
        return False
    host, _, rest = worker.partition(":")
    pid_text, _, token = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        with _RUNNING_LOCK:
            return job_id not in _RUNNING_HERE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # a process of another account holds the pid: not ours any more unless the token says so
    started = _proc_start(pid)
    if started is None:
        # No /proc (not Linux) or a zombie: a zombie is dead; elsewhere the process exists and counts as alive.
        return os.path.exists("/proc/self/stat")
    return bool(token) and started != token


@contextlib.contextmanager
def running_here(job_id: str) -> Iterator[None]:
    """Mark the job as run by a thread of this process for the duration (what `worker_gone` asks)."""
    with _RUNNING_LOCK:
        _RUNNING_HERE.add(job_id)
    try:
        yield
    finally:
        with _RUNNING_LOCK:
            _RUNNING_HERE.discard(job_id)


def worker_alive_here(worker: str | None, job_id: str) -> bool:
    """True when the worker is a live process on this machine (so a late heartbeat alone does not condemn it)."""
    if not worker or worker.partition(":")[0] != socket.gethostname():
        return False
    return not worker_gone(worker, job_id)


class Heartbeat:
    """A daemon thread that keeps `heartbeat_at` fresh for the jobs held, and optionally runs the sweep."""

    def __init__(self, session_factory: Callable[[], Session] | None, sweep: Callable[[], Any] | None = None,
                 every_s: float = HEARTBEAT_S, sweep_every_s: float = SWEEP_EVERY_S) -> None:
        self._session_factory = session_factory
        self._sweep = sweep
        self._every_s = every_s
        self._sweep_every_s = sweep_every_s
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="contextify-heartbeat", daemon=True)

    def hold(self, job_id: str) -> None:
        with self._lock:
            self._held.add(job_id)

    def release(self, job_id: str) -> None:
        with self._lock:
            self._held.discard(job_id)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        since_sweep = self._sweep_every_s  # sweep at once: jobs a dead process left behind show up soon
        while True:
            self._guarded(self._beat)
            if self._sweep is not None and since_sweep >= self._sweep_every_s:
                since_sweep = 0.0
                self._guarded(self._sweep)
            if self._stop.wait(self._every_s):
                return
            since_sweep += self._every_s

    def _beat(self) -> None:
        with self._lock:
            held = list(self._held)
        if not held or self._session_factory is None:
            return
        with self._session_factory() as session:
            session.execute(update(Job).where(Job.id.in_(held), Job.status.in_(ACTIVE)).values(heartbeat_at=utcnow()))
            session.commit()

    @staticmethod
    def _guarded(step: Callable[[], Any]) -> None:
        try:
            step()
        except Exception:  # noqa: BLE001  (a database hiccup must not end the heartbeat for good)
            log.warning("job heartbeat step failed", exc_info=True)
