"""OpenAPI breaking changes (apicert.openapi_diff): each kind shown on a small pair of
documents, then DigiFi's two real documents."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from apicert.openapi_diff import (
    api_versions,
    breaking_changes,
    change_lines,
    document_path,
    flatten,
    version_problem,
)
from apicert.paths import schemas_dir


def _doc() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "paths": {
            "/things": {
                "get": {
                    "parameters": [{"name": "count", "in": "query", "schema": {"type": "integer"}}],
                    "responses": {
                        "200": {
                            "description": "page",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Page"}
                                }
                            },
                        },
                        "404": {"$ref": "#/components/responses/NotFound"},
                    },
                },
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/New"}}
                        }
                    },
                    "responses": {"200": {"description": "ok"}},
                },
            },
            "/things/{id}": {"delete": {"responses": {"200": {"description": "gone"}}}},
        },
        "components": {
            "responses": {
                "NotFound": {
                    "description": "nf",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
            "schemas": {
                "Thing": {
                    "allOf": [
                        {
                            "type": "object",
                            "required": ["id"],
                            "properties": {"id": {"type": "string"}},
                        },
                        {
                            "properties": {
                                "size": {"type": "integer"},
                                "next": {"$ref": "#/components/schemas/Thing"},
                            }
                        },
                    ]
                },
                "Page": {
                    "type": "object",
                    "required": ["items", "cursor"],
                    "properties": {
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}},
                        "cursor": {"type": ["string", "null"]},
                    },
                },
                "New": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["name"],
                            "properties": {"name": {"type": "string"}},
                        },
                        {
                            "type": "object",
                            "required": ["name", "kind"],
                            "properties": {"name": {}, "kind": {}},
                        },
                    ]
                },
            },
        },
    }


def _kinds(old: dict[str, Any], new: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(c.kind, c.operation, c.location) for c in breaking_changes(old, new) if c.breaking}


def test_identical_documents_have_no_changes() -> None:
    assert breaking_changes(_doc(), _doc()) == []


def test_flatten_follows_refs_merges_allof_and_cuts_cycles() -> None:
    doc = _doc()
    fields = flatten(doc, {"$ref": "#/components/schemas/Page"})
    assert fields["items[].id"].types == {"string"} and fields["items[].id"].required
    assert not fields["items[].size"].required
    assert fields["cursor"].types == {"string", "null"}
    assert "items[].next" in fields  # the recursive ref is cut where it repeats
    assert not any(path.startswith("items[].next.") for path in fields)
    new = flatten(doc, {"$ref": "#/components/schemas/New"})
    assert new["name"].required and not new["kind"].required  # required in every branch only


def test_removed_operation() -> None:
    new = _doc()
    del new["paths"]["/things/{id}"]
    assert _kinds(_doc(), new) == {("removed operation", "DELETE /things/{id}", "")}


def test_removed_response_field_names_the_topmost_path_only() -> None:
    new = _doc()
    del new["components"]["schemas"]["Thing"]["allOf"][1]["properties"]["size"]
    assert _kinds(_doc(), new) == {("removed response field", "GET /things", "200 items[].size")}
    renamed = _doc()
    page = renamed["components"]["schemas"]["Page"]
    page["properties"]["data"] = page["properties"].pop("items")
    page["required"] = ["data", "cursor"]
    changes = breaking_changes(_doc(), renamed)
    assert {(c.kind, c.location) for c in changes if c.breaking} == {
        ("removed response field", "200 items")
    }
    assert ("added response field", "200 data") in {(c.kind, c.location) for c in changes}


def test_retyped_and_now_optional_response_field() -> None:
    new = _doc()
    page = new["components"]["schemas"]["Page"]
    page["properties"]["cursor"] = {"type": "string"}
    page["required"] = ["items"]
    assert _kinds(_doc(), new) == {
        ("retyped response field", "GET /things", "200 cursor"),
        ("response field now optional", "GET /things", "200 cursor"),
    }
    detail = next(c.detail for c in breaking_changes(_doc(), new) if c.kind.startswith("retyped"))
    assert detail == "null|string -> string"


def test_nullable_of_openapi_3_0_counts_as_a_type() -> None:
    old, new = _doc(), _doc()
    old["components"]["schemas"]["Page"]["properties"]["cursor"] = {
        "type": "string",
        "nullable": True,
    }
    new["components"]["schemas"]["Page"]["properties"]["cursor"] = {"type": "string"}
    assert ("retyped response field", "GET /things", "200 cursor") in _kinds(old, new)


def test_removed_response_status() -> None:
    new = _doc()
    del new["paths"]["/things"]["get"]["responses"]["404"]
    assert _kinds(_doc(), new) == {("removed response", "GET /things", "404")}


def test_new_required_request_field_and_parameter() -> None:
    new = _doc()
    new["components"]["schemas"]["New"]["oneOf"][0]["required"] = ["name", "kind"]
    new["paths"]["/things"]["get"]["parameters"][0]["required"] = True
    new["paths"]["/things"]["get"]["parameters"].append(
        {"name": "tenant", "in": "header", "required": True, "schema": {"type": "string"}}
    )
    assert _kinds(_doc(), new) == {
        ("new required request field", "POST /things", "body kind"),
        ("new required parameter", "GET /things", "query count"),
        ("new required parameter", "GET /things", "header tenant"),
    }


def test_relaxations_are_not_breaking() -> None:
    old, new = _doc(), copy.deepcopy(_doc())
    old["components"]["schemas"]["New"]["oneOf"][0]["required"] = ["name", "kind"]
    new["paths"]["/extra"] = {"get": {"responses": {"200": {"description": "x"}}}}
    changes = breaking_changes(old, new)
    assert not [c for c in changes if c.breaking]
    assert ("added operation", "GET /extra") in {(c.kind, c.operation) for c in changes}


def test_versions_come_from_the_documents() -> None:
    assert api_versions("digifi") == ("2023-12-01", "2024-02-26")
    assert api_versions("connectfi") == ()
    assert document_path("digifi", None).name == "openapi-2023-12-01.yaml"
    assert document_path("connectfi", None).name == "openapi.yaml"
    assert version_problem("digifi", "2024-02-26") is None
    assert "documents 2023-12-01, 2024-02-26" in str(version_problem("digifi", "2025-01-01"))
    assert "no API versions" in str(version_problem("connectfi", "2024-02-26"))


def test_digifi_2024_02_26_breaks_the_list_pages_and_application_fields() -> None:
    """The deliberate differences of DigiFi's second version, from its two documents."""
    load = lambda v: yaml.safe_load((schemas_dir() / "digifi" / f"openapi-{v}.yaml").read_text())  # noqa: E731
    changes = breaking_changes(load("2023-12-01"), load("2024-02-26"))
    found = _kinds(load("2023-12-01"), load("2024-02-26"))
    for op in ("GET /api/borrowers", "GET /api/applications"):
        assert ("removed response field", op, "200 data") in found
        assert ("retyped response field", op, "200 nextToken") in found
        assert ("response field now optional", op, "200 nextToken") in found
    for op in (
        "POST /api/applications",
        "GET /api/applications/{id}",
        "PUT /api/applications/{id}",
        "DELETE /api/applications/{id}",
    ):
        assert ("removed response field", op, "200 borrower") in found
        assert ("removed response field", op, "200 coBorrowers") in found
    assert len(found) == 14  # nothing else: no operation removed, no request field required
    added = {(c.operation, c.location) for c in changes if not c.breaking}
    assert ("GET /api/borrowers", "200 items") in added
    assert ("GET /api/applications/{id}", "200 borrowerId") in added
    assert ("GET /api/applications/{id}", "200 coborrowerIds") in added
    lines = change_lines(changes)
    assert lines[0] == "OpenAPI breaking changes: 14 (and 10 additions)"
    assert all(len(line) <= 80 for line in lines)
