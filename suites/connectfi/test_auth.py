"""Authentication (seed 002 "all requests except logging in fail without a token"; auth page)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apicert import expect as x
from apicert.checks.base import fail
from apicert.checks.connectfi import (
    error_envelope,
    parse_expiry,
    refused,
    success_envelope,
    token_response,
)
from apicert.control import SandboxControl
from apicert.http import Client
from apicert.run import Run
from apicert.verdict import Verdict

from .conftest import data_of


@pytest.mark.readonly
@pytest.mark.requirement("CONNECTFI-AUTH-01")
def test_no_token_is_refused_with_401(connectfi: Client, verdict: Verdict) -> None:
    exchange = connectfi.get("/customer/status/cstap_anything", auth=False)
    verdict.check(refused("CONNECTFI-AUTH-01", exchange, status=401))
    verdict.check(error_envelope(exchange))


@pytest.mark.readonly
@pytest.mark.requirement("CONNECTFI-AUTH-02")
def test_token_never_issued_is_refused_with_401(connectfi: Client, verdict: Verdict) -> None:
    exchange = connectfi.get(
        "/health", auth=False, headers={"x-connectfi-token": "not-a-token-the-api-issued"}
    )
    verdict.check(refused("CONNECTFI-AUTH-02", exchange, status=401))


@pytest.mark.readonly
@pytest.mark.requirement("CONNECTFI-AUTH-03")
def test_get_token_answers_token_and_expiry(
    connectfi: Client, verdict: Verdict, clock: SandboxControl, apicert_run: Run
) -> None:
    auth = apicert_run.auth("connectfi")
    auth.token(connectfi)  # refused credentials end the run as a set-up error, not a finding
    exchange = connectfi.post("/auth/get-token", auth=False, json=auth.credentials_body())
    now = datetime.fromtimestamp(clock.now(), UTC)
    verdict.check(success_envelope(exchange))
    verdict.check(token_response(exchange, now=now))


@pytest.mark.readonly
@pytest.mark.requirement("CONNECTFI-AUTH-05")
def test_wrong_password_is_refused(connectfi: Client, verdict: Verdict, apicert_run: Run) -> None:
    auth = apicert_run.auth("connectfi")
    exchange = connectfi.post(
        "/auth/get-token",
        auth=False,
        json=auth.credentials_body(password="wrong-" + auth.password[:3]),
    )
    verdict.check(refused("CONNECTFI-AUTH-05", exchange, status=401))


@pytest.mark.requirement("CONNECTFI-AUTH-04")
def test_token_past_its_expiry_is_refused(
    connectfi: Client, verdict: Verdict, clock: SandboxControl, apicert_run: Run
) -> None:
    auth = apicert_run.auth("connectfi")
    auth.token(connectfi)  # refused credentials end the run as a set-up error, not a finding
    issued = connectfi.post("/auth/get-token", auth=False, json=auth.credentials_body())
    data = data_of(verdict.step("CONNECTFI-AUTH-03", issued, "get a token"))
    token = str(data.get("token", ""))
    expiry = parse_expiry(data.get("dtsExpireAt"))
    if expiry is None:
        pytest.skip("get-token gave no usable dtsExpireAt (CONNECTFI-AUTH-03 reports it)")
    before = connectfi.get(
        "/customer/status/cstap_anyCustomer000000000000",
        auth=False,
        headers={"x-connectfi-token": token},
    )
    if before.status == 401:
        verdict.require(
            [
                fail(
                    "CONNECTFI-AUTH-03",
                    "a token fresh from get-token is refused with 401",
                    before,
                    expect=[
                        x.compare(x.operand(before.id, status=True), "ne", x.operand(value=401))
                    ],
                )
            ]
        )
    clock.advance(max(0.0, expiry.timestamp() - clock.now()) + 1.0)
    after = connectfi.get(
        "/customer/status/cstap_anyCustomer000000000000",
        auth=False,
        headers={"x-connectfi-token": token},
    )
    verdict.check(refused("CONNECTFI-AUTH-04", after, status=401))
