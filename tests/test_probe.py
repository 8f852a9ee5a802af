"""The rate-limit probe against a real uvicorn server on loopback: safety, caps, the schedule,
the estimate, and the checks over a real probe (passing a conforming limiter, failing bad ones).

Tolerances are loose on purpose: this is a correctness test, not the accuracy benchmark
(benchmarks/probe_accuracy.py), and it must not be flaky on a busy 2-core machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from apicert.checks import ratelimit as checks
from apicert.http import Client, Recorder
from apicert.probe import (
    Phase,
    ProbeRefused,
    achieved_rate,
    estimate_limit,
    probe,
    step_phases,
)
from apicert.sandbox.ratelimit import RateLimiter
from apicert.sandbox.server import _bind, _uvicorn_config

API_KEY = "probe-test-key-3f9a1c"
LIMIT = 20
_keys = itertools.count()


def make_app() -> Starlette:
    """A tiny limited API: 20 requests/second per ``x-probe-key``; ``variant`` breaks it."""
    limiter = RateLimiter(LIMIT, 1.0)

    async def limited(request: Request) -> Response:
        if request.headers.get("api-key") != API_KEY:
            return JSONResponse({"message": "unauthorized"}, status_code=401)
        variant = request.query_params.get("variant", "")
        decision = limiter.hit(request.headers.get("x-probe-key", "default"))
        headers = {} if variant == "no-headers" else limiter.headers(decision)
        if decision.allowed:
            return JSONResponse({"ok": True}, headers=headers)
        if variant == "no-retry-after":
            headers.pop("Retry-After", None)
        if variant == "text-body":
            return PlainTextResponse("slow down", status_code=429, headers=headers)
        if variant == "503":
            return JSONResponse({"message": "busy"}, status_code=503, headers=headers)
        return JSONResponse({"message": "too many requests"}, status_code=429, headers=headers)

    async def slow(request: Request) -> Response:
        await asyncio.sleep(float(request.query_params.get("s", "0.3")))
        return JSONResponse({"ok": True})

    async def unlimited(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[Route("/limited", limited), Route("/slow", slow), Route("/free", unlimited)]
    )


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    sock = _bind(0)
    server = uvicorn.Server(_uvicorn_config(make_app()))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)
    with contextlib.suppress(OSError):
        sock.close()


def add_key(client: Client, headers: dict[str, str]) -> None:
    headers["api-key"] = API_KEY


@pytest.fixture
def client(base_url: str) -> Client:
    recorder = Recorder()
    recorder.redactor.add_secret(API_KEY)
    return Client(base_url, recorder=recorder, auth=add_key)


def fresh_key() -> dict[str, str]:
    return {"x-probe-key": f"k{next(_keys)}"}


# -- safety ----------------------------------------------------------------------------------
def test_refuses_without_allow(client: Client) -> None:
    with pytest.raises(ProbeRefused, match="allow=True"):
        probe(client, "GET", "/free", allow=False, phases=[Phase("x", 10, 0.2)])
    with pytest.raises(ProbeRefused):
        probe(client, "GET", "/free", allow=1, phases=[Phase("x", 10, 0.2)])  # type: ignore[arg-type]
    assert len(client.recorder) == 0


@pytest.mark.parametrize(
    "url", ["https://api.connectfi.com", "https://cloud.digifi.io", "https://x.api.connectfi.com"]
)
def test_refuses_production_hosts(url: str) -> None:
    client = Client(url, recorder=Recorder())
    with pytest.raises(ProbeRefused, match="production"):
        probe(client, "GET", "/health", allow=True, phases=[Phase("x", 10, 0.2)])
    assert len(client.recorder) == 0


def test_refuses_hosts_named_production_by_the_team(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APICERT_PRODUCTION_HOSTS", "127.0.0.1")
    with pytest.raises(ProbeRefused, match="production"):
        probe(client, "GET", "/free", allow=True, phases=[Phase("x", 10, 0.2)])
    assert len(client.recorder) == 0
    # The run's own embedded sandbox is never production, whatever its loopback address.
    result = probe(client, "GET", "/free", allow=True, embedded=True, phases=[Phase("x", 10, 0.2)])
    assert result.samples


@pytest.mark.parametrize(
    ("phases", "kwargs"),
    [
        ([], {}),
        ([Phase("x", 0, 1)], {}),
        ([Phase("x", 10, -1)], {}),
        ([Phase("x", float("inf"), 1)], {}),
        ([Phase("x", 10, 1)], {"max_requests": 0}),
        ([Phase("x", 10, 1)], {"max_seconds": 0}),
        ([Phase("x", 10, 1)], {"recovery_rate": -5}),
    ],
)
def test_refuses_impossible_plans(
    client: Client, phases: list[Phase], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ProbeRefused):
        probe(client, "GET", "/free", allow=True, phases=phases, **kwargs)
    assert len(client.recorder) == 0


# -- caps and schedule -----------------------------------------------------------------------
def test_max_requests_is_never_exceeded(client: Client) -> None:
    result = probe(
        client, "GET", "/free", allow=True, phases=[Phase("x", 200, 1.0)], max_requests=30
    )
    assert len(result.samples) == 30
    assert len(client.recorder) == 30
    assert result.stopped is not None and "max_requests" in result.stopped


def test_max_seconds_stops_sending(client: Client) -> None:
    started = time.monotonic()
    result = probe(
        client, "GET", "/free", allow=True, phases=[Phase("x", 20, 10.0)], max_seconds=0.5
    )
    assert time.monotonic() - started < 2.0
    assert 3 <= len(result.samples) <= 11
    assert max(s.sent for s in result.samples) <= 0.5 + 0.1
    assert result.stopped is not None and "max_seconds" in result.stopped


def test_responses_in_flight_get_only_the_grace(client: Client) -> None:
    started = time.monotonic()
    result = probe(
        client,
        "GET",
        "/slow",
        allow=True,
        phases=[Phase("x", 10, 0.2)],
        max_seconds=0.2,
        grace=0.3,
        params={"s": "1.5"},
    )
    assert time.monotonic() - started < 1.5
    assert result.samples and all(s.status is None for s in result.samples)
    assert all(s.exchange.error for s in result.samples)
    assert len(client.recorder) == len(result.samples)


def test_requests_queued_past_max_seconds_are_not_sent(client: Client) -> None:
    result = probe(
        client,
        "GET",
        "/slow",
        allow=True,
        phases=[Phase("x", 20, 0.5)],
        max_seconds=0.5,
        workers=1,
        params={"s": "0.4"},
    )
    assert 1 <= len(result.samples) <= 2
    assert max(s.sent for s in result.samples) <= 0.5
    assert result.stopped is not None and "queued not sent" in result.stopped
    assert len(client.recorder) == len(result.samples)


def test_schedule_is_recorded_and_kept(client: Client) -> None:
    result = probe(
        client, "GET", "/free", allow=True, phases=[Phase("a", 50, 0.6), Phase("b", 25, 0.4)]
    )
    assert [s.phase for s in result.samples] == ["a"] * 30 + ["b"] * 10
    assert [s.index for s in result.samples] == list(range(40))
    planned = [s.planned for s in result.samples]
    assert planned[:3] == pytest.approx([0.0, 0.02, 0.04])
    assert planned[30] == pytest.approx(0.6)
    lags = [s.sent - s.planned for s in result.samples]
    assert min(lags) >= -0.001
    assert statistics.median(lags) < 0.02
    assert achieved_rate(result, "a") == pytest.approx(50, rel=0.15)
    assert achieved_rate(result, "b") == pytest.approx(25, rel=0.15)


def test_a_slow_response_does_not_delay_the_next_send(client: Client) -> None:
    result = probe(
        client, "GET", "/slow", allow=True, phases=[Phase("x", 20, 0.5)], params={"s": "0.3"}
    )
    assert len(result.samples) == 10
    assert all(s.status == 200 for s in result.samples)
    # One after the other they would take 3 s and the last would leave 2.5 s late.
    assert max(s.sent - s.planned for s in result.samples) < 0.25
    assert result.duration < 1.5


def test_not_paced_by_the_client_and_never_retried(client: Client, base_url: str) -> None:
    paced = Client(base_url, recorder=Recorder(), rate_limit=5, auth=add_key)  # paces at 4/s
    result = probe(
        paced,
        "GET",
        "/limited",
        allow=True,
        phases=[Phase("x", 60, 0.5)],
        headers=fresh_key(),
        recovery=0,
    )
    assert achieved_rate(result, "x") > 40
    refused = [s for s in result.samples if s.status == 429]
    assert refused, "60/s against 20/s must be refused"
    # One exchange per planned request: the probe never backs off and resends a 429.
    assert len(paced.recorder) == len(result.samples) == 30


def test_auth_is_applied_and_redacted(client: Client) -> None:
    result = probe(
        client, "GET", "/limited", allow=True, phases=[Phase("x", 10, 0.3)], headers=fresh_key()
    )
    assert [s.status for s in result.samples] == [200, 200, 200]
    for record in client.recorder.all():
        assert API_KEY not in str(record)


# -- the step, the estimate and the checks over real probes ----------------------------------
def step(client: Client, variant: str = "", *, short: bool = False, **kwargs: Any) -> Any:
    """The standard step at the test server's limit; ``short`` only needs some 429s."""
    phases = (
        step_phases(LIMIT, below_seconds=0.3, above_seconds=1.0)
        if short
        else step_phases(LIMIT, above_seconds=1.6)
    )
    kwargs.setdefault("max_seconds", 8.0)  # room for a loaded machine; caps are tested above
    return probe(
        client,
        "GET",
        "/limited",
        allow=True,
        phases=phases,
        headers=fresh_key(),
        params={"variant": variant} if variant else None,
        **kwargs,
    )


def test_step_probe_of_a_conforming_limiter(client: Client) -> None:
    result = step(client)
    assert result.stopped is None
    assert not [s for s in result.phase("below") if s.status != 200]
    assert [s for s in result.phase("above") if s.status == 429]
    assert [s.status for s in result.phase("recovery")] == [200] * 5
    assert result.recovery_wait == pytest.approx(1.0)
    estimate = estimate_limit(result)
    assert estimate is not None and estimate == pytest.approx(LIMIT, rel=0.15)
    assert result.duration < 6.0
    findings = (
        checks.below_limit_accepted(result, "R-BELOW")
        + checks.refused_above_limit(result, "R-ABOVE", LIMIT)
        + checks.refusal_body_json(result, "R-BODY")
        + checks.retry_after_present(result, "R-RA")
        + checks.ratelimit_headers(result, "R-HDR", LIMIT)
        + checks.recovers_after_backoff(result, "R-REC")
        + checks.estimate_matches(result, "R-EST", LIMIT, tolerance=0.15)
    )
    assert findings == []


def test_checks_fail_a_limiter_that_misbehaves(client: Client) -> None:
    no_ra = step(client, "no-retry-after", short=True, recovery=0)
    assert {f.requirement for f in checks.retry_after_present(no_ra, "R-RA")} == {"R-RA"}
    text = step(client, "text-body", short=True, recovery=0)
    assert {f.requirement for f in checks.refusal_body_json(text, "R-BODY")} == {"R-BODY"}
    bare = step(client, "no-headers", short=True, recovery=0)
    assert {f.requirement for f in checks.ratelimit_headers(bare, "R-HDR")} == {"R-HDR"}
    # Documented 60/s but enforced 20/s: refused below the documented limit, estimate off.
    strict = probe(
        client,
        "GET",
        "/limited",
        allow=True,
        phases=step_phases(60, above_seconds=1.2),
        headers=fresh_key(),
        recovery=0,
    )
    assert checks.below_limit_accepted(strict, "R-BELOW")
    assert {f.requirement for f in checks.estimate_matches(strict, "R-EST", 60)} == {"R-EST"}
