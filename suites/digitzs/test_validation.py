"""Invalid requests are refused as the client's error (inferred; seed 001 Errors: 400)."""

from __future__ import annotations

from typing import Any

import pytest

from apicert import expect as x
from apicert.checks.base import fail
from apicert.http import Client
from apicert.verdict import Verdict

from . import payloads
from .conftest import Maker


def _broken_payments(merchant: str) -> dict[str, Any]:
    negative = payloads.card_payment(merchant, 100)
    negative["data"]["attributes"]["transaction"]["amount"] = "-500"
    missing = payloads.card_payment(merchant, 100)
    del missing["data"]["attributes"]["transaction"]
    words = payloads.card_payment(merchant, 100)
    words["data"]["attributes"]["transaction"]["amount"] = "ten dollars"
    no_type = payloads.card_payment(merchant, 100)
    del no_type["data"]["attributes"]["paymentType"]
    return {
        "negative amount": negative,
        "no transaction": missing,
        "amount in words": words,
        "no paymentType": no_type,
    }


@pytest.mark.requirement("DIGITZS-VAL-01")
def test_invalid_bodies_get_4xx(digitzs: Client, verdict: Verdict, new_merchant: Maker) -> None:
    merchant = new_merchant()
    sent = [(what, "/payments", body) for what, body in _broken_payments(merchant).items()]
    no_bank = payloads.merchant()
    del no_bank["data"]["attributes"]["bankInfo"]
    sent.append(("merchant without bankInfo", "/merchants", no_bank))
    sent.append(("customer without merchantId", "/customers", {"data": {"type": "customers"}}))
    for what, path, body in sent:
        exchange = digitzs.post(path, json=body)
        if exchange.status is None or not 400 <= exchange.status < 500:
            verdict.check(
                [
                    fail(
                        "DIGITZS-VAL-01",
                        f"{what}: POST {path} answered {exchange.status}",
                        exchange,
                        expect=[x.status_between(exchange.id, 400, 499)],
                    )
                ]
            )
    raw = digitzs.post("/payments", data=b"{not json", headers={"Content-Type": "application/json"})
    if raw.status is None or not 400 <= raw.status < 500:
        verdict.check(
            [
                fail(
                    "DIGITZS-VAL-01",
                    f"a non-JSON body answered {raw.status}",
                    raw,
                    expect=[x.status_between(raw.id, 400, 499)],
                )
            ]
        )
