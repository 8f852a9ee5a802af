"""Invalid input is refused cleanly (seed 002: failures answer >= 300 with a message), never 5xx.

The shape of each refusal is the envelope observer's job (CONNECTFI-ENV-06, on every exchange);
this property judges only the status, so a broken error shape does not hide a 5xx.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given

from apicert import expect as x
from apicert.checks.base import describe, fail
from apicert.http import Client
from apicert.verdict import Verdict

from . import payloads


@pytest.mark.requirement("CONNECTFI-VAL-01")
@given(body=payloads.invalid_customer_bodies())
def test_invalid_customer_is_a_4xx_never_a_5xx(
    connectfi: Client, verdict: Verdict, body: Any
) -> None:
    exchange = connectfi.post("/customer/init", json=body)
    status = exchange.status
    if status is None or not 400 <= status < 500:
        verdict.require(
            [
                fail(
                    "CONNECTFI-VAL-01",
                    f"{describe(exchange)}: invalid customer answered "
                    f"{status or exchange.error}, not 4xx",
                    exchange,
                    expect=[x.status_between(exchange.id, 400, 499)],
                )
            ]
        )
