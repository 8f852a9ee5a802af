"""The OpenAPI contract check on canned exchanges against the real connectFi document."""

from __future__ import annotations

import pytest
import yaml

from apicert.checks.contract import OpenApiContract
from apicert.paths import schemas_dir

from .canned import err, exchange, ok


@pytest.fixture(scope="module")
def contract() -> OpenApiContract:
    document = yaml.safe_load((schemas_dir() / "connectfi" / "openapi.yaml").read_text())
    return OpenApiContract(document, "CONNECTFI-CONTRACT-01")


STATUS_DATA = {
    "customerId": "cstap_" + "a" * 22,
    "reference": "cust_1",
    "type": "individual",
    "status": "active",
    "documents": {"required": ["identity"], "uploaded": ["identity"]},
}


def test_documented_answer_passes(contract: OpenApiContract) -> None:
    answer = ok(STATUS_DATA, path="/customer/status/cstap_" + "a" * 22)
    assert contract.check(answer) == []


def test_undeclared_field_fails(contract: OpenApiContract) -> None:
    answer = ok({**STATUS_DATA, "legacyStatus": 1}, path="/customer/status/cstap_x")
    [finding] = contract.check(answer)
    assert finding.requirement == "CONNECTFI-CONTRACT-01"
    assert "legacyStatus" in finding.message


def test_retyped_field_fails_naming_its_location(contract: OpenApiContract) -> None:
    answer = ok({**STATUS_DATA, "status": 1}, path="/customer/status/cstap_x")
    [finding] = contract.check(answer)
    assert "$.data.status" in finding.message


def test_undeclared_status_fails(contract: OpenApiContract) -> None:
    [finding] = contract.check(err("teapot", status=418, path="/health"))
    assert "418 not declared" in finding.message


def test_literal_path_wins_over_a_template(contract: OpenApiContract) -> None:
    assert contract.operation("POST", "/customer/init").template == "/customer/init"
    assert contract.operation("GET", "/customer/status/abc").template.startswith(
        "/customer/status/"
    )


def test_undocumented_path_and_no_response_are_left_to_other_checks(
    contract: OpenApiContract,
) -> None:
    assert contract.check(ok(path="/not/in/the/document")) == []
    assert contract.check(exchange(status=None, error="reset")) == []


def test_responses_declared_by_ref_are_validated(contract: OpenApiContract) -> None:
    """Most error answers are declared as ``$ref: #/components/responses/...``: their bodies are
    held to the referenced schema too (not only the inline ones)."""
    assert contract.check(err("unauthorized", status=401, path="/customer/status/cstap_x")) == []
    bare = exchange(status=401, body={"error": "no token"}, path="/customer/status/cstap_x")
    [finding] = contract.check(bare)
    assert finding.requirement == "CONNECTFI-CONTRACT-01"
    assert finding.expect


def test_schemathesis_named_codes_are_the_promise_not_a_range() -> None:
    """A 404 to a request missing its auth header is in 4xx but not among the codes named."""
    from apicert.checks.contract import schemathesis_expectations
    from apicert.expect import evaluate

    text = (
        "Missing required header accepted: Got 404 when missing required 'x-connectfi-token' "
        "header, expected 400, 401, 403, 406, 415, 422"
    )
    expect = schemathesis_expectations(text, "ex-1")

    def form(status: int) -> dict[str, object]:
        return {"request": {"method": "GET"}, "response": {"status": status, "headers": {}}}

    assert evaluate(expect, {"ex-1": form(404)})
    assert evaluate(expect, {"ex-1": form(401)}) == []


# A document with what the real ones do not have yet: a recursive schema, a reference with a
# sibling keyword, and a reference with a sibling allOf. Validation inlines local references once
# (the registry lookups were half the check's time); these must judge as the references would.
TREE_DOCUMENT = {
    "openapi": "3.1.0",
    "paths": {
        "/tree": {
            "get": {
                "responses": {
                    "200": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Tree"}}
                        }
                    }
                }
            }
        }
    },
    "components": {
        "schemas": {
            "Tree": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "name": {"$ref": "#/components/schemas/Name", "maxLength": 5},
                    "size": {"$ref": "#/components/schemas/Size", "allOf": [{"minimum": 1}]},
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}},
                },
            },
            "Name": {"type": "string", "pattern": "^[a-z]+$"},
            "Size": {"type": "integer", "maximum": 10},
        }
    },
}


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"name": "root", "size": 3, "children": [{"name": "leaf", "children": []}]}, None),
        ({"name": "root", "children": [{"name": "leaf", "children": [{"size": 1}]}]}, "name"),
        (
            {"name": "root", "children": [{"name": "leaf", "children": [{"name": "X"}]}]},
            "$.children[0].children[0].name",
        ),
        ({"name": "toolong"}, "$.name"),
        ({"name": "a", "size": 11}, "$.size"),
        ({"name": "a", "size": 0}, "$.size"),
        ({"name": "a", "children": [{"name": "b", "extra": 1}]}, "extra"),
    ],
)  # fmt: skip
def test_inlined_references_judge_as_the_references_would(
    body: dict[str, object], location: str | None
) -> None:
    contract = OpenApiContract(TREE_DOCUMENT, "X-CONTRACT-01")
    findings = contract.check(exchange(path="/tree", body=body))
    if location is None:
        assert findings == []
    else:
        [finding] = findings
        assert location in finding.message
