"""Fixtures for the Digitzs suites: the client and ready-made merchants, customers and tokens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apicert.checks.base import data_object as data_of
from apicert.http import Client
from apicert.model import Exchange
from apicert.verdict import Verdict

from . import payloads

# Creating and retrieving resources is the promise RES-01 makes; a refused creation step in a test
# about something else is filed there, never under the requirement the test is about.
RES_01 = "DIGITZS-RES-01"


@pytest.fixture
def digitzs(api: Client) -> Client:
    """The authenticated Digitzs client (x-api-key, appId and a Bearer app token)."""
    return api


def entries_of(exchange: Exchange) -> list[dict[str, Any]]:
    """The ``data`` array of a list answer ([] when absent)."""
    try:
        body = exchange.json()
    except ValueError:
        return []
    data = body.get("data") if isinstance(body, dict) else None
    return [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []


def attributes_of(exchange: Exchange) -> dict[str, Any]:
    """``data.attributes`` of an answer ({} when absent)."""
    attributes = data_of(exchange).get("attributes")
    return attributes if isinstance(attributes, dict) else {}


def listed_ids(exchange: Exchange) -> set[str] | None:
    """The ids of a list answer; None when an entry has no string id (ENV-02 reports that, and
    membership cannot be judged without ids)."""
    ids = [e.get("id") for e in entries_of(exchange)]
    if not all(isinstance(i, str) for i in ids):
        return None
    return {str(i) for i in ids}


Maker = Callable[..., str]
Pay = Callable[[str, int, str], Exchange]


@pytest.fixture
def new_merchant(digitzs: Client, verdict: Verdict) -> Maker:
    """Create a merchant (ending the test under RES-01 if refused) and return its id."""

    def make(body: dict[str, Any] | None = None) -> str:
        created = digitzs.post("/merchants", json=body or payloads.merchant())
        return str(data_of(verdict.step(RES_01, created, "create a merchant")).get("id"))

    return make


@pytest.fixture
def new_customer(digitzs: Client, verdict: Verdict, new_merchant: Maker) -> Maker:
    """Create a customer of ``merchant_id`` (a new merchant when None) and return its id."""

    def make(merchant_id: str | None = None) -> str:
        created = digitzs.post("/customers", json=payloads.customer(merchant_id or new_merchant()))
        return str(data_of(verdict.step(RES_01, created, "create a customer")).get("id"))

    return make


@pytest.fixture
def new_card_token(digitzs: Client, verdict: Verdict) -> Maker:
    """Store a card for ``customer_id`` and return the token id."""

    def make(customer_id: str, number: str | None = None) -> str:
        created = digitzs.post("/tokens", json=payloads.card_token(customer_id, number))
        return str(data_of(verdict.step(RES_01, created, "create a card token")).get("id"))

    return make


@pytest.fixture
def card_payment(digitzs: Client, verdict: Verdict) -> Pay:
    """Make a card payment of ``amount`` cents; a refusal ends the test under ``requirement``."""

    def make(merchant_id: str, amount: int, requirement: str) -> Exchange:
        paid = digitzs.post("/payments", json=payloads.card_payment(merchant_id, amount))
        return verdict.step(requirement, paid, f"make a card payment of {amount} cents")

    return make
