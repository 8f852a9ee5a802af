"""The data every layer speaks: exchanges, findings, requirements and statuses.

Nothing here performs I/O. Checks take :class:`Exchange` objects and return :class:`Finding` lists;
the plugin aggregates findings per :class:`Requirement`; the report layer serialises them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Exchange", "Finding", "Level", "Requirement", "Status"]


class Status(StrEnum):
    """The verdict of one requirement (or one finding)."""

    PASSED = "passed"
    FAILED = "failed"
    WARNING = "warning"
    SKIPPED = "skipped"
    REVIEW = "review"


class Level(StrEnum):
    """How strongly a vendor document states a requirement.

    MUST is documented (a breach fails); SHOULD is inferred or from a standard (a breach warns).
    """

    MUST = "MUST"
    SHOULD = "SHOULD"


@dataclass(frozen=True)
class Requirement:
    """One promise from a vendor document or a named standard, with where it comes from."""

    id: str
    vendor: str
    topic: str
    level: Level
    title: str
    source: str
    quote: str = ""
    time_dependent: bool = False
    expected_warning: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping of every field."""
        return {
            "id": self.id,
            "vendor": self.vendor,
            "topic": self.topic,
            "level": str(self.level),
            "title": self.title,
            "source": self.source,
            "quote": self.quote,
            "time_dependent": self.time_dependent,
            "expected_warning": self.expected_warning,
        }


@dataclass
class Exchange:
    """One HTTP request and what came back, as the client saw it (unredacted, in memory only).

    ``response_body`` is the decoded text (at most the client's size cap); ``error`` is set when no
    complete response arrived (timeout, reset, oversized body) and names the problem.
    """

    id: str
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str | None
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str | None = None
    elapsed: float = 0.0
    started_at: float = 0.0
    error: str | None = None
    truncated: bool = False
    test: str | None = None
    # Set when the body was not valid in its declared charset (decoded with replacements).
    decode_error: str | None = None

    def header(self, name: str) -> str | None:
        """Return a response header by case-insensitive name, or None."""
        lowered = name.lower()
        for key, value in self.response_headers.items():
            if key.lower() == lowered:
                return value
        return None

    def json(self) -> Any:
        """Return the response body parsed as JSON; raise ValueError when it is not JSON."""
        if self.response_body is None:
            raise ValueError("no response body")
        return json.loads(self.response_body)

    def request_json(self) -> Any:
        """Return the request body parsed as JSON, or None when it was absent or not JSON."""
        if not self.request_body:
            return None
        try:
            return json.loads(self.request_body)
        except ValueError:
            return None

    @property
    def path(self) -> str:
        """The URL path without scheme, host and query."""
        from urllib.parse import urlsplit

        return urlsplit(self.url).path

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping. Callers must redact before persisting it."""
        return {
            "id": self.id,
            "test": self.test,
            "request": {
                "method": self.method,
                "url": self.url,
                "headers": dict(self.request_headers),
                "body": self.request_body,
            },
            "response": {
                "status": self.status,
                "headers": dict(self.response_headers),
                "body": self.response_body,
                "truncated": self.truncated,
                "decode_error": self.decode_error,
            },
            "error": self.error,
            "elapsed": round(self.elapsed, 6),
            "started_at": self.started_at,
        }


@dataclass
class Finding:
    """What one check concluded about one requirement, with the exchanges that show it."""

    requirement: str
    status: Status
    message: str
    evidence: list[str] = field(default_factory=list)
    # What a conformant target's answers must show, as assertions a standalone repro or a cassette
    # replay can evaluate without apicert's checks (see ``apicert.expect``); empty when the
    # check cannot say it that way.
    expect: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping (``expect`` only when the check gave one)."""
        data: dict[str, Any] = {
            "requirement": self.requirement,
            "status": str(self.status),
            "message": self.message,
            "evidence": list(self.evidence),
        }
        if self.expect:
            data["expect"] = [dict(e) for e in self.expect]
        return data
