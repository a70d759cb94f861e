"""Fixtures for pipeline tests: a sandbox user's access token."""

from __future__ import annotations

import pytest
import requests

from sandbox.runner import SandboxServer, consent
from app.runs.progress import Progress

SCOPES = "user-library-read playlist-read-private playlist-modify-private playlist-modify-public"


@pytest.fixture
def token_for():
    """`token_for(server, user_id)` -> an access token for that sandbox user, after consenting."""

    def token(server: SandboxServer, user_id: str) -> str:
        from urllib.parse import parse_qs, urlencode, urlsplit

        redirect = "http://127.0.0.1:5000/callback"
        url = server.authorize_url + "?" + urlencode({"client_id": "sandbox-client", "response_type": "code",
                                                      "redirect_uri": redirect, "scope": SCOPES, "state": "x"})
        code = parse_qs(urlsplit(consent(url, user_id)).query)["code"][0]
        answer = requests.post(server.token_url, auth=("sandbox-client", "sandbox-secret"),
                               data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect})
        answer.raise_for_status()
        return answer.json()["access_token"]

    return token


@pytest.fixture
def recorded_progress():
    """A Progress whose every snapshot is kept (in order), on a clock that moves a second per reading, so every
    flush writes: the pair (progress, snapshots) for tests about what a bar showed while a run went on."""
    seen: list[dict] = []

    class Recording(Progress):
        def snapshot(self):
            snap = super().snapshot()
            seen.append(snap)
            return snap

    ticks = iter(range(10**9))
    return Recording(clock=lambda: float(next(ticks))), seen
