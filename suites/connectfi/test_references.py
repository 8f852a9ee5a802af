"""Duplicate references and identities (vendor "Common Errors": referenceExists)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apicert.checks.base import fail, json_body
from apicert.checks.connectfi import refused
from apicert.http import Client
from apicert.model import Exchange, Finding
from apicert.verdict import Verdict

from . import payloads
from .conftest import data_of


def points_at(
    requirement: str, exchange: Exchange, reference: str, entity_id: object
) -> list[Finding]:
    """The refusal's context names the used reference and the existing entity."""
    body, problem = json_body(exchange)
    if problem:
        return [fail(requirement, problem, exchange)]
    context = body.get("context") if isinstance(body, dict) else None
    if not isinstance(context, dict):
        return [fail(requirement, "referenceExists without a context object", exchange)]
    findings = []
    if context.get("reference") != reference:
        findings.append(
            fail(
                requirement,
                f"context.reference is {context.get('reference')!r}, expected the used reference",
                exchange,
            )
        )
    if context.get("entityId") != entity_id:
        findings.append(
            fail(
                requirement,
                f"context.entityId is {context.get('entityId')!r}, "
                f"not the existing entity {entity_id!r}",
                exchange,
            )
        )
    return findings


@pytest.mark.requirement("CONNECTFI-REF-01")
def test_duplicate_customer_reference_points_at_existing(
    connectfi: Client, verdict: Verdict, new_customer: Callable[..., dict[str, Any]]
) -> None:
    first = new_customer()
    ref = str(first.get("reference"))
    again = connectfi.post("/customer/init", json=payloads.individual(ref=ref))
    verdict.check(refused("CONNECTFI-REF-01", again, status=400, code="referenceExists"))
    if again.status is not None and again.status >= 300:
        verdict.check(points_at("CONNECTFI-REF-01", again, ref, first.get("customerId")))


@pytest.mark.requirement("CONNECTFI-REF-02")
def test_duplicate_card_reference_points_at_existing(
    connectfi: Client, verdict: Verdict, customer_with_documents: Callable[[], str]
) -> None:
    customer_id = customer_with_documents()
    body = payloads.card(customer_id)
    first = connectfi.post("/ibis/debit-card/add", json=body)
    card_id = data_of(first).get("cardId")
    if not card_id:
        pytest.skip(f"no card could be added ({first.status}); CONNECTFI-PRE-03 reports it")
    again = connectfi.post(
        "/ibis/debit-card/add", json=payloads.card(customer_id, ref=body["reference"])
    )
    verdict.check(refused("CONNECTFI-REF-02", again, status=400, code="referenceExists"))
    if again.status is not None and again.status >= 300:
        verdict.check(points_at("CONNECTFI-REF-02", again, body["reference"], card_id))


@pytest.mark.requirement("CONNECTFI-REF-03")
@pytest.mark.parametrize("build", [payloads.individual, payloads.business], ids=["ssn", "fein"])
def test_duplicate_tax_id_is_refused(
    connectfi: Client,
    verdict: Verdict,
    new_customer: Callable[..., dict[str, Any]],
    build: Callable[..., dict[str, Any]],
) -> None:
    """The same SSN (individual) or FEIN (business) cannot start a second customer."""
    tax_id = payloads.random_ssn()
    connectfi.redactor.add_identity(tax_id)
    key = "ssn" if build is payloads.individual else "fein"
    new_customer(build(**{key: tax_id}))
    again = connectfi.post("/customer/init", json=build(**{key: tax_id}))
    verdict.check(refused("CONNECTFI-REF-03", again, status=400))
