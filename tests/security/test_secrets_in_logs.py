"""No OAuth code, state, token or invite secret in any log line: the development server's request log (what
`make demo` writes), the app's own access log, and gunicorn's access log should an operator switch it on."""

from __future__ import annotations

import logging
import threading
from types import SimpleNamespace
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
from gunicorn.config import Config
from werkzeug.serving import make_server

from app import logs
from app.extensions import db
from app.jobs import runner
from sandbox.runner import consent
from app.services.compare import create_invite
from app.storage.tables import User
from tests.auth.helpers import sandbox_app


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def served(app_config, sandbox):
    """The app behind werkzeug's development server (as `flask run` and `make demo` serve it), on a free port."""
    probe = make_server("127.0.0.1", 0, lambda *_: [])
    port = probe.server_port
    probe.server_close()
    app = sandbox_app(app_config, sandbox, SPOTIFY_REDIRECT_URI=f"http://127.0.0.1:{port}/callback")
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{port}"
    server.shutdown()
    runner.shutdown(app)
    with app.app_context():
        db.engine.dispose()


def test_the_journey_logs_no_code_state_token_or_invite_secret(served, capfd):
    app, base = served
    root, collect = logging.getLogger(), _Collect()
    level = root.level
    root.addHandler(collect)
    root.setLevel(logging.DEBUG)
    try:
        browser = requests.Session()
        start = browser.get(f"{base}/login", params={"next": "/app/library"}, allow_redirects=False, timeout=30)
        redirect = consent(start.headers["Location"], "mira.s")
        query = parse_qs(urlsplit(redirect).query)
        code, state = query["code"][0], query["state"][0]
        landed = browser.get(redirect, allow_redirects=False, timeout=30)
        assert landed.status_code == 302 and landed.headers["Location"] == "/app/library"
        assert browser.get(f"{base}/app/library", timeout=30).status_code == 200
        with app.app_context():
            user = db.session.query(User).filter_by(spotify_id="mira.s").one()
            _invite, invite_token = create_invite(db.session, user.id)
            db.session.commit()
        guest = requests.Session()
        guest.get(f"{base}/invite/{invite_token}", timeout=30)  # anonymous: sent to log in, the link kept
        guest.get(f"{base}/login", params={"next": f"/invite/{invite_token}"}, allow_redirects=False, timeout=30)
        browser.get(f"{base}/invite/{invite_token}", timeout=30)
        browser.get(f"{base}/callback?code={code}&state={state}", timeout=30)  # a replay: refused, still logged
    finally:
        root.removeHandler(collect)
        root.setLevel(level)
    emitted = "".join(capfd.readouterr())
    formatted = "\n".join(logs.JsonFormatter().format(record) for record in collect.records)
    # Raw records too, before any formatter, except urllib3's: the test plays the browser with `requests`, and
    # urllib3 logs the URLs it asks for (the consent page's state, the callback's code). The app's own urllib3
    # records are in `formatted`; no handler of the app writes them out.
    raw_messages = "\n".join(record.getMessage() for record in collect.records if not record.name.startswith("urllib3"))
    werkzeug_lines = [r.getMessage() for r in collect.records if r.name == "werkzeug"]
    assert any("/callback?code=[redacted]&state=[redacted]" in line for line in werkzeug_lines), werkzeug_lines
    assert any("/invite/[redacted]" in line for line in werkzeug_lines), werkzeug_lines
    assert "POST" in emitted or "GET /invite/[redacted]" in emitted, "the app's access lines were captured"
    print(f"\n{len(collect.records)} log records and {len(emitted):,} characters of output checked; "
          f"development server lines: {len(werkzeug_lines)}")
    for name, secret in (("OAuth code", code), ("OAuth state", state), ("invite token", invite_token),
                         ("invite token, URL-encoded", quote(invite_token, safe=""))):
        for where, text in (("stdout/stderr", emitted), ("formatted records", formatted),
                            ("raw records", raw_messages)):
            assert secret not in text, f"the {name} reached {where}"


def test_gunicorns_access_log_is_redacted_when_switched_on():
    cfg = Config()
    cfg.set("accesslog", "-")
    logger = logs.GunicornLogger(cfg)
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/callback?code=AQsecretcode&state=statesecret",
               "PATH_INFO": "/callback", "QUERY_STRING": "code=AQsecretcode&state=statesecret",
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.1",
               "HTTP_REFERER": "https://example.org/invite/invitesecrettoken"}
    request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])], method="GET", path="/callback",
                              query=environ["QUERY_STRING"], uri=environ["RAW_URI"], version=(1, 1))
    response = SimpleNamespace(status="302 FOUND", response_length=0, headers=[], sent=0)
    atoms = logger.atoms(response, request, environ, SimpleNamespace(seconds=0, microseconds=1000))
    line = cfg.access_log_format % atoms
    assert "AQsecretcode" not in line and "statesecret" not in line and "invitesecrettoken" not in line, line
    assert "code=[redacted]" in line
