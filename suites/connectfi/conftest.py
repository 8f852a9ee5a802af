"""Fixtures for the connectFi suites: the client and ready-made pre-requisite chains."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apicert.checks.base import data_object as data_of
from apicert.http import Client
from apicert.verdict import Verdict

from . import payloads

# The documented pre-requisite chain (customer, documents, card) must work: a refused step in it
# is a failure of CONNECTFI-PRE-03, whatever test needed the step.
PRE_03 = "CONNECTFI-PRE-03"


@pytest.fixture
def connectfi(api: Client) -> Client:
    """The authenticated connectFi client."""
    return api


@pytest.fixture
def new_customer(connectfi: Client, verdict: Verdict) -> Callable[..., dict[str, Any]]:
    """Create a customer (stopping the test if that fails) and return its data."""

    def make(body: dict[str, Any] | None = None) -> dict[str, Any]:
        exchange = connectfi.post("/customer/init", json=body or payloads.individual())
        return data_of(verdict.step(PRE_03, exchange, "create a customer"))

    return make


@pytest.fixture
def customer_with_documents(
    connectfi: Client, verdict: Verdict, new_customer: Callable[..., dict[str, Any]]
) -> Callable[[], str]:
    """Create a customer, generate and upload its identity document; return the customer id."""

    def make() -> str:
        customer_id = str(new_customer().get("customerId"))
        generated = connectfi.post(
            "/akepa/document/generate", json={"customerId": customer_id, "documentType": "identity"}
        )
        document_id = data_of(
            verdict.step(PRE_03, generated, "generate the identity document")
        ).get("documentId")
        uploaded = connectfi.post(
            f"/akepa/document/upload/{document_id}",
            files={"file": ("passport.png", b"\x89PNG\r\n\x1a\nsandbox-document", "image/png")},
        )
        verdict.step(PRE_03, uploaded, "upload the identity document")
        return customer_id

    return make
