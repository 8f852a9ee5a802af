"""Envelope, lists and retrieval (seed 001: every Response Parameters table, List and Retrieve
endpoints). The envelope and list shape are also checked on every exchange by observers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apicert import expect as x
from apicert.checks.base import fail
from apicert.checks.digitzs import more_consistent, owned_by, refused, within_dates
from apicert.http import Client
from apicert.verdict import Verdict

from . import payloads
from .conftest import RES_01, Maker, Pay, attributes_of, data_of, entries_of, listed_ids


@pytest.mark.requirement("DIGITZS-ENV-01", "DIGITZS-ENV-02")
def test_every_collection_answers_its_type_and_ids(
    digitzs: Client, new_customer: Maker, new_card_token: Maker, verdict: Verdict
) -> None:
    merchant_id = str(data_of(digitzs.post("/merchants", json=payloads.merchant())).get("id"))
    customer_id = new_customer(merchant_id)
    token_id = new_card_token(customer_id)
    paid = digitzs.post("/payments", json=payloads.card_payment(merchant_id, 1234))
    payment_id = str(data_of(verdict.step(RES_01, paid, "make a card payment")).get("id"))
    for path in (
        f"/merchants/{merchant_id}",
        f"/customers/{customer_id}",
        f"/tokens/{token_id}",
        f"/payments/{payment_id}",
        "/merchants?limit=5",
        f"/customers?id={merchant_id}&limit=5",
        f"/tokens?id={customer_id}&limit=5",
        f"/payments?id={merchant_id}&limit=5",
    ):
        verdict.step(RES_01, digitzs.get(path), f"read {path.split('?')[0]}")


@pytest.mark.requirement("DIGITZS-LIST-01", "DIGITZS-LIST-02", "DIGITZS-LIST-03")
def test_limit_items_and_more_agree(
    digitzs: Client, new_merchant: Maker, new_customer: Maker, verdict: Verdict
) -> None:
    merchant_id = new_merchant()
    for _ in range(3):
        new_customer(merchant_id)
    pages = {
        limit: verdict.step(
            RES_01, digitzs.get(f"/customers?id={merchant_id}&limit={limit}"), "list customers"
        )
        for limit in (1, 2, 3, 10)
    }
    for limit in (1, 2, 3):
        verdict.check(more_consistent(pages[limit], pages[10]))
    if len(entries_of(pages[10])) != 3:
        verdict.check(
            [
                fail(
                    "DIGITZS-LIST-01",
                    "a merchant with 3 customers lists another number",
                    pages[10],
                    expect=[
                        x.compare(
                            x.operand(pages[10].id, ["data"], length=True), "eq", x.operand(value=3)
                        )
                    ],
                )
            ]
        )
    small = verdict.step(RES_01, digitzs.get("/merchants?limit=1"), "list merchants")
    large = verdict.step(RES_01, digitzs.get("/merchants?limit=100"), "list merchants")
    verdict.check(more_consistent(small, large))


@pytest.mark.requirement("DIGITZS-LIST-04")
def test_lists_keep_to_their_owner(
    digitzs: Client,
    new_merchant: Maker,
    new_customer: Maker,
    new_card_token: Maker,
    card_payment: Pay,
    verdict: Verdict,
) -> None:
    first, second = new_merchant(), new_merchant()
    customers = {m: new_customer(m) for m in (first, second)}
    tokens = {c: new_card_token(c) for c in customers.values()}
    for merchant in (first, second):
        card_payment(merchant, 500, RES_01)
    for merchant, customer in customers.items():
        listed = verdict.step(RES_01, digitzs.get(f"/customers?id={merchant}&limit=100"), "list")
        verdict.check(owned_by(listed, "merchantId", merchant))
        seen = listed_ids(listed)
        if seen is not None and customer not in seen:
            verdict.check([fail("DIGITZS-LIST-04", "the merchant's customer is missing", listed)])
        paid = verdict.step(RES_01, digitzs.get(f"/payments?id={merchant}&limit=100"), "list")
        verdict.check(owned_by(paid, "merchantId", merchant))
        stored = verdict.step(RES_01, digitzs.get(f"/tokens?id={customer}&limit=100"), "list")
        verdict.check(owned_by(stored, "customerId", customer))
        held = listed_ids(stored)
        if held is not None and tokens[customer] not in held:
            verdict.check([fail("DIGITZS-LIST-04", "the customer's token is missing", stored)])


@pytest.mark.requirement("DIGITZS-LIST-05")
def test_payments_filter_by_date_range(
    digitzs: Client,
    new_merchant: Maker,
    card_payment: Pay,
    verdict: Verdict,
) -> None:
    merchant_id = new_merchant()
    paid = card_payment(merchant_id, 700, RES_01)
    payment_id = data_of(paid).get("id")
    got = verdict.step(RES_01, digitzs.get(f"/payments/{payment_id}"), "read the payment")
    created = attributes_of(got).get("created")
    try:
        day = datetime.fromisoformat(str(created).replace("Z", "+00:00")).astimezone(UTC).date()
    except ValueError:
        iso = x.json_matches(
            got.id, ["data", "attributes", "created"], r"[0-9]{4}-[0-9]{2}-[0-9]{2}T.*"
        )
        verdict.require(
            [fail("DIGITZS-LIST-05", f"payment created {created!r} is no date", got, expect=[iso])]
        )
        return
    before = day - timedelta(days=1)
    same = digitzs.get(f"/payments?id={merchant_id}&limit=100&start={day:%Y%m%d}&end={day:%Y%m%d}")
    verdict.check(within_dates(verdict.step(RES_01, same, "list payments"), day, day))
    seen = listed_ids(same)
    if seen is not None and payment_id not in seen:
        verdict.check([fail("DIGITZS-LIST-05", "the day's payment is missing from its day", same)])
    earlier = digitzs.get(
        f"/payments?id={merchant_id}&limit=100&start={before:%Y%m%d}&end={before:%Y%m%d}"
    )
    verdict.check(within_dates(verdict.step(RES_01, earlier, "list payments"), before, before))


@pytest.mark.requirement("DIGITZS-RES-01")
def test_created_resources_read_back(
    digitzs: Client, new_customer: Maker, new_card_token: Maker, verdict: Verdict
) -> None:
    body = payloads.merchant()
    name = body["data"]["attributes"]["accountName"]
    merchant = verdict.step(RES_01, digitzs.post("/merchants", json=body), "create")
    merchant_id = str(data_of(merchant).get("id"))
    # Where each expected value comes from (an operand: the request sent, the id an answer gave,
    # or a literal), so the expectations compare values and never write a run's ids.
    sent = ["data", "attributes"]
    merchant_is = x.operand(merchant.id, ["data", "id"])
    expectations = {
        f"/merchants/{merchant_id}": {
            "accountName": (name, x.operand(merchant.id, [*sent, "accountName"], side="request"))
        }
    }
    customer_body = payloads.customer(merchant_id)
    made = verdict.step(RES_01, digitzs.post("/customers", json=customer_body), "create a customer")
    customer_id = data_of(made).get("id")
    expectations[f"/customers/{customer_id}"] = {
        "name": (
            customer_body["data"]["attributes"]["name"],
            x.operand(made.id, [*sent, "name"], side="request"),
        ),
        "merchantId": (merchant_id, merchant_is),
    }
    token_id = new_card_token(str(customer_id))
    expectations[f"/tokens/{token_id}"] = {
        "customerId": (customer_id, x.operand(made.id, ["data", "id"])),
        "tokenType": ("card", x.operand(value="card")),
    }
    paid = verdict.step(
        RES_01, digitzs.post("/payments", json=payloads.card_payment(merchant_id, 999)), "pay"
    )
    expectations[f"/payments/{data_of(paid).get('id')}"] = {
        "paymentType": ("card", x.operand(value="card")),
        "merchantId": (merchant_id, merchant_is),
    }
    for path, wanted in expectations.items():
        got = verdict.step(RES_01, digitzs.get(path), f"read {path}")
        attributes = attributes_of(got)
        wrong = {k: attributes.get(k) for k, (v, _) in wanted.items() if attributes.get(k) != v}
        if wrong:
            promise = [
                x.compare(x.operand(got.id, [*sent, key]), "eq", source)
                for key, (_, source) in wanted.items()
            ]
            verdict.check(
                [
                    fail(
                        RES_01,
                        f"GET {path.split('/')[1]}: differs in {sorted(wrong)}",
                        got,
                        expect=promise,
                    )
                ]
            )


@pytest.mark.readonly
@pytest.mark.requirement("DIGITZS-RES-02")
def test_unknown_ids_are_refused(digitzs: Client, verdict: Verdict) -> None:
    for collection in ("merchants", "customers", "tokens", "payments"):
        exchange = digitzs.get(f"/{collection}/apicert-no-such-{collection}-0000")
        verdict.check(refused("DIGITZS-RES-02", exchange, (400, 404)))
