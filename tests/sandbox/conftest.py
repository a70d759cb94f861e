"""Fixtures for sandbox contract tests: consenting as a sandbox user and spotipy clients (servers come from tests/conftest.py)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
import spotipy

from sandbox.runner import SandboxServer, consent

SCOPES = "user-library-read playlist-read-private playlist-modify-private playlist-modify-public"
REDIRECT_URI = "http://127.0.0.1:5000/callback"


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
def login():
    """`login(server, user_id, scope=SCOPES)` -> token response, after consenting as that user."""

    def token_for(server: SandboxServer, user_id: str, scope: str = SCOPES) -> dict:
        authorize = server.authorize_url + "?" + urlencode({
            "client_id": "sandbox-client", "response_type": "code", "redirect_uri": REDIRECT_URI,
            "scope": scope, "state": "s"})
        code = query_of(consent(authorize, user_id))["code"]
        answer = requests.post(server.token_url, auth=("sandbox-client", "sandbox-secret"), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI})
        answer.raise_for_status()
        return answer.json()

    return token_for


@pytest.fixture
def spotify_as(login):
    """`spotify_as(server, user_id)` -> spotipy client with a plain session and no retries."""

    def client_for(server: SandboxServer, user_id: str, scope: str = SCOPES) -> spotipy.Spotify:
        client = spotipy.Spotify(auth=login(server, user_id, scope)["access_token"],
                                 requests_session=requests.Session(), retries=0)
        client.prefix = server.spotify_url
        return client

    return client_for
