"""Production tests' helpers: real Redis, free ports, and subprocesses (gunicorn, Celery) that are always cleaned up."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import needs_service

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture
def redis_url() -> str:
    """TEST_REDIS_URL (CI: db 15), else the local default; skips (or fails in CI) when Redis does not answer."""
    import redis

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        needs_service(f"Redis at {url} is unreachable: {exc}")
    return url


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Process:
    """A subprocess in its own process group, its output in a file; `stop()` ends the whole group."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with open(log_path, "w") as log:
            self.popen = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM to the group (a graceful stop for gunicorn and Celery), SIGKILL if it lingers; returns the code."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
        return self.popen.wait(5)


@pytest.fixture
def processes() -> Iterator[Callable[..., Process]]:
    """Factory: `processes(args, env, name)` -> a started Process, stopped at the end of the test whatever happens."""
    started: list[Process] = []

    def start(args: list[str], env: dict[str, str], log_path: Path) -> Process:
        started.append(Process(args, env, log_path))
        return started[-1]

    yield start
    for process in reversed(started):
        process.stop()


def wait_for_http(url: str, process: Process, timeout: float = 60.0) -> requests.Response:
    """The first answer from `url` (any status); fails with the process log if it died or never answered."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            pytest.fail(f"process exited with {process.popen.returncode}:\n{process.log()}")
        try:
            return requests.get(url, timeout=30)  # the first request waits for a worker to finish booting
        except requests.ConnectionError:
            time.sleep(0.2)
    pytest.fail(f"no answer from {url} after {timeout} s:\n{process.log()}")


def app_env(**overrides: str) -> dict[str, str]:
    """The test process's environment (minus app variables the suite clears) plus `overrides`."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", **overrides}
