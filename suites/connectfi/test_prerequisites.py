"""Pre-requisite requests (seed 002): customer, then documents, then card, then activation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apicert.checks.connectfi import refused
from apicert.http import Client
from apicert.verdict import Verdict

from . import payloads
from .conftest import data_of


@pytest.mark.requirement("CONNECTFI-PRE-01")
def test_card_for_unknown_customer_is_refused(connectfi: Client, verdict: Verdict) -> None:
    exchange = connectfi.post(
        "/ibis/debit-card/add", json=payloads.card("cstap_neverInitialised00000000")
    )
    verdict.check(refused("CONNECTFI-PRE-01", exchange))


@pytest.mark.requirement("CONNECTFI-PRE-02")
def test_card_before_documents_is_refused(
    connectfi: Client, verdict: Verdict, new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer_id = str(new_customer().get("customerId"))
    exchange = connectfi.post("/ibis/debit-card/add", json=payloads.card(customer_id))
    verdict.check(refused("CONNECTFI-PRE-02", exchange))


@pytest.mark.requirement("CONNECTFI-PRE-04")
def test_activating_a_card_never_added_is_refused(connectfi: Client, verdict: Verdict) -> None:
    exchange = connectfi.post(
        "/ibis/debit-card/activate", json={"cardId": "crd_neverAdded000000000000000"}
    )
    verdict.check(refused("CONNECTFI-PRE-04", exchange))


@pytest.mark.requirement("CONNECTFI-PRE-03")
def test_documented_order_is_accepted(
    connectfi: Client, verdict: Verdict, customer_with_documents: Callable[[], str]
) -> None:
    customer_id = customer_with_documents()
    verdict.step(
        "CONNECTFI-PRE-03",
        connectfi.get(f"/customer/status/{customer_id}"),
        "read the customer's status",
    )
    added = connectfi.post("/ibis/debit-card/add", json=payloads.card(customer_id))
    card_id = data_of(
        verdict.step("CONNECTFI-PRE-03", added, "add a card after the documents")
    ).get("cardId")
    activated = connectfi.post("/ibis/debit-card/activate", json={"cardId": card_id})
    verdict.step("CONNECTFI-PRE-03", activated, "activate the added card")
