"""The sandboxes' rate limiter: exact counts on a fake clock, headers, and thread safety."""

from __future__ import annotations

import threading

import pytest

from apicert.sandbox.ratelimit import Decision, RateLimiter


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_exactly_limit_accepted_then_refused() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3, 1.0, clock=clock)
    decisions = [limiter.hit("k") for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0, 0]
    assert decisions[3].retry_after == pytest.approx(1.0)


def test_any_window_holds_at_most_limit_sliding() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, 1.0, clock=clock)
    accepted: list[float] = []
    # 40 requests per second for 3 s, at a fake clock: at most 10 in any 1 s span.
    for i in range(120):
        clock.now = 1000.0 + i / 40
        if limiter.hit("k").allowed:
            accepted.append(clock.now)
    for start in accepted:
        assert sum(1 for t in accepted if start <= t < start + 1.0) <= 10
    # Saturated for 3 s: exactly 10 per second are let through, 30 in all.
    assert len(accepted) == 30


def test_slot_frees_exactly_one_window_after_the_oldest() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, 1.0, clock=clock)
    limiter.hit("k")
    clock.now += 0.4
    limiter.hit("k")
    clock.now += 0.3
    refused = limiter.hit("k")
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(0.3)
    clock.now += 0.29
    assert not limiter.hit("k").allowed
    clock.now += 0.02  # the first request is now more than 1 s old
    again = limiter.hit("k")
    assert again.allowed and again.remaining == 0


def test_refusals_are_not_counted() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, 1.0, clock=clock)
    assert limiter.hit("k").allowed
    for _ in range(50):
        assert not limiter.hit("k").allowed
    clock.now += 1.0
    assert limiter.hit("k").allowed


def test_keys_are_independent_and_reset_forgets() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, 1.0, clock=clock)
    assert limiter.hit("a").allowed
    assert limiter.hit("b").allowed
    assert not limiter.hit("a").allowed
    limiter.reset("a")
    assert limiter.hit("a").allowed
    limiter.reset()
    assert limiter.peek("b").remaining == 1


def test_peek_counts_nothing() -> None:
    limiter = RateLimiter(2, 1.0, clock=FakeClock())
    assert limiter.peek("k") == Decision(True, 2, 1.0, 2, 0.0, 0.0)
    limiter.hit("k")
    assert limiter.peek("k").remaining == 1
    assert limiter.peek("k").remaining == 1


def test_many_keys_are_bounded() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, 1.0, clock=clock, max_keys=10)
    for i in range(100):
        assert limiter.hit(f"k{i}").allowed
    assert len(limiter._log) <= 10


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, "100"])
def test_bad_limit_is_refused(limit: object) -> None:
    with pytest.raises(ValueError, match="whole number"):
        RateLimiter(limit, 1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("window", [0, -1.0, float("inf"), float("nan")])
def test_bad_window_is_refused(window: float) -> None:
    with pytest.raises(ValueError, match="window"):
        RateLimiter(5, window)


def test_headers_of_a_refusal() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, 1.0, clock=clock)
    limiter.hit("k")
    clock.now += 0.5
    limiter.hit("k")
    clock.now += 0.2
    refused = limiter.hit("k")
    headers = limiter.headers(refused)
    assert headers == {
        "RateLimit-Policy": '"default";q=2;w=1',
        "RateLimit": '"default";r=0;t=1',
        "Retry-After": "1",
    }


def test_headers_of_an_acceptance_have_no_retry_after() -> None:
    limiter = RateLimiter(100, 1.0, clock=FakeClock())
    headers = limiter.headers(limiter.hit("k"), legacy=True)
    assert "Retry-After" not in headers
    assert headers["RateLimit"] == '"default";r=99;t=1'
    assert headers["X-RateLimit-Limit"] == "100"
    assert headers["X-RateLimit-Remaining"] == "99"
    assert headers["X-RateLimit-Reset"] == "1"


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    limiter = RateLimiter(1, 60.0, clock=FakeClock())
    limiter.hit("k")
    headers = limiter.headers(limiter.hit("k"))
    assert headers["Retry-After"] == "60"
    assert headers["RateLimit-Policy"] == '"default";q=1;w=60'
    tiny = Decision(False, 1, 1.0, 0, 0.0001, 0.0001)
    assert limiter.headers(tiny)["Retry-After"] == "1"


def test_threads_hitting_at_once_get_exactly_limit() -> None:
    clock = FakeClock()  # frozen: every hit falls in the same window
    limiter = RateLimiter(100, 1.0, clock=clock)
    barrier = threading.Barrier(8)
    allowed: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        mine = sum(limiter.hit("k").allowed for _ in range(50))
        with lock:
            allowed.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 100


def test_real_clock_is_the_default() -> None:
    limiter = RateLimiter(1, 0.05)
    assert limiter.hit("k").allowed
    assert not limiter.hit("k").allowed
    threading.Event().wait(0.06)
    assert limiter.hit("k").allowed
