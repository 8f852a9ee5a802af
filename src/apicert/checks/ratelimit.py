"""Rate-limit checks over a probe's samples (pure: no I/O, no client, no sandbox).

Sources: the vendor's documented limit (DigiFi: at most 100 requests per second, 429 beyond);
RFC 6585 §4 (429 Too Many Requests, MAY carry ``Retry-After``); RFC 9110 §10.2.3 (``Retry-After``
is delay-seconds or an HTTP-date); IETF draft-ietf-httpapi-ratelimit-headers (``RateLimit-Policy``
with ``q``/``w`` and ``RateLimit`` with ``r``/``t``; older drafts' ``RateLimit-Limit/Remaining/
Reset``; the common ``X-RateLimit-*``).

Every check takes the requirement id it reports under, so any vendor's suite can use it, and
returns only failed (or review) findings: an empty list means the promise held. The inputs are
anything shaped like :class:`apicert.probe.ProbeResult` (see :class:`ProbeLike`).

A request counts as *accepted* when it got a response other than 429; *refused* means 429.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from apicert import expect as x
from apicert.checks.base import describe, fail, json_body, review
from apicert.model import Exchange, Finding

__all__ = [
    "PhaseLike",
    "ProbeLike",
    "SampleLike",
    "achieved_rate",
    "below_limit_accepted",
    "estimate_limit",
    "estimate_matches",
    "max_accepted_in_window",
    "parse_ratelimit_headers",
    "ratelimit_headers",
    "recovers_after_backoff",
    "refusal_body_json",
    "refused_above_limit",
    "retry_after_present",
]

EVIDENCE_CAP = 5
BELOW, ABOVE, RECOVERY = "below", "above", "recovery"


class PhaseLike(Protocol):
    """A planned phase: a name, a rate (requests/second) and a duration (seconds)."""

    @property
    def name(self) -> str: ...
    @property
    def rate(self) -> float: ...
    @property
    def duration(self) -> float: ...


class SampleLike(Protocol):
    """One probe request: its phase, planned and actual send time (s since start), exchange."""

    @property
    def phase(self) -> str: ...
    @property
    def planned(self) -> float: ...
    @property
    def sent(self) -> float: ...
    @property
    def exchange(self) -> Exchange: ...


class ProbeLike(Protocol):
    """A probe's outcome: phases, samples in send order, the limit window, the recovery wait."""

    @property
    def window(self) -> float: ...
    @property
    def phases(self) -> Sequence[PhaseLike]: ...
    @property
    def samples(self) -> Sequence[SampleLike]: ...
    @property
    def stopped(self) -> str | None: ...
    @property
    def recovery_wait(self) -> float | None: ...


# -- analysis --------------------------------------------------------------------------------
def _in_phase(result: ProbeLike, name: str | None) -> list[SampleLike]:
    samples = [s for s in result.samples if name is None or s.phase == name]
    return sorted(samples, key=lambda s: s.sent)


def _accepted(sample: SampleLike) -> bool:
    return sample.exchange.status is not None and sample.exchange.status != 429


def _refused(sample: SampleLike) -> bool:
    return sample.exchange.status == 429


def _evidence(samples: Sequence[SampleLike]) -> list[Exchange]:
    return [s.exchange for s in samples[:EVIDENCE_CAP]]


def achieved_rate(result: ProbeLike, phase: str | None = None) -> float:
    """Requests per second actually sent in ``phase`` (all phases when None):
    ``(n - 1) / (last send - first send)``; 0.0 with fewer than two samples."""
    samples = _in_phase(result, phase)
    if len(samples) < 2:
        return 0.0
    span = samples[-1].sent - samples[0].sent
    return (len(samples) - 1) / span if span > 0 else float("inf")


def _phase_end(result: ProbeLike, name: str, samples: Sequence[SampleLike]) -> float | None:
    """When phase ``name`` ended: its planned end, or one interval after its last send when
    the sends ran late (a probe that fell behind still saturated the target until then)."""
    offset = 0.0
    for phase in result.phases:
        if phase.name == name:
            planned_end = offset + phase.duration
            last = samples[-1].sent + 1 / phase.rate if samples else planned_end
            return max(planned_end, last)
        offset += phase.duration
    return None


def estimate_limit(
    result: ProbeLike, window: float | None = None, phase: str = ABOVE
) -> float | None:
    """Estimate the enforced limit in requests/second from the saturated part of ``phase``.

    From the phase's first 429, every send time ``s`` with ``s + window`` inside the phase (up to
    its planned end, or one interval after its last send when sends ran late) starts
    a window; the estimate is the mean of (accepted requests sent in ``[s, s + window)``) /
    ``window``. For a sliding-log or fixed-window limiter of N per window every such window holds
    N accepted requests; for a token bucket it holds the refill rate. None when nothing in the
    phase was refused or the saturated span is shorter than one window.
    """
    width = window or result.window
    samples = _in_phase(result, phase)
    end = _phase_end(result, phase, samples)
    refused = [s for s in samples if _refused(s)]
    if end is None or not refused or width <= 0:
        return None
    first = refused[0].sent
    starts = [s.sent for s in samples if first <= s.sent and s.sent + width <= end]
    if not starts:
        return None
    accepted = sorted(s.sent for s in samples if _accepted(s))
    total = sum(
        bisect_left(accepted, start + width) - bisect_left(accepted, start) for start in starts
    )
    return total / len(starts) / width


def max_accepted_in_window(result: ProbeLike, window: float | None = None) -> int:
    """The most accepted requests sent within any ``window`` seconds (half-open), all phases."""
    width = window or result.window
    times = sorted(s.sent for s in result.samples if _accepted(s))
    best = 0
    low = 0
    for high, t in enumerate(times):
        while times[low] <= t - width:
            low += 1
        best = max(best, high - low + 1)
    return best


# -- checks ----------------------------------------------------------------------------------
def below_limit_accepted(result: ProbeLike, requirement: str) -> list[Finding]:
    """Below the documented limit nothing is refused: no 429, no 5xx, no missing response."""
    samples = _in_phase(result, BELOW)
    if not samples:
        return [review(requirement, "the probe sent nothing below the limit")]
    bad = [
        s
        for s in samples
        if s.exchange.status is None or s.exchange.status == 429 or s.exchange.status >= 500
    ]
    if not bad:
        return []
    rate = achieved_rate(result, BELOW)
    kinds = sorted({str(s.exchange.status or "no response") for s in bad})
    return [
        fail(
            requirement,
            f"{len(bad)} of {len(samples)} requests at {rate:.0f}/s (below the limit) were "
            f"refused or failed ({', '.join(kinds)}); first: {describe(bad[0].exchange)}",
            *_evidence(bad),
        )
    ]


def refused_above_limit(result: ProbeLike, requirement: str, documented: float) -> list[Finding]:
    """Above the documented limit the target answers 429 (not another refusal status)."""
    samples = _in_phase(result, ABOVE)
    if not samples:
        return [review(requirement, f"the probe sent nothing above the limit ({result.stopped})")]
    rate = achieved_rate(result, ABOVE)
    refused = [s for s in samples if _refused(s)]
    other = [s for s in samples if s.exchange.status in (403, 503) or s.exchange.status is None]
    findings: list[Finding] = []
    if other:
        findings.append(
            fail(
                requirement,
                f"{len(other)} requests above the limit were refused without 429 "
                f"(first: {describe(other[0].exchange)}); RFC 6585 §4 names 429 for this",
                *_evidence(other),
            )
        )
    if refused:
        return findings
    if rate < documented * 1.05:
        findings.append(
            review(
                requirement,
                f"no 429 seen, but the probe reached only {rate:.0f}/s against a documented "
                f"{documented:g}/s: the limit was not really exceeded",
                *_evidence(samples),
            )
        )
    else:
        findings.append(
            fail(
                requirement,
                f"{len(samples)} requests at {rate:.0f}/s ({rate / documented:.0%} of the "
                f"documented {documented:g}/s): none answered 429",
                *_evidence(samples),
            )
        )
    return findings


def refusal_body_json(result: ProbeLike, requirement: str) -> list[Finding]:
    """Every 429 carries a JSON body (the vendor documents JSON out)."""
    bad: list[tuple[SampleLike, str]] = []
    for sample in result.samples:
        if _refused(sample):
            _, problem = json_body(sample.exchange)
            if problem:
                bad.append((sample, problem))
    if not bad:
        return []
    shown = _evidence([s for s, _ in bad])
    return [
        fail(
            requirement,
            f"{len(bad)} 429 answers without a JSON body; first: {bad[0][1]}",
            *shown,
            expect=[x.json_body(e.id) for e in shown],
        )
    ]


_DELAY_SECONDS = re.compile(r"^[0-9]+$")
# Retry-After as delay-seconds or an IMF-fixdate HTTP-date (RFC 9110 §10.2.3), for expectations.
RETRY_AFTER = r"\s*([0-9]+|[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT)\s*"
RATELIMIT_FIELDS = ("RateLimit", "RateLimit-Policy", "RateLimit-Limit", "X-RateLimit-Limit")


def _when_refused(exchange: Exchange, *alternatives: dict[str, Any]) -> dict[str, Any]:
    """A promise about a 429 answer: it holds when the answer is not a 429 (a replay at its own
    pace may not be refused at all) or when one of ``alternatives`` holds. The pace-dependent
    promises (below/above the limit, recovery, the enforced rate) get no expectations: a replay
    re-sends one request at a time and cannot reproduce the probe's timing."""
    not_refused = x.compare(x.operand(exchange.id, status=True), "ne", x.operand(value=429))
    return x.any_of(not_refused, *alternatives)


def _retry_after_problem(value: str | None) -> str | None:
    if value is None:
        return "no Retry-After header"
    value = value.strip()
    if _DELAY_SECONDS.match(value):
        return None
    try:
        parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return f"Retry-After {value[:40]!r} is neither delay-seconds nor an HTTP-date"
    return None


def retry_after_present(result: ProbeLike, requirement: str) -> list[Finding]:
    """Every 429 carries ``Retry-After`` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    bad: list[tuple[SampleLike, str]] = []
    for sample in result.samples:
        if _refused(sample):
            problem = _retry_after_problem(sample.exchange.header("Retry-After"))
            if problem:
                bad.append((sample, problem))
    if not bad:
        return []
    shown = _evidence([s for s, _ in bad])
    return [
        fail(
            requirement,
            f"{len(bad)} 429 answers with a missing or malformed Retry-After; first: {bad[0][1]}",
            *shown,
            expect=[
                _when_refused(e, x.header_matches(e.id, "Retry-After", RETRY_AFTER)) for e in shown
            ],
        )
    ]


def _sf_params(value: str) -> list[dict[str, str]]:
    """Parse a structured-field list loosely: each member's parameters, keyed by name."""
    members: list[dict[str, str]] = []
    for member in value.split(","):
        parts = [p.strip() for p in member.split(";")]
        params: dict[str, str] = {}
        for part in parts:
            key, sep, val = part.partition("=")
            if sep:
                params[key.strip().lower()] = val.strip().strip('"')
        members.append(params)
    return members


def parse_ratelimit_headers(exchange: Exchange) -> tuple[dict[str, int], list[str]]:
    """Read the rate-limit header fields an answer carries, whichever generation they follow.

    Returns ``({limit, window, remaining, reset}: ints found, problems)``. Recognised: the
    current draft (``RateLimit-Policy: "p";q=100;w=1`` and ``RateLimit: "p";r=0;t=1``), draft-07
    (``RateLimit: limit=100, remaining=0, reset=1``), ``RateLimit-Limit/Remaining/Reset`` and
    ``X-RateLimit-Limit/Remaining/Reset``.
    """
    found: dict[str, int] = {}
    problems: list[str] = []

    def put(name: str, field: str, raw: str | None) -> None:
        if raw is None:
            return
        text = raw.strip()
        if not _DELAY_SECONDS.match(text):
            problems.append(f"{field} value {raw[:30]!r} is not a non-negative integer")
            return
        found.setdefault(name, int(text))

    policy = exchange.header("RateLimit-Policy")
    if policy is not None:
        params = _sf_params(policy)[0]
        if "q" not in params and "w" not in params:
            # draft-06 form: "100;w=1"
            head = policy.split(",")[0].split(";")[0].strip()
            put("limit", "RateLimit-Policy", head)
        else:
            put("limit", "RateLimit-Policy q", params.get("q"))
        put("window", "RateLimit-Policy w", params.get("w"))
    combined = exchange.header("RateLimit")
    if combined is not None:
        params = {}
        for member in _sf_params(combined):
            params.update(member)
        if "r" in params or "t" in params:
            put("remaining", "RateLimit r", params.get("r"))
            put("reset", "RateLimit t", params.get("t"))
        elif "remaining" in params or "limit" in params:
            put("limit", "RateLimit limit", params.get("limit"))
            put("remaining", "RateLimit remaining", params.get("remaining"))
            put("reset", "RateLimit reset", params.get("reset"))
        else:
            problems.append(f"RateLimit {combined[:40]!r} has neither r/t nor limit/remaining")
    for prefix in ("RateLimit-", "X-RateLimit-"):
        put("limit", prefix + "Limit", exchange.header(prefix + "Limit"))
        put("remaining", prefix + "Remaining", exchange.header(prefix + "Remaining"))
        put("reset", prefix + "Reset", exchange.header(prefix + "Reset"))
    return found, problems


def ratelimit_headers(
    result: ProbeLike, requirement: str, documented: float | None = None
) -> list[Finding]:
    """Every 429 carries rate-limit header fields (IETF RateLimit draft or the older forms)
    that are well-formed integers, say nothing remains, and (when ``documented`` is given)
    advertise the documented quota per window."""
    refused = [s for s in result.samples if _refused(s)]
    missing: list[SampleLike] = []
    malformed: list[tuple[SampleLike, str]] = []
    for sample in refused:
        found, problems = parse_ratelimit_headers(sample.exchange)
        if not found and not problems:
            missing.append(sample)
            continue
        if found.get("remaining", 0) != 0:
            problems.append(f"says {found['remaining']} requests remain while refusing")
        if documented is not None and "limit" in found:
            window = found.get("window", 1)
            advertised = found["limit"] / window if window else float("inf")
            if abs(advertised - documented) > 1e-9 * max(1.0, documented):
                problems.append(
                    f"advertises {found['limit']} per {window} s, not the documented "
                    f"{documented:g}/s"
                )
        if problems:
            malformed.append((sample, problems[0]))
    findings: list[Finding] = []
    if missing:
        shown = _evidence(missing)
        findings.append(
            fail(
                requirement,
                f"{len(missing)} of {len(refused)} 429 answers carry no RateLimit, "
                "RateLimit-* or X-RateLimit-* header",
                *shown,
                expect=[
                    _when_refused(e, *(x.header_present(e.id, h) for h in RATELIMIT_FIELDS))
                    for e in shown
                ],
            )
        )
    if malformed:
        findings.append(
            fail(
                requirement,
                f"{len(malformed)} 429 answers with wrong rate-limit headers; first: "
                f"{malformed[0][1]}",
                *_evidence([s for s, _ in malformed]),
            )
        )
    return findings


def recovers_after_backoff(result: ProbeLike, requirement: str) -> list[Finding]:
    """After waiting the advised ``Retry-After``, requests below the limit are accepted again."""
    if not any(_refused(s) for s in result.samples):
        return [review(requirement, "nothing was refused, so recovery could not be shown")]
    samples = _in_phase(result, RECOVERY)
    if not samples:
        why = result.stopped or "no recovery phase was sent"
        return [review(requirement, f"recovery not exercised: {why}")]
    bad = [s for s in samples if not _accepted(s) or (s.exchange.status or 0) >= 500]
    if not bad:
        return []
    refused = [s for s in result.samples if _refused(s) and s.phase != RECOVERY]
    advised = refused[-1].exchange.header("Retry-After") if refused else None
    waited = result.recovery_wait
    message = (
        f"{len(bad)} of {len(samples)} requests after waiting {waited or 0:g} s "
        f"(Retry-After {advised!r}) were still refused or failed; first: "
        f"{describe(bad[0].exchange)}"
    )
    short_wait = (
        advised is not None
        and _DELAY_SECONDS.match(advised.strip()) is not None
        and waited is not None
        and float(advised) > waited
    )
    if short_wait:
        return [review(requirement, message + " (the probe waited less than advised)")]
    return [fail(requirement, message, *_evidence(bad))]


def estimate_matches(
    result: ProbeLike, requirement: str, documented: float, tolerance: float = 0.05
) -> list[Finding]:
    """The enforced limit (:func:`estimate_limit`) is the documented one within ``tolerance``,
    and no ``window`` ever accepted more than the documented quota (plus the tolerance)."""
    estimate = estimate_limit(result)
    findings: list[Finding] = []
    samples = _in_phase(result, ABOVE)
    if estimate is None:
        return [
            review(
                requirement,
                "the enforced limit could not be estimated (no 429 above the limit, or the "
                "saturated span was shorter than one window)",
                *_evidence(samples),
            )
        ]
    if abs(estimate - documented) > tolerance * documented:
        findings.append(
            fail(
                requirement,
                f"enforced limit is about {estimate:.1f}/s, documented {documented:g}/s "
                f"(tolerance {tolerance:.0%})",
                *_evidence([s for s in samples if _refused(s)]),
            )
        )
    quota = documented * result.window
    most = max_accepted_in_window(result)
    if most > quota * (1 + tolerance):
        findings.append(
            fail(
                requirement,
                f"{most} requests were accepted within {result.window:g} s; the documented "
                f"limit allows {quota:g}",
                *_evidence(samples),
            )
        )
    return findings
