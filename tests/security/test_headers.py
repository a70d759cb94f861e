"""Security headers on every response, and a Content-Security-Policy allowing exactly the inline scripts Dash writes."""

from __future__ import annotations

import base64
import hashlib
import re

from app.web.security import HEADERS
from tests.auth.helpers import add_user, session_login


def _csp(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2] for part in policy.split(";")}


def _urls(app) -> list[str]:
    """Every GET route of the app, variables filled with a placeholder: pages, Dash internals, static files, errors."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods:
            urls.append(re.sub(r"<(?:[^:>]+:)?([^>]+)>", "x", rule.rule))
    return urls + ["/no-such-page"]


def _check(response, where: str) -> None:
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, (where, name)
    csp = _csp(response)
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'", where
    assert csp["default-src"] == "'self'" and csp["base-uri"] == "'self'", where
    assert "unsafe-inline" not in csp["script-src"] and "unsafe-eval" not in csp["script-src"], where


def test_every_response_carries_the_security_headers(app, client):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a placeholder some routes reject with a 500: it gets headers too
    anonymous = app.test_client()
    session_login(client, add_user(app, "mira.s"))
    urls = _urls(app)
    for url in urls:
        _check(anonymous.get(url), f"anonymous {url}")
        _check(client.get(url), f"logged in {url}")
    _check(client.post("/logout"), "a refused POST (400)")
    print(f"\nsecurity headers checked on {len(urls)} GET routes, anonymous and logged in: "
          f"{sorted(HEADERS) + ['Content-Security-Policy']}")


def test_the_csp_allows_each_inline_script_of_the_dash_page_by_its_hash_and_nothing_else(app, client):
    session_login(client, add_user(app, "mira.s"))
    response = client.get("/app/")
    html = response.get_data(as_text=True)
    inline = [body for attrs, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
              if "src=" not in attrs and "application/json" not in attrs and body.strip()
              and not html[:html.find(body)].rstrip().endswith("<!--[if IE]><script>")]
    assert inline, "Dash writes its renderer bootstrap inline"
    allowed = _csp(response)["script-src"].split()
    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in allowed, body[:80]
    assert allowed[0] == "'self'" and len(allowed) == 1 + len(inline)


def test_the_flask_pages_load_no_inline_script(app, client):
    for url in ("/", "/logout", "/login-failed-page-does-not-exist"):
        html = client.get(url).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert not re.search(r"\son[a-z]+=", html), f"{url} has an inline event handler"
