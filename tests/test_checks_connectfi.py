"""The connectFi checks on canned exchanges: each rule passes a conforming answer and fails the
deviation it exists to catch, naming the right requirement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apicert.checks.connectfi import (
    envelope,
    error_envelope,
    refused,
    success_envelope,
    token_response,
    unique_request_ids,
)
from apicert.model import Status

from .canned import err, exchange, ok


def ids(findings: list) -> set[str]:
    return {f.requirement for f in findings}


def test_conforming_success_has_no_findings() -> None:
    assert success_envelope(ok({"customerId": "cstap_x"})) == []
    assert success_envelope(ok(status=201)) == []


@pytest.mark.parametrize(
    ("body", "requirement"),
    [
        ({"code": 0, "data": {}, "requestId": "r1"}, "CONNECTFI-ENV-01"),
        ({"data": {}, "requestId": "r1"}, "CONNECTFI-ENV-01"),
        ({"code": "0", "data": [{}], "requestId": "r1"}, "CONNECTFI-ENV-02"),
        ({"code": "0", "requestId": "r1"}, "CONNECTFI-ENV-02"),
        ({"code": "0", "data": {}}, "CONNECTFI-ENV-03"),
        ({"code": "0", "data": {}, "requestId": "  "}, "CONNECTFI-ENV-03"),
        ({"code": "0", "data": {}, "requestId": 7}, "CONNECTFI-ENV-03"),
    ],
)
def test_success_deviation_fails_its_requirement(body: dict, requirement: str) -> None:
    findings = success_envelope(exchange(body=body))
    assert requirement in ids(findings)
    assert all(f.status is Status.FAILED and f.evidence for f in findings)


def test_success_with_202_fails_env_07() -> None:
    assert ids(success_envelope(ok(status=202))) == {"CONNECTFI-ENV-07"}


@pytest.mark.parametrize(
    ("raw", "content_type", "fragment"),
    [
        ("{not json", "application/json", "not JSON"),
        ("<html>error</html>", "text/html", "not JSON"),
        ('{"code": "0", "data": {}, "requestId": "r"}', "text/plain", "Content-Type"),
        ("", "application/json", "empty body"),
    ],
)
def test_unusable_body_is_a_named_failure(raw: str, content_type: str, fragment: str) -> None:
    findings = success_envelope(exchange(raw=raw, content_type=content_type))
    assert findings and fragment in findings[0].message


def test_conforming_error_has_no_findings() -> None:
    assert error_envelope(err()) == []


@pytest.mark.parametrize(
    "body",
    [
        {"error": "bad", "requestId": "r"},
        {"code": "", "message": "x", "requestId": "r"},
        {"code": "0", "message": "x", "requestId": "r"},
        {"code": "notFound", "requestId": "r"},
        {"code": "notFound", "message": "  ", "requestId": "r"},
        ["notFound"],
    ],
)
def test_error_shape_deviation_fails_env_06(body: object) -> None:
    assert "CONNECTFI-ENV-06" in ids(error_envelope(exchange(status=400, body=body)))


def test_error_without_request_id_fails_env_03() -> None:
    assert ids(error_envelope(exchange(status=400, body={"code": "x", "message": "m"}))) == {
        "CONNECTFI-ENV-03"
    }


def test_2xx_with_an_error_code_fails_env_05() -> None:
    answer = exchange(
        status=200, body={"code": "referenceExists", "message": "m", "requestId": "r"}
    )
    assert ids(envelope(answer)) == {"CONNECTFI-ENV-05"}


def test_envelope_dispatches_by_status() -> None:
    assert envelope(ok()) == []
    assert envelope(err()) == []
    assert ids(envelope(exchange(status=None, error="connection refused"))) == {"CONNECTFI-ENV-06"}


def test_repeated_request_id_fails_env_04_naming_both_exchanges() -> None:
    first, second = ok(request_id="same"), err(request_id="same")
    findings = unique_request_ids([ok(request_id="a"), first, second])
    assert ids(findings) == {"CONNECTFI-ENV-04"}
    assert findings[0].evidence == [first.id, second.id]
    assert unique_request_ids([ok(request_id="a"), ok(request_id="b")]) == []


def test_refused_accepts_a_refusal_and_fails_an_acceptance() -> None:
    assert refused("CONNECTFI-PRE-01", err(status=404)) == []
    assert ids(refused("CONNECTFI-PRE-01", ok())) == {"CONNECTFI-PRE-01"}
    assert ids(refused("CONNECTFI-AUTH-01", err(status=403), status=401)) == {"CONNECTFI-AUTH-01"}
    assert (
        refused(
            "CONNECTFI-REF-01",
            err("referenceExists", status=400),
            status=400,
            code="referenceExists",
        )
        == []
    )
    assert ids(refused("CONNECTFI-REF-01", err("other", status=400), code="referenceExists")) == {
        "CONNECTFI-REF-01"
    }
    assert ids(refused("CONNECTFI-PRE-01", exchange(status=None, error="read timeout"))) == {
        "CONNECTFI-PRE-01"
    }


def test_token_response_needs_a_token_and_a_future_expiry() -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    later = (now + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert token_response(ok({"token": "t" * 40, "dtsExpireAt": later}), now=now) == []
    assert ids(token_response(ok({"token": "t" * 40}), now=now)) == {"CONNECTFI-AUTH-03"}
    assert ids(token_response(ok({"token": "t", "dtsExpireAt": "soon"}), now=now)) == {
        "CONNECTFI-AUTH-03"
    }
    earlier = (now - timedelta(seconds=1)).isoformat()
    assert ids(token_response(ok({"token": "t", "dtsExpireAt": earlier}), now=now)) == {
        "CONNECTFI-AUTH-03"
    }
    assert ids(token_response(ok({"dtsExpireAt": later}), now=now)) == {"CONNECTFI-AUTH-03"}
