"""apicert.http.Client against a real loopback server: recording, 429 policy, bounds, pacing.

No mocks: a tiny Starlette app is served by uvicorn in a daemon thread on 127.0.0.1, and every
test talks to it over TCP through :class:`apicert.http.Client`.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from email.utils import formatdate
from itertools import pairwise

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from apicert.http import Client, ClientLimits, Recorder, parse_retry_after

CAP = 1024 * 1024
HUGE = 3 * 1024 * 1024
READ_TIMEOUT = 0.5
SLOW_SLEEP = 1.5
LIMITS = ClientLimits(
    connect_timeout=1.0,
    read_timeout=READ_TIMEOUT,
    total_timeout=1.0,
    max_body_bytes=CAP,
)
GZIP_PAYLOAD = {"compressed": True, "items": list(range(50))}


# --- the loopback server ---------------------------------------------------------------------


def build_app() -> Starlette:
    counts: Counter[tuple[str, str]] = Counter()
    lock = threading.Lock()

    async def echo(request: Request) -> Response:
        body = (await request.body()).decode("utf-8")
        return JSONResponse(
            {
                "method": request.method,
                "path": request.url.path,
                "query": dict(request.query_params),
                "headers": dict(request.headers),
                "body": body,
            }
        )

    async def limited(request: Request) -> Response:
        key = request.path_params["key"]
        fail = int(request.query_params.get("fail", "1"))
        with lock:
            counts[(key, request.method)] += 1
            n = counts[(key, request.method)]
        if n <= fail:
            return JSONResponse({"error": "slow down", "count": n}, 429, {"Retry-After": "1"})
        return JSONResponse({"count": n})

    async def huge(request: Request) -> Response:
        return Response(b"a" * HUGE, media_type="text/plain")

    async def slow(request: Request) -> Response:
        await asyncio.sleep(SLOW_SLEEP)
        return JSONResponse({"late": True})

    async def loop(request: Request) -> Response:
        return RedirectResponse("/loop", status_code=302)

    async def gzipped(request: Request) -> Response:
        raw = json.dumps(GZIP_PAYLOAD).encode("utf-8")
        return Response(
            gzip.compress(raw),
            media_type="application/json",
            headers={"Content-Encoding": "gzip"},
        )

    return Starlette(
        routes=[
            Route("/echo", echo, methods=["GET", "POST", "PUT", "DELETE"]),
            Route("/limited/{key}", limited, methods=["GET", "POST", "PUT", "DELETE"]),
            Route("/huge", huge),
            Route("/slow", slow),
            Route("/loop", loop),
            Route("/gzip", gzipped),
        ]
    )


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(build_app(), log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "loopback server died during start-up"
        assert time.monotonic() < deadline, "loopback server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)
    sock.close()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(base_url: str, recorder: Recorder) -> Client:
    return Client(base_url, recorder=recorder, limits=LIMITS)


def closed_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# --- recording -------------------------------------------------------------------------------


def test_every_request_is_recorded_with_method_url_status_and_elapsed(
    client: Client, recorder: Recorder, base_url: str
) -> None:
    got = client.get("/echo", params={"q": "1"})
    posted = client.post("/echo", json={"amount": 999})

    assert got.status == 200
    assert got.json()["method"] == "GET"
    assert posted.json()["body"] == '{"amount": 999}'
    logged = recorder.all()
    assert [
        (e["request"]["method"], e["request"]["url"], e["response"]["status"]) for e in logged
    ] == [
        ("GET", f"{base_url}/echo?q=1", 200),
        ("POST", f"{base_url}/echo", 200),
    ]
    assert all(e["elapsed"] > 0 for e in logged)
    assert all(e["started_at"] > 0 for e in logged)
    assert len({e["id"] for e in logged}) == 2
    assert client.last is posted


def test_recorder_keeps_only_redacted_copies_of_registered_secrets(
    client: Client, recorder: Recorder
) -> None:
    secret = "tok-8d1f0c2e7a9b4455"
    client.redactor.add_secret(secret)

    exchange = client.get("/echo", params={"t": secret}, headers={"X-Custom": secret})

    # The raw exchange handed to checks has it (request header, URL and echoed body) ...
    assert exchange.request_headers["X-Custom"] == secret
    assert secret in exchange.url
    assert secret in (exchange.response_body or "")
    # ... the stored copy never does.
    stored = json.dumps(recorder.all())
    assert secret not in stored
    assert "[REDACTED]" in stored


def test_gzip_body_is_decoded(client: Client) -> None:
    exchange = client.get("/gzip")

    assert exchange.status == 200
    assert exchange.header("content-encoding") == "gzip"
    assert exchange.json() == GZIP_PAYLOAD
    assert exchange.truncated is False
    assert exchange.error is None


# --- 429 policy ------------------------------------------------------------------------------


def test_post_answered_429_is_not_retried(client: Client, recorder: Recorder) -> None:
    exchange = client.post("/limited/post-once", json={"x": 1})

    assert exchange.status == 429
    assert len(recorder) == 1
    assert recorder.all()[0]["response"]["status"] == 429


def test_get_answered_429_is_retried_after_retry_after(base_url: str, recorder: Recorder) -> None:
    client = Client(base_url, recorder=recorder, limits=LIMITS, rate_limit=50)

    exchange = client.get("/limited/get-retry")

    assert exchange.status == 200
    assert exchange.json() == {"count": 2}
    logged = recorder.all()
    assert [e["response"]["status"] for e in logged] == [429, 200]
    gap = logged[1]["started_at"] - logged[0]["started_at"]
    assert gap >= 0.95, f"retried {gap:.3f} s after a 429 with Retry-After: 1"


def test_get_answered_429_waits_retry_after_even_without_rate_limit(
    client: Client, recorder: Recorder
) -> None:
    exchange = client.get("/limited/get-retry-unpaced")

    assert exchange.status == 200
    logged = recorder.all()
    assert [e["response"]["status"] for e in logged] == [429, 200]
    gap = logged[1]["started_at"] - logged[0]["started_at"]
    assert gap >= 0.95, f"retried {gap:.3f} s after a 429 with Retry-After: 1"


def test_no_backoff_returns_429_as_is_and_restores_backoff(
    base_url: str, recorder: Recorder
) -> None:
    limits = ClientLimits(read_timeout=READ_TIMEOUT, max_body_bytes=CAP, max_retry_after=0.05)
    client = Client(base_url, recorder=recorder, limits=limits, rate_limit=50)

    with client.no_backoff():
        probed = client.get("/limited/probe?fail=2")
    assert probed.status == 429
    assert len(recorder) == 1

    after = client.get("/limited/probe?fail=2")
    assert after.status == 200
    assert [e["response"]["status"] for e in recorder.all()] == [429, 429, 200]


# --- bounds ----------------------------------------------------------------------------------


def test_oversized_body_is_truncated_at_the_cap(client: Client, recorder: Recorder) -> None:
    exchange = client.get("/huge")

    assert exchange.status == 200
    assert exchange.truncated is True
    assert exchange.error is not None
    assert str(CAP) in exchange.error
    assert "larger than" in exchange.error
    assert exchange.response_body is not None
    assert len(exchange.response_body.encode("utf-8")) == CAP
    assert recorder.all()[0]["response"]["truncated"] is True


def test_slow_response_gives_a_timeout_exchange_not_an_exception(
    client: Client, recorder: Recorder
) -> None:
    start = time.monotonic()
    exchange = client.get("/slow")
    took = time.monotonic() - start

    assert took < READ_TIMEOUT + 1.0
    assert took >= READ_TIMEOUT * 0.9
    assert exchange.status is None
    assert exchange.error is not None
    assert "timeout" in exchange.error
    assert f"{READ_TIMEOUT:g} s" in exchange.error
    assert recorder.all()[-1]["response"]["status"] is None
    assert recorder.all()[-1]["error"] == exchange.error


def test_redirect_loop_gives_an_error_naming_redirects(client: Client, recorder: Recorder) -> None:
    exchange = client.get("/loop")

    assert exchange.status is None
    assert exchange.error is not None
    assert "redirects" in exchange.error
    assert str(LIMITS.max_redirects) in exchange.error
    assert recorder.all()[-1]["error"] == exchange.error


def test_connection_refused_gives_an_exchange_with_that_error() -> None:
    recorder = Recorder()
    client = Client(f"http://127.0.0.1:{closed_port()}", recorder=recorder, limits=LIMITS)

    exchange = client.get("/anything")

    assert exchange.status is None
    assert exchange.error == "connection refused"
    assert len(recorder) == 1
    assert recorder.all()[0]["error"] == "connection refused"


# --- pacing ----------------------------------------------------------------------------------


def test_rate_limit_paces_requests_at_80_percent_of_the_limit(
    base_url: str, recorder: Recorder
) -> None:
    rate = 50
    interval = 1.0 / (rate * 0.8)
    client = Client(base_url, recorder=recorder, limits=LIMITS, rate_limit=rate)

    exchanges = [client.get("/echo") for _ in range(20)]

    assert [e.status for e in exchanges] == [200] * 20
    starts = [e.started_at for e in exchanges]
    gaps = [b - a for a, b in pairwise(starts)]
    assert min(gaps) >= interval - 0.005, f"gaps {gaps}"
    assert starts[-1] - starts[0] >= 19 * interval - 0.01
    assert len(recorder) == 20


# --- Retry-After parsing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", 1.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        (None, None),
        ("soon", None),
        ("", None),
        ("-5", None),
    ],
)
def test_parse_retry_after_reads_seconds_and_rejects_garbage(
    value: str | None, expected: float | None
) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_reads_an_http_date_as_seconds_from_now() -> None:
    value = formatdate(time.time() + 30, usegmt=True)

    seconds = parse_retry_after(value)

    assert seconds is not None
    assert 28.0 <= seconds <= 30.5


def test_parse_retry_after_clamps_a_past_http_date_to_zero() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


# -- a target that is broken: the client gives up on it, so a run ends in bounded time --------


@pytest.fixture(scope="module")
def hostile() -> Iterator[str]:
    from .hostile import HostileServer

    server = HostileServer().start()
    try:
        yield server.base_url
    finally:
        server.stop()


def test_after_a_stall_nothing_more_is_sent(hostile: str, recorder: Recorder) -> None:
    client = Client(hostile, recorder=recorder, limits=ClientLimits.with_timeout(0.5))
    first = client.get("/stall/a")
    assert first.status is None
    assert first.error == "no response within the read timeout of 0.5 s"
    start = time.monotonic()
    second = client.get("/malformed-json/b")
    assert time.monotonic() - start < 0.2
    assert second.status is None
    assert second.error is not None and second.error.startswith("not sent: apicert gave up")
    assert "GET /stall/a: no response within the read timeout" in second.error
    assert len(recorder) == 2


def test_three_broken_answers_in_a_row_stop_the_client(hostile: str, recorder: Recorder) -> None:
    client = Client(hostile, recorder=recorder)
    for _ in range(3):
        assert "larger than" in (client.get("/huge-body/x").error or "")
    refused = client.get("/no-content-204/x")
    assert (refused.error or "").startswith("not sent:")
    assert "3 broken answers in a row" in (refused.error or "")


def test_a_good_answer_between_broken_ones_keeps_the_client_going(
    hostile: str, base_url: str, recorder: Recorder
) -> None:
    client = Client(hostile, recorder=recorder)
    for _ in range(2):
        assert client.get("/reset-mid-body/x").error
    assert client.get("/no-content-204/x").status == 204  # a complete answer, if a wrong one
    for _ in range(2):
        error = client.get("/reset-mid-body/x").error or ""
        assert error.startswith("connection broken mid-response (IncompleteRead("), error
    assert client.get("/no-content-204/x").status == 204


def test_redirect_hops_do_not_count_as_good_answers(hostile: str, recorder: Recorder) -> None:
    client = Client(hostile, recorder=recorder)
    for _ in range(3):
        assert "more than 5 redirects" in (client.get("/redirect-loop/x").error or "")
    assert (client.get("/no-content-204/x").error or "").startswith("not sent:")


def test_invalid_utf8_is_named_and_the_body_kept_with_replacements(
    hostile: str, recorder: Recorder
) -> None:
    exchange = Client(hostile, recorder=recorder).get("/invalid-utf8/x")
    assert exchange.status == 200
    assert exchange.decode_error == "body is not valid utf-8 (byte 0xff at offset 39)"
    assert "\ufffd" in (exchange.response_body or "")
    assert recorder.all()[-1]["response"]["decode_error"] == exchange.decode_error


def test_gzip_bomb_is_cut_at_the_cap_without_inflating_it(hostile: str, recorder: Recorder) -> None:
    import resource

    exchange = Client(hostile, recorder=recorder).get("/gzip-bomb/x")
    assert exchange.truncated
    assert len(exchange.response_body or "") == 2 * 1024 * 1024
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 1024 * 1024  # KiB: under 1 GiB


def test_headers_too_large_are_named(hostile: str, recorder: Recorder) -> None:
    exchange = Client(hostile, recorder=recorder).get("/huge-headers/x")
    assert exchange.status is None
    assert (exchange.error or "").startswith("response headers too large")


def test_stored_copies_keep_at_most_64_kib_of_a_body(hostile: str, recorder: Recorder) -> None:
    exchange = Client(hostile, recorder=recorder).get("/huge-body/x")
    assert len(exchange.response_body or "") == 2 * 1024 * 1024  # checks see the whole read
    stored = recorder.all()[-1]["response"]["body"]
    assert len(stored) < 65 * 1024
    assert stored.endswith("more characters not kept]")


def test_with_timeout_scales_every_bound() -> None:
    limits = ClientLimits.with_timeout(2)
    assert (limits.connect_timeout, limits.read_timeout, limits.total_timeout) == (2, 2, 3)
    assert ClientLimits.with_timeout(60).connect_timeout == 5.0
