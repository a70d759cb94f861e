"""The sandbox Flask app: Spotify Accounts + Web API, Deezer, ReccoBeats and the preview CDN on one port."""

from __future__ import annotations

from flask import Flask, g

from . import accounts, control, deezer, previews, reccobeats, spotify
from .config import build_config
from .faults import truncate
from .model import World
from .runtime import Renderer, Sandbox


class _TrailingSlash:
    """WSGI middleware: `/me/` is `/me` (spotipy requests some paths with a trailing slash)."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if len(path) > 1 and path.endswith("/"):
            environ["PATH_INFO"] = path.rstrip("/") or "/"
        return self.wsgi_app(environ, start_response)


def _truncate_malformed(response):
    """A GET that drew the `malformed` fault gets its real body cut short."""
    cut = g.pop("malformed_cut", None)
    return response if cut is None else truncate(response, cut)


def create_sandbox_app(world: World, profile: str | None = None, *, scale: str | None = None,
                       renderer: Renderer | None = None, **knobs) -> Flask:
    """Build a sandbox app over `world`; `knobs` are the names in `config.KNOBS` (minus host/port/csv_path).

    `renderer(track, seconds=...) -> bytes` replaces `audio.render_preview` (tests use a fast fake).
    """
    config = build_config(profile=profile, scale=scale, seed=world.seed, **knobs)
    app = Flask(__name__)
    app.json.sort_keys = False
    app.json.compact = True
    app.extensions["sandbox"] = Sandbox(world, config, scale=scale, renderer=renderer)
    for module in (accounts, spotify, deezer, reccobeats, previews, control):
        app.register_blueprint(module.bp)
    app.after_request(_truncate_malformed)
    app.wsgi_app = _TrailingSlash(app.wsgi_app)
    return app
