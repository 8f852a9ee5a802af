"""Digitzs checks on canned answers: each shown failing and passing; the envelope JSON Schemas
agree with the envelope check."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from apicert.checks.digitzs import (
    card_fees,
    envelope,
    expected_fee,
    list_page,
    masked_details,
    more_consistent,
    net_balances,
    owned_by,
    refused,
    within_dates,
)
from apicert.paths import schemas_dir

from .canned import exchange


def ids(findings: list[Any]) -> set[str]:
    return {f.requirement for f in findings}


def resource(kind: str, **data: Any) -> dict[str, Any]:
    return {"data": {"type": kind, **data}}


def page(
    entries: list[dict[str, Any]], *, items: int | None = None, limit: Any = 25, more: Any = False
) -> dict[str, Any]:
    count = len(entries) if items is None else items
    return {"meta": {"items": count, "limit": limit, "more": more}, "data": entries}


CUSTOMER = {
    "type": "customers",
    "id": "c1",
    "attributes": {"merchantId": "m1", "created": "2024-05-02T10:00:00Z"},
}


# -- envelope (ENV-01, ENV-02, LIST-01, LIST-02) -------------------------------------------------
@pytest.mark.parametrize(
    ("path", "body", "broken"),
    [
        ("/merchants/m1", resource("merchants", id="m1", attributes={}), set()),
        ("/merchants/m1", resource("merchants", partnerId="m1", attributes={}), set()),
        ("/merchants/m1", resource("merchant", id="m1"), {"DIGITZS-ENV-01"}),
        ("/payments/p1", resource("payments", attributes={}), {"DIGITZS-ENV-02"}),
        ("/payments/p1", resource("payments", id=""), {"DIGITZS-ENV-02"}),
        ("/auth", resource("auth", attributes={"appId": "a"}), set()),
        ("/auth/token", resource("token", attributes={}), {"DIGITZS-ENV-01"}),
        ("/tokens/t1", {"type": "tokens", "id": "t1"}, {"DIGITZS-ENV-01"}),
        ("/customers", page([CUSTOMER]), set()),
        ("/customers", page([{**CUSTOMER, "id": None}]), {"DIGITZS-ENV-02"}),
        ("/customers", page([{**CUSTOMER, "type": "customer"}]), {"DIGITZS-ENV-01"}),
        ("/customers", {"data": {"type": "customers"}}, {"DIGITZS-ENV-01"}),
        ("/customers", page([CUSTOMER], items=3), {"DIGITZS-LIST-01"}),
        ("/customers", page([CUSTOMER], more="no"), {"DIGITZS-LIST-01"}),
    ],
)
def test_envelope(path: str, body: Any, broken: set[str]) -> None:
    assert ids(envelope(exchange("GET", path, body=body))) == broken


def test_envelope_ignores_failures_and_other_paths() -> None:
    assert envelope(exchange("GET", "/merchants/x", status=404, body={"message": "no"})) == []
    assert envelope(exchange("GET", "/__sandbox__/clock", body={"now": 1})) == []


def test_envelope_refuses_non_json_success() -> None:
    assert ids(envelope(exchange("GET", "/merchants/m", raw="<html>"))) == {"DIGITZS-ENV-01"}


def test_list_page_honours_the_requested_limit() -> None:
    two = [CUSTOMER, {**CUSTOMER, "id": "c2"}]
    assert list_page(exchange("GET", "/customers?id=m1&limit=2", body=page(two, limit=2))) == []
    over = exchange("GET", "/customers?id=m1&limit=1", body=page(two, limit=1))
    assert ids(list_page(over)) == {"DIGITZS-LIST-01", "DIGITZS-LIST-02"}
    ignored = exchange("GET", "/customers?id=m1&limit=1", body=page([CUSTOMER], limit=20))
    assert ids(list_page(ignored)) == {"DIGITZS-LIST-02"}
    text_limit = exchange("GET", "/customers?id=m1&limit=25", body=page([CUSTOMER], limit="25"))
    assert list_page(text_limit) == []


# -- LIST-03..05 -----------------------------------------------------------------------------------
def test_more_is_consistent_with_a_larger_limit() -> None:
    one = exchange("GET", "/customers", body=page([CUSTOMER], limit=1, more=True))
    two = exchange("GET", "/customers", body=page([CUSTOMER, {**CUSTOMER, "id": "c2"}], limit=10))
    same = exchange("GET", "/customers", body=page([CUSTOMER], limit=10))
    assert more_consistent(one, two) == []
    assert ids(more_consistent(one, same)) == {"DIGITZS-LIST-03"}
    lying = exchange("GET", "/customers", body=page([CUSTOMER], limit=1, more=False))
    assert ids(more_consistent(lying, two)) == {"DIGITZS-LIST-03"}
    assert more_consistent(lying, same) == []


def test_owned_by() -> None:
    listed = exchange("GET", "/customers", body=page([CUSTOMER]))
    assert owned_by(listed, "merchantId", "m1") == []
    assert ids(owned_by(listed, "merchantId", "m2")) == {"DIGITZS-LIST-04"}


def test_within_dates() -> None:
    listed = exchange("GET", "/payments", body=page([CUSTOMER]))
    assert within_dates(listed, date(2024, 5, 2), date(2024, 5, 2)) == []
    assert ids(within_dates(listed, date(2024, 5, 1), date(2024, 5, 1))) == {"DIGITZS-LIST-05"}
    epoch = exchange(
        "GET", "/payments", body=page([{**CUSTOMER, "attributes": {"created": 1714644000}}])
    )
    assert within_dates(epoch, date(2024, 5, 2), date(2024, 5, 2)) == []


def test_refused() -> None:
    assert refused("DIGITZS-RES-02", exchange(status=404, body={"message": "m"}), (400, 404)) == []
    assert ids(refused("DIGITZS-RES-02", exchange(body={}), (400, 404))) == {"DIGITZS-RES-02"}
    assert ids(refused("DIGITZS-AUTH-04", exchange(status=None, error="timeout"), (401,))) == {
        "DIGITZS-AUTH-04"
    }


# -- money ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("gross", "cut"), [(999, 59), (500, 45), (100, 33), (1, 30), (17, 30)])
def test_expected_fee_matches_the_seed(gross: int, cut: int) -> None:
    assert expected_fee(gross) == cut


def payment(**tx: Any) -> Any:
    base = {
        "amount": "999",
        "gross": "999",
        "rate": "2.90",
        "fee": "30",
        "net": "940",
        "grossMinusNet": "59",
    }
    base.update(tx)
    return exchange(
        "POST", "/payments", body=resource("payments", id="p", attributes={"transaction": base})
    )


def test_card_fees() -> None:
    assert card_fees(payment(), 999) == []
    assert ids(card_fees(payment(grossMinusNet="58", net="941"), 999)) == {"DIGITZS-MONEY-01"}
    assert ids(card_fees(payment(rate="3.00"), 999)) == {"DIGITZS-MONEY-01"}
    assert ids(card_fees(payment(amount=999), 999)) == {"DIGITZS-MONEY-01"}  # not a string
    assert ids(card_fees(payment(gross="1000"), 999)) == {"DIGITZS-MONEY-01"}


def test_net_balances() -> None:
    assert net_balances(payment()) == []
    assert net_balances(payment(amount="1", gross="1", net="-29", grossMinusNet="30")) == []
    assert ids(net_balances(payment(net="941"))) == {"DIGITZS-MONEY-02"}
    assert ids(net_balances(payment(net=None))) == {"DIGITZS-MONEY-02"}


# -- masks ----------------------------------------------------------------------------------------
MERCHANT = {
    "personalInfo": {"socialSecurity": "xxxx6789", "birthDate": "xxxx1981"},
    "businessInfo": {"ein": "xxxx4321"},
    "bankInfo": {"accountNumber": "xxxx4567", "routingNumber": "xxxx9593"},
}


@pytest.mark.parametrize(
    ("attributes", "masked"),
    [
        (MERCHANT, True),
        ({**MERCHANT, "personalInfo": {"socialSecurity": "123456789"}}, False),
        ({**MERCHANT, "personalInfo": {"birthDate": "11-23-1981"}}, False),
        ({**MERCHANT, "businessInfo": {"ein": "987654321"}}, False),
        ({"card": {"number": "xxxx4426", "code": "xxx"}}, True),
        ({"card": {"number": "4747474747474747", "code": "xxx"}}, False),
        ({"card": {"number": "xxxx4426", "code": "999"}}, False),
        ({"bank": {"accountNumber": "1234567", "routingNumber": "xxxx9593"}}, False),
    ],
)
def test_masked_details(attributes: dict[str, Any], masked: bool) -> None:
    answer = exchange(
        "GET", "/merchants/m", body=resource("merchants", id="m", attributes=attributes)
    )
    assert (masked_details(answer) == []) is masked
    if not masked:
        assert ids(masked_details(answer)) == {"DIGITZS-MASK-02"}


# -- envelope JSON Schemas agree with the check ----------------------------------------------------
def validator(name: str) -> Draft202012Validator:
    schema = json.loads((schemas_dir() / "digitzs" / f"envelope-{name}.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@pytest.mark.parametrize(
    ("body", "conforms"),
    [
        (resource("merchants", id="m", attributes={}), True),
        (resource("merchants", partnerId="m"), True),
        (resource("auth", attributes={"appId": "a"}), True),
        (resource("payments"), False),
        (resource("payments", id=""), False),
        ({"data": []}, False),
        ({"type": "tokens", "id": "t"}, False),
    ],
)
def test_resource_schema_agrees(body: dict[str, Any], conforms: bool) -> None:
    assert validator("resource").is_valid(body) is conforms
    path = "/auth" if body.get("data", {}) and body["data"].get("type") == "auth" else "/payments/p"
    if isinstance(body.get("data"), dict) and body["data"].get("type") == "merchants":
        path = "/merchants/m"
    assert (envelope(exchange("GET", path, body=body)) == []) is conforms


@pytest.mark.parametrize(
    ("body", "conforms"),
    [
        (page([CUSTOMER]), True),
        (page([CUSTOMER], limit="25"), True),
        (page([CUSTOMER], more="no"), False),
        (page([{**CUSTOMER, "id": ""}]), False),
        ({"data": [CUSTOMER]}, False),
    ],
)
def test_list_schema_agrees(body: dict[str, Any], conforms: bool) -> None:
    assert validator("list").is_valid(body) is conforms
    assert (envelope(exchange("GET", "/customers", body=body)) == []) is conforms


def test_error_schema() -> None:
    assert validator("error").is_valid({"message": "No merchant.", "errors": [{"status": "404"}]})
    assert not validator("error").is_valid({"errors": []})
    assert not validator("error").is_valid({"message": ""})
