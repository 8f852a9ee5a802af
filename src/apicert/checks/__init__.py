"""Checks: pure functions from recorded exchanges to findings, each naming its requirement.

A check never sends a request and never touches a sandbox. It returns a list of
:class:`~apicert.model.Finding`; an empty list means "nothing wrong seen". Only failures (and
the occasional review) are reported as findings: a requirement passes when the tests that
exercise it ran and no check found a failure.
"""

from __future__ import annotations

from apicert.checks.base import fail, json_body, review

__all__ = ["fail", "json_body", "review"]
