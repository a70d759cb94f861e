"""Per-stage progress (done/total) written to a job row as work goes, and echoed as a terminal bar."""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TextIO

from sqlalchemy.orm import Session

from app.storage.tables import Job, utcnow

WRITE_EVERY_S = 0.5  # the UI polls about once a second; writing more often only adds database load
# An ETA divides what is left by the rate of about the last minute, not by the average since the stage began: a
# stage that waited at first (a rate limit, a cold cache) and then sped up would otherwise promise too long for
# as long again. Over a shorter window the estimate would jump with every batch.
RATE_WINDOW_S = 60.0


class Progress:
    """Counts done/total per stage; flushes to `jobs.progress` (when given a job) and to a terminal.

    Thread-safe, because enrichment advances stages from several worker threads at once. Database writes
    go through `session_factory`, a fresh short session per write, so a worker's long transaction never
    holds the progress row.
    """

    def __init__(self, job_id: str | None = None, session_factory: Callable[[], Session] | None = None,
                 stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.job_id = job_id
        self._session_factory = session_factory
        self._stream = stream
        self._clock = clock
        self._stages: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._last_write = 0.0
        self._started = clock()

    def _entry(self, name: str, total: int | None) -> dict[str, Any]:
        entry = self._stages.get(name)
        if entry is None:
            started = self._clock()
            entry = self._stages[name] = {"done": 0, "total": total, "pending": 0, "started_s": started,
                                          "marks": deque([(started, 0)])}
        return entry

    def stage(self, name: str, total: int | None = None) -> None:
        with self._lock:
            entry = self._entry(name, None)
            if total is not None:
                entry["total"] = total
        self._flush(force=True)

    def add_total(self, name: str, n: int) -> None:
        with self._lock:
            entry = self._entry(name, 0)
            entry["total"] = (entry["total"] or 0) + n
        self._flush()

    def expect(self, name: str, n: int) -> None:
        """Say that up to `n` more units are still to come into this stage's total (the later chunks of a run that
        counts its work a chunk at a time): its bar stays short of full until they are counted or the caller says
        0, so a stage never reads as finished while work it has not reached waits."""
        with self._lock:
            self._entry(name, 0)["pending"] = max(int(n), 0)
        self._flush()

    def advance(self, name: str, n: int = 1) -> None:
        with self._lock:
            entry = self._entry(name, None)
            entry["done"] += n
            now = self._clock()
            marks = entry["marks"]
            marks.append((now, entry["done"]))
            # Keep the newest mark at least a window old as the anchor the rate is measured from.
            while len(marks) > 2 and marks[1][0] <= now - RATE_WINDOW_S:
                marks.popleft()
        self._flush()

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """{stage: {"done", "total", "eta_s", "as_of"[, "pending"]}}: what the job row and the UI show.

        `as_of` (Unix time) dates the estimate: a stage that stops advancing stops writing, so the page counts its
        estimate down from then instead of showing the same "about 5 s left" for as long as it waits. `pending`
        (only when some is announced, see `expect`) is work not yet counted into `total`.
        """
        now = self._clock()
        written = time.time()
        with self._lock:
            return {name: {"done": e["done"], "total": e["total"], "eta_s": _eta(e, now), "as_of": written,
                           **({"pending": e["pending"]} if e.get("pending") else {})}
                    for name, e in self._stages.items()}

    def close(self) -> None:
        self._flush(force=True)
        if self._stream is not None:
            self._stream.write("\n")
            self._stream.flush()

    def _flush(self, force: bool = False) -> None:
        now = self._clock()
        if not force and now - self._last_write < WRITE_EVERY_S:
            return
        self._last_write = now
        snapshot = self.snapshot()
        if self.job_id and self._session_factory is not None:
            with self._session_factory() as session:
                job = session.get(Job, self.job_id)
                if job is not None:
                    job.progress = snapshot
                    job.heartbeat_at = utcnow()
                    session.commit()
        if self._stream is not None:
            self._stream.write("\r" + render_line(snapshot))
            self._stream.flush()


def _eta(entry: dict[str, Any], now: float) -> float | None:
    """Seconds left at the rate measured over about the last RATE_WINDOW_S (since the stage began when younger)."""
    done, total = entry["done"], (entry["total"] or 0) + (entry.get("pending") or 0)
    if not total or not done or done >= total:
        return None
    since, done_then = (entry.get("marks") or [(entry["started_s"], 0)])[0]
    if done <= done_then:
        since, done_then = entry["started_s"], 0
    rate = (done - done_then) / max(now - since, 1e-6)
    return round((total - done) / rate, 1)


def render_line(snapshot: dict[str, dict[str, Any]]) -> str:
    """One terminal line: `playlists 10/10 · tracks 250/980 (eta 12 s)`."""
    parts = []
    for name, entry in snapshot.items():
        total = "?" if entry["total"] is None else entry["total"] + (entry.get("pending") or 0)
        eta = f" (eta {entry['eta_s']:.0f} s)" if entry.get("eta_s") else ""
        parts.append(f"{name} {entry['done']}/{total}{eta}")
    return " · ".join(parts)


def terminal_stream() -> TextIO | None:
    """stderr when it is a terminal, so `--json` output on stdout stays one clean line."""
    return sys.stderr if sys.stderr.isatty() else None

