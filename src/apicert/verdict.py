"""The ``verdict`` fixture: how a suite hands findings to the run.

A suite calls checks and passes their findings to :meth:`Verdict.check`. Failed findings on a
MUST requirement fail the test when it ends (all of them are reported, not just the first);
``stop=True`` ends the test at once, for steps later steps depend on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from apicert import expect
from apicert.catalog import requirement
from apicert.model import Exchange, Finding, Level, Status

if TYPE_CHECKING:
    from apicert.run import TestRecord

__all__ = ["FindingsFailed", "Verdict"]


class FindingsFailed(AssertionError):
    """Raised when a test's checks found failures; the message lists them by requirement."""

    def __init__(self, message: str, *, stopped: bool = False) -> None:
        super().__init__(message)
        self.stopped = stopped


def summarise(findings: Iterable[Finding], limit: int = 5) -> str:
    """One line per failed finding (at most ``limit``), prefixed by its requirement id."""
    items = list(findings)
    lines = [f"{f.requirement}: {f.message}" for f in items[:limit]]
    if len(items) > limit:
        lines.append(f"... and {len(items) - limit} more")
    return "\n".join(lines)


def blocking(findings: Iterable[Finding]) -> list[Finding]:
    """The failed findings that fail a test: those on MUST requirements."""
    return [
        f
        for f in findings
        if f.status is Status.FAILED and requirement(f.requirement).level is Level.MUST
    ]


class Verdict:
    """Collects findings for the current test."""

    def __init__(self, record: TestRecord) -> None:
        self.record = record

    def check(self, findings: Iterable[Finding], *, stop: bool = False) -> bool:
        """Record ``findings``; True when none failed. With ``stop``, a failure ends the test."""
        items = list(findings)
        for finding in items:
            requirement(finding.requirement)  # unknown ids are programming errors: fail loudly
        self.record.findings.extend(items)
        failed = blocking(items)
        if failed and stop:
            self.record.stopped = True
            raise FindingsFailed(summarise(failed), stopped=True)
        return not any(f.status is Status.FAILED for f in items)

    def require(self, findings: Iterable[Finding]) -> None:
        """Record ``findings`` and end the test at once if any failed."""
        self.check(findings, stop=True)

    def step(self, requirement_id: str, exchange: Exchange, what: str) -> Exchange:
        """A documented step later steps depend on: a non-2xx answer is a failed finding on
        ``requirement_id`` (the promise that the documented sequence works) and ends the test.

        Only the status is judged here; the response's shape is the envelope observer's job.
        """
        status = exchange.status
        if status is None or not 200 <= status < 300:
            got = status if status is not None else exchange.error
            self.require(
                [
                    Finding(
                        requirement_id,
                        Status.FAILED,
                        f"could not {what}: {exchange.method} {exchange.path} answered {got}",
                        [exchange.id],
                        [expect.status_between(exchange.id, 200, 299)],
                    )
                ]
            )
        return exchange
