"""Money as properties (seed 001: "2.9% + 30c per transaction", Card Payment Response, ACH and
Token payments). Amounts range from one cent to millions of dollars."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from apicert import expect as x
from apicert.checks.base import fail
from apicert.checks.digitzs import card_fees, net_balances, refused
from apicert.http import Client
from apicert.model import Exchange
from apicert.strategies import cents
from apicert.verdict import Verdict

from . import payloads
from .conftest import RES_01, Maker, attributes_of, data_of

# The seed's amounts are strings of at most nine digits in the reference sandbox's reading.
MAX_CENTS = 999_999_999


AMOUNTS = st.one_of(cents(max_value=MAX_CENTS), st.integers(1, 2000))


def _pay_and_read(
    digitzs: Client, verdict: Verdict, merchant: str, amount: int, rid: str
) -> list[Exchange]:
    paid = digitzs.post("/payments", json=payloads.card_payment(merchant, amount))
    verdict.step(rid, paid, f"pay {amount} cents by card")
    got = digitzs.get(f"/payments/{data_of(paid).get('id')}")
    verdict.step(RES_01, got, "read the payment")
    return [paid, got]


@pytest.mark.requirement("DIGITZS-MONEY-01")
@given(amount=AMOUNTS)
@example(amount=999)  # the seed's example: 59 taken, 940 net
@example(amount=500)  # 14.5 cents: the half that shows the rounding rule (seed: 45)
@example(amount=100)  # seed: 33 and 67
@example(amount=1)
def test_card_fees_follow_the_published_rate(
    digitzs: Client, verdict: Verdict, merchant: str, amount: int
) -> None:
    for exchange in _pay_and_read(digitzs, verdict, merchant, amount, "DIGITZS-MONEY-01"):
        verdict.require(card_fees(exchange, amount))


@pytest.mark.requirement("DIGITZS-MONEY-02")
@given(amount=AMOUNTS)
@example(amount=999)
@example(amount=1)  # the fee is more than the amount: net is negative, the sum still holds
def test_net_plus_fees_is_gross(
    digitzs: Client, verdict: Verdict, merchant: str, amount: int
) -> None:
    for exchange in _pay_and_read(digitzs, verdict, merchant, amount, "DIGITZS-MONEY-02"):
        verdict.require(net_balances(exchange))


@pytest.fixture
def merchant(new_merchant: Maker) -> str:
    """One merchant for every example of a property test."""
    return new_merchant()


def _transaction(attributes: dict[str, Any]) -> dict[str, Any]:
    tx = attributes.get("transaction")
    return tx if isinstance(tx, dict) else {}


@pytest.mark.requirement("DIGITZS-PAY-01")
def test_ach_payment_is_accepted(digitzs: Client, verdict: Verdict, merchant: str) -> None:
    paid = digitzs.post("/payments", json=payloads.ach_payment(merchant, 4000))
    verdict.step("DIGITZS-PAY-01", paid, "pay by ACH")
    attributes = attributes_of(paid)
    if attributes.get("paymentType") != "ACH" or _transaction(attributes).get("amount") != "4000":
        promise = [
            x.json_equals(paid.id, ["data", "attributes", "paymentType"], "ACH"),
            x.json_equals(paid.id, ["data", "attributes", "transaction", "amount"], "4000"),
        ]
        verdict.check(
            [
                fail(
                    "DIGITZS-PAY-01",
                    "the ACH answer lacks its type or amount",
                    paid,
                    expect=promise,
                )
            ]
        )


@pytest.mark.requirement("DIGITZS-PAY-02")
def test_token_payment_uses_a_stored_card(
    digitzs: Client,
    verdict: Verdict,
    merchant: str,
    new_customer: Maker,
    new_card_token: Maker,
) -> None:
    customer = new_customer(merchant)
    token = new_card_token(customer)
    paid = digitzs.post("/payments", json=payloads.token_payment(merchant, customer, token, 300))
    verdict.step("DIGITZS-PAY-02", paid, "pay with a stored token")
    attributes = attributes_of(paid)
    if attributes.get("paymentType") != "token" or _transaction(attributes).get("amount") != "300":
        promise = [
            x.json_equals(paid.id, ["data", "attributes", "paymentType"], "token"),
            x.json_equals(paid.id, ["data", "attributes", "transaction", "amount"], "300"),
        ]
        verdict.check(
            [
                fail(
                    "DIGITZS-PAY-02",
                    "the token answer lacks its type or amount",
                    paid,
                    expect=promise,
                )
            ]
        )
    unknown = digitzs.post(
        "/payments", json=payloads.token_payment(merchant, customer, "apicert-no-such-token", 300)
    )
    verdict.check(refused("DIGITZS-PAY-02", unknown, (400, 404)))
