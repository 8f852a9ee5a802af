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

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from apicert import expect as x
from apicert.checks.base import describe, fail, json_body
from apicert.model import Exchange, Finding

__all__ = ["OpenApiContract", "schema_expectations", "schemathesis_expectations"]

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

    def _response(self, op: _Operation, status_key: str) -> tuple[str, dict[str, Any]]:
        """The response object declared for ``status_key`` and its JSON pointer, following a
        ``$ref`` to ``#/components/responses/...`` (the documents declare most errors so)."""
        pointer = _pointer("#", "paths", op.template, op.method.lower(), "responses", status_key)
        response: Any = op.responses[status_key]
        for _ in range(8):
            ref = response.get("$ref") if isinstance(response, dict) else None
            if not isinstance(ref, str) or not ref.startswith("#/"):
                break
            pointer, response = ref, _at(self.document, ref)
        return pointer, response if isinstance(response, dict) else {}

    def _validator(self, pointer: str, media: str) -> Draft202012Validator:
        key = f"{pointer} {media}"
        if key not in self._validators:
            ref = pointer + "/" + _pointer("content", media, "schema")
            schema: Any = {"$ref": _DOC_URI + ref}
            target = _at(self.document, ref)
            if isinstance(target, dict) and not _SCOPE_KEYWORDS & _keys(target, self.document):
                # The document's local references inlined once, so validating a response does
                # not look each of them up again (the lookups were half the check's time on
                # every exchange). Recursive references stay references into the registry.
                schema = _inline(target, self.document, ())
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
                    expect=[x.status_in(exchange.id, _declared_statuses(op.responses))],
                )
            ]
        pointer, response = self._response(op, status_key)
        content = response.get("content") or {}
        media = next((m for m in content if "json" in m), None)
        if media is None or "schema" not in content[media]:
            return []
        body, problem = json_body(exchange)
        if problem:
            return [
                fail(
                    self.requirement,
                    f"{where}: {problem}",
                    exchange,
                    expect=[x.json_body(exchange.id)],
                )
            ]
        error = next(iter(self._validator(pointer, media).iter_errors(body)), None)
        other_status = x.compare(
            x.operand(exchange.id, status=True), "ne", x.operand(value=exchange.status)
        )
        if error is None:
            return []
        location = "$" + "".join(
            f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
        )
        return [
            fail(
                self.requirement,
                f"{where}: body at {location}: {error.message[:200]}",
                exchange,
                expect=[
                    # The schema is the one of this status: another status has its own.
                    x.any_of(other_status, e)
                    for e in schema_expectations(exchange.id, error)
                ],
            )
        ]


# Keywords that change how references resolve inside a schema: such a schema is not inlined.
_SCOPE_KEYWORDS = frozenset({"$id", "$anchor", "$dynamicRef", "$dynamicAnchor", "$recursiveRef"})


def _at(document: Any, ref: str) -> Any:
    """The value at a local reference ``#/a/b`` of ``document`` (None when it is not there)."""
    target: Any = document
    for part in ref[2:].split("/") if ref.startswith("#/") else [None]:
        if part is None or not isinstance(target, dict):
            return None
        target = target.get(part.replace("~1", "/").replace("~0", "~"))
    return target


def _keys(schema: Any, document: Any, seen: frozenset[str] = frozenset()) -> set[str]:
    """Every object key in ``schema`` and in the local references it reaches."""
    found: set[str] = set()
    stack = [schema]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            found.update(value)
            ref = value.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/") and ref not in seen:
                seen = seen | {ref}
                stack.append(_at(document, ref))
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


def _inline(schema: Any, document: Any, expanding: tuple[str, ...]) -> Any:
    """A copy of ``schema`` with each local ``$ref`` replaced by what it points at; a reference
    met again while it is being expanded (recursion), or one that has sibling ``allOf``, stays a
    reference, made absolute so the registry resolves it from the new root."""
    if isinstance(schema, list):
        return [_inline(item, document, expanding) for item in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target = _at(document, ref)
        siblings = {k: _inline(v, document, expanding) for k, v in schema.items() if k != "$ref"}
        if target is None or ref in expanding or "allOf" in siblings:
            return {**siblings, "$ref": _DOC_URI + ref}
        inlined = _inline(target, document, (*expanding, ref))
        return {**siblings, "allOf": [inlined]} if siblings else inlined
    return {k: _inline(v, document, expanding) for k, v in schema.items()}


def _declared_statuses(responses: dict[str, Any]) -> list[int]:
    """The status codes an operation declares (``4XX`` stands for 400..499)."""
    codes: set[int] = set()
    for key in responses:
        if key.isdigit():
            codes.add(int(key))
        elif len(key) == 3 and key[0].isdigit() and key[1:].upper() == "XX":
            codes.update(range(int(key[0]) * 100, int(key[0]) * 100 + 100))
    return sorted(codes)


def _pattern_anywhere(pattern: str) -> str:
    """JSON Schema ``pattern`` searches; the expectation fullmatches."""
    return f"[\\s\\S]*(?:{pattern})[\\s\\S]*"


def schema_expectations(ex: str, error: ValidationError) -> list[dict[str, Any]]:
    """What the schema promises where ``error`` broke it, as expectations on exchange ``ex``:
    the JSON type, the required or forbidden member, the constant or enumerated value, the
    pattern or bound. An error of ``anyOf``/``oneOf`` is judged by its most relevant branch;
    [] when the keyword has no expectation form."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        deepest = best_match(error.context)
        if deepest is not None and deepest.validator not in ("anyOf", "oneOf"):
            error = deepest
    path: list[str | int] = list(error.absolute_path)
    instance, keyword, wanted = error.instance, error.validator, error.validator_value
    if keyword == "type":
        return [x.json_type(ex, path, list(wanted) if isinstance(wanted, list) else str(wanted))]
    if keyword == "required" and isinstance(instance, dict):
        return [x.json_present(ex, [*path, key]) for key in wanted if key not in instance]
    if keyword == "additionalProperties" and wanted is False and isinstance(instance, dict):
        declared = set((error.schema or {}).get("properties") or {})
        patterns = list((error.schema or {}).get("patternProperties") or {})
        extra = [
            k for k in instance if k not in declared and not any(re.search(p, k) for p in patterns)
        ]
        return [x.json_absent(ex, [*path, key]) for key in extra]
    if keyword == "const":
        return [x.json_equals(ex, path, wanted)]
    if keyword == "enum" and isinstance(wanted, list):
        if all(isinstance(v, str) for v in wanted):
            return [x.json_matches(ex, path, "|".join(re.escape(v) for v in wanted))]
        if len(wanted) == 1:
            return [x.json_equals(ex, path, wanted[0])]
        return []
    if keyword == "pattern" and isinstance(wanted, str):
        return [x.json_matches(ex, path, _pattern_anywhere(wanted))]
    bounds = {
        "minimum": ("ge", False),
        "maximum": ("le", False),
        "exclusiveMinimum": ("gt", False),
        "exclusiveMaximum": ("lt", False),
        "minLength": ("ge", True),
        "maxLength": ("le", True),
        "minItems": ("ge", True),
        "maxItems": ("le", True),
        "minProperties": ("ge", True),
        "maxProperties": ("le", True),
    }
    if keyword in bounds and isinstance(wanted, int | float) and not isinstance(wanted, bool):
        cmp, length = bounds[keyword]
        return [x.compare(x.operand(ex, path, length=length), cmp, x.operand(value=wanted))]
    return []


# Schemathesis failure titles -> the promise the failed check stands for (the response-shape
# titles are left out: the OpenApiContract observer judges the same exchange with a path).
_SCHEMATHESIS_PROMISES: dict[str, tuple[str, tuple[int, int] | tuple[int, ...]]] = {
    "Server error": ("between", (100, 499)),
    "Schema-violating request accepted": ("between", (400, 499)),
    "Missing required header accepted": ("between", (400, 499)),
    "API accepts requests without authentication": ("in", (401, 403)),
    "API accepts invalid authentication": ("in", (401, 403)),
    "Authentication not enforced": ("in", (401, 403)),
}


def schemathesis_expectations(text: str, ex: str) -> list[dict[str, Any]]:
    """Expectations on exchange ``ex`` for the Schemathesis failures named in ``text`` (the
    ``failure_text`` of its exception: ``Title: detail; ...``), where a title stands for a
    status promise or a JSON body; [] for the others."""
    found: list[dict[str, Any]] = []
    for part in text.split("; "):
        title = part.split(":", 1)[0].strip()
        promise = _SCHEMATHESIS_PROMISES.get(title)
        # "Got 404 when missing required header, expected 400, 401, 403, ...": the codes
        # Schemathesis names are the promise (a range would let the 404 it refused pass).
        named = re.search(r"expected ((?:[1-5][0-9]{2}(?:, )?)+)", part)
        if promise is not None and named is not None:
            found.append(x.status_in(ex, [int(c) for c in named.group(1).split(", ") if c]))
        elif promise is not None:
            kind, codes = promise
            found.append(
                x.status_between(ex, codes[0], codes[1])
                if kind == "between"
                else x.status_in(ex, list(codes))
            )
        elif title in ("JSON deserialization error", "Content deserialization error"):
            found.append(x.json_body(ex))
    return list({repr(e): e for e in found}.values())
