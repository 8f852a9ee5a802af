"""The DigiFi checks on canned exchanges: each rule passes a conforming answer and fails the
deviation it exists to catch, naming the right requirement."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from apicert.auth import AuthError, DigiFiAuth
from apicert.checks.digifi import (
    DEFAULT_VERSION,
    VersionedContract,
    changed_payload_refused,
    concurrent_single_resource,
    count_change,
    error_message,
    json_response,
    new_resource_after_expiry,
    refused,
    request_version,
    resource,
    same_answer,
    same_result,
    search_total,
    status_is,
)
from apicert.http import Client, Recorder
from apicert.model import Exchange, Status
from apicert.paths import schemas_dir

from .canned import exchange

BORROWER = {
    "id": "b" * 24,
    "organizationId": "o" * 24,
    "type": "person",
    "variables": {"borrower_first_name": "Ada", "borrower_last_name": "L"},
    "lockEndDate": None,
    "lockReason": None,
    "createdAt": "2026-01-01T00:00:00.000Z",
    "updatedAt": "2026-01-01T00:00:00.000Z",
}
ERROR = {"error": {"code": "validationFailed", "message": "variables is required"}}


def ids(findings: list) -> set[str]:
    return {f.requirement for f in findings}


def borrower(**changes: Any) -> dict[str, Any]:
    return {**BORROWER, **changes}


def versioned(ex: Exchange, version: str | None) -> Exchange:
    if version is not None:
        ex.request_headers["api-version"] = version
    return ex


# -- JSON bodies and error messages ----------------------------------------------------------
def test_json_answer_passes_and_text_fails_json_01() -> None:
    assert json_response(exchange(body=BORROWER)) == []
    assert json_response(exchange(status=None, error="connection refused")) == []
    cut = exchange(status=429, raw='{"err', error="response not complete after 1 s; read stopped")
    assert json_response(cut) == []
    bad = json_response(exchange(status=401, raw="Unauthorized", content_type="text/plain"))
    assert ids(bad) == {"DIGIFI-JSON-01"} and bad[0].evidence


def test_json_sent_as_text_fails_json_01() -> None:
    findings = json_response(exchange(raw='{"a": 1}', content_type="text/plain"))
    assert ids(findings) == {"DIGIFI-JSON-01"} and "Content-Type" in findings[0].message


@pytest.mark.parametrize(
    "body",
    [ERROR, {"data": {"message": "x"}}, {"message": "Not found"}],
    ids=["error.message", "data.message", "message"],
)
def test_error_message_where_the_node_client_reads_it(body: dict) -> None:
    assert error_message(exchange(status=400, body=body)) == []


@pytest.mark.parametrize(
    "body", [{"error": "text only"}, {"code": "notFound"}, {"message": "  "}, [1]]
)
def test_error_without_message_fails_err_01(body: Any) -> None:
    assert ids(error_message(exchange(status=404, body=body))) == {"DIGIFI-ERR-01"}


def test_error_message_ignores_successes_and_non_json() -> None:
    assert error_message(exchange(body={"no": "message"})) == []
    assert error_message(exchange(status=500, raw="oops", content_type="text/plain")) == []


# -- statuses --------------------------------------------------------------------------------
def test_status_is_names_requirement_and_statuses() -> None:
    assert status_is("DIGIFI-AUTH-01", exchange(status=401, body=ERROR), 401, "x") == []
    assert status_is("DIGIFI-IDEM-07", exchange(status=409, body=ERROR), {200, 409}, "x") == []
    findings = status_is("DIGIFI-AUTH-01", exchange(status=200, body=BORROWER), 401, "no key")
    assert ids(findings) == {"DIGIFI-AUTH-01"}
    assert "answered 200, not 401" in findings[0].message


def test_refused_accepts_any_error_but_not_success_or_silence() -> None:
    assert refused("DIGIFI-IP-01", exchange(status=403, body=ERROR), "x") == []
    assert refused("DIGIFI-IP-01", exchange(status=404, body=ERROR), "x") == []
    assert ids(refused("DIGIFI-IP-01", exchange(body=BORROWER), "x")) == {"DIGIFI-IP-01"}
    silent = exchange(status=None, error="connection reset")
    assert ids(refused("DIGIFI-IP-01", silent, "x")) == {"DIGIFI-IP-01"}


def test_resource_needs_200_and_an_id() -> None:
    assert resource("DIGIFI-STATUS-01", exchange(body=BORROWER), "get") == []
    assert resource("DIGIFI-STATUS-01", exchange(body=BORROWER), "g", expected_id="b" * 24) == []
    cases = [
        exchange(status=201, body=BORROWER),
        exchange(status=204, raw="", content_type=""),
        exchange(body={"ok": True}),
        exchange(body=borrower(id="")),
    ]
    for ex in cases:
        assert ids(resource("DIGIFI-STATUS-01", ex, "create")) == {"DIGIFI-STATUS-01"}, ex
    other = resource("DIGIFI-STATUS-01", exchange(body=BORROWER), "delete", expected_id="z")
    assert ids(other) == {"DIGIFI-STATUS-01"} and "not 'z'" in other[0].message


# -- idempotency -----------------------------------------------------------------------------
def test_identical_replay_passes() -> None:
    first = exchange("POST", "/api/borrowers", body=BORROWER)
    reordered = json.dumps(dict(reversed(list(BORROWER.items()))))  # equal JSON, other order
    again = exchange("POST", "/api/borrowers", raw=reordered)
    assert same_result("DIGIFI-IDEM-01", first, again, "replay") == []


def test_replay_with_another_status_or_body_fails() -> None:
    first = exchange("POST", "/api/borrowers", body=BORROWER)
    other_status = exchange("POST", "/api/borrowers", status=409, body=ERROR)
    other_body = exchange("POST", "/api/borrowers", body=borrower(id="c" * 24))
    findings = same_result("DIGIFI-IDEM-01", first, other_status, "replay")
    assert ids(findings) == {"DIGIFI-IDEM-01"} and "409" in findings[0].message
    findings = same_result("DIGIFI-IDEM-01", first, other_body, "replay")
    assert ids(findings) == {"DIGIFI-IDEM-01"} and "id" in findings[0].message
    assert len(findings[0].evidence) == 2


def test_replayed_failure_must_stay_the_failure() -> None:
    failed = exchange("POST", "/api/borrowers", status=400, body=ERROR)
    assert same_result("DIGIFI-IDEM-03", failed, exchange(status=400, body=ERROR), "r") == []
    now_valid = exchange("POST", "/api/borrowers", body=BORROWER)
    assert ids(same_result("DIGIFI-IDEM-03", failed, now_valid, "r")) == {"DIGIFI-IDEM-03"}


def test_non_json_replays_compare_as_text() -> None:
    first = exchange(status=500, raw="boom", content_type="text/plain")
    assert same_result("DIGIFI-IDEM-03", first, exchange(status=500, raw="boom"), "r") == []
    assert same_result("DIGIFI-IDEM-03", first, exchange(status=500, raw="bang"), "r") != []


def search(total: Any, status: int = 200) -> Exchange:
    return exchange(
        "GET", "/api/borrowers/search", status=status, body={"items": [], "total": total}
    )


def test_search_total_reads_only_integer_totals() -> None:
    assert search_total(search(3)) == 3
    assert search_total(search("3")) is None
    assert search_total(search(True)) is None
    assert search_total(search(3, status=400)) is None


def test_count_change() -> None:
    assert count_change("DIGIFI-IDEM-02", search(4), search(5), expected=1, what="w") == []
    two = count_change("DIGIFI-IDEM-02", search(4), search(6), expected=1, what="w")
    assert ids(two) == {"DIGIFI-IDEM-02"} and "2 resources were created" in two[0].message
    broken = count_change("DIGIFI-IDEM-02", search(4), search(None), expected=1, what="w")
    assert ids(broken) == {"DIGIFI-IDEM-02"} and "could not count" in broken[0].message


def test_changed_payload_warns_unless_422() -> None:
    assert changed_payload_refused(exchange(status=422, body=ERROR)) == []
    findings = changed_payload_refused(exchange(body=BORROWER))
    assert ids(findings) == {"DIGIFI-IDEM-04"} and "422" in findings[0].message
    assert findings[0].status is Status.FAILED  # a SHOULD: reported as a warning


def test_key_after_six_hours_must_make_a_new_resource() -> None:
    first = exchange("POST", "/api/borrowers", body=BORROWER)
    assert new_resource_after_expiry(first, exchange(body=borrower(id="n" * 24))) == []
    replayed = new_resource_after_expiry(first, exchange(body=BORROWER))
    assert ids(replayed) == {"DIGIFI-IDEM-06"} and "still replayed" in replayed[0].message
    refused_later = new_resource_after_expiry(first, exchange(status=409, body=ERROR))
    assert ids(refused_later) == {"DIGIFI-IDEM-06"}
    assert new_resource_after_expiry(first, exchange(status=201, body=borrower(id="n" * 24))) == []


def test_concurrent_burst_with_one_resource_passes() -> None:
    burst = [exchange(body=BORROWER) for _ in range(3)] + [exchange(status=409, body=ERROR)]
    assert concurrent_single_resource(burst, 1) == []
    assert concurrent_single_resource([exchange(status=201, body=BORROWER)], 1) == []


@pytest.mark.parametrize(
    ("burst", "created", "fragment"),
    [
        ([exchange(body=BORROWER), exchange(body=borrower(id="c" * 24))], 1, "2 different"),
        ([exchange(body=BORROWER), exchange(body=BORROWER)], 2, "created 2 resources"),
        ([exchange(body=BORROWER), exchange(status=500, body=ERROR)], 1, "neither a success"),
        ([exchange(body=BORROWER)], None, "could not count"),
    ],
)
def test_concurrent_burst_deviation_fails_idem_07(
    burst: list[Exchange], created: int | None, fragment: str
) -> None:
    findings = concurrent_single_resource(burst, created)
    assert ids(findings) == {"DIGIFI-IDEM-07"}
    assert any(fragment in f.message for f in findings)


# -- versions --------------------------------------------------------------------------------
def test_request_version_reads_the_header_in_both_spellings() -> None:
    assert request_version(exchange()) is None
    assert request_version(versioned(exchange(), "2024-02-26")) == "2024-02-26"
    assert request_version(versioned(exchange(), "12/01/2023")) == DEFAULT_VERSION


def test_same_answer_with_and_without_header() -> None:
    page = {"data": [BORROWER], "nextToken": None}
    default = exchange("GET", "/api/borrowers", body=page)
    explicit = versioned(exchange("GET", "/api/borrowers", body=page), DEFAULT_VERSION)
    assert same_answer("DIGIFI-VER-01", default, explicit, "list") == []
    newer = exchange("GET", "/api/borrowers", body={"items": [BORROWER]})
    findings = same_answer("DIGIFI-VER-01", newer, explicit, "list")
    assert ids(findings) == {"DIGIFI-VER-01"} and "data" in findings[0].message
    status = same_answer("DIGIFI-VER-01", exchange(status=400, body=ERROR), explicit, "list")
    assert "status 400 vs 200" in status[0].message


@pytest.fixture(scope="module")
def contract() -> VersionedContract:
    documents = {}
    for version in ("2023-12-01", "2024-02-26"):
        path = schemas_dir() / "digifi" / f"openapi-{version}.yaml"
        documents[version] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return VersionedContract(documents, "DIGIFI-VER-02")


APP_2023: dict[str, Any] = {
    "id": "a" * 24,
    "productId": "prd_personal_loan",
    "borrower": "b" * 24,
    "coBorrowers": [],
    "intermediaryId": None,
    "variables": {},
    "createdAt": "2026-01-01T00:00:00.000Z",
    "updatedAt": "2026-01-01T00:00:00.000Z",
}
APP_2024 = {
    **{k: v for k, v in APP_2023.items() if k not in ("borrower", "coBorrowers")},
    "borrowerId": "b" * 24,
    "coborrowerIds": [],
}


@pytest.mark.parametrize(
    ("version", "path", "body"),
    [
        (None, "/api/borrowers", {"data": [BORROWER], "nextToken": None}),
        ("2023-12-01", "/api/borrowers", {"data": [], "nextToken": "t1"}),
        ("2024-02-26", "/api/borrowers", {"items": [BORROWER], "nextToken": "t1"}),
        ("2024-02-26", "/api/borrowers", {"items": []}),
        (None, f"/api/applications/{'a' * 24}", APP_2023),
        ("2024-02-26", f"/api/applications/{'a' * 24}", APP_2024),
        ("02/26/2024", f"/api/applications/{'a' * 24}", APP_2024),
    ],
)
def test_each_version_is_held_to_its_own_document(
    contract: VersionedContract, version: str | None, path: str, body: dict
) -> None:
    assert contract.check(versioned(exchange("GET", path, body=body), version)) == []


@pytest.mark.parametrize(
    ("version", "path", "body"),
    [
        (None, "/api/borrowers", {"items": [BORROWER]}),
        ("2023-12-01", "/api/borrowers", {"items": [BORROWER], "total": 1}),
        ("2024-02-26", "/api/borrowers", {"data": [BORROWER], "nextToken": None}),
        ("2024-02-26", f"/api/applications/{'a' * 24}", APP_2023),
        (None, f"/api/applications/{'a' * 24}", APP_2024),
        ("2023-12-01", f"/api/borrowers/{'b' * 24}", {"id": 7}),
    ],
)
def test_the_other_versions_shape_fails_ver_02(
    contract: VersionedContract, version: str | None, path: str, body: dict
) -> None:
    findings = contract.check(versioned(exchange("GET", path, body=body), version))
    assert ids(findings) == {"DIGIFI-VER-02"}
    assert findings[0].message.startswith(f"[api-version {version or DEFAULT_VERSION}]")


def test_undeclared_status_fails_ver_02_and_unknown_version_is_left_to_ver_03(
    contract: VersionedContract,
) -> None:
    created = exchange("POST", "/api/borrowers", status=201, body=BORROWER)
    assert ids(contract.check(created)) == {"DIGIFI-VER-02"}
    unknown = versioned(exchange("POST", "/api/borrowers", status=201, body=BORROWER), "1999-01-01")
    assert contract.check(unknown) == []
    cut = exchange("POST", "/api/borrowers", status=201, raw="{", error="read stopped")
    assert contract.check(cut) == []


# -- DigiFiAuth (harness side of "API Authentication"), against the real reference sandbox -------
@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    from apicert.sandbox.runtime import SandboxConfig
    from apicert.sandbox.server import EmbeddedServer

    server = EmbeddedServer(
        SandboxConfig(vendor="digifi", credentials={"api_key": SANDBOX_KEY})
    ).start()
    yield server.base_url
    server.stop()


SANDBOX_KEY = "digifi-unit-test-key-" + "k" * 20


def test_digifi_auth_sends_the_key_and_never_records_it(sandbox_url: str) -> None:
    recorder = Recorder()
    client = Client(sandbox_url, recorder=recorder, auth=DigiFiAuth(SANDBOX_KEY))
    served = client.get("/api/products")
    assert served.status == 200
    assert served.request_headers["api-key"] == SANDBOX_KEY
    assert SANDBOX_KEY not in json.dumps(recorder.all())


def test_digifi_auth_refused_key_is_a_setup_error_asked_once(sandbox_url: str) -> None:
    recorder = Recorder()
    client = Client(sandbox_url, recorder=recorder, auth=DigiFiAuth("wrong-" + SANDBOX_KEY))
    for _ in range(2):
        with pytest.raises(AuthError) as caught:
            client.get("/api/products")
        assert caught.value.refused and "APICERT_DIGIFI_API_KEY" in str(caught.value)
    assert len(recorder) == 1  # the refused key is never sent again
