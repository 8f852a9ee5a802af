"""Refunds and splits (seed 001: Refunds, Split Payments; shared/VENDORS.md s.2: a refund never
exceeds what is left, a split never exceeds the total, an unknown original is refused)."""

from __future__ import annotations

import pytest

from apicert import expect as x
from apicert.checks.base import NONEMPTY, fail
from apicert.checks.digitzs import refused
from apicert.http import Client
from apicert.verdict import Verdict

from . import payloads
from .conftest import Maker, Pay, attributes_of, data_of


@pytest.mark.requirement("DIGITZS-REFUND-01", "DIGITZS-REFUND-02")
def test_refunds_up_to_the_remainder(
    digitzs: Client, verdict: Verdict, new_merchant: Maker, card_payment: Pay
) -> None:
    merchant = new_merchant()
    original = str(data_of(card_payment(merchant, 1000, "DIGITZS-REFUND-01")).get("id"))
    for amount in (300, 300):  # partial, then repeated
        done = digitzs.post("/payments", json=payloads.refund(merchant, original, amount))
        verdict.step("DIGITZS-REFUND-01", done, f"refund {amount} of 1000 cents")
    over = digitzs.post("/payments", json=payloads.refund(merchant, original, 401))
    verdict.check(refused("DIGITZS-REFUND-02", over, (400, 409)))
    rest = digitzs.post("/payments", json=payloads.refund(merchant, original, 400))
    if rest.status != 200:
        message = f"refunding the last 400 cents got {rest.status}"
        served = [x.status_in(rest.id, [200])]
        if over.status == 200:
            verdict.check(
                [
                    fail(
                        "DIGITZS-REFUND-02",
                        "the refused over-refund was counted",
                        rest,
                        expect=served,
                    )
                ]
            )
        else:
            verdict.check([fail("DIGITZS-REFUND-01", message, rest, expect=served)])
    again = digitzs.post("/payments", json=payloads.refund(merchant, original, 1))
    verdict.check(refused("DIGITZS-REFUND-02", again, (400, 409)))


@pytest.mark.requirement("DIGITZS-REFUND-03")
def test_refund_of_an_unknown_payment_is_refused(
    digitzs: Client, verdict: Verdict, new_merchant: Maker
) -> None:
    merchant = new_merchant()
    exchange = digitzs.post(
        "/payments", json=payloads.refund(merchant, "apicert-no-such-payment", 100)
    )
    verdict.check(refused("DIGITZS-REFUND-03", exchange, (400, 404)))


@pytest.mark.requirement("DIGITZS-SPLIT-01", "DIGITZS-SPLIT-02")
def test_split_within_and_beyond_the_total(
    digitzs: Client, verdict: Verdict, new_merchant: Maker
) -> None:
    merchant, partner = new_merchant(), new_merchant()
    for split in (100, 500):  # a part, and all of it
        paid = digitzs.post("/payments", json=payloads.split_payment(merchant, partner, 500, split))
        verdict.step("DIGITZS-SPLIT-01", paid, f"split {split} of 500 cents")
        answered = attributes_of(paid).get("split")
        answered = answered if isinstance(answered, dict) else {}
        if (
            answered.get("merchantId") != partner
            or answered.get("amount") != str(split)
            or not answered.get("splitId")
        ):
            split_at = ["data", "attributes", "split"]
            promise = [
                x.compare(
                    x.operand(paid.id, [*split_at, "merchantId"]),
                    "eq",
                    x.operand(paid.id, [*split_at, "merchantId"], side="request"),
                ),
                x.json_equals(paid.id, [*split_at, "amount"], str(split)),
                x.json_matches(paid.id, [*split_at, "splitId"], NONEMPTY),
            ]
            verdict.check(
                [
                    fail(
                        "DIGITZS-SPLIT-01",
                        "the split answer lacks merchantId/amount/splitId",
                        paid,
                        expect=promise,
                    )
                ]
            )
    beyond = digitzs.post("/payments", json=payloads.split_payment(merchant, partner, 500, 501))
    verdict.check(refused("DIGITZS-SPLIT-02", beyond, (400, 409)))
