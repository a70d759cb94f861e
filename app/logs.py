"""Structured logging: one JSON object per line on stdout, carrying the request and job ids, with secrets redacted."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime

import celery.signals
import gunicorn.glogging
from flask import Flask, Response, g, request

REQUEST_ID_HEADER = "X-Request-ID"
REDACTED = "[redacted]"

request_id_var: ContextVar[str | None] = ContextVar("contextify_request_id", default=None)
job_id_var: ContextVar[str | None] = ContextVar("contextify_job_id", default=None)

# A caller's request id is echoed and logged, so only a short, plain token is accepted (no log injection).
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

_SECRET_KEYS = r"access_token|refresh_token|id_token|client_secret|secret_key|password|api_key"
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization headers: Spotify's user calls (Bearer) and its token endpoint (Basic id:secret).
    # Credentials are long; "basic" in prose is followed by a short word, so it is left alone.
    (re.compile(r"\b([Bb]earer|[Bb]asic)\s+[A-Za-z0-9._~+/=-]{16,}"), rf"\1 {REDACTED}"),
    # key=value, key: value, "key": "value" and query strings, for the names that carry secrets.
    (re.compile(rf"(?i)(\b(?:{_SECRET_KEYS})\b[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;}}]+"), rf"\1{REDACTED}"),
    # The OAuth authorization code and state in a callback URL (`code=`, `state=`; Deezer's `"code": 4` errors
    # stay readable).
    (re.compile(r"(?i)(\b(?:code|state)=)[^\s\"'&,;}]+"), rf"\1{REDACTED}"),
    # An invite link's token is the whole capability: `/invite/<token>` (also URL-encoded in a `next=`).
    (re.compile(r"(?i)((?:/|%2F)invite(?:/|%2F))[^\s\"'&,;?/%]+"), rf"\1{REDACTED}"),
    # The password inside a database or broker URL: scheme://user:password@host.
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"), rf"\1{REDACTED}@"),
    # E-mail addresses are personal data.
    (re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"), REDACTED),
)

# Attributes every LogRecord has; anything else was passed with `extra=` and becomes a field of the line.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def redact(text: str) -> str:
    """`text` with bearer tokens, OAuth secrets and codes, URL passwords and e-mail addresses replaced."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, request_id / job_id when set, extras, exc; all redacted."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for name, var in (("request_id", request_id_var), ("job_id", job_id_var)):
            value = getattr(record, name, None) or var.get()
            if value:
                line[name] = value
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRIBUTES and name not in line:
                line[name] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


class StdoutHandler(logging.StreamHandler):
    """Writes to whatever `sys.stdout` is at the time of each record, not the one it was created with
    (test runners and daemonisers swap it; a handler holding the old one writes to a closed stream)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)
        self.setFormatter(JsonFormatter())

    @property
    def stream(self):  # noqa: ANN201
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:  # noqa: ANN001
        pass


def install(logger: logging.Logger, level: str | int) -> None:
    """Give `logger` the stdout JSON handler at `level`, unless it or an ancestor it propagates to has it already
    (however many apps a process builds, each record is written once)."""
    logger.setLevel(level)
    if not _writes_json(logger):
        logger.addHandler(StdoutHandler())


def _writes_json(logger: logging.Logger | None) -> bool:
    while logger is not None:
        if any(isinstance(handler, StdoutHandler) for handler in logger.handlers):
            return True
        logger = logger.parent if logger.propagate else None
    return False


@celery.signals.setup_logging.connect
def _celery_worker_logging(loglevel: int | str | None = None, **_kwargs: object) -> None:
    """A Celery worker writes the same JSON lines; connecting at all keeps Celery's own plain, unredacted format
    off the root logger. (Imported with the `app` package, so before the worker sets up logging.)"""
    install(logging.getLogger(), loglevel or logging.INFO)


@contextlib.contextmanager
def job_context(job_id: str) -> Iterator[None]:
    """Every record logged inside carries `job_id` (the job runner wraps each job's run in it)."""
    token = job_id_var.set(job_id)
    try:
        yield
    finally:
        job_id_var.reset(token)


def init_request_ids(app: Flask) -> None:
    """Honour a caller's X-Request-ID (a load balancer's or a client's) or make one; echo it; log each request."""
    access = logging.getLogger("contextify.access")

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        g.request_started = time.monotonic()
        request_id_var.set(g.request_id)

    @app.after_request
    def _finish(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers[REQUEST_ID_HEADER] = request_id
            # The path only (query strings carry OAuth codes), redacted (an invite link's path is its secret).
            # Health probes every few seconds stay at DEBUG.
            level = logging.DEBUG if request.path == "/healthz" else logging.INFO
            access.log(level, "%s %s %s", request.method, redact(request.path), response.status_code,
                       extra={"status": response.status_code,
                              "duration_ms": round(1000 * (time.monotonic() - g.request_started), 1)})
        return response

    @app.teardown_request
    def _forget(_exc: BaseException | None) -> None:
        request_id_var.set(None)  # a server thread's next request must not inherit this id


class RedactingFilter(logging.Filter):
    """Rewrites a record's message redacted, for loggers whose lines are not ours to format: the development
    server's request lines (werkzeug, also `make demo`'s) carry `/callback?code=...&state=...` and invite links."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def redact_server_logs() -> None:
    """Redact the development server's request log (werkzeug writes it with its own handler and format)."""
    werkzeug_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, RedactingFilter) for f in werkzeug_log.filters):
        werkzeug_log.addFilter(RedactingFilter())


class GunicornLogger(gunicorn.glogging.Logger):
    """gunicorn's own lines (boot, worker exits) as the same JSON on stdout: `--logger-class app.logs.GunicornLogger`.

    Its access log stays off: the app logs each request itself, with the request id and without the query.
    """

    def setup(self, cfg) -> None:  # noqa: ANN001
        super().setup(cfg)
        self.error_log.handlers.clear()
        self.error_log.propagate = False
        install(self.error_log, self.error_log.level)

    def atoms(self, resp, req, environ, request_time):  # noqa: ANN001,ANN201
        """Should an operator switch gunicorn's access log on (`--access-logfile -`), its request line, path,
        query and referer are redacted like every other line: no OAuth code or state, no invite token."""
        return {key: redact(value) if isinstance(value, str) else value
                for key, value in super().atoms(resp, req, environ, request_time).items()}
