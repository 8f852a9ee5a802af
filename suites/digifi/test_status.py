"""The status table (seed 000, "Response Status Codes") and JSON bodies ("returns JSON
responses"; the Node client reads error.message)."""

from __future__ import annotations

import pytest

from apicert.checks.digifi import resource, status_is
from apicert.http import Client
from apicert.verdict import Verdict

from . import payloads
from .conftest import STEP, body_of

UNKNOWN_ID = "000000000000000000000000"


@pytest.mark.requirement("DIGIFI-STATUS-01")
def test_borrower_lifecycle_answers_200_with_the_resource(digifi: Client, verdict: Verdict) -> None:
    created = digifi.post("/api/borrowers", json=payloads.person(payloads.marker()))
    verdict.check(resource(STEP, created, "create a borrower"), stop=True)
    borrower_id = str(body_of(created)["id"])
    path = f"/api/borrowers/{borrower_id}"
    got = digifi.get(path)
    verdict.check(resource(STEP, got, "get it", expected_id=borrower_id, created=created))
    update = {"variables": {"borrower_first_name": "Grace"}}
    put = digifi.put(path, json=update)
    verdict.check(resource(STEP, put, "update it", expected_id=borrower_id, created=created))
    verdict.check(status_is(STEP, digifi.get("/api/borrowers", params={"count": 2}), 200, "list"))
    gone = digifi.delete(path)
    verdict.check(resource(STEP, gone, "delete it", expected_id=borrower_id, created=created))


@pytest.mark.requirement("DIGIFI-STATUS-02")
@pytest.mark.parametrize(
    ("raw", "why"), payloads.MALFORMED_BODIES, ids=[w for _, w in payloads.MALFORMED_BODIES]
)
def test_malformed_body_answers_400(raw: str, why: str, digifi: Client, verdict: Verdict) -> None:
    exchange = digifi.post(
        "/api/borrowers", data=raw.encode(), headers={"Content-Type": "application/json"}
    )
    verdict.check(status_is("DIGIFI-STATUS-02", exchange, 400, f"a body that is {why}"))


@pytest.mark.requirement("DIGIFI-STATUS-02")
@pytest.mark.parametrize("count", ["0", "101", "ten"])
def test_malformed_query_answers_400(count: str, digifi: Client, verdict: Verdict) -> None:
    exchange = digifi.get("/api/borrowers", params={"count": count})
    verdict.check(status_is("DIGIFI-STATUS-02", exchange, 400, f"list with count={count}"))


@pytest.mark.requirement("DIGIFI-STATUS-03")
@pytest.mark.parametrize("verb", ["GET", "PUT", "DELETE"])
def test_unknown_resource_answers_404(verb: str, digifi: Client, verdict: Verdict) -> None:
    path = f"/api/borrowers/{UNKNOWN_ID}"
    body = {"variables": {"borrower_first_name": "Nobody"}} if verb == "PUT" else None
    exchange = digifi.request(verb, path, json=body)
    verdict.check(status_is("DIGIFI-STATUS-03", exchange, 404, f"{verb} of an unknown borrower"))


@pytest.mark.requirement("DIGIFI-JSON-01", "DIGIFI-ERR-01")
def test_every_answer_is_json_and_errors_carry_a_message(digifi: Client) -> None:
    """The observers judge each answer: a success, 400, 401, 404 and an unknown route."""
    digifi.get("/api/products")
    digifi.post("/api/borrowers", json={"type": "person"})
    digifi.get("/api/borrowers", auth=False)
    digifi.get(f"/api/borrowers/{UNKNOWN_ID}")
    digifi.get("/api/no-such-resource")
