"""The rate-limit probe: send requests at planned rates and record what the target refused.

Promises:

* **Safe.** Nothing is sent unless the caller passes ``allow=True``, and never to a host the
  production guard of :mod:`apicert.targets` marks as production (the vendors' known production
  hosts and ``APICERT_PRODUCTION_HOSTS``). At most ``max_requests`` requests are sent, none
  starts after ``max_seconds``, and responses still in flight get at most ``grace`` seconds more.
* **Open loop and precise.** Requests leave at planned times (``i / rate`` within each phase),
  dispatched to a small thread pool so a slow response never delays the next send; the
  dispatcher sleeps, then yields in a short spin for the last millisecond. Each
  :class:`Sample` keeps its planned and actual send time.
* **Honest.** The probe uses its own unpaced session: it is not held back by the client's 80 %
  pacer, never retries and never backs off except for the one documented wait before the
  recovery phase. Every request goes through the run's :class:`~apicert.http.Recorder`
  (redacted, observed, kept as evidence), with the client's auth and default headers.

The analysis (:func:`estimate_limit`, :func:`achieved_rate`) is pure and lives in
:mod:`apicert.checks.ratelimit`; it is re-exported here.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from apicert.checks.ratelimit import achieved_rate, estimate_limit
from apicert.http import Client, Pacer, RecordingSession, exchange_of, parse_retry_after
from apicert.model import Exchange
from apicert.targets import extra_production_hosts, is_production_host
from apicert.vendors import VENDORS

__all__ = [
    "Phase",
    "ProbeRefused",
    "ProbeResult",
    "Sample",
    "achieved_rate",
    "estimate_limit",
    "probe",
    "step_phases",
]

SPIN_SECONDS = 0.0005


class ProbeRefused(Exception):
    """The probe was not allowed to run (no ``allow=True``, a production host, bad arguments)."""


@dataclass(frozen=True)
class Phase:
    """Send at ``rate`` requests per second for ``duration`` seconds, under the name ``name``."""

    name: str
    rate: float
    duration: float

    @property
    def count(self) -> int:
        """How many requests the phase plans."""
        return max(1, round(self.rate * self.duration))


def step_phases(
    limit: float,
    *,
    below: float = 0.5,
    above: float = 1.5,
    below_seconds: float = 1.0,
    above_seconds: float = 2.0,
) -> list[Phase]:
    """Return the standard step: ``below`` x ``limit`` then ``above`` x ``limit`` requests/second.

    The "above" phase must outlast the time to saturate plus one window for
    :func:`estimate_limit` to answer (2 s suits a 1 s window after 1 s at half the limit).
    """
    if not limit > 0:
        raise ProbeRefused(f"documented limit must be positive, not {limit!r}")
    return [
        Phase("below", limit * below, below_seconds),
        Phase("above", limit * above, above_seconds),
    ]


@dataclass
class Sample:
    """One probe request: its phase, planned and actual send time (seconds since the probe
    started) and the raw exchange (the redacted copy is in the run's recorder)."""

    index: int
    phase: str
    planned: float
    sent: float
    exchange: Exchange

    @property
    def status(self) -> int | None:
        """The response status, or None when no complete response came."""
        return self.exchange.status

    @property
    def received(self) -> float:
        """When the response (or the error) was complete, in seconds since the probe started."""
        return self.sent + self.exchange.elapsed


@dataclass
class ProbeResult:
    """Everything one probe did, in send order."""

    method: str
    path: str
    window: float
    phases: list[Phase]
    samples: list[Sample] = field(default_factory=list)
    duration: float = 0.0
    stopped: str | None = None
    recovery_wait: float | None = None

    def phase(self, name: str) -> list[Sample]:
        """The samples of phase ``name``, in send order."""
        return [s for s in self.samples if s.phase == name]


def _guard(client: Client, allow: bool, embedded: bool) -> None:
    if allow is not True:
        raise ProbeRefused(
            "the rate-limit probe pushes past a rate limit; call it with allow=True "
            "(suites: mark the test `load`; URL targets need --allow-load)"
        )
    if embedded:
        return  # the run's own reference sandbox: never a production host, whatever its address
    host = (urlsplit(client.base_url).hostname or "").lower()
    extra = extra_production_hosts(os.environ)
    for vendor in VENDORS.values():
        if is_production_host(vendor, host, extra):
            raise ProbeRefused(f"{host} is a production host; load is never sent to production")


def _check_plan(
    phases: Sequence[Phase], max_requests: int, max_seconds: float, recovery_rate: float | None
) -> None:
    if recovery_rate is not None and not 0 < recovery_rate < math.inf:
        raise ProbeRefused("recovery_rate must be a positive finite rate")
    if not phases:
        raise ProbeRefused("no phases to send")
    for phase in phases:
        if not (phase.rate > 0 and phase.duration > 0) or math.isinf(phase.rate * phase.duration):
            raise ProbeRefused(f"phase {phase.name!r} needs a positive finite rate and duration")
    if max_requests < 1:
        raise ProbeRefused("max_requests must be at least 1")
    if not 0 < max_seconds < math.inf:
        raise ProbeRefused("max_seconds must be a positive number of seconds")


def _plan(phases: Sequence[Phase], offset: float = 0.0) -> list[tuple[str, float]]:
    plan: list[tuple[str, float]] = []
    for phase in phases:
        plan.extend((phase.name, offset + i / phase.rate) for i in range(phase.count))
        offset += phase.duration
    return plan


def _wait_until(deadline: float) -> None:
    """Sleep until ``deadline`` (perf_counter seconds), yielding in a spin for the last ms."""
    delay = deadline - time.perf_counter() - SPIN_SECONDS
    if delay > 0:
        time.sleep(delay)
    while time.perf_counter() < deadline:
        time.sleep(0)  # releases the GIL so workers are not starved while we spin


class _Sender:
    """Sends planned requests on a thread pool through an unpaced recording session."""

    def __init__(
        self,
        client: Client,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        workers: int,
        max_requests: int,
        max_seconds: float,
        grace: float,
        request_kwargs: dict[str, Any],
    ) -> None:
        self.client = client
        self.method = method.upper()
        self.url = client.url(path)
        self.headers = headers
        self.request_kwargs = request_kwargs
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.hard_end = max_seconds + grace
        self.session = RecordingSession(client.recorder, client.limits, Pacer(None))
        self.session.backoff = False
        adapter = HTTPAdapter(max_retries=0, pool_connections=1, pool_maxsize=workers)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apicert-probe")
        self.start = time.perf_counter()
        self.sent_count = 0
        self.late = 0
        self.samples: list[Sample] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.perf_counter() - self.start

    def run(self, plan: list[tuple[str, float]]) -> str | None:
        """Send ``plan`` at its planned times; return why a cap cut it short, or None."""
        futures: list[Future[None]] = []
        stopped: str | None = None
        for phase, planned in plan:
            if self.sent_count >= self.max_requests:
                stopped = f"max_requests ({self.max_requests}) reached"
                break
            if planned > self.max_seconds:
                stopped = f"max_seconds ({self.max_seconds:g} s) reached"
                break
            _wait_until(self.start + planned)
            index = self.sent_count
            self.sent_count += 1
            futures.append(self.pool.submit(self._send, index, phase, planned))
        for future in futures:
            future.result()
        if self.late and stopped is None:
            stopped = f"max_seconds ({self.max_seconds:g} s) reached; {self.late} queued not sent"
        return stopped

    def _send(self, index: int, phase: str, planned: float) -> None:
        sent = self.now()
        if sent > self.max_seconds:  # queued behind slow responses until too late: not sent
            with self._lock:
                self.late += 1
            return
        remaining = self.hard_end - sent
        limits = self.client.limits
        timeout = (
            max(0.01, min(limits.connect_timeout, remaining)),
            max(0.01, min(limits.read_timeout, remaining)),
        )
        recorder = self.client.recorder
        previous = recorder.last_added()
        try:
            response = self.session.request(
                self.method, self.url, headers=self.headers, timeout=timeout, **self.request_kwargs
            )
            exchange = exchange_of(response)
        except requests.RequestException as exc:
            failed = recorder.last_added()
            if failed is None or failed is previous:  # failed before the session recorded it
                failed = Exchange(
                    id=recorder.new_id(),
                    method=self.method,
                    url=self.url,
                    request_headers=dict(self.headers),
                    request_body=None,
                    error=f"{exc.__class__.__name__}: {str(exc)[:200]}",
                    started_at=time.time(),
                )
                recorder.add(failed)
            exchange = failed
        with self._lock:
            self.samples.append(Sample(index, phase, planned, sent, exchange))

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.session.close()


def _recovery_wait(result: ProbeResult, now: float, max_wait: float) -> float | None:
    """Seconds to wait from ``now`` before recovery, per the last 429's Retry-After."""
    refused = [s for s in result.samples if s.status == 429]
    if not refused:
        return None
    last = max(refused, key=lambda s: s.received)
    advised = parse_retry_after(last.exchange.header("Retry-After"))
    wait = result.window if advised is None else advised
    wait = min(wait, max_wait)
    result.recovery_wait = wait
    return max(0.0, last.received + wait - now)


def probe(
    client: Client,
    method: str,
    path: str,
    *,
    allow: bool,
    phases: Sequence[Phase],
    embedded: bool = False,
    window: float = 1.0,
    recovery: int = 5,
    recovery_rate: float | None = None,
    max_wait: float = 3.0,
    max_requests: int = 600,
    max_seconds: float = 5.0,
    grace: float = 1.0,
    workers: int = 32,
    headers: dict[str, str] | None = None,
    **request_kwargs: Any,
) -> ProbeResult:
    """Send ``phases`` of paced requests to ``path``, then a recovery phase, and return samples.

    Recovery: when some request was answered 429 and ``recovery`` > 0, wait the last 429's
    ``Retry-After`` (capped by ``max_wait``; ``window`` seconds when absent) from its arrival,
    then send ``recovery`` requests at ``recovery_rate`` (default: the first phase's rate) as
    phase ``"recovery"``. Raises :class:`ProbeRefused` before sending anything when not
    allowed, aimed at production, or given an impossible plan. ``embedded=True`` says the
    target is the run's own embedded sandbox, which the production guard does not apply to
    (its loopback address may be listed in ``APICERT_PRODUCTION_HOSTS`` for other targets).
    """
    _guard(client, allow, embedded)
    _check_plan(phases, max_requests, max_seconds, recovery_rate)
    merged = dict(client.default_headers)
    if client.auth is not None:
        client.auth(client, merged)
    merged.update(headers or {})
    sender = _Sender(
        client,
        method,
        path,
        headers=merged,
        workers=max(1, workers),
        max_requests=max_requests,
        max_seconds=max_seconds,
        grace=grace,
        request_kwargs=request_kwargs,
    )
    result = ProbeResult(method=method.upper(), path=path, window=window, phases=list(phases))
    try:
        sender.start = time.perf_counter()
        result.stopped = sender.run(_plan(phases))
        result.samples = sorted(sender.samples, key=lambda s: s.index)
        wait = _recovery_wait(result, sender.now(), max_wait) if recovery > 0 else None
        if wait is not None and result.stopped is None:
            rate = recovery_rate or phases[0].rate
            begin = sender.now() + wait
            plan = _plan([Phase("recovery", rate, recovery / rate)], offset=begin)
            result.stopped = sender.run(plan)
            result.samples = sorted(sender.samples, key=lambda s: s.index)
    finally:
        sender.close()
    result.duration = sender.now()
    return result
