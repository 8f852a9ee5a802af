"""Contract: every generated request (valid and invalid) gets a response the OpenAPI document
declares, and the connectFi envelope, checked by Schemathesis and by apicert's envelope check."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis

from apicert.checks.connectfi import envelope
from apicert.contract import as_schemathesis_check, load_openapi, run_case
from apicert.http import Client
from apicert.run import Run
from apicert.verdict import Verdict

schemathesis.check(as_schemathesis_check(envelope))


@pytest.fixture
def connectfi_schema(apicert_run: Run) -> Any:
    """The connectFi OpenAPI document bound to this run's target."""
    # 400 is documented for schema-valid requests that break a business rule (referenceExists,
    # a card expiry in the past), so valid data answered 400 is not a contract breach.
    return load_openapi(
        "connectfi", base_url=apicert_run.target("connectfi").base_url, business_refusals=(400,)
    )


schema = schemathesis.pytest.from_fixture("connectfi_schema")


@pytest.mark.requirement("CONNECTFI-CONTRACT-01")
@schema.parametrize()
def test_responses_match_the_contract(
    case: Any, connectfi: Client, verdict: Verdict, apicert_run: Run
) -> None:
    headers = {}
    if case.operation.path != "/auth/get-token":
        headers["x-connectfi-token"] = apicert_run.auth("connectfi").token(connectfi)
    run_case(case, connectfi, verdict, "CONNECTFI-CONTRACT-01", headers=headers)
