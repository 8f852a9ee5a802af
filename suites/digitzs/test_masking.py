"""Masking (PCI DSS 3.4; seed 001: Retrieve Merchant / Payment / Token show "xxxx" + last four).
The MASK-01 observer also scans every response of the run for values the harness sent."""

from __future__ import annotations

from typing import Any

import pytest

from apicert import expect as x
from apicert.checks.base import fail
from apicert.checks.digitzs import masked_details
from apicert.checks.masking import leaks, sensitive_origins, sensitive_values
from apicert.http import Client
from apicert.model import Exchange, Finding
from apicert.verdict import Verdict

from . import payloads
from .conftest import RES_01, Maker, attributes_of, data_of


def _exact(
    exchange: Exchange,
    shown: object,
    sent: str,
    what: str,
    at: list[Any],
    origin: tuple[Exchange, list[Any]],
    keep: int = 4,
) -> list[Finding]:
    """The seed's exact form: "xxxx" followed by the last four characters (``at``: where the
    answer shows it; ``origin``: the request that sent it and where its body holds it)."""
    if shown == "xxxx" + sent[-keep:]:
        return []
    # Compared with what the request sent (a replay sends new test data with other last four).
    sender, held = origin
    promise = [
        x.json_matches(exchange.id, at, f"xxxx[^x]{{{keep}}}"),
        x.compare(
            x.operand(exchange.id, at, tail=keep),
            "eq",
            x.operand(sender.id, held, side="request", tail=keep),
        ),
    ]
    return [
        fail(
            "DIGITZS-MASK-02",
            f"{exchange.path}: {what} is not xxxx + its last four",
            exchange,
            expect=promise,
        )
    ]


def _scan(verdict: Verdict, sent: Exchange, *answers: Exchange) -> None:
    values = sensitive_values(sent.request_body)
    origins = sensitive_origins(sent)
    for answer in answers:
        verdict.check([*leaks(answer, values, "DIGITZS-MASK-01", origins), *masked_details(answer)])


@pytest.mark.requirement("DIGITZS-MASK-01", "DIGITZS-MASK-02")
def test_merchant_identity_and_bank_are_masked(digitzs: Client, verdict: Verdict) -> None:
    body = payloads.merchant()
    attrs = body["data"]["attributes"]
    made = verdict.step(RES_01, digitzs.post("/merchants", json=body), "create a merchant")
    got = verdict.step(RES_01, digitzs.get(f"/merchants/{data_of(made).get('id')}"), "read it")
    listed = digitzs.get("/merchants?limit=100")
    _scan(verdict, made, made, got, listed)
    shown = attributes_of(got)
    at = ["data", "attributes"]
    checks = [
        ("personalInfo", "socialSecurity", "SSN"),
        ("personalInfo", "birthDate", "birthDate"),
        ("businessInfo", "ein", "EIN"),
        ("bankInfo", "accountNumber", "account"),
        ("bankInfo", "routingNumber", "routing"),
    ]
    findings: list[Finding] = []
    for group, key, what in checks:
        shown_group = shown.get(group) or {}
        where = [*at, group, key]
        findings += _exact(got, shown_group.get(key), attrs[group][key], what, where, (made, where))
    verdict.check(findings)


@pytest.mark.requirement("DIGITZS-MASK-01", "DIGITZS-MASK-02")
def test_payment_card_and_bank_are_masked(
    digitzs: Client, verdict: Verdict, new_merchant: Maker
) -> None:
    merchant = new_merchant()
    number = payloads.card_number("mastercard")
    card = digitzs.post("/payments", json=payloads.card_payment(merchant, 999, number))
    verdict.step("DIGITZS-MONEY-01", card, "pay by card")
    got = verdict.step(RES_01, digitzs.get(f"/payments/{data_of(card).get('id')}"), "read it")
    _scan(verdict, card, card, got)
    shown = attributes_of(got).get("card") or {}
    card_at = ["data", "attributes", "card"]
    verdict.check(
        _exact(
            got,
            shown.get("number"),
            number,
            "card number",
            [*card_at, "number"],
            (card, [*card_at, "number"]),
        )
    )
    if shown.get("code") != "xxx":
        verdict.check(
            [
                fail(
                    "DIGITZS-MASK-02",
                    "the CVV is not shown as xxx",
                    got,
                    expect=[x.json_equals(got.id, [*card_at, "code"], "xxx")],
                )
            ]
        )
    ach_body = payloads.ach_payment(merchant, 3635)
    ach = verdict.step("DIGITZS-PAY-01", digitzs.post("/payments", json=ach_body), "pay by ACH")
    got_ach = verdict.step(RES_01, digitzs.get(f"/payments/{data_of(ach).get('id')}"), "read it")
    listed = digitzs.get(f"/payments?id={merchant}&limit=100")
    _scan(verdict, ach, ach, got_ach, listed)
    sent_bank = ach_body["data"]["attributes"]["bank"]
    shown_bank = attributes_of(got_ach).get("bank") or {}
    bank_at = ["data", "attributes", "bank"]
    verdict.check(
        [
            finding
            for key, what in (("accountNumber", "account"), ("routingNumber", "routing"))
            for finding in _exact(
                got_ach,
                shown_bank.get(key),
                sent_bank[key],
                what,
                [*bank_at, key],
                (ach, [*bank_at, key]),
            )
        ]
    )


@pytest.mark.requirement("DIGITZS-MASK-01", "DIGITZS-MASK-02")
def test_stored_tokens_are_masked(digitzs: Client, verdict: Verdict, new_customer: Maker) -> None:
    customer = new_customer()
    card_body = payloads.card_token(customer)
    bank_body = payloads.bank_token(customer)
    for body, kind in ((card_body, "card"), (bank_body, "bank")):
        made = verdict.step(RES_01, digitzs.post("/tokens", json=body), f"store a {kind}")
        got = verdict.step(RES_01, digitzs.get(f"/tokens/{data_of(made).get('id')}"), "read it")
        listed = digitzs.get(f"/tokens?id={customer}&limit=100")
        _scan(verdict, made, made, got, listed)
        sent = body["data"]["attributes"][kind]
        shown = attributes_of(got).get(kind) or {}
        keys = ("number",) if kind == "card" else ("accountNumber", "routingNumber")
        for key in keys:
            at = ["data", "attributes", kind, key]
            verdict.check(_exact(got, shown.get(key), sent[key], f"{kind}.{key}", at, (made, at)))
