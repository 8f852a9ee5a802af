"""Response envelope (seed 002): code "0", object data, requestId, status rules.

Every exchange of every connectFi test is also checked by the envelope observer; these tests make
sure each rule is exercised on purpose, by a success and by a failure.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apicert import expect as x
from apicert.checks.base import fail
from apicert.checks.connectfi import envelope, error_envelope, success_envelope, unique_request_ids
from apicert.http import Client
from apicert.verdict import Verdict

from . import payloads

SUCCESS = ("CONNECTFI-ENV-01", "CONNECTFI-ENV-02", "CONNECTFI-ENV-03", "CONNECTFI-ENV-07")


@pytest.mark.readonly
@pytest.mark.requirement(*SUCCESS, "CONNECTFI-HEALTH-01")
def test_health_answers_the_success_envelope(connectfi: Client, verdict: Verdict) -> None:
    exchange = connectfi.get("/health")
    if exchange.status != 200:
        verdict.check(
            [
                fail(
                    "CONNECTFI-HEALTH-01",
                    f"GET /health answered {exchange.status or exchange.error}",
                    exchange,
                    expect=[x.status_in(exchange.id, [200])],
                )
            ]
        )
    else:
        verdict.check(success_envelope(exchange))


@pytest.mark.requirement(*SUCCESS)
def test_creation_answers_the_success_envelope(connectfi: Client, verdict: Verdict) -> None:
    verdict.check(success_envelope(connectfi.post("/customer/init", json=payloads.individual())))


@pytest.mark.readonly
@pytest.mark.requirement("CONNECTFI-ENV-06", "CONNECTFI-ENV-03")
def test_not_found_answers_the_error_shape(connectfi: Client, verdict: Verdict) -> None:
    exchange = connectfi.get("/customer/status/cstap_doesNotExist0000000000")
    if exchange.status is not None and exchange.status < 300:
        verdict.check(
            [
                fail(
                    "CONNECTFI-ENV-06",
                    "unknown customer answered as a success",
                    exchange,
                    expect=[x.status_between(exchange.id, 300, 599)],
                )
            ]
        )
    verdict.check(error_envelope(exchange))


@pytest.mark.requirement("CONNECTFI-ENV-05", "CONNECTFI-ENV-06")
def test_refusals_carry_an_error_code_and_no_2xx(connectfi: Client, verdict: Verdict) -> None:
    body = payloads.individual()
    connectfi.post("/customer/init", json=body)
    refusals = [
        connectfi.post(
            "/customer/init", json=payloads.individual(ref=body["customer"]["reference"])
        ),
        connectfi.post("/customer/init", json={"customer": {"type": "individual"}}),
        connectfi.get("/customer/status/cstap_doesNotExist0000000000"),
        connectfi.post(
            "/ibis/debit-card/activate", json={"cardId": "crd_neverAdded000000000000000"}
        ),
    ]
    for exchange in refusals:
        verdict.check(envelope(exchange))


@pytest.mark.requirement("CONNECTFI-ENV-04")
def test_request_ids_never_repeat(connectfi: Client, verdict: Verdict) -> None:
    exchanges = [connectfi.get("/health") for _ in range(5)]
    exchanges += [connectfi.post("/customer/init", json=payloads.individual()) for _ in range(3)]
    exchanges += [connectfi.get("/customer/status/cstap_unknown") for _ in range(3)]
    verdict.check(unique_request_ids(exchanges))


_REQUESTS = {
    "health": lambda c: c.get("/health"),
    "create": lambda c: c.post("/customer/init", json=payloads.individual()),
    "invalid": lambda c: c.post("/customer/init", json={"customer": {}}),
    "unknown": lambda c: c.get("/customer/status/cstap_unknown0000000000000000"),
    "no-token": lambda c: c.get("/health", auth=False),
}


@pytest.mark.requirement("CONNECTFI-ENV-04")
@given(kinds=st.lists(st.sampled_from(sorted(_REQUESTS)), min_size=2, max_size=6))
def test_request_ids_never_repeat_in_any_sequence(
    connectfi: Client, verdict: Verdict, kinds: list[str]
) -> None:
    exchanges = [_REQUESTS[kind](connectfi) for kind in kinds]
    verdict.require(unique_request_ids(exchanges))
