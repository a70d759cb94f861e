"""A job whose worker ended is marked so promptly, in plain words with the time (issue 17, item 6).

A worker on this machine is judged by whether its process (or, for this process, the thread running the
job) still exists, so a `kill -9` shows on the next status read instead of after STALE_AFTER_S; a worker
elsewhere is judged by its heartbeat's age.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from datetime import timedelta

import pytest

from app.extensions import db
from app.jobs import heartbeat, runner
from app.storage.tables import Job, utcnow
from tests.auth.helpers import add_user
from tests.jobs.conftest import echo  # noqa: F401  (registers the test-echo task)

PLAIN = re.compile(r"^Stopped: the worker running this job ended unexpectedly at \d\d:\d\d UTC\. Resume it")


@pytest.fixture
def me(app):
    return add_user(app, "mira.s")


def _running(app, user_id: int, worker: str | None, beat_ago_s: float = 1.0) -> str:
    """A job row as a live worker leaves it: running, a fresh heartbeat, naming its worker."""
    with app.app_context():
        job = Job(kind="test-echo", user_id=user_id, status="running", params={}, attempts=1, log=[],
                  started_at=utcnow(), heartbeat_at=utcnow() - timedelta(seconds=beat_ago_s), worker=worker)
        db.session.add(job)
        db.session.commit()
        return job.id


def _status(app, job_id: str, user_id: int) -> dict:
    with app.app_context():
        return runner.job_status(job_id, user_id)


def _worker_of(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}:{heartbeat._proc_start(pid) or ''}"


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="process start times are read from /proc")
def test_a_killed_worker_process_shows_at_the_next_status_read(app, me):
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        job_id = _running(app, me, _worker_of(worker.pid))
        assert _status(app, job_id, me)["status"] == "running", "a live worker's job is left alone"
        os.killpg(worker.pid, signal.SIGKILL)
        assert worker.wait(10) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
    job = _status(app, job_id, me)  # its heartbeat is one second old: only the dead process tells
    assert job["status"] == "interrupted" and job["can_resume"], job
    assert PLAIN.match(job["error"]), job["error"]
    assert job["log"] == [job["error"]]
    with app.app_context():
        assert runner.mark_interrupted() == [], "marked once"


def test_a_job_of_this_process_with_no_thread_running_it_is_interrupted_at_once(app, me):
    job_id = _running(app, me, heartbeat.worker_id())
    job = _status(app, job_id, me)
    assert job["status"] == "interrupted" and PLAIN.match(job["error"]), job


def test_a_job_this_process_is_running_is_left_alone(app, me):
    job_id = _running(app, me, heartbeat.worker_id(), beat_ago_s=heartbeat.STALE_AFTER_S + 60)
    with heartbeat.running_here(job_id):
        assert _status(app, job_id, me)["status"] == "running", "alive here: a late heartbeat does not condemn it"
    assert _status(app, job_id, me)["status"] == "interrupted"


def test_a_reused_pid_does_not_pass_for_the_dead_worker(app, me):
    # This test process is alive, but the row names an earlier process that had its pid.
    job_id = _running(app, me, f"{socket.gethostname()}:{os.getppid()}:1")
    if heartbeat._proc_start(os.getppid()) in (None, "1"):
        pytest.skip("no /proc start time to tell processes apart")
    assert _status(app, job_id, me)["status"] == "interrupted"


def test_a_worker_on_another_machine_is_judged_by_its_heartbeat(app, me):
    fresh = _running(app, me, "elsewhere:4242:99", beat_ago_s=1)
    stale = _running(app, me, "elsewhere:4242:99", beat_ago_s=heartbeat.STALE_AFTER_S + 5)
    assert _status(app, fresh, me)["status"] == "running"
    job = _status(app, stale, me)
    assert job["status"] == "interrupted" and PLAIN.match(job["error"]), job


def test_a_resumed_job_runs_again_and_names_its_new_worker(app, me):
    job_id = _running(app, me, heartbeat.worker_id())
    assert _status(app, job_id, me)["status"] == "interrupted"
    with app.app_context():
        assert runner.resume(job_id, me)
    from tests.jobs.conftest import wait_for

    job = wait_for(app, job_id, me)
    assert job["status"] == "succeeded" and job["attempts"] == 2
    with app.app_context():
        assert db.session.get(Job, job_id).worker == heartbeat.worker_id()
