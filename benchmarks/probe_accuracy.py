"""How accurate is the rate-limit probe? Prints two tables; exit 0 when every row passes.

1. Send rate: the probe's achieved rate is within 3 % of the target at 10, 50, 100, 200 and
   500 requests per second.
2. Estimate: its estimate of the enforced limit is within 5 % of the sandbox's configured limit
   at 50, 100 and 200 requests per second.

Target: the DigiFi reference sandbox, served by ``apicert sandbox serve digifi`` in a separate
process on 127.0.0.1 (so the server does not share the probe's GIL), with a random API key.
The send-rate rows run with ``rate_limit`` far above the rate so nothing is refused; the
estimate rows set ``rate_limit`` through ``PUT /__sandbox__/options`` and run the standard step
(50 % of the limit for 1 s, 150 % for 2 s, then recovery after Retry-After).

Run: ``python benchmarks/probe_accuracy.py`` (about 30 s; a hard stop at 60 s).
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import requests
from served import sandbox_command, served

from apicert.http import Client, Recorder
from apicert.probe import Phase, ProbeResult, achieved_rate, estimate_limit, probe, step_phases

SEND_RATES = (10, 50, 100, 200, 500)
SEND_SECONDS = 2.0
SEND_TOLERANCE = 0.03
LIMITS = (50, 100, 200)
ESTIMATE_TOLERANCE = 0.05
PATH = "/api/borrowers"
PARAMS = {"count": "1"}
HARD_STOP = 60


@contextmanager
def digifi_sandbox(api_key: str) -> Iterator[str]:
    """Serve the DigiFi sandbox in a child process; yield its base URL."""
    env = dict(os.environ, APICERT_DIGIFI_API_KEY=api_key)
    command = sandbox_command("digifi", options={"rate_limit": "1000000"})
    with served(command, env) as (url, _pid):
        yield url


def set_limit(base_url: str, limit: int) -> None:
    """Set the sandbox's rate_limit option (the limiter restarts empty)."""
    answer = requests.put(
        f"{base_url}/__sandbox__/options", json={"options": {"rate_limit": limit}}, timeout=5
    )
    answer.raise_for_status()


def new_client(base_url: str, api_key: str) -> Client:
    recorder = Recorder()
    recorder.redactor.add_secret(api_key)

    def auth(client: Client, headers: dict[str, str]) -> None:
        headers["api-key"] = api_key

    return Client(base_url, recorder=recorder, auth=auth)


def lag_ms(result: ProbeResult, quantile: float) -> float:
    lags = sorted(s.sent - s.planned for s in result.samples)
    return 1000 * lags[min(len(lags) - 1, int(quantile * len(lags)))]


def send_rate_rows(base_url: str, api_key: str) -> list[bool]:
    print(f"Send rate: GET {PATH}, {SEND_SECONDS:g} s per rate, nothing refused")
    print(
        f"{'target/s':>9} {'sent':>5} {'achieved/s':>11} {'error %':>8} "
        f"{'lag p50 ms':>11} {'lag p99 ms':>11} {'non-200':>8}  result"
    )
    outcomes = []
    for rate in SEND_RATES:
        client = new_client(base_url, api_key)
        client.request("GET", PATH, params=PARAMS)  # warm the connection and the server
        result = probe(
            client,
            "GET",
            PATH,
            allow=True,
            phases=[Phase("steady", rate, SEND_SECONDS)],
            recovery=0,
            max_requests=int(rate * SEND_SECONDS) + 1,
            max_seconds=SEND_SECONDS + 1,
            params=PARAMS,
        )
        achieved = achieved_rate(result, "steady")
        error = (achieved - rate) / rate
        ok = abs(error) <= SEND_TOLERANCE and result.stopped is None
        non_ok = sum(1 for s in result.samples if s.status != 200)
        outcomes.append(ok)
        print(
            f"{rate:>9} {len(result.samples):>5} {achieved:>11.2f} {100 * error:>+8.2f} "
            f"{lag_ms(result, 0.5):>11.2f} {lag_ms(result, 0.99):>11.2f} {non_ok:>8}  "
            f"{'PASS' if ok else 'FAIL'}"
        )
    return outcomes


def estimate_rows(base_url: str, api_key: str) -> list[bool]:
    print()
    print("Enforced-limit estimate: DigiFi sandbox --option rate_limit=N; step 50% x 1 s,")
    print("150% x 2 s, then 5 requests after Retry-After")
    print(
        f"{'limit/s':>8} {'sent':>5} {'above/s':>8} {'lag p99 ms':>11} {'429s':>5} "
        f"{'estimate/s':>11} {'error %':>8} {'recovered':>9} {'seconds':>8}  result"
    )
    outcomes = []
    for limit in LIMITS:
        set_limit(base_url, limit)
        client = new_client(base_url, api_key)
        result = probe(
            client,
            "GET",
            PATH,
            allow=True,
            phases=step_phases(limit),
            max_requests=int(3.5 * limit) + 10,
            max_seconds=5.0,
            params=PARAMS,
        )
        estimate = estimate_limit(result)
        refused = sum(1 for s in result.samples if s.status == 429)
        recovery = result.phase("recovery")
        recovered = bool(recovery) and all(s.status == 200 for s in recovery)
        if estimate is None:
            error_text, ok = "n/a", False
            estimate_text = "none"
        else:
            error = (estimate - limit) / limit
            error_text, ok = f"{100 * error:+.2f}", abs(error) <= ESTIMATE_TOLERANCE
            estimate_text = f"{estimate:.2f}"
        outcomes.append(ok)
        print(
            f"{limit:>8} {len(result.samples):>5} {achieved_rate(result, 'above'):>8.1f} "
            f"{lag_ms(result, 0.99):>11.2f} {refused:>5} {estimate_text:>11} "
            f"{error_text:>8} {'yes' if recovered else 'no':>9} {result.duration:>8.2f}  "
            f"{'PASS' if ok else 'FAIL'}"
        )
    return outcomes


def _timeout(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(f"benchmark stopped after {HARD_STOP} s")


def main() -> int:
    """Run both tables; return 0 when every row passed, 1 otherwise."""
    signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(HARD_STOP)
    started = time.monotonic()
    api_key = secrets.token_urlsafe(18)
    load = os.getloadavg()[0]
    print(
        f"probe accuracy on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"load average {load:.2f} at start (other processes compete for the CPUs)"
    )
    with digifi_sandbox(api_key) as base_url:
        outcomes = send_rate_rows(base_url, api_key)
        outcomes += estimate_rows(base_url, api_key)
    passed = sum(outcomes)
    print()
    print(f"load average {os.getloadavg()[0]:.2f} at end")
    print(
        f"{passed}/{len(outcomes)} rows passed in {time.monotonic() - started:.1f} s "
        f"(send rate within {SEND_TOLERANCE:.0%}, estimate within {ESTIMATE_TOLERANCE:.0%})"
    )
    signal.alarm(0)
    return 0 if all(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
