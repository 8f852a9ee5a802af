"""schemas/connectfi/envelope-*.json agree with the envelope check on canned answers."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from apicert.checks.connectfi import error_envelope, success_envelope
from apicert.paths import schemas_dir

from .canned import exchange


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((schemas_dir() / "connectfi" / f"envelope-{name}.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


SUCCESS = [
    ({"code": "0", "data": {"a": 1}, "requestId": "r1"}, True),
    ({"code": 0, "data": {}, "requestId": "r1"}, False),
    ({"code": "0", "data": [], "requestId": "r1"}, False),
    ({"code": "0", "data": {}}, False),
    ({"code": "0", "data": {}, "requestId": ""}, False),
]
ERRORS = [
    (
        {"code": "referenceExists", "message": "m", "requestId": "r", "context": {"entityId": "x"}},
        True,
    ),
    ({"error": "m", "requestId": "r"}, False),
    ({"code": "x", "requestId": "r"}, False),
    ({"code": "x", "message": "m"}, False),
]


@pytest.mark.parametrize(("body", "conforms"), SUCCESS)
def test_success_schema_and_check_agree(body: dict, conforms: bool) -> None:
    assert validator("success").is_valid(body) is conforms
    assert (success_envelope(exchange(body=body)) == []) is conforms


@pytest.mark.parametrize(("body", "conforms"), ERRORS)
def test_error_schema_and_check_agree(body: dict, conforms: bool) -> None:
    assert validator("error").is_valid(body) is conforms
    assert (error_envelope(exchange(status=400, body=body)) == []) is conforms
