"""Duplicate references and identities (vendor "Common Errors": referenceExists)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apicert import expect as x
from apicert.checks.base import fail, json_body
from apicert.checks.connectfi import refused
from apicert.http import Client
from apicert.model import Exchange, Finding
from apicert.verdict import Verdict

from . import payloads
from .conftest import data_of


def points_at(
    requirement: str,
    exchange: Exchange,
    reference: str,
    entity_id: object,
    origin: tuple[Exchange | None, list[Any], list[Any]],
) -> list[Finding]:
    """The refusal's context names the used reference and the existing entity.

    ``origin`` is (the creation exchange, where its answer names the entity id, where the
    refused request names the reference): the expectations compare values, never run ids."""
    first, id_path, reference_path = origin
    same_reference = x.compare(
        x.operand(exchange.id, ["context", "reference"]),
        "eq",
        x.operand(exchange.id, reference_path, side="request"),
    )
    same_entity = (
        [
            x.compare(
                x.operand(exchange.id, ["context", "entityId"]), "eq", x.operand(first.id, id_path)
            )
        ]
        if first is not None
        else [x.json_matches(exchange.id, ["context", "entityId"], r"[\s\S]*\S[\s\S]*")]
    )
    body, problem = json_body(exchange)
    if problem:
        return [fail(requirement, problem, exchange, expect=[x.json_body(exchange.id)])]
    context = body.get("context") if isinstance(body, dict) else None
    if not isinstance(context, dict):
        return [
            fail(
                requirement,
                "referenceExists without a context object",
                exchange,
                expect=[x.json_type(exchange.id, ["context"], "object")],
            )
        ]
    findings = []
    if context.get("reference") != reference:
        findings.append(
            fail(
                requirement,
                f"context.reference is {context.get('reference')!r}, expected the used reference",
                exchange,
                expect=[same_reference],
            )
        )
    if context.get("entityId") != entity_id:
        findings.append(
            fail(
                requirement,
                f"context.entityId is {context.get('entityId')!r}, "
                f"not the existing entity {entity_id!r}",
                *([first, exchange] if first is not None else [exchange]),
                expect=same_entity,
            )
        )
    return findings


@pytest.mark.requirement("CONNECTFI-REF-01")
def test_duplicate_customer_reference_points_at_existing(
    connectfi: Client, verdict: Verdict, new_customer: Callable[..., dict[str, Any]]
) -> None:
    first = new_customer()
    created = connectfi.last
    ref = str(first.get("reference"))
    again = connectfi.post("/customer/init", json=payloads.individual(ref=ref))
    verdict.check(refused("CONNECTFI-REF-01", again, status=400, code="referenceExists"))
    if again.status is not None and again.status >= 300:
        origin = (created, ["data", "customerId"], ["customer", "reference"])
        verdict.check(points_at("CONNECTFI-REF-01", again, ref, first.get("customerId"), origin))


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
        origin = (first, ["data", "cardId"], ["reference"])
        verdict.check(points_at("CONNECTFI-REF-02", again, body["reference"], card_id, origin))


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
