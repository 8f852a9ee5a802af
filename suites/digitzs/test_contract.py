"""Contract: every generated request (valid and invalid, and stateful sequences along the
document's links merchant -> customer -> token, merchant -> payment -> refund) gets a response
the OpenAPI document declares; the envelope and masking checks run inside Schemathesis too."""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode

from apicert.auth import DigitzsAuth
from apicert.checks.base import fail
from apicert.checks.contract import schemathesis_expectations
from apicert.checks.digitzs import envelope, masked_details
from apicert.contract import as_schemathesis_check, failure_text, load_openapi
from apicert.http import Client
from apicert.run import Run
from apicert.verdict import Verdict

from . import payloads

CONTRACT_01 = "DIGITZS-CONTRACT-01"
# Sixteen operations, positive and negative: a few examples each keep the run near 10 s.
EXAMPLES = 6
STATEFUL = hypothesis.settings(
    hypothesis.settings(), max_examples=15, stateful_step_count=8, deadline=None
)
schemathesis.check(as_schemathesis_check(envelope))
schemathesis.check(as_schemathesis_check(masked_details))


@pytest.fixture
def digitzs_schema(apicert_run: Run) -> Any:
    """The Digitzs OpenAPI document bound to this run's target."""
    # 400 is documented as "the requested item does not exist" and 404/409 for unknown or
    # conflicting items: schema-valid data that names nothing real is refused, not a breach.
    loaded = load_openapi(
        "digitzs",
        base_url=apicert_run.target("digitzs").base_url,
        business_refusals=(400, 404, 409),
        max_examples=EXAMPLES,
    )
    _credentials_are_ours(loaded)
    return loaded


def _credentials_are_ours(schema: Any) -> None:
    """The harness sends x-api-key, appId and the Bearer token on every case (see _headers), so
    Schemathesis must not generate or mutate them: a "missing key" negative case would reach the
    API with a valid key and be wrongly blamed for accepting it. Auth is tested by test_auth.py
    and by Schemathesis' own ignored-auth check."""
    schema.config.generation.update(with_security_parameters=False)


schema = schemathesis.pytest.from_fixture("digitzs_schema")


def _headers(case: Any, auth: DigitzsAuth, client: Client) -> dict[str, str]:
    if case.operation.path in ("/auth", "/auth/key") or (
        case.operation.path == "/auth/token" and case.method.upper() == "POST"
    ):
        return auth.key_headers()
    return auth.headers_for(auth.token(client))


def _call(case: Any, client: Client, auth: DigitzsAuth) -> Any:
    """Send ``case`` through the recording session with fresh credentials; when a resource
    refuses our own app token with 401, refresh the token and resend once."""
    headers = _headers(case, auth, client)
    response = case.call(session=client.session, base_url=client.base_url, headers=headers)
    if response.status_code == 401 and "Authorization" in headers:
        auth.invalidate()
        headers = _headers(case, auth, client)
        response = case.call(session=client.session, base_url=client.base_url, headers=headers)
    exchange = client.recorder.last_added()
    if exchange is not None:
        auth.adopt_key(exchange)  # a generated POST /auth/key retires the run's appKey
    return response


def send(case: Any, client: Client, verdict: Verdict, auth: DigitzsAuth) -> None:
    """Send ``case`` (see :func:`_call`), then validate it with Schemathesis' checks; failures
    are filed under CONTRACT-01."""
    response = _call(case, client, auth)
    exchange = client.recorder.last_added()
    assert exchange is not None, "Schemathesis bypassed the apicert session"
    try:
        case.validate_response(response)
    except Exception as exc:  # Schemathesis raises a FailureGroup (or one Failure)
        text = failure_text(exc)
        promise = schemathesis_expectations(text, exchange.id)
        verdict.require(
            [fail(CONTRACT_01, f"{case.operation.label}: {text}", exchange, expect=promise)]
        )


@pytest.mark.requirement(CONTRACT_01)
@schema.parametrize()
def test_responses_match_the_contract(
    case: Any, digitzs: Client, verdict: Verdict, apicert_run: Run
) -> None:
    auth = apicert_run.auth("digitzs")
    send(case, digitzs, verdict, auth)


@pytest.mark.requirement(CONTRACT_01)
def test_stateful_sequences_match_the_contract(
    apicert_run: Run, digitzs: Client, verdict: Verdict
) -> None:
    auth = apicert_run.auth("digitzs")
    schema = load_openapi(
        "digitzs",
        base_url=apicert_run.target("digitzs").base_url,
        business_refusals=(400, 404, 409),
    )
    # Sequences follow the links with valid data; invalid data is the parametrized test's job.
    schema.config.generation.update(modes=[GenerationMode.POSITIVE])
    _credentials_are_ours(schema)

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Any) -> None:
            # The root of every chain: a merchant the vendor accepts (random bodies almost never
            # pass its identity and bank checks), so links reach customers, tokens and refunds.
            if case.operation.path == "/merchants" and case.method.upper() == "POST":
                case.body = payloads.merchant()

        def call(self, case: Any, **kwargs: Any) -> Any:
            return _call(case, digitzs, auth)

    Workflow.run(settings=STATEFUL)
