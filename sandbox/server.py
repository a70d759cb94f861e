"""The sandbox Flask app: Spotify Accounts + Web API, Deezer, ReccoBeats and the preview CDN on one port."""

from __future__ import annotations

import json

from flask import Flask, g, request

from . import accounts, control, control_library, deezer, previews, reccobeats, spotify
from .config import build_config
from .faults import lie_in_body, truncate
from .model import World
from .runtime import Renderer, Sandbox
from .runtime import current as current_sandbox


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


def _tell_lies(response):
    """With `lie_rate` set, some track records in a 200 answer become lies (see `faults.LIES`)."""
    sandbox = current_sandbox()
    rate = sandbox.faults.profile.lie_rate
    if rate <= 0 or response.status_code != 200 or not response.is_json:
        return response
    lied = lie_in_body(request.endpoint, response.get_json(silent=True), sandbox.world.seed, rate)
    if lied is not None:
        response.set_data(json.dumps(lied, separators=(",", ":")))  # allow_nan: a lie may be NaN
    return response


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
    for module in (accounts, spotify, deezer, reccobeats, previews, control, control_library):
        app.register_blueprint(module.bp)
    app.after_request(_truncate_malformed)
    app.after_request(_tell_lies)  # registered last, so it runs first: lies are told before any truncation
    app.wsgi_app = _TrailingSlash(app.wsgi_app)
    return app
