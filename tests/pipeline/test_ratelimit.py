"""The sliding-window limiter never lets more than the limit through in any window, and honours pauses."""

from __future__ import annotations

import threading

import pytest

from app.pipeline.ratelimit import SlidingWindowLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _max_in_any_window(stamps: list[float], window: float) -> int:
    return max(sum(1 for t in stamps if start <= t < start + window) for start in stamps)


def test_never_more_than_the_limit_in_any_window():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(50, 5.0, margin=0.0, clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(500):
        limiter.acquire()
        stamps.append(clock.now)
    assert _max_in_any_window(stamps, 5.0) == 50
    # and it runs at the limit, not below it: 500 calls take 9 full windows
    assert stamps[-1] == pytest.approx(45.0)


def test_a_burst_is_allowed_up_to_the_limit_without_waiting():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(10, 1.0, margin=0.0, clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(10)]
    assert waits == [0.0] * 10
    assert limiter.acquire() == pytest.approx(1.0)


def test_margin_widens_the_window():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 1.0, margin=0.1, clock=clock, sleep=clock.sleep)
    limiter.acquire(), limiter.acquire()
    assert limiter.acquire() == pytest.approx(1.1)


def test_a_slot_frees_a_window_after_its_answer_not_its_admission():
    """A request whose thread was descheduled after admission reaches the service late; counting its window from the
    answer (the latest it can have arrived) keeps the next request from landing inside that window."""
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 1.0, margin=0.0, clock=clock, sleep=clock.sleep)
    with limiter.slot() as waited:
        assert waited == 0.0
        clock.now = 0.4  # the answer comes back
    limiter.acquire()  # admitted at 0.4
    assert limiter.acquire() == pytest.approx(1.0), "the slot answered at 0.4 frees at 1.4"


def test_pause_holds_every_caller():
    clock = FakeClock()
    limiter = SlidingWindowLimiter(100, 1.0, clock=clock, sleep=clock.sleep)
    limiter.pause(2.5)
    assert limiter.acquire() == pytest.approx(2.5)
    assert limiter.acquire() == 0.0


def test_threads_share_one_window():
    limiter = SlidingWindowLimiter(20, 0.5, margin=0.0)
    import time

    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stamps) == 40
    # Stamps are taken just after acquire() returns, so a descheduled thread can record one late; a window
    # 10% narrower absorbs that, while a broken limiter would let all 40 through at once.
    assert _max_in_any_window(sorted(stamps), 0.45) <= 20


@pytest.mark.parametrize(("calls", "window"), [(0, 1.0), (5, 0.0)])
def test_nonsense_limits_are_refused(calls, window):
    with pytest.raises(ValueError):
        SlidingWindowLimiter(calls, window)


def test_a_pause_lands_while_other_callers_sleep():
    """pause() must not queue behind a caller sleeping out the window (it would stretch every pause)."""
    import time

    limiter = SlidingWindowLimiter(1, 0.6, margin=0.0)
    limiter.acquire()
    sleeper = threading.Thread(target=limiter.acquire)
    sleeper.start()
    time.sleep(0.05)
    started = time.monotonic()
    limiter.pause(0.1)
    # Queued behind the sleeper it would take ~0.55 s; 0.3 s leaves room for a loaded machine.
    assert time.monotonic() - started < 0.3
    sleeper.join()
