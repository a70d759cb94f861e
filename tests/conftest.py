"""Shared fixtures: an app on a fresh migrated database, its client and CLI runner, sandboxes, and real services."""

from __future__ import annotations

import os

# One BLAS/OpenMP thread per process. `make test` runs two workers on two cores, and OpenBLAS's threads spin-wait for
# a core the other worker holds: the promise check's two trainings took 53 CPU-s (30 s) with two threads and 11 (11 s)
# with one. Set before numpy loads here, so the processes tests start (flask, Celery, analysis pools) inherit it.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import atexit  # noqa: E402  (after the thread settings, as every import below)
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import config
from app import create_app
from sandbox.runner import SandboxServer, cached_world

# Variables a developer may have exported that would change what the app under test does.
_APP_VARIABLES = (*config.VARIABLES, "CONTEXTIFY_INSTANCE_DIR", "TESTING")


def needs_service(reason: str) -> None:
    """Skip (on a developer's machine) or fail (in CI, CONTEXTIFY_REQUIRE_SERVICES=1) a test whose service is absent."""
    if os.environ.get("CONTEXTIFY_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _APP_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def instance_dir(tmp_path) -> str:
    path = tmp_path / "instance"
    path.mkdir()
    return str(path)


@pytest.fixture
def app_config(instance_dir) -> dict[str, str]:
    return {
        "CONTEXTIFY_INSTANCE_DIR": instance_dir,
        "DATABASE_URL": f"sqlite:///{instance_dir}/test.db",
        "SECRET_KEY": "test-secret-key",
        "TESTING": "1",
        # musicnn is on by default where its weights are installed; the generated world's tests keep to the
        # cheaper descriptors so the suite stays fast (musicnn's own tests name it).
        "CONTEXTIFY_PROVIDERS": "deezer,preview,reccobeats",
    }


_TEMPLATE: list[Path] = []


def _migrated_template() -> Path:
    """A SQLite file the real migrations brought to head, made once per test process."""
    if not _TEMPLATE:
        from flask_migrate import upgrade

        from app.extensions import db

        folder = Path(tempfile.mkdtemp(prefix="contextify-template-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        template = create_app({"CONTEXTIFY_INSTANCE_DIR": str(folder),
                               "DATABASE_URL": f"sqlite:///{folder}/template.db",
                               "SECRET_KEY": "test-secret-key", "TESTING": "1"})
        with template.app_context():
            upgrade()
            db.engine.dispose()  # closes the file, so the copy holds every page
        _TEMPLATE.append(folder / "template.db")
    return _TEMPLATE[0]


def seed_migrated_database(database_url: str) -> None:
    """Start a new SQLite database file as a copy of the migrated template.

    Running the migrations takes most of a second per test (hundreds of tests make an app); the copy takes
    milliseconds, and the `upgrade()` the callers still run then finds the file at head and does nothing.
    Other URLs (PostgreSQL, in-memory SQLite) and files that already exist are left alone.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return
    path = Path(url.database)
    if not path.exists():
        shutil.copyfile(_migrated_template(), path)


@pytest.fixture
def app(app_config):
    from flask_migrate import upgrade

    seed_migrated_database(app_config["DATABASE_URL"])
    app = create_app(app_config)
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        from app.extensions import db

        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A brand-new PostgreSQL database on the server of TEST_DATABASE_URL, dropped afterwards."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        needs_service("TEST_DATABASE_URL is not set (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    url = make_url(base)
    try:
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            name = f"contextify_test_{uuid.uuid4().hex[:12]}"
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001  (any connection failure means the service is absent)
        needs_service(f"PostgreSQL at {url.render_as_string(hide_password=True)} is unreachable: {exc}")
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# ------------------------------------------------------------------------------------------ sandbox


@pytest.fixture
def raised_client_limits(monkeypatch):
    """The app's own limiters (Deezer 50 calls per 5 s, Spotify, ReccoBeats) raised to 5,000 per second, for a test
    of something other than the limits whose sandbox has raised limits too: it would otherwise sleep through the real
    windows (the limits have tests of their own, and `make bench` measures them)."""
    from app.pipeline.clients import factory

    monkeypatch.setattr(factory, "LIMITS", {name: (5000, 1.0) for name in factory.LIMITS})
    factory._limiter.cache_clear()
    yield
    factory._limiter.cache_clear()


def _world(scale: str):
    """The seed-42 world, from the sandbox's disk cache; on a fresh clone one worker generates it while the other
    waits for the file instead of generating it too."""
    from filelock import FileLock

    from sandbox.world import default_cache_dir

    default_cache_dir().mkdir(exist_ok=True)
    with FileLock(str(default_cache_dir() / f"world-42-{scale}.lock")):
        return cached_world(42, scale)


@pytest.fixture(scope="session")
def small_world():
    return _world("small")


@pytest.fixture(scope="session")
def full_world():
    """The full world (a user with 10k+ liked songs); generated once per clone, loaded once per process."""
    return _world("full")


@pytest.fixture
def start_sandbox(small_world):
    """Factory: `start_sandbox(profile="flaky", error_rate=0.1, world=...)` -> a running SandboxServer."""
    servers = []

    def start(profile: str = "default", world=None, **knobs) -> SandboxServer:
        world = world if world is not None else small_world
        server = SandboxServer(world=world, scale="small" if world is small_world else "full",
                               profile=profile, clip_seconds=knobs.pop("clip_seconds", 1.0), **knobs)
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def sandbox(start_sandbox) -> SandboxServer:
    """A small-world sandbox in the default profile."""
    return start_sandbox()


def run_shared_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every process of this test run sees: under xdist the parent of the workers' temporary folders
    (one per run), else this process's own. Expensive results made once per run are kept there."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def emotify_features(tmp_path_factory):
    """emotify_dev's 200 clips analysed by musicnn and the descriptors (`flask analyse-audio`, metadata joined):
    made by one worker per run, read by the others (see tests/real_audio.analysed_once)."""
    from tests.real_audio import analysed_once

    return analysed_once(run_shared_folder(tmp_path_factory))


@pytest.fixture(scope="session")
def promise_checks_once(tmp_path_factory):
    """`app.models.evaluation.promise_checks`, made once per run for each frame and arguments.

    The promise check (tests/models/test_promise_check.py) and `make bench`'s area 4b, which the bench smoke test
    runs, ask for the same held-out checks on the TidyTuesday songs (two trainings on 30,000 tracks): one worker
    makes them under a file lock, the others read its answer. `n_jobs` only spreads the work, so it is not part of
    what is asked.
    """
    import hashlib
    import pickle

    import pandas as pd
    from filelock import FileLock

    from app.models.evaluation import promise_checks

    shared = run_shared_folder(tmp_path_factory)

    def once(frame, label, **options):  # noqa: ANN001, ANN202
        asked = repr((label, sorted((k, v) for k, v in options.items() if k != "n_jobs"),
                      int(pd.util.hash_pandas_object(frame, index=True).sum())))
        path = shared / f"promise-checks-{hashlib.sha256(asked.encode()).hexdigest()[:16]}.pickle"
        with FileLock(str(path) + ".lock"):
            if not path.is_file():
                partial = path.with_suffix(".partial")
                partial.write_bytes(pickle.dumps(promise_checks(frame, label, **options)))
                partial.replace(path)  # only a finished answer is ever read by another worker
            return pickle.loads(path.read_bytes())

    return once


# ------------------------------------------------------------------------------ pytest-xdist (make test: -n 2)
# pytest-xdist 3.8's own grouping (`--dist loadgroup`) renames node ids, which pytest 9.2 no longer reads, so the
# units of work are named from node ids here, by a scheduler of our own for `--dist loadscope`.

# Files whose tests share one Redis database (a Celery queue, the login limiter's keys): one worker runs them all.
SHARED_REDIS_FILES = ("tests/jobs/test_pipeline_jobs.py", "tests/production/test_health.py",
                      "tests/production/test_ratelimit_redis.py", "tests/production/test_scaleout.py",
                      "tests/reliability/test_kills.py", "tests/security/test_limits.py",
                      "tests/sync/test_exactly_once_services.py")
_REDIS_FIXTURES = {"redis_url", "celery_worker"}
# Long files whose tests' parameters share nothing (the journey's module fixture is per world; side by side is
# per database): each parameter is its own unit of work.
_SPLIT_BY_PARAM = ("tests/browser/test_journey.py", "tests/jobs/test_side_by_side.py")
# Units that take minutes go out first, longest first, so that no worker is handed one of them at the end. The order
# follows CI's run of 2026-12-07 (issue 15: 15:13 on 2 cores with PostgreSQL, Redis and Chromium; call + setup): the
# descriptors first all the same (their setup makes the run's emotify_dev analysis, 72 s, which tests/real_audio and
# the emotify promise check then read: first, so nobody waits for it), generated journey 165, shared Redis (about 95:
# 192 in a run under twice CI's load), progressive journey 114, real-audio journey 89, progressive e2e 88, sync
# failures 82, bench smoke 79, context-model e2e 78, sync sandbox 73, real_audio 55; then, from the loaded run of s6
# (2026-12-07, about twice CI's times), listener journey 86, world 71, side by side 43 + 28, enhance flow 40, callback
# fuzz 40, library 47, reliability files 15-36, real-audio e2e 36, demo 30.
LONG_FIRST = ("tests/pipeline/test_descriptors_real_audio.py", "tests/browser/test_journey.py:generated",
              "shared-redis", "tests/browser/test_progressive_journey.py", "tests/browser/test_journey.py:real-audio",
              "tests/e2e/test_progressive.py", "tests/sync/test_sync_failures.py", "tests/test_bench_smoke.py",
              "tests/e2e/test_context_model_end_to_end.py", "tests/sync/test_sync_sandbox.py", "tests/real_audio/",
              "tests/browser/test_listener_journey.py", "tests/sandbox/test_world.py", "tests/jobs/test_side_by_side.py",
              "tests/pipeline/test_library.py", "tests/enhance/test_enhance_flow.py",
              "tests/bad_input/test_callback_fuzz.py", "tests/reliability/", "tests/e2e/test_real_audio_end_to_end.py",
              "tests/test_demo.py")


def work_unit(nodeid: str) -> str:
    """A test's unit of work: its file (so module-scoped fixtures are set up once), one world of a split file, or
    the shared-Redis unit."""
    path, _, rest = nodeid.partition("::")
    if path in SHARED_REDIS_FILES:
        return "shared-redis"
    if path in _SPLIT_BY_PARAM and rest.endswith("]"):
        return f"{path}:{rest.rsplit('[', 1)[1].rstrip(']')}"
    return path


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        from xdist.scheduler import LoadScopeScheduling

        class UnitScheduling(LoadScopeScheduling):
            """`--dist loadscope` over `work_unit`s instead of modules."""

            def _split_scope(self, nodeid: str) -> str:
                return work_unit(nodeid)

        config.pluginmanager.register(_Units(UnitScheduling), "contextify-units")


class _Units:
    def __init__(self, scheduling: type) -> None:
        self.scheduling = scheduling

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log):  # noqa: ANN001, ANN201
        return self.scheduling(config, log) if config.getoption("dist") == "loadscope" else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker: the long units first (every worker sorts alike, as xdist requires), and a check that
    each Redis test is in the shared unit."""
    if not hasattr(config, "workerinput"):
        return
    strays = sorted({item.nodeid.split("::")[0] for item in items
                     if _REDIS_FIXTURES & set(getattr(item, "fixturenames", ()))} - set(SHARED_REDIS_FILES))
    if strays:
        raise pytest.UsageError(f"add to SHARED_REDIS_FILES in tests/conftest.py (they use Redis): {strays}")

    def rank(item: pytest.Item) -> int:
        unit = work_unit(item.nodeid)
        return next((i for i, prefix in enumerate(LONG_FIRST) if unit.startswith(prefix)), len(LONG_FIRST))

    items.sort(key=rank)  # stable: tests keep their order within a unit
