"""A sliding-window rate limiter kept in Redis, so every web and worker process together stays inside a service's limit."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator

import redis

from app.pipeline.ratelimit import SlidingWindowLimiter

log = logging.getLogger("contextify.pipeline.ratelimit")

# One atomic step on Redis' own clock (every process agrees on it, whatever their clocks say): drop sends
# older than the window, then admit this one (0) or answer the milliseconds until a slot frees. A pause
# (after a 429 / code 4) holds everyone until it ends.
_ACQUIRE = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000 + math.floor(tonumber(now_t[2]) / 1000)
local max_calls = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local paused_until = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused_until > now then
  return paused_until - now
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < max_calls then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""

_PAUSE = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000 + math.floor(tonumber(now_t[2]) / 1000)
local pause = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if now + pause > current then
  redis.call('SET', KEYS[1], now + pause, 'PX', pause)
end
return 0
"""

# A send whose answer came back is stamped again with Redis' time now: the service may have counted it as late as
# that (its thread was descheduled before sending), so its window starts here and no slot frees too early.
_ANSWERED = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000 + math.floor(tonumber(now_t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 0
"""

REDIS_TIMEOUT_S = 2.0


class RedisSlidingWindowLimiter:
    """At most `max_calls` in any `window_s` seconds across every process sharing `key` on one Redis.

    The same window log as `SlidingWindowLimiter` (a token bucket would allow twice the limit inside one
    window as the service counts it), held in a sorted set of send times. If Redis stops answering, the
    process falls back to its own in-process window and says so in the log: the service's own refusals
    (429, Deezer's code 4) then correct any overshoot, instead of every job failing.
    """

    def __init__(self, client: redis.Redis, key: str, max_calls: int, window_s: float, *, margin: float = 0.03,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if max_calls < 1 or window_s <= 0:
            raise ValueError("a rate limit needs max_calls >= 1 and window_s > 0")
        self.max_calls = max_calls
        self.window_s = window_s * (1 + margin)
        # The hash tag keeps both keys in one slot, so the script also runs on a Redis Cluster.
        self._keys = [f"{{{key}}}:sent", f"{{{key}}}:paused"]
        self._acquire = client.register_script(_ACQUIRE)
        self._pause = client.register_script(_PAUSE)
        self._answered = client.register_script(_ANSWERED)
        self._sleep = sleep
        self._fallback = SlidingWindowLimiter(max_calls, window_s, margin=margin, sleep=sleep)
        self._degraded = False

    @classmethod
    def from_url(cls, url: str, key: str, max_calls: int, window_s: float) -> RedisSlidingWindowLimiter:
        client = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)
        return cls(client, key, max_calls, window_s)

    @property
    def rate_per_s(self) -> float:
        return self.max_calls / self.window_s

    @property
    def _window_ms(self) -> int:
        return max(1, round(self.window_s * 1000))

    def acquire(self) -> float:
        waited, shared = self._admit(uuid.uuid4().hex)
        return waited if shared else waited + self._fallback.acquire()

    @contextlib.contextmanager
    def slot(self) -> Iterator[float]:
        token = uuid.uuid4().hex
        waited, shared = self._admit(token)
        if not shared:
            with self._fallback.slot() as more:
                yield waited + more
            return
        try:
            yield waited
        finally:
            try:
                self._answered(keys=self._keys[:1], args=[token, self._window_ms])
            except redis.RedisError as exc:
                self._degrade(exc)  # the send keeps its admission time; the service's refusals correct the rest

    def _admit(self, token: str) -> tuple[float, bool]:
        """Wait for a place in the shared window under `token`: (seconds waited, True), or (seconds waited, False)
        when Redis did not answer and the caller must use the local window instead."""
        waited = 0.0
        while True:
            try:
                wait_ms = int(self._acquire(keys=self._keys, args=[self.max_calls, self._window_ms, token]))
            except redis.RedisError as exc:
                self._degrade(exc)
                return waited, False
            self._recover()
            if wait_ms == 0:
                return waited, True
            # Sleep outside Redis; woken callers race for the freed slot and the losers wait again.
            delay = wait_ms / 1000
            self._sleep(delay)
            waited += delay

    def pause(self, seconds: float) -> None:
        try:
            self._pause(keys=self._keys[1:], args=[max(1, round(seconds * 1000))])
        except redis.RedisError as exc:
            self._degrade(exc)
            self._fallback.pause(seconds)

    def _degrade(self, exc: redis.RedisError) -> None:
        if not self._degraded:
            self._degraded = True
            log.warning("rate limits are per process until Redis answers again (%s)", type(exc).__name__)

    def _recover(self) -> None:
        if self._degraded:
            self._degraded = False
            log.info("rate limits are shared through Redis again")
