"""kill -9 of the process running a job, at seeded random moments, several times: restart resumes to the same data.

(a) the in-process runner (the web process's pool, here a small process running it, see job_process.py);
(b) a real Celery worker on Redis. The next status read after each kill shows the job interrupted, in plain
words (its worker's process is gone: no STALE_AFTER_S wait), and it is resumed; the end must equal an unkilled run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from app.jobs import runner
from tests.auth.helpers import add_user, sandbox_app
from tests.jobs.conftest import dispose
from tests.production.conftest import ROOT, app_env
from tests.reliability.conftest import HARVEST_JOB, all_data

PARAMS = HARVEST_JOB
KILLS = 3
SEED = 10
LATENCY = {"latency_ms": 40, "latency_jitter_ms": 10}  # stretches the job over several seconds


def factory_for(url: str):  # noqa: ANN201
    return sessionmaker(bind=create_engine(url), expire_on_commit=False)


def job_process(app_config: dict, sandbox, job_file: Path, user_id: int) -> subprocess.Popen:  # noqa: ANN001
    env = app_env(**app_config, CONTEXTIFY_SANDBOX_URL=sandbox.url)
    return subprocess.Popen([sys.executable, "-m", "tests.reliability.job_process", str(job_file), str(user_id),
                             json.dumps(PARAMS)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)


def wait_running(app, job_id_of, user_id: int, process, attempt: int, timeout: float = 60.0) -> dict:  # noqa: ANN001
    """The job once its `attempt`-th run is under way (its id may not be written yet); fails if the process ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the process ended before it was killed: {process.stdout.read()}"
        job_id = job_id_of()
        if job_id:
            with app.app_context():
                job = runner.job_status(job_id, user_id)
            if job and job["status"] == "running" and job["attempts"] == attempt and job["progress"]:
                return job
        time.sleep(0.05)
    pytest.fail("the job never started running")


def test_the_in_process_runner_killed_three_times_resumes_to_the_same_data(app_config, start_sandbox, clean_harvest):
    sandbox = start_sandbox(**LATENCY)
    app = sandbox_app(app_config, sandbox)
    user_id = add_user(app, "mira.s")
    job_file = Path(app_config["CONTEXTIFY_INSTANCE_DIR"]) / "job"
    delays = random.Random(SEED)
    try:
        for kill in range(KILLS):
            process = job_process(app_config, sandbox, job_file, user_id)
            wait_running(app, lambda: job_file.exists() and job_file.read_text().strip(), user_id, process, kill + 1)
            time.sleep(delays.uniform(0.1, 1.2))
            assert process.poll() is None, f"kill {kill + 1} came after the job ended"
            os.killpg(process.pid, signal.SIGKILL)
            assert process.wait(10) == -signal.SIGKILL
            with app.app_context():
                job = runner.job_status(job_file.read_text().strip(), user_id)
            assert job["status"] == "interrupted", "the next status read after a kill -9 shows it"
            assert job["error"].startswith("Stopped: the worker running this job ended unexpectedly at "), job
        process = job_process(app_config, sandbox, job_file, user_id)
        out, _ = process.communicate(timeout=180)
        job = json.loads(out.strip().splitlines()[-1])
        assert job["status"] == "succeeded" and job["attempts"] == KILLS + 1, job
        assert sum(line.startswith(runner.INTERRUPTED_PREFIX) for line in job["log"]) == KILLS, job["log"]
        assert all_data(factory_for(app_config["DATABASE_URL"])) == clean_harvest
    finally:
        runner.shutdown(app)
        dispose(app)


@pytest.fixture
def celery_stack(app_config, postgres_url, redis_url, start_sandbox, processes):  # noqa: ANN001
    """An app on PostgreSQL and Redis whose jobs go to a queue of this test's own, and a way to start workers."""
    sandbox = start_sandbox(**LATENCY)
    queue = f"reliability-{uuid.uuid4().hex[:8]}"  # other suites share Redis db 15: their workers must not take ours
    config = {**app_config, "DATABASE_URL": postgres_url, "CELERY_BROKER_URL": redis_url}
    app = sandbox_app(config, sandbox)
    app.extensions[runner.EXTENSION].runner._celery.conf.task_default_queue = queue
    env = app_env(**config, CONTEXTIFY_SANDBOX_URL=sandbox.url)
    logs = Path(app_config["CONTEXTIFY_INSTANCE_DIR"])
    started = []

    def worker():  # noqa: ANN202
        started.append(processes([sys.executable, "-m", "celery", "-A", "app.jobs.celery_app", "worker",
                                  "--pool=solo", "-Q", queue, "--loglevel=INFO", "--without-gossip",
                                  "--without-mingle", "--without-heartbeat", "-n", f"w{len(started)}@%h"],
                                 env, logs / f"worker{len(started)}.log"))
        return started[-1]

    yield app, sandbox, worker
    runner.shutdown(app)
    dispose(app)
    import redis

    redis.Redis.from_url(redis_url).delete(queue)


def test_a_celery_worker_killed_three_times_is_replaced_and_the_job_converges(celery_stack, clean_harvest):
    app, _, worker = celery_stack
    user_id = add_user(app, "mira.s")
    delays = random.Random(SEED + 1)
    current = worker()
    with app.app_context():
        job_id = runner.submit("harvest", PARAMS, user_id)
    for kill in range(KILLS):
        wait_running(app, lambda: job_id, user_id, current.popen, kill + 1, timeout=90)
        time.sleep(delays.uniform(0.1, 1.2))
        with app.app_context():
            assert runner.job_status(job_id, user_id)["status"] == "running", f"kill {kill + 1} came too late"
        os.killpg(current.popen.pid, signal.SIGKILL)  # no warm shutdown: the message is never acknowledged
        assert current.popen.wait(10) == -signal.SIGKILL
        current = worker()
        with app.app_context():
            job = runner.job_status(job_id, user_id)
            assert job["status"] == "interrupted", "the next status read after a kill -9 shows it"
            assert job["error"].startswith("Stopped: the worker running this job ended unexpectedly at "), job
            assert runner.resume(job_id, user_id)
    deadline = time.monotonic() + 180
    while True:
        with app.app_context():
            job = runner.job_status(job_id, user_id)
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        assert time.monotonic() < deadline, f"{job}\n{current.log()}"
        time.sleep(0.2)
    assert job["status"] == "succeeded" and job["attempts"] == KILLS + 1, job
    with app.app_context():
        from app.extensions import db

        url = db.engine.url.render_as_string(hide_password=False)
    assert all_data(factory_for(url)) == clean_harvest
