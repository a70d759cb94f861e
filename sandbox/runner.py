"""Run a sandbox on a free 127.0.0.1 port in a background thread, for tests and benchmarks.

    from sandbox.runner import SandboxServer

    with SandboxServer(seed=42, scale="small", profile="flaky", error_rate=0.1) as sandbox:
        requests.get(f"{sandbox.deezer_url}track/3135556")
        sandbox.set_profile("default")
        sandbox.counters()["deezer"]["total"]

Knobs are the names of `config.KNOBS` (e.g. `token_ttl=5`, `deezer_rate_limit=10`). Worlds are loaded
once per process per (seed, scale, csv) and shared read-only between servers; `audio_dir=` (with optional
`label_columns=`) serves a world of real recordings instead (see `audio_world`).
"""

from __future__ import annotations

import functools
import re
import threading

import requests
from werkzeug.serving import WSGIRequestHandler, make_server

from .model import World
from .runtime import Renderer, Sandbox
from .server import create_sandbox_app


@functools.lru_cache(maxsize=4)
def cached_world(seed: int = 42, scale: str = "small", csv_path: str | None = None) -> World:
    """The world for (seed, scale, csv), loaded (disk-cached) once per process."""
    from .world import load_world
    return load_world(seed, scale, csv_path=csv_path)


class QuietHandler(WSGIRequestHandler):
    """A request handler that keeps test output clean (no access log lines)."""

    def log(self, type: str, message: str, *args) -> None:
        if type == "error":
            super().log(type, message, *args)

    def log_request(self, *args) -> None:
        pass


_REQUEST_ID = re.compile(r'name="request_id" value="([^"]+)"')


def consent(authorize_url: str, user_id: str, approve: bool = True,
            session: requests.Session | None = None) -> str:
    """Play the browser on the sandbox consent page; returns the redirect URL (carrying code or error).

    Raises `ValueError` with the page text when the sandbox shows an error page instead (bad client
    or redirect URI), since then there is no redirect, just like Spotify.
    """
    http = session or requests.Session()
    page = http.get(authorize_url, allow_redirects=False)
    if page.is_redirect:
        return page.headers["Location"]
    found = _REQUEST_ID.search(page.text)
    if page.status_code != 200 or not found:
        raise ValueError(f"authorize page refused ({page.status_code}): {page.text}")
    answer = http.post(page.url.split("?")[0], allow_redirects=False, data={
        "request_id": found.group(1), "user_id": user_id, "action": "approve" if approve else "deny"})
    if not answer.is_redirect:
        raise ValueError(f"consent refused ({answer.status_code}): {answer.text}")
    return answer.headers["Location"]


class SandboxServer:
    """A sandbox served by werkzeug's threaded WSGI server; use as a context manager or start()/stop()."""

    def __init__(self, seed: int = 42, scale: str = "small", profile: str = "default", *,
                 world: World | None = None, csv_path: str | None = None, audio_dir: str | None = None,
                 label_columns: tuple[str, ...] | None = None, host: str = "127.0.0.1",
                 port: int = 0, renderer: Renderer | None = None, quiet: bool = True, **knobs):
        if world is None and audio_dir is not None:
            from .audio_world import cached_audio_world
            world = cached_audio_world(str(audio_dir), label_columns, seed, scale)
        self.world = world if world is not None else cached_world(seed, scale, csv_path)
        self.app = create_sandbox_app(self.world, profile, scale=scale, renderer=renderer, **knobs)
        self.sandbox: Sandbox = self.app.extensions["sandbox"]
        self._server = make_server(host, port, self.app, threaded=True,
                                   request_handler=QuietHandler if quiet else None)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash)."""
        return f"http://{self._server.host}:{self._server.port}"

    @property
    def spotify_url(self) -> str:
        """The value for `spotipy.Spotify.prefix` (ends with a slash)."""
        return f"{self.url}/spotify/v1/"

    @property
    def deezer_url(self) -> str:
        return f"{self.url}/deezer/"

    @property
    def reccobeats_url(self) -> str:
        return f"{self.url}/reccobeats/v1/"

    @property
    def authorize_url(self) -> str:
        """For `SpotifyOAuth.OAUTH_AUTHORIZE_URL`."""
        return f"{self.url}/accounts/authorize"

    @property
    def token_url(self) -> str:
        """For `SpotifyOAuth.OAUTH_TOKEN_URL`."""
        return f"{self.url}/accounts/api/token"

    def start(self) -> "SandboxServer":
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"sandbox:{self._server.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests hung by a fault are released at once."""
        self.sandbox.faults.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # Conveniences for tests (in-process, equivalent to the /__sandbox__ endpoints).

    def set_profile(self, name: str, **overrides) -> None:
        self.sandbox.faults.set_profile(name, overrides)

    def counters(self) -> dict[str, dict[str, int]]:
        return self.sandbox.counters.snapshot()

    def reset_counters(self) -> None:
        self.sandbox.counters.reset()

    def expire_tokens(self, user_id: str | None = None) -> int:
        return self.sandbox.tokens.expire_access(user_id)
