"""The Redis sliding window: several limiters on one key admit no more than the limit in any window, together."""

from __future__ import annotations

import bisect
import contextlib
import threading
import time
import uuid

import pytest
import redis

from app.pipeline.ratelimit_redis import RedisSlidingWindowLimiter
from app.pipeline.clients.factory import LIMITS, limiter_store, shared_limiter

pytestmark = pytest.mark.redis

LIMIT, WINDOW_S = 5, 0.5


def _limiter(url: str, key: str) -> RedisSlidingWindowLimiter:
    return RedisSlidingWindowLimiter.from_url(url, key, LIMIT, WINDOW_S)


def _busiest(times: list[float], seconds: float) -> int:
    times = sorted(times)
    return max(bisect.bisect_left(times, t + seconds) - i for i, t in enumerate(times))


def test_separate_limiters_on_one_key_share_the_window(redis_url):
    key = f"test:{uuid.uuid4().hex}"
    limiters = [_limiter(redis_url, key) for _ in range(3)]  # as three worker processes would hold them
    sent: list[float] = []
    lock = threading.Lock()

    def send(limiter: RedisSlidingWindowLimiter) -> None:
        for _ in range(6):
            limiter.acquire()
            with lock:
                sent.append(time.monotonic())

    threads = [threading.Thread(target=send, args=(limiter,)) for limiter in limiters for _ in range(2)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(sent) == 36
    assert _busiest(sent, WINDOW_S) <= LIMIT
    # 36 sends at 5 per 0.5 s cannot take less than 3 s: the limit held, it did not merely spread them.
    assert time.monotonic() - started >= (36 - LIMIT) / LIMIT * WINDOW_S * 0.95


def test_a_slot_frees_a_window_after_its_answer(redis_url):
    """Sends that came back late (a descheduled thread, a slow answer) may have reached the service late: another
    process gets their places only a window after the answers, not after the admissions."""
    key = f"test:{uuid.uuid4().hex}"
    first, second = _limiter(redis_url, key), _limiter(redis_url, key)
    started = time.monotonic()
    with contextlib.ExitStack() as sends:
        for _ in range(LIMIT):
            sends.enter_context(first.slot())
        time.sleep(0.3)
    second.acquire()
    assert time.monotonic() - started >= 0.3 + WINDOW_S * 0.95


def test_a_pause_holds_every_process(redis_url):
    key = f"test:{uuid.uuid4().hex}"
    first, second = _limiter(redis_url, key), _limiter(redis_url, key)
    first.pause(0.4)
    assert second.acquire() >= 0.3


def test_without_redis_each_process_falls_back_to_its_own_window(caplog):
    limiter = RedisSlidingWindowLimiter.from_url("redis://127.0.0.1:1/0", "test:down", LIMIT, WINDOW_S)
    for _ in range(LIMIT):
        assert limiter.acquire() == 0.0
    assert limiter.acquire() > 0  # the sixth waits: the local window still limits
    assert "rate limits are per process" in caplog.text


@pytest.mark.parametrize(("config", "store"), [
    ({}, None),
    ({"CELERY_BROKER_URL": "redis://cache:6379/0"}, "redis://cache:6379/0"),
    ({"CELERY_BROKER_URL": "amqp://guest@mq//"}, None),
    ({"CELERY_BROKER_URL": "amqp://guest@mq//", "RATE_LIMIT_REDIS_URL": "rediss://limits:6380/1"},
     "rediss://limits:6380/1"),
])
def test_the_limiter_store_follows_the_configuration(config, store):
    assert limiter_store(config) == store


def test_shared_limiter_uses_redis_only_when_configured(redis_url):
    local = shared_limiter("deezer", "http://deezer.test", {})
    shared = shared_limiter("deezer", "http://deezer.test", {"CELERY_BROKER_URL": redis_url})
    assert type(local).__name__ == "SlidingWindowLimiter"
    assert isinstance(shared, RedisSlidingWindowLimiter)
    assert shared.max_calls == LIMITS["deezer"][0]
    assert shared is shared_limiter("deezer", "http://deezer.test", {"CELERY_BROKER_URL": redis_url})
    with pytest.raises(ValueError, match="no limiter"):
        shared_limiter("napster", "http://x", {})
    redis.Redis.from_url(redis_url).delete(*shared._keys)
