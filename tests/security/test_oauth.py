"""OAuth: the callback refuses codes that are replayed, made up or planted, and tokens stay out of logs and cookies.

Covered elsewhere and not repeated here: a tampered or missing `state` (tests/auth/test_login.py
`test_a_tampered_state_is_refused_with_a_plain_page`, `test_a_callback_without_a_login_started_is_refused`,
`test_state_is_single_use`), `error=access_denied` (`test_denied_consent_shows_a_plain_page_and_stores_nothing`),
a dead refresh token raising NeedsLogin (`test_a_dead_refresh_token_means_log_in_again`), encryption
round-trip (`test_good_state_logs_in_and_stores_only_encrypted_tokens`, tests/test_encryption.py).
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select, text

from app import logs
from app.auth.spotify import token_store
from app.extensions import db
from app.jobs import runner
from sandbox.runner import consent
from app.storage.tables import User
from tests.auth.helpers import callback_path, login
from tests.dash_views.helpers import UPDATE
from tests.jobs.conftest import wait_for


def _user(app, spotify_id: str) -> User | None:
    with app.app_context():
        return db.session.scalar(select(User).where(User.spotify_id == spotify_id))


def _approved_callback(client, user: str = "mira.s") -> str:
    start = client.get("/login")
    return callback_path(consent(start.headers["Location"], user))


def test_a_replayed_code_is_refused_even_with_a_fresh_state(site):
    first = site.test_client()
    path = _approved_callback(first)
    assert first.get(path).status_code == 302
    code = parse_qs(urlsplit(path).query)["code"][0]
    # The same browser starts a new login, so its state matches, and sends the spent code again.
    replay = site.test_client()
    state = parse_qs(urlsplit(replay.get("/login").headers["Location"]).query)["state"][0]
    response = replay.get("/callback", query_string={"code": code, "state": state})
    assert response.status_code == 400 and "used twice" in response.get_data(as_text=True)
    with replay.session_transaction() as session:
        assert "user_id" not in session


def test_a_made_up_code_is_refused(site):
    client = site.test_client()
    state = parse_qs(urlsplit(client.get("/login").headers["Location"]).query)["state"][0]
    response = client.get("/callback", query_string={"code": "AQ" + "x" * 40, "state": state})
    assert response.status_code == 400 and "Spotify did not finish the login" in response.get_data(as_text=True)
    with client.session_transaction() as session:
        assert "user_id" not in session
    assert _user(site, "mira.s") is None


def test_a_code_planted_from_another_browser_is_refused(site):
    """Login CSRF: an attacker approves their own login and sends the victim's browser to the callback URL."""
    attacker = site.test_client()
    planted = _approved_callback(attacker, "ana.k")
    victim = site.test_client()
    victim.get("/login")  # the victim even has a login of their own under way: its state differs
    response = victim.get(planted)
    assert response.status_code == 400 and "not valid any more" in response.get_data(as_text=True)
    with victim.session_transaction() as session:
        assert "user_id" not in session


def test_a_refused_refresh_sends_the_page_and_its_callbacks_back_to_login(site, sandbox):
    client = site.test_client()
    login(client, "ana.k")
    user = _user(site, "ana.k")
    with site.app_context():
        store = token_store()
        store.save(user.id, {**store.load(user.id), "refresh_token": "AQrevoked", "expires_at": 1})
    # A job that needs Spotify fails with the plain reason instead of a traceback.
    with site.app_context():
        job_id = runner.submit("import-library", {"enrich": False}, user.id)
    job = wait_for(site, job_id, user.id)
    assert job["status"] == "failed" and "log in again" in (job["error"] or "").lower()
    # A request that raises NeedsLogin answers like an anonymous one: a redirect to /login, or 401 JSON for XHR.
    from app.auth.errors import NeedsLogin

    with site.test_request_context("/app/library"):
        page = site.handle_user_exception(NeedsLogin("refresh refused"))
        assert page.status_code == 302 and page.headers["Location"].startswith("/login?next=/app/library")
    with site.test_request_context(UPDATE, method="POST"):
        answer = site.handle_user_exception(NeedsLogin("refresh refused"))
        assert answer.status_code == 401 and answer.get_json()["login_url"] == "/login"


def test_tokens_are_encrypted_at_rest_in_the_raw_table(site):
    client = site.test_client()
    login(client, "mira.s")
    user = _user(site, "mira.s")
    with site.app_context():
        plain = token_store().load(user.id)
        raw = db.session.execute(text("SELECT access_token, refresh_token, scope FROM oauth_tokens")).all()
    assert len(raw) == 1
    dump = repr(raw)
    for secret in (plain["access_token"], plain["refresh_token"]):
        assert secret not in dump and secret.encode() not in bytes(raw[0][0]) + bytes(raw[0][1])


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_no_token_code_or_secret_reaches_a_log_line_through_a_login_and_a_job(app_config, start_sandbox, capfd,
                                                                              monkeypatch):
    """Every record of every logger at DEBUG, through the handlers a web or worker process has.

    Migrations (alembic.ini) put a plain stderr handler on the root logger of the process that runs them:
    `flask db upgrade`, a process of its own in production. It is taken off here, as it is not there.
    """
    import app.pipeline.services as services
    from tests.auth.helpers import sandbox_app

    # Deezer's real 50-per-5-seconds limit would make matching the library take a minute: lift it on both sides.
    sandbox = start_sandbox(deezer_rate_limit=1000, deezer_rate_window=1)
    monkeypatch.setitem(services.LIMITS, "deezer", (1000, 1.0))
    services._limiter.cache_clear()
    site = sandbox_app(app_config, sandbox, LOG_LEVEL="DEBUG")
    root, collect = logging.getLogger(), _Collect()
    level, migration_handlers = root.level, [h for h in root.handlers if not isinstance(h, logs.StdoutHandler)]
    for handler in migration_handlers:
        root.removeHandler(handler)
    root.addHandler(collect)
    root.setLevel(logging.DEBUG)  # every library's records too, at their most talkative
    try:
        client = site.test_client()
        start = client.get("/login")
        redirect = consent(start.headers["Location"], "jonas.b")
        code = parse_qs(urlsplit(redirect).query)["code"][0]
        assert client.get(callback_path(redirect)).status_code == 302
        user = _user(site, "jonas.b")
        with site.app_context():
            first = token_store().load(user.id)
        sandbox.expire_tokens("jonas.b")  # the job must refresh: the token endpoint is called with secrets
        with site.app_context():
            job_id = runner.submit("import-library", {"enrich": False}, user.id)
        job = wait_for(site, job_id, user.id, timeout=120)
        assert job["status"] == "succeeded", job
        with site.app_context():
            second = token_store().load(user.id)
        assert second["access_token"] != first["access_token"], "the job refreshed the token"
    finally:
        runner.shutdown(site)
        services._limiter.cache_clear()
        root.removeHandler(collect)
        root.setLevel(level)
        for handler in migration_handlers:
            root.addHandler(handler)
    secrets = {code, first["access_token"], first["refresh_token"], second["access_token"],
               second["refresh_token"], site.config["SPOTIFY_CLIENT_SECRET"], site.config["SECRET_KEY"]}
    emitted = "".join(capfd.readouterr())
    formatted = "\n".join(logs.JsonFormatter().format(record) for record in collect.records)
    assert "login user=" in emitted and len(collect.records) > 20, "the logs were captured"
    for secret in secrets:
        assert secret not in emitted, f"a secret reached stdout/stderr: {secret[:6]}..."
        assert secret not in formatted, f"a secret survives the app's log formatter: {secret[:6]}..."


def test_the_session_cookie_holds_the_user_id_its_session_key_and_nothing_else(site):
    client = site.test_client()
    login(client, "mira.s")
    user = _user(site, "mira.s")
    client.get("/logout")  # a page that puts a CSRF token in the session too
    raw = client.get_cookie("session").value
    serializer = site.session_interface.get_signing_serializer(site)
    content = serializer.loads(raw)
    assert set(content) <= {"user_id", "session_key", "csrf_token"} and content["user_id"] == user.id
    assert content["session_key"] == user.session_key  # the server-side half: ended by log out or deletion
    with site.app_context():
        plain = token_store().load(user.id)
    decoded = json.dumps(content)
    for secret in (plain["access_token"], plain["refresh_token"]):
        assert secret not in decoded and secret not in raw
