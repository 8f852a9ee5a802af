"""A reusable request-rate limiter for the reference sandboxes (sliding log, real time).

Promise: for each key, at most ``limit`` requests are accepted in *any* span of ``window``
seconds (half-open, measured on a monotonic clock); a refused request is not counted. This is
exact, so a probe sending faster than the limit sees exactly ``limit / window`` accepted requests
per second once saturated, and one sending slower sees none refused.

The limiter uses real monotonic time, never a sandbox's simulated clock: advancing the simulated
clock by hours must not refill a per-second quota.

Headers: ``Retry-After`` (RFC 6585 §4, RFC 9110 §10.2.3, integer seconds, at least 1) on a refusal,
and the IETF ``draft-ietf-httpapi-ratelimit-headers`` fields ``RateLimit-Policy`` and ``RateLimit``
on every decision; optionally the older ``X-RateLimit-Limit/Remaining/Reset`` trio.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Decision", "RateLimiter"]


@dataclass(frozen=True)
class Decision:
    """The limiter's answer to one request.

    ``remaining`` counts what is still allowed now (after this request when it was accepted);
    ``reset_after`` is the time until the oldest counted request leaves the window (0 when none
    is counted); ``retry_after`` is 0 when allowed, else the time until a slot frees.
    """

    allowed: bool
    limit: int
    window: float
    remaining: int
    reset_after: float
    retry_after: float


class RateLimiter:
    """At most ``limit`` accepted requests per key in any ``window`` seconds. Thread-safe."""

    def __init__(
        self,
        limit: int,
        window: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"rate limit must be a whole number of requests >= 1, not {limit!r}")
        if not window > 0 or math.isinf(window):
            raise ValueError(
                f"rate-limit window must be a positive number of seconds, not {window!r}"
            )
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.limit = limit
        self.window = float(window)
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._log: dict[str, deque[float]] = {}

    def _expire(self, log: deque[float], now: float) -> None:
        cutoff = now - self.window
        while log and log[0] <= cutoff:
            log.popleft()

    def _decision(self, log: deque[float], now: float, allowed: bool) -> Decision:
        remaining = self.limit - len(log)
        reset_after = max(0.0, log[0] + self.window - now) if log else 0.0
        return Decision(
            allowed=allowed,
            limit=self.limit,
            window=self.window,
            remaining=remaining,
            reset_after=reset_after,
            retry_after=0.0 if allowed else reset_after,
        )

    def _prune(self, now: float) -> None:
        """Forget keys with nothing in their window; if still too many, the least recent ones."""
        for key in [k for k, log in self._log.items() if not log or log[-1] <= now - self.window]:
            del self._log[key]
        if len(self._log) >= self._max_keys:
            oldest = sorted(self._log, key=lambda k: self._log[k][-1])
            for key in oldest[: len(self._log) - self._max_keys + 1]:
                del self._log[key]

    def hit(self, key: str) -> Decision:
        """Count one request for ``key`` when the quota allows it, and return the decision."""
        with self._lock:
            now = self._clock()
            log = self._log.get(key)
            if log is None:
                if len(self._log) >= self._max_keys:
                    self._prune(now)
                log = self._log[key] = deque()
            self._expire(log, now)
            if len(log) < self.limit:
                log.append(now)
                return self._decision(log, now, allowed=True)
            return self._decision(log, now, allowed=False)

    def peek(self, key: str) -> Decision:
        """Return what ``hit`` would decide for ``key`` now, without counting anything."""
        with self._lock:
            now = self._clock()
            log = self._log.get(key, deque())
            self._expire(log, now)
            return self._decision(log, now, allowed=len(log) < self.limit)

    def reset(self, key: str | None = None) -> None:
        """Forget the requests counted for ``key`` (or for every key)."""
        with self._lock:
            if key is None:
                self._log.clear()
            else:
                self._log.pop(key, None)

    def headers(self, decision: Decision, *, legacy: bool = False) -> dict[str, str]:
        """Return the response headers that describe ``decision``.

        Always ``RateLimit-Policy`` and ``RateLimit`` (draft-ietf-httpapi-ratelimit-headers);
        ``Retry-After`` in whole seconds (at least 1) when refused; with ``legacy`` also
        ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (seconds).
        """
        window = _whole(decision.window)
        reset = math.ceil(decision.reset_after)
        out = {
            "RateLimit-Policy": f'"default";q={decision.limit};w={window}',
            "RateLimit": f'"default";r={decision.remaining};t={reset}',
        }
        if not decision.allowed:
            out["Retry-After"] = str(max(1, math.ceil(decision.retry_after)))
        if legacy:
            out["X-RateLimit-Limit"] = str(decision.limit)
            out["X-RateLimit-Remaining"] = str(decision.remaining)
            out["X-RateLimit-Reset"] = str(reset)
        return out


def _whole(seconds: float) -> int:
    """The draft's ``w`` is an integer number of seconds; round a fractional window up."""
    return max(1, math.ceil(seconds))
