"""Browser-test fixtures: Debian's Chromium for Playwright, and the sandbox plus the app served on free loopback ports."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from sandbox.runner import QuietHandler, SandboxServer, cached_world
from tests.conftest import needs_service
from tests.real_audio import emotify_dir

CHROMIUM = os.environ.get("CONTEXTIFY_CHROMIUM", "/usr/bin/chromium")
# Flags that keep Chromium off the network it is not allowed to reach (see the machine notes); headless as root.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
# Deezer and ReccoBeats limits raised in the sandbox and, to match, in the app's clients: waiting out the real
# limits would make the journey minutes long without testing anything the pipeline tests do not.
FAST_LIMITS = {"deezer": (1000, 1.0), "reccobeats": (1000, 1.0)}
SANDBOX_KNOBS = {"deezer_rate_limit": 1000, "deezer_rate_window": 1,
                 "reccobeats_rate_limit": 1000, "reccobeats_rate_window": 1, "clip_seconds": 1.0}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright launches Debian's Chromium: Playwright's own browser download does not work here."""
    if not os.access(CHROMIUM, os.X_OK):
        needs_service(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True,
            "args": [*browser_type_launch_args.get("args", []), *CHROMIUM_ARGS]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 860}, "accept_downloads": True}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Journey:
    """Who walks the journey in a world and what they sort into: the steps are the same in every world."""

    world: str
    user: str
    other: str
    contexts: tuple[str, ...]
    playlists: int
    tracks: int
    job_timeout_s: float = 90   # for the harvest and the import, which analyse previews
    target: float | None = None  # the target precision typed on the Model page (None: the page's default)


JOURNEYS = {
    # ana has 350 Liked Songs in the medium generated world (the small world's listeners, 8-12 public playlists per
    # context): quick to import and sort. A promise rests on the playlists harvested (even all right, ten effective
    # playlists bound the precision near 0.7), so the harvest takes ten per context: country, which sounds like
    # itself, keeps 0.6; rock and indie overlap, as chill does with both, and get no playlist, saying why.
    "generated": Journey("generated", "ana.k", "jonas.b", ("rock", "indie", "chill", "country"), 10, 30, 180,
                         target=0.6),
    # The emotify_dev recordings (../shared/data/audio/emotify_dev): real previews, labels as truth; every label
    # has only a handful of playlists, so the harvest takes all it finds; analysing real 30-s previews (about 150
    # of them) is slower than the generated world's 1-s clips.
    "real-audio": Journey("real-audio", "mira.s", "jonas.b", ("classical", "rock", "calm"), 8, 60, 240),
}


@dataclass
class Site:
    """The running sandbox and app: `url` is the app's base URL."""

    sandbox: SandboxServer
    app: object
    url: str
    instance_dir: Path
    journey: Journey = JOURNEYS["generated"]
    notes: list[str] = field(default_factory=list)


def _sandbox_for(journey: Journey) -> SandboxServer:
    if journey.world == "real-audio":
        # Real 30-s recordings are the previews: no shortened synthetic clips.
        knobs = {k: v for k, v in SANDBOX_KNOBS.items() if k != "clip_seconds"}
        return SandboxServer(audio_dir=str(emotify_dir()), scale="small", **knobs)
    return SandboxServer(world=cached_world(42, "medium"), scale="medium", **SANDBOX_KNOBS)


@pytest.fixture(scope="module", params=list(JOURNEYS))
def site(request) -> Iterator[Site]:
    """A sandbox (the medium generated world, or the real recordings) and the app (in-process job runner) served by
    werkzeug on free 127.0.0.1 ports."""
    from flask_migrate import upgrade

    import app.pipeline.clients.factory as services
    from app import create_app
    from app.extensions import db
    from app.jobs import runner

    journey = JOURNEYS[request.param]
    sandbox = _sandbox_for(journey).start()
    # The app's client limiters come from services.LIMITS; there is no setting for them yet, so the test swaps the
    # table (and drops limiters already built) for the duration of the module.
    saved_limits = dict(services.LIMITS)
    services.LIMITS.update(FAST_LIMITS)
    services._limiter.cache_clear()
    instance = Path(tempfile.mkdtemp(prefix="contextify-browser-"))
    port = free_port()
    saved_env = {name: os.environ.pop(name, None) for name in ("CONTEXTIFY_SANDBOX_URL", "SPOTIFY_CLIENT_ID",
                                                               "DATABASE_URL", "CELERY_BROKER_URL")}
    flask_app = create_app({
        "CONTEXTIFY_INSTANCE_DIR": str(instance), "DATABASE_URL": f"sqlite:///{instance}/contextify.db",
        "SECRET_KEY": "browser-test-secret", "CONTEXTIFY_SANDBOX_URL": sandbox.url,
        "SPOTIFY_REDIRECT_URI": f"http://127.0.0.1:{port}/callback", "CONTEXTIFY_JOB_WORKERS": "2",
        "LOG_LEVEL": "WARNING", "CONTEXTIFY_SYNC_CHECK_SECONDS": "2",  # the web process's sync scheduler, quick
        # musicnn (on by default where installed) would add about half a core-second per preview to every journey.
        "CONTEXTIFY_PROVIDERS": "deezer,preview,reccobeats"})
    with flask_app.app_context():
        upgrade()
    server = make_server("127.0.0.1", port, flask_app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Site(sandbox=sandbox, app=flask_app, url=f"http://127.0.0.1:{port}", instance_dir=instance,
                   journey=journey)
    finally:
        server.shutdown()
        server.server_close()
        runner.shutdown(flask_app, wait=False)
        with flask_app.app_context():
            db.engine.dispose()
        sandbox.stop()
        services.LIMITS.clear()
        services.LIMITS.update(saved_limits)
        services._limiter.cache_clear()
        for name, value in saved_env.items():
            if value is not None:
                os.environ[name] = value
        shutil.rmtree(instance, ignore_errors=True)
