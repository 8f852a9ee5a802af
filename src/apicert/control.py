"""The harness side of a reference sandbox's control endpoints: clock and faults.

A target that answers ``GET /__sandbox__/clock`` with JSON offers a simulated clock; any other
target (a vendor's real sandbox) does not, and time-dependent requirements then either wait for
real (opt-in) or are skipped with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

__all__ = ["ClockUnavailable", "SandboxControl"]

PREFIX = "/__sandbox__"


class ClockUnavailable(Exception):
    """The target has no clock control and real waiting was not allowed (message says why)."""


class SandboxControl:
    """Talks to ``/__sandbox__/`` on one target; never sends vendor traffic."""

    def __init__(
        self, base_url: str, *, real_wait: bool = False, max_real_wait: float = 4000.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.real_wait = real_wait
        self.max_real_wait = max_real_wait
        self._session = requests.Session()
        self._session.trust_env = False
        self._has_clock: bool | None = None
        self.on_advance: list[Callable[[float], None]] = []

    def has_clock(self) -> bool:
        """Return True when the target offers a simulated clock (asked once, then cached)."""
        if self._has_clock is None:
            try:
                response = self._session.get(f"{self.base_url}{PREFIX}/clock", timeout=(3, 5))
                self._has_clock = response.status_code == 200 and "now" in response.json()
            except (requests.RequestException, ValueError, TypeError):
                self._has_clock = False
        return self._has_clock

    def now(self) -> float:
        """The target's simulated time (POSIX seconds), or local time when it has no clock."""
        if not self.has_clock():
            return time.time()
        response = self._session.get(f"{self.base_url}{PREFIX}/clock", timeout=(3, 5))
        return float(response.json()["now"])

    def advance(self, seconds: float) -> None:
        """Move the target's time forward by ``seconds``: through its clock when it has one,
        by really waiting when allowed, else raise ClockUnavailable."""
        if self.has_clock():
            response = self._session.post(
                f"{self.base_url}{PREFIX}/clock", json={"advance": seconds}, timeout=(3, 5)
            )
            response.raise_for_status()
        elif self.real_wait and seconds <= self.max_real_wait:
            time.sleep(seconds)
        elif self.real_wait:
            raise ClockUnavailable(
                f"waiting {seconds:.0f} s exceeds the real-wait cap of {self.max_real_wait:.0f} s"
            )
        else:
            raise ClockUnavailable(
                "target has no clock control; rerun with --real-wait to wait "
                f"{seconds:.0f} s for real"
            )
        for callback in self.on_advance:
            callback(seconds)

    def set_faults(self, names: list[str]) -> None:
        """Switch the sandbox's active faults (reference sandboxes only)."""
        response = self._session.put(
            f"{self.base_url}{PREFIX}/faults", json={"active": names}, timeout=(3, 5)
        )
        response.raise_for_status()
