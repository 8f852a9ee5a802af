"""Idempotent requests (seed 000, "Idempotent Requests"; IETF idempotency-key draft for the
changed-payload warning)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apicert.checks.digifi import (
    changed_payload_refused,
    concurrent_single_resource,
    count_change,
    new_resource_after_expiry,
    same_result,
    search_total,
    status_is,
)
from apicert.control import SandboxControl
from apicert.http import Client
from apicert.model import Exchange
from apicert.verdict import Verdict

from . import payloads
from .conftest import STEP

KEY = "idempotency-key"
CONCURRENT = 8


def _post(digifi: Client, body: dict[str, Any], key: str) -> Exchange:
    return digifi.post("/api/borrowers", json=body, headers={KEY: key})


@pytest.mark.requirement("DIGIFI-IDEM-01", "DIGIFI-IDEM-02")
def test_replay_answers_the_same_and_creates_nothing(
    digifi: Client, verdict: Verdict, count: Callable[[str], Exchange]
) -> None:
    mark, key = payloads.marker(), payloads.idempotency_key()
    before = count(mark)
    first = verdict.step(STEP, _post(digifi, payloads.person(mark), key), "create a borrower")
    again = _post(digifi, payloads.person(mark), key)
    verdict.check(same_result("DIGIFI-IDEM-01", first, again, "replay with the same key"))
    verdict.check(
        count_change("DIGIFI-IDEM-02", before, count(mark), expected=1, what="create + replay")
    )


@pytest.mark.requirement("DIGIFI-IDEM-03")
def test_replayed_failure_stays_the_same_failure(
    digifi: Client, verdict: Verdict, count: Callable[[str], Exchange]
) -> None:
    mark, key = payloads.marker(), payloads.idempotency_key()
    before = count(mark)
    first = _post(digifi, payloads.malformed(mark), key)
    verdict.check(status_is("DIGIFI-STATUS-02", first, 400, "a person without a last name"))
    again = _post(digifi, payloads.person(mark), key)
    verdict.check(
        same_result("DIGIFI-IDEM-03", first, again, "valid body replayed on a failed key")
    )
    verdict.check(
        count_change("DIGIFI-IDEM-03", before, count(mark), expected=0, what="failure + replay")
    )


@pytest.mark.requirement("DIGIFI-IDEM-05", "DIGIFI-IDEM-04")
def test_changed_body_gets_the_saved_result(
    digifi: Client, verdict: Verdict, count: Callable[[str], Exchange]
) -> None:
    """DigiFi replays the saved result (IDEM-05, decides pass/fail); the IETF draft would refuse
    with 422 (IDEM-04, a warning for a vendor that keeps its own rule)."""
    mark, key = payloads.marker(), payloads.idempotency_key()
    before = count(mark)
    first = verdict.step(STEP, _post(digifi, payloads.person(mark), key), "create a borrower")
    changed = _post(digifi, payloads.person(mark, first="Changed"), key)
    verdict.check(same_result("DIGIFI-IDEM-05", first, changed, "same key, changed body"))
    verdict.check(
        count_change("DIGIFI-IDEM-05", before, count(mark), expected=1, what="changed replay")
    )
    verdict.check(changed_payload_refused(changed))


@pytest.mark.requirement("DIGIFI-IDEM-06")
def test_key_is_kept_six_hours_then_makes_a_new_resource(
    digifi: Client, verdict: Verdict, clock: SandboxControl
) -> None:
    mark, key = payloads.marker(), payloads.idempotency_key()
    first = verdict.step(STEP, _post(digifi, payloads.person(mark), key), "create a borrower")
    clock.advance(payloads.SIX_HOURS - 60)
    kept = _post(digifi, payloads.person(mark), key)
    verdict.check(same_result("DIGIFI-IDEM-06", first, kept, "replay 1 minute before 6 hours"))
    clock.advance(120)
    later = _post(digifi, payloads.person(mark), key)
    verdict.check(new_resource_after_expiry(first, later))


@pytest.mark.requirement("DIGIFI-IDEM-07")
def test_concurrent_requests_with_one_key_create_one_resource(
    digifi: Client, verdict: Verdict, count: Callable[[str], Exchange]
) -> None:
    mark, key = payloads.marker(), payloads.idempotency_key()
    before = count(mark)
    # An unpaced client on the same recorder: the run's client spaces requests 12.5 ms apart,
    # which would turn the burst into a sequence of replays. 8 requests stay far below 100/s.
    burst = Client(digifi.base_url, recorder=digifi.recorder, auth=digifi.auth)
    gate = threading.Barrier(CONCURRENT)

    def send(_: int) -> Exchange:
        gate.wait(timeout=10)
        return _post(burst, payloads.person(mark), key)

    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        exchanges = list(pool.map(send, range(CONCURRENT)))
    burst.session.close()
    after = count(mark)
    start, end = search_total(before), search_total(after)
    created = None if start is None or end is None else end - start
    verdict.check(concurrent_single_resource(exchanges, created, [before, after]))


@pytest.mark.requirement("DIGIFI-IDEM-01", "DIGIFI-IDEM-03")
@settings(max_examples=8)
@given(data=st.data())
def test_any_payload_replays_identically(
    data: st.DataObject, digifi: Client, verdict: Verdict
) -> None:
    """Random valid and invalid bodies: the replay answers what the first request answered."""
    body = data.draw(payloads.borrower_payloads(payloads.marker()), label="body")
    key = payloads.idempotency_key()
    first = _post(digifi, body, key)
    again = _post(digifi, body, key)
    requirement = "DIGIFI-IDEM-01" if first.status == 200 else "DIGIFI-IDEM-03"
    verdict.require(same_result(requirement, first, again, "replay of a generated body"))
