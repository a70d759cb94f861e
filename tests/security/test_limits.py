"""Request size and rate limits: a plain 413 above CONTEXTIFY_MAX_REQUEST_MB (a full library upload still fits),
429 pages for too many logins from one address, and too many job starts refused per user."""

from __future__ import annotations

import base64
import json

import pytest

import config
from app import create_app
from app.dash_views.jobs_view import JobRefused, start_job
from app.jobs import runner
from app.pipeline.files import MAX_BYTES
from app.web.security import JOBS_TOO_MANY, limiter
from tests.auth.helpers import add_user, session_login
from tests.dash_views.helpers import UPDATE, dependencies, find_callback, payload


@pytest.fixture
def small_app(app_config):
    from flask_migrate import upgrade

    app = create_app({**app_config, "CONTEXTIFY_MAX_REQUEST_MB": "1", "CONTEXTIFY_LOGIN_RATE_LIMIT": "3 per minute",
                      "CONTEXTIFY_JOB_RATE_LIMIT": "2 per minute"})
    with app.app_context():
        upgrade()
    yield app
    runner.shutdown(app)


def test_a_request_over_the_size_limit_gets_a_plain_413_page(small_app):
    client = small_app.test_client()
    session_login(client, add_user(small_app, "mira.s"))
    client.get("/logout")
    response = client.post("/logout", data={"csrf_token": "x", "blob": "a" * (1024 * 1024 + 1)})
    body = response.get_data(as_text=True)
    assert response.status_code == 413 and "larger than contextify accepts (1 MB)" in body
    assert "Nothing was stored" in body and "<h1>" in body
    with client.session_transaction() as session:
        assert "user_id" in session, "the logout did not happen"


def test_a_dash_callback_over_the_size_limit_gets_413_json(small_app):
    client = small_app.test_client()
    session_login(client, add_user(small_app, "mira.s"))
    response = client.post(UPDATE, data=json.dumps({"inputs": ["a" * (1024 * 1024 + 1)]}),
                           content_type="application/json")
    assert response.status_code == 413 and "larger than contextify accepts" in response.get_json()["message"]


def test_the_largest_library_file_fits_in_the_default_request_limit(app, client):
    """A 20 MB file arrives as a base64 data URL inside the Upload callback's JSON; it must not be cut off at 413."""
    assert app.config["MAX_CONTENT_LENGTH"] == config.DEFAULT_MAX_REQUEST_MB * 1024 * 1024
    session_login(client, add_user(app, "mira.s"))
    deps = dependencies(client)
    upload = next(dep for dep in deps if any(spec["property"] == "contents" for spec in dep["inputs"]))
    contents = "data:text/csv;base64," + base64.b64encode(b"x" * MAX_BYTES).decode()
    body = payload(upload, {"library-upload.contents": contents, "library-upload.filename": "big.csv"},
                   changed=["library-upload.contents"])
    encoded = json.dumps(body)
    assert len(encoded) < app.config["MAX_CONTENT_LENGTH"]
    response = client.post(UPDATE, data=encoded, content_type="application/json")
    assert response.status_code == 200, response.status_code  # the page answers (it refuses a CSV of x's in words)


def test_too_many_logins_from_one_address_get_a_429_page_saying_when(small_app):
    client = small_app.test_client()
    for _ in range(3):
        assert client.get("/login").status_code == 302
    response = client.get("/login")
    body = response.get_data(as_text=True)
    assert response.status_code == 429 and "Too many attempts" in body and "Wait" in body
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    assert client.get("/callback?state=x&code=y").status_code == 400, "the callback has its own count"
    other = small_app.test_client()
    assert other.get("/login", environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 302, "per address"


def test_the_login_limit_comes_from_the_environment(app_config):
    assert config.load_settings({**app_config})["CONTEXTIFY_LOGIN_RATE_LIMIT"] == "20 per minute"
    assert config.load_settings({**app_config})["CONTEXTIFY_JOB_RATE_LIMIT"] == "30 per minute"
    assert config.load_settings({**app_config, "CONTEXTIFY_LOGIN_RATE_LIMIT": "500/minute"})[
        "CONTEXTIFY_LOGIN_RATE_LIMIT"] == "500/minute"
    with pytest.raises(config.ConfigError, match="CONTEXTIFY_JOB_RATE_LIMIT must be a rate"):
        config.load_settings({**app_config, "CONTEXTIFY_JOB_RATE_LIMIT": "lots"})
    with pytest.raises(config.ConfigError, match="CONTEXTIFY_MAX_REQUEST_MB"):
        config.load_settings({**app_config, "CONTEXTIFY_MAX_REQUEST_MB": "0"})


def test_too_many_job_starts_are_refused_per_user_in_plain_words(small_app):
    import tests.jobs.conftest  # noqa: F401  (registers the tiny test-* job kinds)

    me, other = add_user(small_app, "mira.s"), add_user(small_app, "ana.k")
    with small_app.test_request_context():
        start_job(me, "test-echo", {}, "An echo")
        start_job(me, "test-refuse", {}, "A refusal")
        with pytest.raises(JobRefused, match="many jobs in a short time"):
            start_job(me, "test-boom", {}, "A failure")
        assert start_job(other, "test-boom", {}, "A failure"), "the other user has their own count"
    assert JOBS_TOO_MANY.startswith("You started many jobs")


def test_the_job_limit_shows_on_the_page_that_starts_the_job(small_app):
    """The Library page's import button, clicked again and again: two imports start, then the page says to wait."""
    import time

    from app.extensions import db
    from app.storage.tables import Job

    client = small_app.test_client()
    me = add_user(small_app, "mira.s")
    session_login(client, me)
    start = find_callback(dependencies(client), "library-message.children")
    messages = []
    for clicks in range(1, 15):
        answer = client.post(UPDATE, json=payload(start, {"library-import.n_clicks": clicks},
                                                  changed=["library-import.n_clicks"]))
        messages.append(json.dumps(answer.get_json()))
        if JOBS_TOO_MANY in messages[-1]:
            break
        time.sleep(0.3)  # the first import (no Spotify token: it fails at once) must end before the next may start
    assert JOBS_TOO_MANY in messages[-1], messages
    with small_app.app_context():
        assert db.session.query(Job).filter(Job.user_id == me).count() == 2


def test_rate_limits_are_kept_in_redis_when_one_is_configured(app_config):
    import os

    import redis

    from tests.conftest import needs_service

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        needs_service(f"Redis at {url} is unreachable: {exc}")
    from flask_migrate import upgrade

    store = redis.Redis.from_url(url)
    for key in store.scan_iter("LIMITS:LIMITER/contextify*"):
        store.delete(key)
    settings = {**app_config, "RATE_LIMIT_REDIS_URL": url, "CONTEXTIFY_LOGIN_RATE_LIMIT": "2 per minute"}
    first = create_app(settings)
    assert type(limiter.storage).__name__ == "RedisStorage"
    assert first.test_client().get("/login").status_code == 302
    second = create_app(settings)  # another web process: it sees the first one's count
    with second.app_context():
        upgrade()
    client = second.test_client()
    assert client.get("/login").status_code == 302
    assert client.get("/login").status_code == 429
    assert any(store.scan_iter("LIMITS:LIMITER/contextify*")), "the window lives in Redis"
    for key in store.scan_iter("LIMITS:LIMITER/contextify*"):
        store.delete(key)


def test_an_unreachable_rate_limit_store_lets_logins_and_jobs_through(app_config):
    """Availability first: Redis down must not turn every login into a 500."""
    import tests.jobs.conftest  # noqa: F401  (registers the tiny test-* job kinds)
    from flask_migrate import upgrade

    app = create_app({**app_config, "RATE_LIMIT_REDIS_URL": "redis://127.0.0.1:9/15"})
    with app.app_context():
        upgrade()
    try:
        assert app.test_client().get("/login").status_code == 302
        me = add_user(app, "mira.s")
        with app.test_request_context():
            assert start_job(me, "test-echo", {}, "An echo")
    finally:
        runner.shutdown(app)


def test_the_platform_body_limit_fits_the_largest_upload_once_encoded():
    """Elastic Beanstalk's nginx must let through what the app accepts (a 20 MB file, base64 inside a callback's
    JSON), up to the app's own limit, so a too-big request meets the app's plain 413 rather than nginx's bare one."""
    import re
    from pathlib import Path

    from app.dash_views.edge import MAX_UPLOAD_CHARS

    conf = (Path(config.__file__).parent / ".platform/nginx/conf.d/contextify.conf").read_text()
    nginx_mb = int(re.search(r"^client_max_body_size (\d+)m;", conf, re.M).group(1))
    app_limit = config.DEFAULT_MAX_REQUEST_MB * 1024 * 1024
    encoded_upload = MAX_UPLOAD_CHARS + 4096  # the data URL plus the callback's JSON around it
    print(f"\nlargest upload {MAX_BYTES / 2**20:.0f} MB, encoded {encoded_upload / 2**20:.1f} MB; app limit "
          f"{app_limit / 2**20:.0f} MB; nginx {nginx_mb} MB")
    assert encoded_upload <= app_limit <= nginx_mb * 1024 * 1024


def test_hsts_is_sent_behind_https_and_not_over_plain_http(app_config):
    plain = create_app(app_config).test_client()
    assert "Strict-Transport-Security" not in plain.get("/").headers
    assert plain.get("/", headers={"X-Forwarded-Proto": "https"}).headers["Strict-Transport-Security"] \
        == "max-age=63072000; includeSubDomains"
    assert "Strict-Transport-Security" in plain.get("/", base_url="https://localhost").headers
    deployed = create_app({**app_config, "SPOTIFY_CLIENT_ID": "id", "SPOTIFY_CLIENT_SECRET": "secret",
                           "SECRET_KEY": "q7Vd2kLm9XzR4tBn8WcY1pHs6JfG3aEu",
                           "SPOTIFY_REDIRECT_URI": "https://contextify.example/callback"})
    assert "Strict-Transport-Security" in deployed.test_client().get("/login").headers
