"""Schema drift: response fields seen on the wire against the fields the OpenAPI document declares.

Computed at session end from the recorded (redacted) exchanges. For each operation and status
seen, it lists the JSON field paths the responses carried (``data.customerId``, ``data.items[]``),
the ones the document does not declare (``undeclared``) and the declared ones no response carried
(``unseen``). The result is bounded: at most :data:`MAX_PATHS` paths per list, paths at most
:data:`MAX_DEPTH` deep, at most :data:`MAX_OPERATIONS` operations per vendor.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

__all__ = [
    "MAX_DEPTH",
    "MAX_PATHS",
    "compute_drift",
    "declared_paths",
    "load_documents",
    "seen_paths",
]

MAX_DEPTH = 8
MAX_PATHS = 200
MAX_OPERATIONS = 200
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


Document = tuple[str, dict[str, Any]]  # (file name, OpenAPI document)
_VERSIONED = re.compile(r"^openapi-(.+)\.yaml$")
_US_DATE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")


def load_documents(vendor_dir: Path) -> list[Document]:
    """Return the vendor's OpenAPI documents: ``openapi.yaml``, or every ``openapi-<version>.yaml``
    oldest version first; empty when it has none."""
    paths = [vendor_dir / "openapi.yaml"] if (vendor_dir / "openapi.yaml").is_file() else []
    paths = paths or sorted(vendor_dir.glob("openapi-*.yaml"))
    out = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
        if isinstance(document, dict):
            out.append((path.name, document))
    return out


def _pick(documents: list[Document], request: dict[str, Any], default: str | None) -> int:
    """The document an exchange is judged by: the one whose version a request header names
    (``2023-12-01`` or ``12/01/2023``), else ``default``'s, else the oldest (an unversioned
    request gets the vendor's default version, in practice the oldest one still served)."""
    if len(documents) == 1:
        return 0
    values = set()
    for value in (request.get("headers") or {}).values():
        value = str(value).strip()
        values.add(value)
        if m := _US_DATE.match(value):
            values.add(f"{m.group(3)}-{m.group(1)}-{m.group(2)}")
    versions = [(m.group(1) if (m := _VERSIONED.match(n)) else None) for n, _d in documents]
    for wanted in (values, {default}):
        for i, version in enumerate(versions):
            if version is not None and version in wanted:
                return i
    return 0


def seen_paths(value: Any, prefix: str = "", depth: int = 0) -> set[str]:
    """Return the field paths of a JSON value: object keys joined by dots, ``[]`` for arrays."""
    out: set[str] = set()
    if depth >= MAX_DEPTH:
        return out
    if isinstance(value, dict):
        for key, child in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            out.add(path)
            out |= seen_paths(child, path, depth + 1)
    elif isinstance(value, list):
        path = f"{prefix}[]"
        for child in value[:20]:
            out |= seen_paths(child, path, depth + 1)
    return out


def _resolve(document: dict[str, Any], node: Any) -> Any:
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < 20:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            return {}
        target: Any = document
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, dict) else None
        node = target if target is not None else {}
        seen += 1
    return node


def declared_paths(
    document: dict[str, Any], schema: Any, prefix: str = "", depth: int = 0
) -> set[str]:
    """Return the field paths a JSON Schema declares (``properties``, ``items``, and the union of
    ``allOf`` / ``oneOf`` / ``anyOf`` branches), following local ``$ref``s."""
    out: set[str] = set()
    schema = _resolve(document, schema)
    if depth >= MAX_DEPTH or not isinstance(schema, dict):
        return out
    for key in ("allOf", "oneOf", "anyOf"):
        for branch in schema.get(key) or []:
            out |= declared_paths(document, branch, prefix, depth + 1)
    for name, child in (schema.get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else str(name)
        out.add(path)
        out |= declared_paths(document, child, path, depth + 1)
    if "items" in schema:
        out |= declared_paths(document, schema["items"], f"{prefix}[]", depth + 1)
    extra = schema.get("additionalProperties")
    if (
        extra is True
        or isinstance(extra, dict)
        or (schema.get("type") == "object" and not schema.get("properties") and extra is None)
    ):
        out.add(f"{prefix}.*" if prefix else "*")  # a free-form object: any key is declared
    if schema.get("type") == "array" and "items" not in schema:
        out.add(f"{prefix}[].*")  # items of any shape
    return out


def _undeclared(got: set[str], want: set[str]) -> list[str]:
    if "*" in want:
        return []
    open_prefixes = tuple(w[:-1] for w in want if w.endswith(".*"))  # "a." and "a[]."
    out = []
    for path in sorted(got - want):
        if open_prefixes and (path + ".").startswith(open_prefixes):
            continue  # under a free-form object or array (or that array itself)
        out.append(path)
    return out


def _operations(document: dict[str, Any]) -> list[tuple[str, re.Pattern[str], str, dict[str, Any]]]:
    ops = []
    for template, item in (document.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "/?$")
        for method in _METHODS:
            if isinstance(item.get(method), dict):
                ops.append((method.upper(), pattern, template, item[method]))
    # Literal paths before templated ones: /customer/init wins over /customer/{id}.
    ops.sort(key=lambda op: op[2].count("{"))
    return ops


def _response_schema(document: dict[str, Any], operation: dict[str, Any], status: int) -> Any:
    responses = operation.get("responses") or {}
    response = (
        responses.get(str(status))
        or responses.get(f"{str(status)[0]}XX")
        or responses.get("default")
    )
    response = _resolve(document, response)
    if not isinstance(response, dict):
        return None
    for media, content in (response.get("content") or {}).items():
        if "json" in media and isinstance(content, dict):
            return content.get("schema")
    return None


def compute_drift(
    exchanges: Iterable[dict[str, Any]],
    base_urls: dict[str, str],
    documents: dict[str, list[Document]],
    versions: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """Return, per vendor, the drift between recorded JSON responses and its OpenAPI documents.

    ``exchanges`` are redacted ``Exchange.to_dict()`` forms, consumed once as a stream (pass
    ``Recorder.iter()``: no list of them is built); ``base_urls`` maps a vendor to the
    URL its exchanges start with; ``documents`` maps a vendor to its documents (see
    :func:`load_documents`); ``versions`` to the API version under test, if known. With several
    documents each operation key ends with the file name it was judged by.
    """
    documents = {v: docs for v, docs in documents.items() if docs}
    versions = versions or {}
    ops = {v: [_operations(doc) for _n, doc in docs] for v, docs in documents.items()}
    seen: dict[str, dict[str, set[str]]] = {v: {} for v in documents}
    declared: dict[str, dict[str, set[str]]] = {v: {} for v in documents}
    unmatched: dict[str, set[str]] = {v: set() for v in documents}
    for exchange in exchanges:
        request, response = exchange.get("request") or {}, exchange.get("response") or {}
        url, status = str(request.get("url") or ""), response.get("status")
        vendor = next(
            (
                v
                for v, base in base_urls.items()
                if v in documents and base and url.startswith(base)
            ),
            None,
        )
        if vendor is None or not isinstance(status, int):
            continue
        try:
            body = json.loads(response.get("body") or "")
        except ValueError:
            continue
        path = urlsplit(url[len(base_urls[vendor].rstrip("/")) :]).path or "/"
        method = str(request.get("method") or "").upper()
        which = _pick(documents[vendor], request, versions.get(vendor))
        name, document = documents[vendor][which]
        match = next(
            (op for op in ops[vendor][which] if op[0] == method and op[1].match(path)), None
        )
        if match is None:
            if len(unmatched[vendor]) < MAX_OPERATIONS:
                unmatched[vendor].add(f"{method} {path}")
            continue
        key = f"{method} {match[2]} {status}"
        if len(documents[vendor]) > 1:
            key += f" {name}"
        if key not in seen[vendor]:
            if len(seen[vendor]) >= MAX_OPERATIONS:
                continue
            seen[vendor][key] = set()
            schema = _response_schema(document, match[3], status)
            declared[vendor][key] = (
                declared_paths(document, schema) if schema is not None else set()
            )
        if len(seen[vendor][key]) < MAX_PATHS:
            seen[vendor][key] |= seen_paths(body)
    out: dict[str, Any] = {}
    for vendor, docs in documents.items():
        operations = {}
        for key in sorted(seen[vendor]):
            got, want = seen[vendor][key], declared[vendor][key]
            operations[key] = {
                "seen": sorted(got)[:MAX_PATHS],
                "undeclared": _undeclared(got, want)[:MAX_PATHS],
                "unseen": sorted(w for w in want - got if not w.endswith("*"))[:MAX_PATHS],
            }
        out[vendor] = {
            "document": ", ".join(n for n, _d in docs),
            "operations": operations,
            "unmatched": sorted(unmatched[vendor]),
        }
    return out
