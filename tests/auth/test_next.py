"""After login the browser goes back only to a same-origin path: `next=` is normalised, and anything that could
leave the site (`//host`, a tab or newline that browsers strip, a backslash, a scheme) is dropped."""

from __future__ import annotations

import pytest

from app.web.login import safe_next
from app.extensions import db
from app.jobs import runner
from tests.auth.helpers import login, sandbox_app


@pytest.fixture
def site(app_config, sandbox):
    app = sandbox_app(app_config, sandbox)
    yield app
    runner.shutdown(app)
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(("given", "kept"), [
    ("/app/", "/app/"),
    ("/app/library?tab=files", "/app/library?tab=files"),
    ("/app/../account", "/account"),
    ("/app/./library/", "/app/library/"),
    ("/invite/abc_DEF-123", "/invite/abc_DEF-123"),
    ("/\t/evil.example", None),            # the finding: browsers strip the tab and go to //evil.example
    ("/%09/evil.example", "/%09/evil.example"),  # still encoded here: a path on this site, not a tab
    ("//evil.example", None),
    ("///evil.example", None),
    ("/\\evil.example", None),
    ("/\\/evil.example", None),
    ("https://evil.example/", None),
    ("javascript:alert(1)", None),
    ("evil.example", None),
    ("/app/\nSet-Cookie: x=1", None),      # the finding: a newline made the login end in a 500
    ("/app/\r\nLocation: //evil", None),
    ("/app/\x00", None),
    ("/app/\u2028", None),
    ("/app/ x", None),
    ("/" + "a" * 3000, None),
    ("", None),
    (None, None),
])
def test_next_is_a_normalised_same_origin_path_or_nothing(given, kept):
    assert safe_next(given) == kept


@pytest.mark.parametrize("next_url", ["/\t/evil.example", "/app/\nSet-Cookie: x=1", "//evil.example",
                                      "/\\evil.example", "https://evil.example"])
def test_the_login_ends_on_the_app_for_a_hostile_next(site, next_url):
    client = site.test_client()
    response = login(client, "mira.s", next_url=next_url)
    assert response.status_code == 302
    assert response.headers["Location"] == "/app/"


def test_the_login_returns_to_a_safe_next(site):
    client = site.test_client()
    response = login(client, "mira.s", next_url="/app/library")
    assert response.status_code == 302 and response.headers["Location"] == "/app/library"
