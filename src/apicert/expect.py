"""Expectations: what a conformant answer must show, as data a standalone script can evaluate.

A check that fails a requirement can attach expectations to its finding (``Finding.expect``).
Each is a small JSON mapping naming an operation, the exchange(s) it is about (by exchange id)
and its arguments. They state the *promise*, so on a conformant target every one holds and on
the faulty one at least one does not. They are what ``apicert repro`` turns into a pytest file
and what ``apicert replay`` re-evaluates on re-sent exchanges.

``evaluate`` works on exchange *forms* (``Exchange.to_dict()`` shapes: ``request``/``response``
mappings) and needs only the standard library, so its source is copied verbatim into repro
files (:func:`evaluator_source`); the repro needs no apicert.

Vocabulary (``path`` is a list of object keys and list indexes into the JSON body):

==================  ==========================================================================
op                  holds when
==================  ==========================================================================
status_in           the response status is one of ``values``
json_body           the body parses as JSON and Content-Type names JSON
json_equals         the value at ``path`` equals ``value``
json_type           the value at ``path`` has JSON type ``type`` (string, integer, number,
                    boolean, object, array, null); a list of types means any of them
json_present        ``path`` exists
json_absent         ``path`` does not exist
json_matches        the value at ``path`` is a string matching regex ``pattern`` (fullmatch)
header_present      response header ``name`` is present
header_matches      response header ``name`` fullmatches ``pattern``
same                the value at ``path`` (whole body when ``path`` is null) is equal in every
                    exchange of ``exs``
distinct            the values at ``path`` differ pairwise across ``exs``
not_echoed          the response body does not contain the digits of the request body value at
                    ``request_path`` (a number the client sent must not come back in full)
==================  ==========================================================================
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = [
    "distinct",
    "evaluate",
    "evaluator_source",
    "exchange_ids",
    "header_matches",
    "header_present",
    "json_absent",
    "json_body",
    "json_equals",
    "json_matches",
    "json_present",
    "json_type",
    "not_echoed",
    "same",
    "status_in",
]

Path = list[str | int]


def status_in(ex: str, values: list[int]) -> dict[str, Any]:
    """Expect the status of exchange ``ex`` to be one of ``values``."""
    return {"op": "status_in", "ex": ex, "values": sorted(values)}


def json_body(ex: str) -> dict[str, Any]:
    """Expect exchange ``ex`` to answer a JSON body with a JSON Content-Type."""
    return {"op": "json_body", "ex": ex}


def json_equals(ex: str, path: Path, value: Any) -> dict[str, Any]:
    """Expect the JSON value at ``path`` in the answer of ``ex`` to equal ``value``."""
    return {"op": "json_equals", "ex": ex, "path": list(path), "value": value}


def json_type(ex: str, path: Path, type_: str | list[str]) -> dict[str, Any]:
    """Expect the JSON value at ``path`` to have type ``type_`` (a JSON Schema type name)."""
    return {"op": "json_type", "ex": ex, "path": list(path), "type": type_}


def json_present(ex: str, path: Path) -> dict[str, Any]:
    """Expect ``path`` to exist in the JSON answer of ``ex``."""
    return {"op": "json_present", "ex": ex, "path": list(path)}


def json_absent(ex: str, path: Path) -> dict[str, Any]:
    """Expect ``path`` not to exist in the JSON answer of ``ex``."""
    return {"op": "json_absent", "ex": ex, "path": list(path)}


def json_matches(ex: str, path: Path, pattern: str) -> dict[str, Any]:
    """Expect the value at ``path`` to be a string that fullmatches ``pattern``."""
    return {"op": "json_matches", "ex": ex, "path": list(path), "pattern": pattern}


def header_present(ex: str, name: str) -> dict[str, Any]:
    """Expect response header ``name`` (any case) in the answer of ``ex``."""
    return {"op": "header_present", "ex": ex, "name": name}


def header_matches(ex: str, name: str, pattern: str) -> dict[str, Any]:
    """Expect response header ``name`` to fullmatch ``pattern``."""
    return {"op": "header_matches", "ex": ex, "name": name, "pattern": pattern}


def same(exs: list[str], path: Path | None = None) -> dict[str, Any]:
    """Expect the value at ``path`` (the whole body when None) to be equal across ``exs``."""
    return {"op": "same", "exs": list(exs), "path": None if path is None else list(path)}


def distinct(exs: list[str], path: Path) -> dict[str, Any]:
    """Expect the values at ``path`` to differ pairwise across ``exs``."""
    return {"op": "distinct", "exs": list(exs), "path": list(path)}


def not_echoed(ex: str, request_path: Path) -> dict[str, Any]:
    """Expect the answer of ``ex`` not to contain, in full, the digits it sent at
    ``request_path`` of its JSON request body."""
    return {"op": "not_echoed", "ex": ex, "request_path": list(request_path)}


def exchange_ids(expectation: dict[str, Any]) -> list[str]:
    """Every exchange id an expectation is about."""
    if "exs" in expectation:
        return [str(e) for e in expectation["exs"]]
    return [str(expectation["ex"])]


# --- the evaluator: standard library only; copied verbatim into standalone repro files ---------

_MISSING = object()


def _expect_json(form: dict[str, Any], key: str) -> Any:
    import json

    text = (form.get(key) or {}).get("body")
    if text is None or text == "":
        return _MISSING
    try:
        return json.loads(text)
    except ValueError:
        return _MISSING


def _expect_at(value: Any, path: list[Any]) -> Any:
    for step in path:
        in_list = (
            isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value)
        )
        in_object = isinstance(step, str) and isinstance(value, dict) and step in value
        if in_list or in_object:
            value = value[step]
        else:
            return _MISSING
    return value


def _expect_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _expect_header(form: dict[str, Any], name: str) -> Any:
    headers = (form.get("response") or {}).get("headers") or {}
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def evaluate(expectations: list[dict[str, Any]], forms: dict[str, dict[str, Any]]) -> list[str]:
    """Return one line per expectation that does not hold on ``forms`` (exchange id -> exchange
    form with ``request``/``response`` mappings); an empty list when every one holds."""
    import re

    problems: list[str] = []
    for e in expectations:
        op = e["op"]
        ids = [str(x) for x in e["exs"]] if "exs" in e else [str(e["ex"])]
        missing = [i for i in ids if i not in forms]
        if missing:
            problems.append(f"{op}: exchange {missing[0]} was not sent or got no answer")
            continue
        form = forms[ids[0]]
        response = form.get("response") or {}
        where = (
            f"{ids[0]} ({(form.get('request') or {}).get('method')} -> {response.get('status')})"
        )
        body = _expect_json(form, "response")
        path = e.get("path")
        shown = "/".join(str(p) for p in path) if path else "(body)"
        value = _expect_at(body, path) if path is not None and body is not _MISSING else _MISSING
        if op == "status_in":
            if response.get("status") not in e["values"]:
                problems.append(
                    f"{where}: status {response.get('status')}, expected one of {e['values']}"
                )
        elif op == "json_body":
            content_type = str(_expect_header(form, "content-type") or "")
            if body is _MISSING or "json" not in content_type.lower():
                problems.append(f"{where}: no JSON body (Content-Type {content_type or 'none'!r})")
        elif op == "json_equals":
            if value is _MISSING or value != e["value"] or type(value) is not type(e["value"]):
                got = "missing" if value is _MISSING else repr(value)
                problems.append(f"{where}: {shown} is {got}, expected {e['value']!r}")
        elif op == "json_type":
            wanted = e["type"] if isinstance(e["type"], list) else [e["type"]]
            got_type = "missing" if value is _MISSING else _expect_type(value)
            if got_type not in wanted and not (got_type == "integer" and "number" in wanted):
                problems.append(f"{where}: {shown} is {got_type}, expected {' or '.join(wanted)}")
        elif op == "json_present":
            if value is _MISSING:
                problems.append(f"{where}: {shown} is missing")
        elif op == "json_absent":
            if value is not _MISSING:
                problems.append(f"{where}: {shown} is present ({value!r:.60})")
        elif op == "json_matches":
            if not isinstance(value, str) or not re.fullmatch(e["pattern"], value):
                got = "missing" if value is _MISSING else repr(value)
                problems.append(f"{where}: {shown} is {got:.60}, expected /{e['pattern']}/")
        elif op == "header_present":
            if _expect_header(form, e["name"]) is None:
                problems.append(f"{where}: header {e['name']} is missing")
        elif op == "header_matches":
            header = _expect_header(form, e["name"])
            if header is None or not re.fullmatch(e["pattern"], str(header)):
                problems.append(
                    f"{where}: header {e['name']} is {header!r}, expected /{e['pattern']}/"
                )
        elif op in ("same", "distinct"):
            values = []
            for i in ids:
                parsed = _expect_json(forms[i], "response")
                values.append(parsed if path is None else _expect_at(parsed, path))
            if op == "same" and any(v != values[0] for v in values[1:]):
                problems.append(f"{shown} differs across {', '.join(ids)}")
            if op == "distinct":
                seen = [repr(v) for v in values]
                if len(set(seen)) != len(seen):
                    problems.append(f"{shown} repeats across {', '.join(ids)}")
        elif op == "not_echoed":
            sent = _expect_at(_expect_json(form, "request"), e["request_path"])
            digits = "".join(ch for ch in str(sent) if ch.isdigit()) if sent is not _MISSING else ""
            text = "".join(
                ch for ch in str(response.get("body") or "") if ch.isdigit() or ch == '"'
            )
            if len(digits) > 4 and any(digits in part for part in text.split('"')):
                name = "/".join(str(p) for p in e["request_path"])
                problems.append(f"{where}: the {name} sent comes back in full")
        else:
            problems.append(f"unknown expectation {op!r}")
    return problems


def evaluator_source() -> str:
    """The source of :func:`evaluate` and its helpers, for a standalone file (stdlib only)."""
    parts = [
        "from typing import Any\n\n_MISSING = object()\n",
        inspect.getsource(_expect_json),
        inspect.getsource(_expect_at),
        inspect.getsource(_expect_type),
        inspect.getsource(_expect_header),
        inspect.getsource(evaluate),
    ]
    return "\n\n".join(parts)
