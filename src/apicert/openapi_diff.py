"""Breaking changes between two OpenAPI 3.x documents, and which API versions a vendor documents.

Promises of :func:`breaking_changes` (old document to new, as a client written against the old
one sees it):

* ``removed operation``: a METHOD path of the old document the new one does not have;
* ``removed response field``: a field path (``items[].borrowerId``, as in the drift report) a
  response of the old document declares and the same operation and status of the new one does
  not (a removed status counts as ``removed response``);
* ``retyped response field``: a field both declare with different JSON types
  (``string|null -> string``);
* ``response field now optional``: a field the old response always carried (required on every
  branch) that the new one may leave out;
* ``new required request field`` / ``new required parameter``: a request body field or a
  parameter the new document requires that the old one did not require (or did not have).

Schemas are read the way a client reads them: ``$ref`` followed (cycles cut), ``allOf`` merged,
``oneOf``/``anyOf`` branches united (a field is required only when every branch requires it),
OpenAPI 3.1 type lists and 3.0 ``nullable`` both understood; ``not`` is ignored. Additions (new
operations and fields) are listed apart as non-breaking. Both documents are plain dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apicert.paths import schemas_dir

__all__ = [
    "Change",
    "FieldInfo",
    "api_versions",
    "breaking_changes",
    "change_lines",
    "document_path",
    "response_fields",
    "version_problem",
]

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_MAX_DEPTH = 12


@dataclass(frozen=True)
class Change:
    """One difference between the documents; ``breaking`` is False for additions."""

    kind: str
    operation: str
    location: str
    detail: str
    breaking: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The change as JSON-ready data."""
        return {
            "kind": self.kind,
            "operation": self.operation,
            "location": self.location,
            "detail": self.detail,
            "breaking": self.breaking,
        }


@dataclass
class FieldInfo:
    """What a schema says of one field path: its JSON types and whether it is always present."""

    types: set[str] = field(default_factory=set)
    required: bool = False


# -- versions ------------------------------------------------------------------------------
def api_versions(vendor: str) -> tuple[str, ...]:
    """The API versions a vendor documents (one ``openapi-<version>.yaml`` each), oldest first;
    empty for a vendor with a single unversioned ``openapi.yaml``."""
    folder = schemas_dir() / vendor
    return tuple(
        sorted(p.name[len("openapi-") : -len(".yaml")] for p in folder.glob("openapi-*.yaml"))
    )


def document_path(vendor: str, version: str | None) -> Path:
    """The OpenAPI document of ``vendor`` at ``version`` (None: the default, the oldest one, or
    the only ``openapi.yaml``)."""
    versions = api_versions(vendor)
    if not versions:
        return schemas_dir() / vendor / "openapi.yaml"
    return schemas_dir() / vendor / f"openapi-{version or versions[0]}.yaml"


def version_problem(vendor: str, version: str) -> str | None:
    """A one-line reason ``version`` cannot be tested for ``vendor``, or None when it can."""
    versions = api_versions(vendor)
    if not versions:
        return f"--api-version: {vendor} documents no API versions (one contract only)"
    if version not in versions:
        return f"--api-version {version!r}: {vendor} documents {', '.join(versions)}"
    return None


# -- schema flattening ---------------------------------------------------------------------
class _Resolver:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def deref(self, schema: Any, seen: frozenset[str]) -> tuple[Any, frozenset[str]]:
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
            ref = schema["$ref"]
            if ref in seen or not ref.startswith("#/"):
                return {}, seen
            seen = seen | {ref}
            target: Any = self.document
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                target = target.get(part) if isinstance(target, dict) else None
            schema = target if target is not None else {}
        return schema, seen


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    out = (
        {kind}
        if isinstance(kind, str)
        else {str(k) for k in kind}
        if isinstance(kind, list)
        else set()
    )
    if schema.get("nullable") is True:
        out.add("null")
    if "const" in schema and not out:
        out.add(_json_type(schema["const"]))
    if "enum" in schema and not out and isinstance(schema["enum"], list):
        out.update(_json_type(v) for v in schema["enum"])
    return out


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def flatten(document: dict[str, Any], schema: Any) -> dict[str, FieldInfo]:
    """Every field path a schema declares (``a.b``, ``list[].c``) with its types and whether it
    is always present; the root's own types are under the path ``""``."""
    resolver = _Resolver(document)
    out: dict[str, FieldInfo] = {}
    _walk(resolver, schema, "", True, out, frozenset(), 0)
    return out


def _merge(out: dict[str, FieldInfo], path: str, types: set[str], required: bool) -> None:
    info = out.setdefault(path, FieldInfo())
    info.types |= types
    info.required = info.required or required


def _walk(
    resolver: _Resolver,
    schema: Any,
    path: str,
    required: bool,
    out: dict[str, FieldInfo],
    seen: frozenset[str],
    depth: int,
) -> None:
    schema, seen = resolver.deref(schema, seen)
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return
    _merge(out, path, _types(schema), required)
    for sub in schema.get("allOf") or []:
        _walk(resolver, sub, path, required, out, seen, depth + 1)
    branches = [b for key in ("oneOf", "anyOf") for b in schema.get(key) or []]
    if branches:
        flat = []
        for branch in branches:
            part: dict[str, FieldInfo] = {}
            _walk(resolver, branch, path, required, part, seen, depth + 1)
            flat.append(part)
        for name in {n for part in flat for n in part}:
            present = [part[name] for part in flat if name in part]
            always = len(present) == len(flat) and all(p.required for p in present)
            _merge(out, name, set().union(*(p.types for p in present)), always)
    own = set(schema.get("required") or [])
    for name, sub in (schema.get("properties") or {}).items():
        child = f"{path}.{name}" if path else str(name)
        _walk(resolver, sub, child, required and name in own, out, seen, depth + 1)
    for name in own - set(schema.get("properties") or {}):
        child = f"{path}.{name}" if path else str(name)
        _merge(out, child, set(), required)
    if "items" in schema:
        _walk(resolver, schema["items"], f"{path}[]", required, out, seen, depth + 1)


# -- operations ----------------------------------------------------------------------------
def _operations(document: dict[str, Any]) -> dict[str, tuple[dict[str, Any], list[Any]]]:
    out: dict[str, tuple[dict[str, Any], list[Any]]] = {}
    for path, item in (document.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        shared = list(item.get("parameters") or [])
        for method in _METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                out[f"{method.upper()} {path}"] = (op, shared + list(op.get("parameters") or []))
    return out


def _json_schema(resolver: _Resolver, holder: Any) -> Any:
    holder, _ = resolver.deref(holder, frozenset())
    if not isinstance(holder, dict):
        return None
    for media, body in (holder.get("content") or {}).items():
        if "json" in media and isinstance(body, dict):
            return body.get("schema")
    return None


def _responses(document: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    resolver = _Resolver(document)
    return {
        str(code): _json_schema(resolver, response)
        for code, response in (op.get("responses") or {}).items()
    }


def response_fields(document: dict[str, Any], operation: str, status: str) -> set[str]:
    """The field paths the document declares for ``operation`` (``GET /path``) answering
    ``status``; empty when it declares no such response."""
    found = _operations(document).get(operation)
    if found is None:
        return set()
    schema = _responses(document, found[0]).get(status)
    return {path for path in flatten(document, schema) if path} if schema is not None else set()


def _required_params(document: dict[str, Any], params: list[Any]) -> dict[str, bool]:
    resolver = _Resolver(document)
    out: dict[str, bool] = {}
    for param in params:
        param, _ = resolver.deref(param, frozenset())
        if isinstance(param, dict) and "name" in param:
            key = f"{param.get('in', '?')} {param['name']}"
            out[key] = bool(param.get("required")) or out.get(key, False)
    return out


def _topmost(paths: set[str]) -> list[str]:
    """The paths not under another one of the set (``data`` stands for ``data[].id`` too)."""

    def under(path: str) -> bool:
        return any(
            path != p and (path.startswith(p + ".") or path.startswith(p + "[]")) for p in paths
        )

    return sorted(p for p in paths if p and not under(p))


def _show(types: set[str]) -> str:
    return "|".join(sorted(types)) or "any"


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """The changes from ``old`` to ``new`` a client of ``old`` would notice (see the module
    docstring), breaking ones first, each sorted by operation and location."""
    changes: list[Change] = []
    before, after = _operations(old), _operations(new)
    for name in sorted(set(before) - set(after)):
        changes.append(
            Change("removed operation", name, "", "the new document has no such operation")
        )
    for name in sorted(set(after) - set(before)):
        changes.append(Change("added operation", name, "", "new in this version", breaking=False))
    for name in sorted(set(before) & set(after)):
        (old_op, old_params), (new_op, new_params) = before[name], after[name]
        changes += _response_changes(name, old, old_op, new, new_op)
        changes += _request_changes(name, old, old_op, old_params, new, new_op, new_params)
    return sorted(changes, key=lambda c: (not c.breaking, c.operation, c.location, c.kind))


def _response_changes(
    name: str,
    old: dict[str, Any],
    old_op: dict[str, Any],
    new: dict[str, Any],
    new_op: dict[str, Any],
) -> list[Change]:
    out: list[Change] = []
    old_resp, new_resp = _responses(old, old_op), _responses(new, new_op)
    for code in sorted(set(old_resp) - set(new_resp)):
        out.append(Change("removed response", name, code, f"status {code} is no longer documented"))
    for code in sorted(set(old_resp) & set(new_resp)):
        was, now = flatten(old, old_resp[code]), flatten(new, new_resp[code])
        where = f"{code} "
        for path in _topmost(set(was) - set(now)):
            if path:
                out.append(
                    Change(
                        "removed response field",
                        name,
                        where + path,
                        f"was {_show(was[path].types)}",
                    )
                )
        for path in _topmost(set(now) - set(was)):
            if path:
                out.append(
                    Change(
                        "added response field",
                        name,
                        where + path,
                        _show(now[path].types),
                        breaking=False,
                    )
                )
        for path in sorted(set(was) & set(now)):
            a, b = was[path], now[path]
            if a.types and b.types and a.types != b.types:
                out.append(
                    Change(
                        "retyped response field",
                        name,
                        where + (path or "(body)"),
                        f"{_show(a.types)} -> {_show(b.types)}",
                    )
                )
            if a.required and not b.required and path:
                out.append(
                    Change("response field now optional", name, where + path, "may now be absent")
                )
    return out


def _request_changes(
    name: str,
    old: dict[str, Any],
    old_op: dict[str, Any],
    old_params: list[Any],
    new: dict[str, Any],
    new_op: dict[str, Any],
    new_params: list[Any],
) -> list[Change]:
    out: list[Change] = []
    resolver_old, resolver_new = _Resolver(old), _Resolver(new)
    was = flatten(old, _json_schema(resolver_old, old_op.get("requestBody")))
    now = flatten(new, _json_schema(resolver_new, new_op.get("requestBody")))
    for path in sorted(now):
        if path and now[path].required and not (path in was and was[path].required):
            detail = "required now, optional before" if path in was else "new and required"
            out.append(Change("new required request field", name, f"body {path}", detail))
    p_old, p_new = _required_params(old, old_params), _required_params(new, new_params)
    for key in sorted(p_new):
        if p_new[key] and not p_old.get(key, False):
            detail = "required now, optional before" if key in p_old else "new and required"
            out.append(Change("new required parameter", name, key, detail))
    return out


def change_lines(changes: list[Change], width: int = 80) -> list[str]:
    """The changes for a terminal, one line each (at most ``width`` columns)."""
    breaking = [c for c in changes if c.breaking]
    lines = [
        f"OpenAPI breaking changes: {len(breaking)} (and {len(changes) - len(breaking)} additions)"
    ]
    for c in breaking:
        text = f"  {c.kind}: {c.operation} {c.location} ({c.detail})".replace("  ()", "")
        lines.append(text if len(text) <= width else text[: width - 1] + "~")
    return lines
