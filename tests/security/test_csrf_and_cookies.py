"""The session cookie's flags, the CSRF token on every state-changing Flask route, and the JSON-and-same-origin rule
that protects Dash callbacks."""

from __future__ import annotations

import pytest

from app import create_app
from app.web.csrf import STATE_CHANGING
from tests.auth.helpers import add_user, login, session_login
from tests.dash_views.helpers import UPDATE, dependencies, payload

DASH_PREFIX = "/app/"


def _state_changing_routes(app) -> list[tuple[str, str]]:
    """(method, url) of every POST/PUT/PATCH/DELETE Flask route outside the Dash mount, variables filled in."""
    import re

    found = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(DASH_PREFIX):
            continue
        url = re.sub(r"<(?:[^:>]+:)?([^>]+)>", "7", rule.rule)
        found += [(method, url) for method in sorted(rule.methods & STATE_CHANGING)]
    return found


def test_every_state_changing_flask_route_refuses_a_missing_or_wrong_csrf_token(app, client):
    routes = _state_changing_routes(app)
    assert ("POST", "/logout") in routes and ("POST", "/account/delete") in routes
    session_login(client, add_user(app, "mira.s"))
    client.get("/logout")  # the session now holds a token, so a wrong one is compared, not just absent
    for method, url in routes:
        for data in ({}, {"csrf_token": "forged"}):
            response = client.open(url, method=method, data=data)
            assert response.status_code == 400, (method, url, data, response.status_code)
            assert "This form has expired" in response.get_data(as_text=True)
    with client.session_transaction() as session:
        assert "user_id" in session, "nothing happened: still logged in"
    print(f"\nstate-changing Flask routes checked for CSRF: {len(routes)}: {routes}")


def test_the_token_in_a_header_is_accepted_too(app, client):
    session_login(client, add_user(app, "mira.s"))
    client.get("/logout")
    with client.session_transaction() as session:
        token = session["csrf_token"]
    assert client.post("/logout", headers={"X-CSRF-Token": token}).status_code == 302


def test_a_token_from_another_session_is_refused(app):
    first, second = app.test_client(), app.test_client()
    session_login(first, add_user(app, "mira.s"))
    session_login(second, add_user(app, "ana.k"))
    first.get("/logout")
    with first.session_transaction() as session:
        stolen = session["csrf_token"]
    second.get("/logout")
    assert second.post("/logout", data={"csrf_token": stolen}).status_code == 400


def _dash_body(client):
    deps = dependencies(client)
    dep = next(d for d in deps if "_pages_content.children" in d["output"])
    return payload(dep, {"_pages_location.pathname": "/app/", "_pages_location.search": ""},
                   changed=["_pages_location.pathname"])


@pytest.fixture
def me(app, client):
    session_login(client, add_user(app, "mira.s"))


def test_a_dash_callback_from_this_site_is_answered(client, me):
    body = _dash_body(client)
    assert client.post(UPDATE, json=body).status_code == 200
    assert client.post(UPDATE, json=body, headers={"Origin": "http://localhost"}).status_code == 200
    assert client.post(UPDATE, json=body, headers={"Referer": "http://localhost/app/"}).status_code == 200


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Origin": "null"},
                                     {"Referer": "https://evil.example/page"},
                                     {"Origin": "http://localhost.evil.example"}])
def test_a_dash_callback_from_another_site_is_refused(client, me, headers):
    response = client.post(UPDATE, json=_dash_body(client), headers=headers)
    assert response.status_code == 403 and "another site" in response.get_json()["message"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_a_dash_callback_in_a_form_encoding_is_refused(client, me, content_type):
    """What a cross-site <form> (or a `fetch` without a CORS preflight) can send: never JSON."""
    import json

    response = client.post(UPDATE, data=json.dumps(_dash_body(client)), content_type=content_type)
    assert response.status_code == 415


def test_the_session_cookie_is_httponly_and_lax_and_not_secure_on_local_http(app_config, sandbox):
    from tests.auth.helpers import sandbox_app

    site = sandbox_app(app_config, sandbox)
    client = site.test_client()
    response = login(client, "mira.s")
    cookie = response.headers["Set-Cookie"]
    flags = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")}
    assert "httponly" in flags and flags["samesite"].strip() == "SameSite=Lax"
    assert "secure" not in flags, "the sandbox and local development run on plain http://127.0.0.1"


def test_the_session_cookie_is_secure_when_the_app_is_served_over_https(app_config):
    app = create_app({**app_config, "SPOTIFY_CLIENT_ID": "id", "SPOTIFY_CLIENT_SECRET": "secret",
                      "SECRET_KEY": "q7Vd2kLm9XzR4tBn8WcY1pHs6JfG3aEu",
                      "SPOTIFY_REDIRECT_URI": "https://contextify.example/callback"})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    client = app.test_client()
    client.get("/login", base_url="https://contextify.example")
    cookie = client.get_cookie("session", domain="contextify.example")
    assert cookie is not None and cookie.secure and cookie.http_only and cookie.same_site == "Lax"
