"""Log lines are JSON on stdout with request and job ids, and never carry tokens, secrets or e-mail addresses."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from app.jobs import runner
from app.jobs.registry import JobContext, task
from app.logs import JsonFormatter, job_context, redact
from tests.auth.helpers import add_user
from tests.jobs.conftest import wait_for


@pytest.mark.parametrize(("line", "secret", "kept"), [
    ("Authorization: Bearer BQDx9-abc.def_ghi", "BQDx9-abc.def_ghi", "Bearer [redacted]"),
    ("Authorization: Basic c2FuZGJveC1jbGllbnQ6c2VjcmV0", "c2FuZGJveC1jbGllbnQ6c2VjcmV0", "Basic [redacted]"),
    ("token answer {'access_token': 'AQ-secret', 'expires_in': 3600}", "AQ-secret", "expires_in"),
    ('{"refresh_token": "AQ-refresh", "scope": "user-library-read"}', "AQ-refresh", "user-library-read"),
    ("POST grant_type=authorization_code&code=AQ-code-123&redirect_uri=x", "AQ-code-123", "grant_type"),
    ("GET /callback?code=AQ-code-456&state=abc", "AQ-code-456", "GET /callback?code="),
    ("GET /callback?code=AQ-code-789&state=st4te-s3cret", "st4te-s3cret", "state=[redacted]"),  # issue 17: state too
    ("client_secret=s3cr3t client_id=sandbox-client", "s3cr3t", "client_id=sandbox-client"),
    ("could not connect to postgresql://app:hunter2@db.example:5432/contextify", "hunter2", "db.example"),
    ("imported for mira@example.com", "mira@example.com", "imported for"),
])
def test_secrets_and_personal_data_are_redacted(line, secret, kept):
    cleaned = redact(line)
    assert secret not in cleaned and "[redacted]" in cleaned and kept in cleaned


@pytest.mark.parametrize("line", [
    'deezer answered {"error": {"code": 4}} (code 4)',
    "basic features only: bearer of bad news",
    "job=3f2a kind=harvest status=succeeded",
])
def test_ordinary_lines_stay_readable(line):
    assert redact(line) == line


def _record(message: str, *args, exc_info=None, **extra) -> logging.LogRecord:  # noqa: ANN001, ANN003
    record = logging.LogRecord("contextify.test", logging.WARNING, __file__, 1, message, args, exc_info)
    record.__dict__.update(extra)
    return record


def test_a_record_is_one_json_line_with_job_id_extras_and_a_redacted_traceback():
    try:
        raise ValueError("refresh_token=AQ-leaked")
    except ValueError:
        exc_info = sys.exc_info()
    with job_context("job-123"):
        line = JsonFormatter().format(_record("sent %s", "Bearer BQC4kJ-8mZ0pQrStUvWx", exc_info=exc_info, status=503))
    assert "\n" not in line
    data = json.loads(line)
    assert data["level"] == "WARNING" and data["logger"] == "contextify.test"
    assert data["msg"] == "sent Bearer [redacted]" and data["job_id"] == "job-123" and data["status"] == 503
    assert "AQ-leaked" not in data["exc"] and "ValueError" in data["exc"]
    assert "job_id" not in json.loads(JsonFormatter().format(_record("outside the job")))


def test_a_callers_request_id_is_honoured_and_one_is_made_otherwise(client, capsys):
    given = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a"})
    made = client.get("/", headers={"X-Request-ID": "bad id \"} {\"forged\": 1"})
    assert given.headers["X-Request-ID"] == "lb-7f3a"
    assert len(made.headers["X-Request-ID"]) == 32 and "forged" not in made.headers["X-Request-ID"]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    access = [line for line in lines if line["logger"] == "contextify.access"]
    assert access and access[-1]["request_id"] == made.headers["X-Request-ID"]
    assert access[-1]["msg"] == f"GET / {made.status_code}" and "duration_ms" in access[-1]


def test_the_oauth_code_in_a_callback_url_never_reaches_the_log(client, capsys):
    client.get("/callback?code=AQ-very-secret-code&state=xyz")
    out = capsys.readouterr().out
    assert "AQ-very-secret-code" not in out and "GET /callback " in out


@task("test-log-job-id")
def logs_a_line(ctx: JobContext) -> None:
    logging.getLogger("contextify.jobs.test").warning("working")


def test_lines_logged_while_a_job_runs_carry_its_id(app, capsys):
    me = add_user(app, "mira.s")
    try:
        with app.app_context():
            job_id = runner.submit("test-log-job-id", {}, me)
        assert wait_for(app, job_id, me)["status"] == "succeeded"
    finally:
        runner.shutdown(app)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {"msg": "working", "job_id": job_id}.items() <= next(l for l in lines if l["msg"] == "working").items()
