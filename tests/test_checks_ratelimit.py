"""The rate-limit checks on canned probe results: each passes a conforming target and fails (or
asks for review on) the deviation it exists to catch.

The canned results come from small simulations written here (sliding log, fixed window, token
bucket), independent of the sandbox's limiter.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable
from typing import Any

import pytest

from apicert.checks.ratelimit import (
    achieved_rate,
    below_limit_accepted,
    estimate_limit,
    estimate_matches,
    max_accepted_in_window,
    parse_ratelimit_headers,
    ratelimit_headers,
    recovers_after_backoff,
    refusal_body_json,
    refused_above_limit,
    retry_after_present,
)
from apicert.model import Exchange, Status
from apicert.probe import Phase, ProbeResult, Sample, step_phases

from .canned import exchange

DOCUMENTED = 100
GOOD_429_HEADERS = {
    "Retry-After": "1",
    "RateLimit-Policy": '"default";q=100;w=1',
    "RateLimit": '"default";r=0;t=1',
}
_ids = itertools.count()

Decide = Callable[[float], bool]


def sliding(limit: int, window: float = 1.0) -> Decide:
    log: deque[float] = deque()

    def decide(t: float) -> bool:
        while log and log[0] <= t - window:
            log.popleft()
        if len(log) < limit:
            log.append(t)
            return True
        return False

    return decide


def fixed(limit: int, window: float = 1.0) -> Decide:
    counts: dict[int, int] = {}

    def decide(t: float) -> bool:
        slot = math.floor(t / window)
        counts[slot] = counts.get(slot, 0) + 1
        return counts[slot] <= limit

    return decide


def bucket(rate: float, capacity: float) -> Decide:
    state = {"tokens": capacity, "t": 0.0}

    def decide(t: float) -> bool:
        state["tokens"] = min(capacity, state["tokens"] + (t - state["t"]) * rate)
        state["t"] = t
        if state["tokens"] >= 1:
            state["tokens"] -= 1
            return True
        return False

    return decide


def refusal(
    headers: dict[str, str] | None = None, body: Any = None, raw: str | None = None
) -> Exchange:
    ex = exchange(status=429, body=body if body is not None else {"message": "too many"}, raw=raw)
    ex.response_headers.update(GOOD_429_HEADERS if headers is None else headers)
    if raw is not None:
        ex.response_headers["Content-Type"] = "text/plain"
    return ex


def simulate(
    decide: Decide,
    *,
    phases: list[Phase] | None = None,
    refused: Callable[[], Exchange] = refusal,
    recovery: list[int] | None = None,
    recovery_wait: float = 1.0,
    slowdown: float = 1.0,
) -> ProbeResult:
    """A probe result as if the probe had sent ``phases`` to a target deciding with ``decide``.

    ``slowdown`` > 1 makes the actual sends lag behind the plan (a probe that could not keep up).
    """
    phases = phases or step_phases(DOCUMENTED)
    result = ProbeResult("GET", "/x", 1.0, list(phases))
    offset = 0.0
    index = 0
    for phase in phases:
        for i in range(phase.count):
            planned = offset + i / phase.rate
            sent = planned * slowdown
            ex = exchange(status=200, body={"ok": True}) if decide(sent) else refused()
            result.samples.append(Sample(index, phase.name, planned, sent, ex))
            index += 1
        offset += phase.duration
    if recovery is not None:
        result.recovery_wait = recovery_wait
        for i, status in enumerate(recovery):
            t = offset + recovery_wait + i / 50
            ex = exchange(status=status, body={"ok": status == 200})
            if status == 429:
                ex = refused()
            result.samples.append(Sample(index, "recovery", t, t, ex))
            index += 1
    return result


def conforming() -> ProbeResult:
    return simulate(sliding(DOCUMENTED), recovery=[200] * 5)


def all_checks(result: ProbeResult) -> list[Any]:
    return (
        below_limit_accepted(result, "R")
        + refused_above_limit(result, "R", DOCUMENTED)
        + refusal_body_json(result, "R")
        + retry_after_present(result, "R")
        + ratelimit_headers(result, "R", DOCUMENTED)
        + recovers_after_backoff(result, "R")
        + estimate_matches(result, "R", DOCUMENTED)
    )


def statuses(findings: list[Any]) -> list[Status]:
    return [f.status for f in findings]


# -- analysis --------------------------------------------------------------------------------
def test_conforming_target_passes_every_check() -> None:
    assert all_checks(conforming()) == []


def test_estimate_of_a_sliding_log_is_exact() -> None:
    assert estimate_limit(conforming()) == pytest.approx(100, abs=1)


def test_estimate_of_a_fixed_window_and_a_token_bucket() -> None:
    assert estimate_limit(simulate(fixed(100))) == pytest.approx(100, rel=0.03)
    assert estimate_limit(simulate(bucket(100, 20))) == pytest.approx(100, rel=0.03)


def test_estimate_needs_a_refusal_and_one_saturated_window() -> None:
    assert estimate_limit(simulate(sliding(1000))) is None
    short = step_phases(DOCUMENTED, above_seconds=0.8)
    assert estimate_limit(simulate(sliding(DOCUMENTED), phases=short)) is None
    assert estimate_limit(conforming(), phase="missing") is None


def test_achieved_rate() -> None:
    result = conforming()
    assert achieved_rate(result, "below") == pytest.approx(50)
    assert achieved_rate(result, "above") == pytest.approx(150)
    assert achieved_rate(simulate(sliding(100), slowdown=2.0), "below") == pytest.approx(25)
    assert achieved_rate(result, "missing") == 0.0


def test_max_accepted_in_window() -> None:
    assert max_accepted_in_window(conforming()) == 100
    # A fixed window lets more than the limit through across a boundary.
    assert max_accepted_in_window(simulate(fixed(100))) > 110


# -- below the limit -------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [429, 500, 503, None])
def test_a_refusal_below_the_limit_fails(bad: int | None) -> None:
    result = conforming()
    below = result.phase("below")
    below[10].exchange = (
        refusal() if bad == 429 else exchange(status=bad, error=None if bad else "reset")
    )
    findings = below_limit_accepted(result, "R-BELOW")
    assert [(f.requirement, f.status) for f in findings] == [("R-BELOW", Status.FAILED)]
    assert findings[0].evidence == [below[10].exchange.id]


def test_a_stricter_limit_than_documented_fails_below_and_estimate() -> None:
    result = simulate(sliding(40), recovery=[200] * 5)
    assert statuses(below_limit_accepted(result, "R")) == [Status.FAILED]
    findings = estimate_matches(result, "R", DOCUMENTED)
    assert statuses(findings) == [Status.FAILED]
    assert "about 39.9/s, documented 100/s" in findings[0].message


def test_nothing_sent_below_needs_review() -> None:
    result = simulate(sliding(100), phases=[Phase("above", 150, 2.0)])
    assert statuses(below_limit_accepted(result, "R")) == [Status.REVIEW]


# -- above the limit -------------------------------------------------------------------------
def test_no_refusal_above_the_limit_fails() -> None:
    findings = refused_above_limit(simulate(sliding(10_000)), "R-ABOVE", DOCUMENTED)
    assert statuses(findings) == [Status.FAILED]
    assert "none answered 429" in findings[0].message


def test_no_refusal_when_the_probe_was_too_slow_needs_review() -> None:
    findings = refused_above_limit(simulate(sliding(10_000), slowdown=1.6), "R", DOCUMENTED)
    assert statuses(findings) == [Status.REVIEW]


def test_refusing_with_503_instead_of_429_fails() -> None:
    result = simulate(sliding(100), refused=lambda: exchange(status=503, body={"m": "busy"}))
    findings = refused_above_limit(result, "R", DOCUMENTED)
    assert statuses(findings) == [Status.FAILED, Status.FAILED]
    assert "without 429" in findings[0].message


# -- the 429 answer --------------------------------------------------------------------------
def test_a_429_without_json_fails() -> None:
    result = simulate(sliding(100), refused=lambda: refusal(raw="slow down"))
    findings = refusal_body_json(result, "R-BODY")
    assert statuses(findings) == [Status.FAILED]
    assert len(findings[0].evidence) == 5  # evidence is capped


@pytest.mark.parametrize(
    ("value", "passes"),
    [
        ("1", True),
        ("120", True),
        ("Wed, 21 Oct 2026 07:28:00 GMT", True),
        (None, False),
        ("soon", False),
        ("-1", False),
        ("1.5", False),
    ],
)
def test_retry_after_forms(value: str | None, passes: bool) -> None:
    headers = dict(GOOD_429_HEADERS)
    headers.pop("Retry-After")
    if value is not None:
        headers["Retry-After"] = value
    result = simulate(sliding(100), refused=lambda: refusal(headers))
    findings = retry_after_present(result, "R-RA")
    assert (findings == []) is passes
    assert all(f.requirement == "R-RA" for f in findings)


@pytest.mark.parametrize(
    "headers",
    [
        GOOD_429_HEADERS,
        {"RateLimit-Policy": "100;w=1", "RateLimit-Remaining": "0", "RateLimit-Reset": "1"},
        {"RateLimit": "limit=100, remaining=0, reset=1"},
        {"RateLimit-Limit": "100", "RateLimit-Remaining": "0", "RateLimit-Reset": "1"},
        {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1"},
        {"RateLimit-Policy": '"burst";q=200;w=2', "RateLimit": '"burst";r=0;t=2'},
    ],
)
def test_ratelimit_header_generations_pass(headers: dict[str, str]) -> None:
    result = simulate(sliding(100), refused=lambda: refusal({"Retry-After": "1", **headers}))
    assert ratelimit_headers(result, "R-HDR", DOCUMENTED) == []


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({"Retry-After": "1"}, "carry no RateLimit"),
        ({"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "7"}, "7 requests remain"),
        ({"X-RateLimit-Limit": "lots", "X-RateLimit-Remaining": "0"}, "not a non-negative"),
        ({"RateLimit-Policy": '"d";q=200;w=1', "RateLimit": '"d";r=0;t=1'}, "not the documented"),
        ({"RateLimit": "whatever"}, "neither r/t"),
    ],
)
def test_wrong_ratelimit_headers_fail(headers: dict[str, str], fragment: str) -> None:
    result = simulate(sliding(100), refused=lambda: refusal(headers))
    findings = ratelimit_headers(result, "R-HDR", DOCUMENTED)
    assert statuses(findings) == [Status.FAILED]
    assert fragment in findings[0].message


def test_parse_ratelimit_headers() -> None:
    found, problems = parse_ratelimit_headers(refusal())
    assert found == {"limit": 100, "window": 1, "remaining": 0, "reset": 1}
    assert problems == []


# -- recovery --------------------------------------------------------------------------------
def test_still_refused_after_waiting_fails() -> None:
    result = simulate(sliding(100), recovery=[200, 429, 200, 200, 200])
    findings = recovers_after_backoff(result, "R-REC")
    assert statuses(findings) == [Status.FAILED]
    assert "1 of 5" in findings[0].message


def test_recovery_failure_after_a_short_wait_needs_review() -> None:
    headers = {**GOOD_429_HEADERS, "Retry-After": "5"}
    result = simulate(
        sliding(100), refused=lambda: refusal(headers), recovery=[429] * 5, recovery_wait=3.0
    )
    findings = recovers_after_backoff(result, "R")
    assert statuses(findings) == [Status.REVIEW]
    assert "less than advised" in findings[0].message


def test_recovery_not_exercised_needs_review() -> None:
    assert statuses(recovers_after_backoff(simulate(sliding(10_000)), "R")) == [Status.REVIEW]
    cut = simulate(sliding(100))
    cut.stopped = "max_seconds (5 s) reached"
    findings = recovers_after_backoff(cut, "R")
    assert statuses(findings) == [Status.REVIEW] and "max_seconds" in findings[0].message


# -- estimate against the documented limit ---------------------------------------------------
@pytest.mark.parametrize(
    ("enforced", "passes"), [(96, True), (104, True), (90, False), (120, False)]
)
def test_estimate_tolerance(enforced: int, passes: bool) -> None:
    findings = estimate_matches(simulate(sliding(enforced)), "R-EST", DOCUMENTED)
    assert (findings == []) is passes


def test_a_fixed_window_burst_fails_the_any_window_promise() -> None:
    findings = estimate_matches(simulate(fixed(100)), "R-EST", DOCUMENTED)
    assert statuses(findings) == [Status.FAILED]
    assert "accepted within 1 s" in findings[0].message


def test_estimate_impossible_needs_review() -> None:
    findings = estimate_matches(simulate(sliding(10_000)), "R-EST", DOCUMENTED)
    assert statuses(findings) == [Status.REVIEW]


def test_estimate_survives_a_probe_that_fell_behind() -> None:
    # Sends 30 % late: the "above" phase ran at 115/s over 2.6 s, still past the limit.
    late = simulate(sliding(100), slowdown=1.3)
    assert max(s.sent for s in late.phase("above")) > 2.9
    assert estimate_limit(late) == pytest.approx(100, rel=0.03)
