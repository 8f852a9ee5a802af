"""Contract check: does a recorded exchange match the vendor's OpenAPI 3.1 document?

Applied to every exchange a suite sends, not only to generated cases, so a response shape that
only appears deep in a workflow (an existing customer's status) is still held to the document.
OpenAPI 3.1 schemas are JSON Schema 2020-12, so ``jsonschema`` validates them directly, with
``$ref`` resolved against the whole document through a ``referencing`` registry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from apicert.checks.base import describe, fail, json_body
from apicert.model import Exchange, Finding

__all__ = ["OpenApiContract"]

_DOC_URI = "urn:apicert:openapi"
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass(frozen=True)
class _Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    responses: dict[str, Any]


class OpenApiContract:
    """Validates exchanges against one OpenAPI document; findings go to ``requirement``."""

    def __init__(self, document: dict[str, Any], requirement: str) -> None:
        self.document = document
        self.requirement = requirement
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(_DOC_URI, resource)
        self._operations: list[_Operation] = []
        self._validators: dict[str, Draft202012Validator] = {}
        for template, item in (document.get("paths") or {}).items():
            regex = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
            for method in _METHODS:
                if method in item:
                    self._operations.append(
                        _Operation(
                            method.upper(),
                            template,
                            re.compile(regex),
                            item[method].get("responses", {}),
                        )
                    )
        # Literal paths before templated ones, so /customer/init never matches /customer/{x}.
        self._operations.sort(key=lambda op: op.template.count("{"))

    def operation(self, method: str, path: str) -> _Operation | None:
        """The documented operation serving ``method path``, or None."""
        for op in self._operations:
            if op.method == method.upper() and op.pattern.match(path):
                return op
        return None

    def _validator(self, op: _Operation, status_key: str, media: str) -> Draft202012Validator:
        key = f"{op.method} {op.template} {status_key} {media}"
        if key not in self._validators:
            ref = _pointer(
                "#",
                "paths",
                op.template,
                op.method.lower(),
                "responses",
                status_key,
                "content",
                media,
                "schema",
            )
            schema = {"$ref": _DOC_URI + ref}
            self._validators[key] = Draft202012Validator(schema, registry=self._registry)
        return self._validators[key]

    def check(self, exchange: Exchange) -> list[Finding]:
        """Return findings when the status is undeclared or the JSON body breaks its schema.

        Exchanges to paths the document does not describe, and exchanges with no response,
        are left to other checks.
        """
        if exchange.status is None:
            return []
        op = self.operation(exchange.method, exchange.path)
        if op is None:
            return []
        where = describe(exchange)
        status = str(exchange.status)
        status_key = next(
            (
                k
                for k in (status, f"{status[0]}XX", f"{status[0]}xx", "default")
                if k in op.responses
            ),
            None,
        )
        if status_key is None:
            declared = ", ".join(sorted(op.responses))
            return [
                fail(
                    self.requirement,
                    f"{where}: status {status} not declared (declared: {declared})",
                    exchange,
                )
            ]
        content = op.responses[status_key].get("content") or {}
        media = next((m for m in content if "json" in m), None)
        if media is None or "schema" not in content[media]:
            return []
        body, problem = json_body(exchange)
        if problem:
            return [fail(self.requirement, f"{where}: {problem}", exchange)]
        error = next(iter(self._validator(op, status_key, media).iter_errors(body)), None)
        if error is None:
            return []
        location = "$" + "".join(
            f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
        )
        return [
            fail(self.requirement, f"{where}: body at {location}: {error.message[:200]}", exchange)
        ]
