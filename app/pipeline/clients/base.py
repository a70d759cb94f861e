"""What every service client shares: rate limiting, bounded retries, Retry-After with a cap, call counting."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from app.pipeline.ratelimit import RateLimiter, Unlimited

log = logging.getLogger("contextify.pipeline.clients")


class ServiceError(Exception):
    """A service could not give an answer; `reason` is a short plain-words phrase for run summaries."""

    def __init__(self, service: str, reason: str, detail: str = "") -> None:
        super().__init__(f"{service}: {reason}" + (f" ({detail})" if detail else ""))
        self.service = service
        self.reason = reason
        self.detail = detail


class NotFound(ServiceError):
    """The service has no such thing (Deezer error 800, HTTP 404)."""


class RateLimited(ServiceError):
    """The service asked us to wait longer than we are willing to block (e.g. a Spotify quota of hours)."""

    def __init__(self, service: str, retry_after_s: float, detail: str = "") -> None:
        super().__init__(service, f"rate limited; retry in {retry_after_s:.0f} s", detail)
        self.retry_after_s = retry_after_s


class Unavailable(ServiceError):
    """The service kept failing (5xx, timeouts, malformed answers) through every retry."""


class Retry(Exception):
    """Raised by a response check to ask for another attempt, optionally after a pause of every caller."""

    def __init__(self, why: str, pause_s: float = 0.0) -> None:
        super().__init__(why)
        self.why = why
        self.pause_s = pause_s


class ServiceClient:
    """JSON over HTTP to one service, with the behaviour every pipeline step relies on.

    - waits on the service's limiter before every request (proactive);
    - on 429 honours `Retry-After` up to `max_retry_after_s`, pausing all callers, and raises
      `RateLimited` beyond it instead of sleeping for hours (reactive);
    - retries 5xx, timeouts, dropped connections and malformed JSON with jittered exponential backoff,
      `max_attempts` in all, then raises `Unavailable`;
    - counts every request it sends in `calls`, so run summaries can be checked against the service's own.
    """

    service = "service"

    def __init__(self, base_url: str, *, limiter: RateLimiter | None = None,
                 session: requests.Session | None = None, timeout: tuple[float, float] = (5.0, 20.0),
                 max_attempts: int = 6, max_retry_after_s: float = 60.0, backoff_s: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter or Unlimited()
        self.session = session or requests.Session()
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_retry_after_s = max_retry_after_s
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._calls = 0
        self._calls_lock = threading.Lock()

    @property
    def calls(self) -> int:
        return self._calls

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json: Any = None, headers: dict[str, str] | None = None, files: Any = None) -> Any:
        url = self.url(path)
        last_problem = "no attempt made"
        for attempt in range(1, self.max_attempts + 1):
            try:
                # The slot counts from the answer: the service may have received the request that late.
                with self.limiter.slot():
                    with self._calls_lock:
                        self._calls += 1
                    response = self.session.request(method, url, params=params, json=json, headers=headers,
                                                    files=files, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_problem = f"no answer ({type(exc).__name__})"
                self._backoff(attempt, last_problem, url)
                continue
            try:
                return self.check(response)
            except Retry as retry:
                last_problem = retry.why
                if retry.pause_s:
                    self.limiter.pause(retry.pause_s)
                else:
                    self._backoff(attempt, last_problem, url)
        raise Unavailable(self.service, "kept failing", f"{last_problem}; {self.max_attempts} attempts at {url}")

    def check(self, response: requests.Response) -> Any:
        """Turn a response into data, or raise Retry / a ServiceError. Services extend this."""
        if response.status_code == 429:
            retry_after = _retry_after_s(response)
            if retry_after > self.max_retry_after_s:
                raise RateLimited(self.service, retry_after, response.text[:200])
            raise Retry("429 rate limited", pause_s=max(retry_after, self.backoff_s))
        if response.status_code >= 500:
            raise Retry(f"HTTP {response.status_code}")
        if response.status_code == 404:
            raise NotFound(self.service, "not found", response.url)
        if response.status_code >= 400:
            raise ServiceError(self.service, f"refused with HTTP {response.status_code}", response.text[:200])
        try:
            return response.json()
        except ValueError:
            raise Retry("malformed JSON") from None

    def _backoff(self, attempt: int, why: str, url: str) -> None:
        if attempt >= self.max_attempts:
            return
        delay = self.backoff_s * 2 ** (attempt - 1) * (0.5 + random.random())
        log.info("service=%s retry=%d why=%r in=%.2fs", self.service, attempt, why, delay)
        self._sleep(delay)


def _retry_after_s(response: requests.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0
