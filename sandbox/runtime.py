"""One running sandbox's parts (state, tokens, counters, limits, faults) and the guard every service request passes."""

from __future__ import annotations

import secrets
from typing import Callable

from flask import Response, current_app, g, request

from .config import SandboxConfig
from .counters import Counters, endpoint_label
from .faults import FaultInjector, fault_response
from .limits import SlidingWindow
from .model import Track, World
from .state import SandboxState, TokenStore

Renderer = Callable[..., bytes]


def _default_renderer(track: Track, seconds: float) -> bytes:
    if track.audio_file:  # a real recording: its own file is the preview
        from .audio_world import real_preview
        return real_preview(track, seconds=seconds)
    from .audio import render_preview  # imported late: audio synthesis is the world engineer's module
    return render_preview(track, seconds=seconds)


class Sandbox:
    """Everything one sandbox server holds; reachable from a request as `current()`."""

    def __init__(self, world: World, config: SandboxConfig, scale: str | None = None,
                 renderer: Renderer | None = None):
        self.world = world
        self.config = config
        self.scale = scale or config.scale
        self.state = SandboxState(world)
        self.tokens = TokenStore()
        self.counters = Counters()
        self.faults = FaultInjector(world.seed, config.profile, config.fault_overrides, config.fault_services)
        self.spotify_limit = SlidingWindow(config.spotify_rate_limit, config.spotify_rate_window)
        self.deezer_limit = SlidingWindow(config.deezer_rate_limit, config.deezer_rate_window)
        self.reccobeats_limit = SlidingWindow(config.reccobeats_rate_limit, config.reccobeats_rate_window)
        self.preview_key = secrets.token_bytes(32)
        self.render = renderer or _default_renderer
        self._fingerprint: str | None = None

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            from .world import world_fingerprint
            self._fingerprint = world_fingerprint(self.world)
        return self._fingerprint


def current() -> Sandbox:
    return current_app.extensions["sandbox"]


def guard(service: str, refuse: Callable[[], Response | None]) -> Response | None:
    """Count the request, add latency, apply the service's own limits, then the profile's faults.

    Returning a response ends the request there (Flask before_request), so the handler never runs.
    """
    sandbox = current()
    sandbox.counters.count(service, endpoint_label(service))
    fault = sandbox.faults.draw(service, request.method)
    if fault.latency:
        sandbox.faults.stopping.wait(fault.latency)
    refusal = refuse()
    if refusal is not None or fault.kind is None:
        return refusal
    if fault.kind == "malformed":
        g.malformed_cut = fault.cut
        return None
    if fault.kind == "hang":
        sandbox.faults.stopping.wait(fault.hang)
    return fault_response(service, fault)
