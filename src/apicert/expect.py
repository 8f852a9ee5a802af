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
                    ``request_path`` (a number the client sent must not come back in full); with
                    ``from``, the value is read from that other exchange's request body
status_between      ``min`` <= the response status <= ``max``
compare             ``left`` ``cmp`` ``right`` holds (``cmp``: eq, ne, lt, le, gt, ge) for two
                    operands (below); ordering needs numbers (digit strings count)
any_of              at least one of the expectations in ``of`` holds
each                the value at ``path`` is an array and every element's value at ``item_path``
                    fullmatches ``pattern``, or satisfies ``cmp`` against operand ``right``
==================  ==========================================================================

An *operand* of ``compare``/``each`` is ``{"value": literal}``, or a value of one exchange:
``{"ex", "path", "side"}`` (JSON at ``path`` of the ``response`` body, or of the ``request`` body),
``{"ex", "query": name}`` (a query parameter of its request URL) or ``{"ex", "status": true}``.
Modifiers: ``"len": true`` takes the length (array, object, string); ``"tail": n`` the last ``n``
characters of a string (the most a mask may show); ``"add": [operands]`` adds numbers;
``"number": true`` reads a digit string as a number. Operands let a promise compare
values that differ every run (an id the first answer gave, the name the request sent).
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = [
    "any_of",
    "compare",
    "distinct",
    "each",
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
    "operand",
    "same",
    "status_between",
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


def not_echoed(ex: str, request_path: Path, source: str | None = None) -> dict[str, Any]:
    """Expect the answer of ``ex`` not to contain, in full, the digits sent at ``request_path``
    of the JSON request body of ``source`` (``ex`` itself when None)."""
    found: dict[str, Any] = {"op": "not_echoed", "ex": ex, "request_path": list(request_path)}
    if source is not None and source != ex:
        found["from"] = source
    return found


def status_between(ex: str, low: int, high: int) -> dict[str, Any]:
    """Expect ``low`` <= the status of ``ex`` <= ``high``."""
    return {"op": "status_between", "ex": ex, "min": low, "max": high}


def operand(
    ex: str | None = None,
    path: Path | None = None,
    *,
    value: Any = None,
    side: str = "response",
    query: str | None = None,
    status: bool = False,
    length: bool = False,
    tail: int | None = None,
    number: bool = False,
    add: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An operand for :func:`compare`/:func:`each`: a literal ``value`` (when ``ex`` is None),
    or the value at ``path`` of ``ex``'s response (``side="request"``: request) body, its
    request's ``query`` parameter, or its ``status``; optionally its length, its last ``tail``
    characters, read as a number, or plus the operands of ``add``."""
    found: dict[str, Any]
    if ex is None:
        found = {"value": value}
    elif status:
        found = {"ex": ex, "status": True}
    elif query is not None:
        found = {"ex": ex, "query": query}
    else:
        found = {"ex": ex, "path": list(path or [])}
        if side != "response":
            found["side"] = side
    if length:
        found["len"] = True
    if tail is not None:
        found["tail"] = tail
    if number:
        found["number"] = True
    if add:
        found["add"] = [dict(a) for a in add]
    return found


def compare(left: dict[str, Any], cmp: str, right: dict[str, Any]) -> dict[str, Any]:
    """Expect ``left cmp right`` (eq, ne, lt, le, gt, ge) for two :func:`operand` values."""
    return {"op": "compare", "left": dict(left), "cmp": cmp, "right": dict(right)}


def each(
    ex: str,
    path: Path,
    item_path: Path,
    *,
    pattern: str | None = None,
    cmp: str | None = None,
    right: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Expect the value at ``path`` to be an array whose every element has, at ``item_path``, a
    string fullmatching ``pattern`` or a value satisfying ``cmp`` against operand ``right``."""
    found: dict[str, Any] = {
        "op": "each",
        "ex": ex,
        "path": list(path),
        "item_path": list(item_path),
    }
    if pattern is not None:
        found["pattern"] = pattern
    else:
        found["cmp"] = cmp or "eq"
        found["right"] = dict(right or {"value": None})
    return found


def any_of(*alternatives: dict[str, Any]) -> dict[str, Any]:
    """Expect at least one of ``alternatives`` to hold."""
    return {"op": "any_of", "of": [dict(a) for a in alternatives]}


def exchange_ids(expectation: dict[str, Any]) -> list[str]:
    """Every exchange id an expectation is about (operands and ``from`` included)."""
    return _expect_ids(expectation)


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


def _expect_ids(e: dict[str, Any]) -> list[str]:
    found: list[str] = []
    stack: list[Any] = [e]
    while stack:
        item = stack.pop(0)
        if isinstance(item, dict):
            for key in ("exs",):
                found.extend(str(x) for x in item.get(key) or [])
            for key in ("ex", "from"):
                if key in item and item[key] is not None:
                    found.append(str(item[key]))
            stack.extend(item.get(k) for k in ("left", "right") if isinstance(item.get(k), dict))
            stack.extend(a for a in item.get("add") or [] if isinstance(a, dict))
            stack.extend(a for a in item.get("of") or [] if isinstance(a, dict))
    return list(dict.fromkeys(found))


def _expect_number(value: Any) -> Any:
    import re

    if isinstance(value, bool):
        return _MISSING
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value.strip()):
        text = value.strip()
        return float(text) if "." in text else int(text)
    return _MISSING


def _expect_operand(o: dict[str, Any], forms: dict[str, dict[str, Any]]) -> Any:
    from urllib.parse import parse_qs, urlsplit

    if "ex" not in o:
        value = o.get("value")
    else:
        form = forms.get(str(o["ex"])) or {}
        if o.get("status"):
            value = (form.get("response") or {}).get("status")
            value = _MISSING if value is None else value
        elif "query" in o:
            url = str((form.get("request") or {}).get("url") or "")
            values = parse_qs(urlsplit(url).query, keep_blank_values=True).get(str(o["query"]))
            value = values[0] if values else _MISSING
        else:
            side = "request" if o.get("side") == "request" else "response"
            parsed = _expect_json(form, side)
            value = (
                _MISSING if parsed is _MISSING else _expect_at(parsed, list(o.get("path") or []))
            )
    if value is not _MISSING and o.get("len"):
        value = len(value) if isinstance(value, list | dict | str) else _MISSING
    if value is not _MISSING and o.get("tail") is not None:
        value = value[-int(o["tail"]) :] if isinstance(value, str) else _MISSING
    if value is not _MISSING and (o.get("number") or o.get("add")):
        value = _expect_number(value)
    for extra in o.get("add") or []:
        more = _expect_number(_expect_operand(extra, forms))
        value = _MISSING if value is _MISSING or more is _MISSING else value + more
    return value


def _expect_cmp(left: Any, cmp: str, right: Any) -> bool:
    if left is _MISSING or right is _MISSING:
        return False
    if cmp in ("eq", "ne"):
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right))
        equal = left == right and (numbers or type(left) is type(right))
        return equal if cmp == "eq" else not equal
    a, b = _expect_number(left), _expect_number(right)
    if a is _MISSING or b is _MISSING:
        return False
    return {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}.get(cmp, False)


def _expect_show(o: dict[str, Any]) -> str:
    if "ex" not in o:
        return repr(o.get("value"))
    if o.get("status"):
        text = f"status of {o['ex']}"
    elif "query" in o:
        text = f"query {o['query']} of {o['ex']}"
    else:
        side = "request " if o.get("side") == "request" else ""
        text = f"{side}{'/'.join(str(p) for p in o.get('path') or []) or '(body)'} of {o['ex']}"
    if o.get("len"):
        text = f"len({text})"
    if o.get("tail") is not None:
        text = f"last {o['tail']} of {text}"
    for extra in o.get("add") or []:
        text += f" + {_expect_show(extra)}"
    return text


def evaluate(expectations: list[dict[str, Any]], forms: dict[str, dict[str, Any]]) -> list[str]:
    """Return one line per expectation that does not hold on ``forms`` (exchange id -> exchange
    form with ``request``/``response`` mappings); an empty list when every one holds."""
    import re

    problems: list[str] = []
    for e in expectations:
        op = e["op"]
        ids = _expect_ids(e)
        missing = [i for i in ids if i not in forms]
        if missing:
            problems.append(f"{op}: exchange {missing[0]} was not sent or got no answer")
            continue
        form = forms[ids[0]] if ids else {}
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
        elif op == "status_between":
            status = response.get("status")
            if not isinstance(status, int) or not e["min"] <= status <= e["max"]:
                problems.append(f"{where}: status {status}, expected {e['min']}..{e['max']}")
        elif op == "compare":
            left = _expect_operand(e["left"], forms)
            right = _expect_operand(e["right"], forms)
            if not _expect_cmp(left, e["cmp"], right):
                got_left = "missing" if left is _MISSING else repr(left)
                got_right = "missing" if right is _MISSING else repr(right)
                problems.append(
                    f"{_expect_show(e['left'])} ({got_left:.60}) is not {e['cmp']} "
                    f"{_expect_show(e['right'])} ({got_right:.60})"
                )
        elif op == "each":
            right = _expect_operand(e["right"], forms) if "right" in e else _MISSING
            if not isinstance(value, list):
                kind = "missing" if value is _MISSING else _expect_type(value)
                problems.append(f"{where}: {shown} is {kind}, expected an array")
            for index, item in enumerate(value if isinstance(value, list) else []):
                got = _expect_at(item, list(e["item_path"]))
                if "pattern" in e:
                    ok = isinstance(got, str) and re.fullmatch(e["pattern"], got) is not None
                    want = f"/{e['pattern']}/"
                else:
                    ok = _expect_cmp(got, e["cmp"], right)
                    want = f"{e['cmp']} {_expect_show(e['right'])}"
                if not ok:
                    steps = [*(path or []), index, *e["item_path"]]
                    item_shown = "/".join(str(p) for p in steps)
                    got_text = "missing" if got is _MISSING else repr(got)
                    problems.append(f"{where}: {item_shown} is {got_text:.60}, expected {want}")
                    break
        elif op == "any_of":
            failed = [evaluate([alternative], forms) for alternative in e["of"]]
            if all(failed):
                problems.append("none holds: " + " | ".join(f[0] for f in failed))
        elif op == "not_echoed":
            source = forms.get(str(e.get("from") or e["ex"])) or {}
            sent = _expect_at(_expect_json(source, "request"), e["request_path"])
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
        inspect.getsource(_expect_ids),
        inspect.getsource(_expect_number),
        inspect.getsource(_expect_operand),
        inspect.getsource(_expect_cmp),
        inspect.getsource(_expect_show),
        inspect.getsource(evaluate),
    ]
    return "\n\n".join(parts)
