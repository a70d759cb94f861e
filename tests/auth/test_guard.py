"""Every Dash route and callback refuses anonymous requests on the server side; a logged-in user gets the app."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from app.auth.session import current_user_id, require_user_id
from tests.auth.helpers import add_user, session_login

DASH_XHR = re.compile(r"^/app/(_|assets/)")


def _dash_urls(app: Flask) -> list[tuple[str, str]]:
    """(method, url) for every route Dash registered under /app, with placeholders filled in."""
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/app"):
            continue
        url = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: f"x-{m.group(1)}", rule.rule)
        method = "POST" if "POST" in rule.methods else "GET"
        urls.append((method, url))
    return urls


def test_the_dash_mount_has_the_routes_this_test_relies_on(app):
    urls = {url for _, url in _dash_urls(app)}
    assert {"/app/", "/app/_dash-layout", "/app/_dash-update-component", "/app/_dash-dependencies"} <= urls


def test_every_dash_route_refuses_an_anonymous_request(app, client):
    for method, url in _dash_urls(app):
        response = client.open(url, method=method, json={} if method == "POST" else None)
        if DASH_XHR.match(url):
            assert response.status_code == 401, url
            assert response.get_json() == {"error": "login required", "login_url": "/login"}, url
        else:
            assert response.status_code == 302, url
            assert response.headers["Location"].startswith("/login?next=/app/"), url


def test_a_dash_callback_post_without_login_is_401(client):
    payload = {"output": "count-tracks.children", "outputs": {"id": "count-tracks", "property": "children"},
               "inputs": [], "changedPropIds": []}
    response = client.post("/app/_dash-update-component", json=payload)
    assert response.status_code == 401


def test_a_page_load_comes_back_to_the_page_after_login(client):
    response = client.get("/app/overview?tab=2")
    assert response.headers["Location"] == "/login?next=/app/overview?tab%3D2"


def test_a_logged_in_user_gets_the_app(app, client):
    session_login(client, add_user(app, "mira.s"))
    assert client.get("/app/").status_code == 200
    assert client.get("/app/_dash-layout").status_code == 200


def test_a_session_naming_a_deleted_user_counts_as_logged_out(app, client):
    session_login(client, 4242)
    assert client.get("/app/").status_code == 302
    with client.session_transaction() as session:
        assert "user_id" not in session


@pytest.mark.parametrize("value", ["1", 1.0, True, None, [1]])
def test_only_an_int_user_id_in_the_session_counts(app, value):
    user_id = add_user(app, "mira.s")
    assert user_id == 1
    with app.test_request_context():
        from flask import session

        session["user_id"] = value
        assert current_user_id() is None


def test_require_user_id_is_a_401_without_login(app):
    from werkzeug.exceptions import Unauthorized

    with app.test_request_context(), pytest.raises(Unauthorized):
        require_user_id()


def test_login_next_only_takes_local_paths(client):
    for bad in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        client.get("/login", query_string={"next": bad})
        with client.session_transaction() as session:
            assert session["login_next"] is None, bad
