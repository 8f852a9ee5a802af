"""The DigiFi reference sandbox, tested directly over HTTP with plain ``requests``.

Each documented (or inferred) behaviour is checked on the clean sandbox; each fault is then shown
to change exactly the observation it is meant to change (clean answer vs faulty answer).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from apicert.cli import main
from apicert.sandbox import digifi
from apicert.sandbox.runtime import SandboxConfig
from apicert.sandbox.server import EmbeddedServer

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "schemas" / "digifi" / "requirements.yaml"
API_KEY = digifi.DEFAULT_CREDENTIALS["api_key"]
V2023, V2024 = "2023-12-01", "2024-02-26"
SIX_HOURS = 6 * 3600


# --- client ------------------------------------------------------------------------------------


class Api:
    """A small client: base URL, the api-key and an optional api-version, one session."""

    def __init__(self, base_url: str, version: str | None = None) -> None:
        self.base_url = base_url
        self.version = version
        self.session = requests.Session()
        self.session.trust_env = False

    def request(
        self,
        method: str,
        path: str,
        *,
        key: str | None = API_KEY,
        version: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        sent = dict(headers or {})
        if key is not None:
            sent["api-key"] = key
        version = version or self.version
        if version is not None:
            sent["api-version"] = version
        return self.session.request(
            method, self.base_url + path, headers=sent, timeout=10, allow_redirects=False, **kwargs
        )

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, json=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def control(self, method: str, name: str, body: Any = None) -> requests.Response:
        return requests.request(method, f"{self.base_url}/__sandbox__/{name}", json=body)

    def options(self, **options: Any) -> None:
        response = self.control("PUT", "options", {"options": options})
        assert response.status_code == 200, response.text

    def advance(self, seconds: float) -> None:
        assert self.control("POST", "clock", {"advance": seconds}).status_code == 200

    def total(self, collection: str = "borrowers") -> int:
        response = self.get(f"/api/{collection}/search?count=1")
        assert response.status_code == 200, response.text
        total: int = response.json()["total"]
        return total


def serve(
    state_path: Path, faults: tuple[str, ...] = (), options: dict[str, Any] | None = None
) -> EmbeddedServer:
    config = SandboxConfig(
        vendor="digifi", state_path=str(state_path), faults=faults, options=options or {}
    )
    return EmbeddedServer(config)


@pytest.fixture(scope="module")
def clean_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    # A high limit: the module's many quick requests must not meet the rate limit by accident.
    path = tmp_path_factory.mktemp("digifi") / "state.sqlite"
    with serve(path, options={"rate_limit": 100000}) as server:
        yield server


@pytest.fixture
def api(clean_server: EmbeddedServer) -> Iterator[Api]:
    client = Api(clean_server.base_url)
    yield client
    client.options(allow_ips=None, work_delay=None, idempotency_ttl=None)


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Api]:
    """A sandbox of its own with the default settings (rate limit 100/s)."""
    with serve(tmp_path / "fresh.sqlite") as server:
        yield Api(server.base_url)


# --- bodies ------------------------------------------------------------------------------------


def marker() -> str:
    return f"m{uuid.uuid4().hex[:16]}"


def person(last_name: str | None = None, **extra: Any) -> dict[str, Any]:
    variables = {"borrower_first_name": "Ada", "borrower_last_name": last_name or marker()}
    return {"type": "person", "variables": variables, **extra}


def company(name: str = "Analytical Engines LLC") -> dict[str, Any]:
    return {"type": "company", "variables": {"borrower_company_name": name}}


def intermediary(name: str = "Broker & Co") -> dict[str, Any]:
    return {"variables": {"intermediary_name": name, "intermediary_commission_rate": 1.5}}


def created(api: Api, collection: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    response = api.post(f"/api/{collection}", body, **kwargs)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def search_total(api: Api, text: str) -> int:
    response = api.get(f"/api/borrowers/search?search={text}")
    assert response.status_code == 200, response.text
    total: int = response.json()["total"]
    return total


# --- CRUD --------------------------------------------------------------------------------------


def test_borrower_lifecycle_answers_200_with_the_resource(api: Api) -> None:
    borrower = created(api, "borrowers", person(lockReason="fraud check"))
    assert len(borrower["id"]) == 24 and int(borrower["id"], 16) >= 0
    assert borrower["type"] == "person" and borrower["lockReason"] == "fraud check"
    assert borrower["lockEndDate"] is None and borrower["createdAt"].endswith("Z")
    assert set(borrower) == {
        "id",
        "organizationId",
        "type",
        "variables",
        "lockEndDate",
        "lockReason",
        "createdAt",
        "updatedAt",
    }
    path = f"/api/borrowers/{borrower['id']}"
    assert api.get(path).json() == borrower

    change: dict[str, Any] = {
        "variables": {"borrower_email": "ada@example.com"},
        "lockEndDate": "2030-01-01",
    }
    updated = api.put(path, change)
    assert updated.status_code == 200
    assert updated.json()["variables"] == {**borrower["variables"], **change["variables"]}
    assert updated.json()["lockEndDate"] == "2030-01-01"
    assert api.get(path).json() == updated.json()

    deleted = api.delete(path)
    assert deleted.status_code == 200
    assert deleted.headers["content-type"] == "application/json"
    assert deleted.json() == updated.json()
    assert api.get(path).status_code == 404
    assert api.delete(path).status_code == 404
    assert api.put(path, change).status_code == 404


def test_intermediary_lifecycle(api: Api) -> None:
    made = created(api, "intermediaries", intermediary())
    assert made["variables"]["intermediary_name"] == "Broker & Co"
    path = f"/api/intermediaries/{made['id']}"
    renamed = api.put(path, {"variables": {"intermediary_name": "Other"}})
    assert (
        renamed.status_code == 200 and renamed.json()["variables"]["intermediary_name"] == "Other"
    )
    assert api.put(path, {"variables": {"intermediary_name": ""}}).status_code == 400
    assert api.delete(path).json()["id"] == made["id"]
    assert api.get(path).status_code == 404


def test_application_references_product_borrowers_and_intermediary(api: Api) -> None:
    borrower = created(api, "borrowers", person())
    broker = created(api, "intermediaries", intermediary())
    body = {
        "productId": "prd_personal_loan",
        "borrower": borrower["id"],
        "coBorrowers": [company()],
        "intermediary": broker["id"],
        "variables": {"loan_amount": 5000},
        "teamMembers": [],
    }
    application = created(api, "applications", body, version=V2024)
    assert application["borrowerId"] == borrower["id"]
    assert len(application["coborrowerIds"]) == 1
    assert application["intermediaryId"] == broker["id"]
    assert application["productId"] == "prd_personal_loan"
    assert application["displayId"].isdigit()
    co = api.get(f"/api/borrowers/{application['coborrowerIds'][0]}").json()
    assert co["type"] == "company"

    old = api.get(f"/api/applications/{application['id']}", version=V2023).json()
    assert old["borrower"] == borrower["id"] and old["coBorrowers"] == application["coborrowerIds"]
    assert "borrowerId" not in old and "coborrowerIds" not in old

    path = f"/api/applications/{application['id']}"
    updated = api.put(path, {"variables": {"loan_amount": 7000}}, version=V2024).json()
    assert updated["variables"] == {"loan_amount": 7000}
    assert api.delete(path).status_code == 200


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"productId": "prd_unknown"}, "productId"),
        ({"borrower": "000000000000000000000000"}, "borrower"),
        ({"borrower": 7}, "borrower"),
        ({"coBorrowers": [company()] * 4}, "coBorrowers"),
        ({"intermediary": {"variables": {}}}, "intermediary_name"),
    ],
)
def test_application_bad_references_are_400(api: Api, change: dict[str, Any], message: str) -> None:
    body = {"productId": "prd_business_loan", "borrower": company(), **change}
    before = api.total("applications")
    response = api.post("/api/applications", body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]
    assert api.total("applications") == before


def test_products_are_seeded_and_read_only(api: Api) -> None:
    products = api.get("/api/products").json()
    assert [p["id"] for p in products] == ["prd_personal_loan", "prd_business_loan"]
    assert api.get("/api/products/prd_business_loan").json()["name"] == "Small Business Loan"
    assert api.get("/api/products/nope").status_code == 404
    refused = api.post("/api/products", {})
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "notFound"


# --- pagination and search ---------------------------------------------------------------------


def test_cursor_pagination_2024_visits_every_item_once(fresh: Api) -> None:
    ids = [created(fresh, "intermediaries", intermediary(f"n{i}"))["id"] for i in range(7)]
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        query = "?count=3" + (f"&nextToken={token}" if token else "")
        page = fresh.get(f"/api/intermediaries{query}", version=V2024).json()
        assert set(page) <= {"items", "nextToken"}
        seen += [item["id"] for item in page["items"]]
        pages += 1
        token = page.get("nextToken")
        if token is None:
            break
    assert seen == ids and pages == 3


def test_cursor_pagination_2023_has_data_and_a_null_token_at_the_end(fresh: Api) -> None:
    ids = [created(fresh, "intermediaries", intermediary(f"n{i}"))["id"] for i in range(5)]
    first = fresh.get("/api/intermediaries?count=3").json()
    assert set(first) == {"data", "nextToken"} and isinstance(first["nextToken"], str)
    last = fresh.get(f"/api/intermediaries?count=3&nextToken={first['nextToken']}").json()
    assert last["nextToken"] is None
    assert [item["id"] for item in first["data"] + last["data"]] == ids
    # Exactly a page left: no empty trailing page.
    two = fresh.get("/api/intermediaries?count=2").json()
    rest = fresh.get(f"/api/intermediaries?count=3&nextToken={two['nextToken']}").json()
    assert len(rest["data"]) == 3 and rest["nextToken"] is None


def test_search_pages_by_offset_with_total(fresh: Api) -> None:
    ids = [created(fresh, "intermediaries", intermediary(f"n{i}"))["id"] for i in range(5)]
    page = fresh.get("/api/intermediaries/search?count=2&offset=2").json()
    assert page["total"] == 5 and [item["id"] for item in page["items"]] == ids[2:4]
    assert fresh.get("/api/intermediaries/search?offset=10").json() == {"items": [], "total": 5}


@pytest.mark.parametrize(
    "path",
    [
        "/api/borrowers?count=0",
        "/api/borrowers?count=101",
        "/api/borrowers?count=x",
        "/api/borrowers?count=-1",
        "/api/borrowers/search?offset=-1",
        "/api/borrowers/search?offset=a",
        "/api/borrowers/search?count=1000",
    ],
)
def test_bad_paging_parameters_are_400(api: Api, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validationFailed"


@pytest.mark.parametrize("token", ["", "garbage", "aW50ZXJtZWRpYXJ5OjE", "Ym9ycm93ZXI6eA", "%00"])
def test_bad_next_token_is_400(api: Api, token: str) -> None:
    response = api.get(f"/api/borrowers?nextToken={token}", version=V2024)
    assert response.status_code == 400, response.text


def test_search_finds_by_variable_text_in_both_versions(api: Api) -> None:
    tag = marker()
    for _ in range(3):
        created(api, "borrowers", person(tag))
    for version in (V2023, V2024):
        page = api.get(f"/api/borrowers/search?search={tag.upper()}&count=2", version=version)
        assert page.status_code == 200
        assert page.json()["total"] == 3 and len(page.json()["items"]) == 2


# --- status table, errors, JSON ----------------------------------------------------------------


BAD_BORROWERS: list[Any] = [
    {},
    {"type": "robot", "variables": {}},
    {"type": "person"},
    {"type": "person", "variables": []},
    {"type": "person", "variables": {"borrower_first_name": "A"}},
    {"type": "company", "variables": {"borrower_company_name": "  "}},
    person(lockEndDate="tomorrow"),
    person(lockEndDate="2030-02-30"),
    person(lockEndDate="2030-01-01T00:00:00Z"),
    person(lockReason=5),
    {
        "type": "person",
        "variables": {"borrower_first_name": "A", "borrower_last_name": "B", "x": {}},
    },
    {"type": "person", "variables": {"": 1, "borrower_first_name": "A", "borrower_last_name": "B"}},
    [],
    "text",
    None,
]


@pytest.mark.parametrize("body", BAD_BORROWERS, ids=range(len(BAD_BORROWERS)))
def test_invalid_borrowers_are_400_with_a_message(api: Api, body: Any) -> None:
    response = api.post("/api/borrowers", body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "validationFailed" and error["message"]


@pytest.mark.parametrize(
    "raw",
    [b"{", b"\xff\xfe", b'{"type": NaN}', b"1e999", b"[" * 100000, b'{"a": 1e400}'],
)
def test_malformed_bodies_are_400_never_5xx(api: Api, raw: bytes) -> None:
    response = api.request("POST", "/api/borrowers", data=raw)
    assert response.status_code == 400, response.text


def test_oversized_body_is_400(api: Api) -> None:
    body = person()
    body["variables"]["note"] = "x" * (1024 * 1024)
    response = api.post("/api/borrowers", body)
    assert response.status_code == 400 and "1 MB" in response.json()["error"]["message"]


def test_lone_surrogates_are_echoed_escaped_not_crashing(api: Api) -> None:
    raw = (
        b'{"type":"person","variables":{"borrower_first_name":"\\ud800","borrower_last_name":"B"}}'
    )
    response = api.request("POST", "/api/borrowers", data=raw)
    assert response.status_code == 200
    assert b"\\ud800" in response.content


def test_routes_methods_and_unknown_ids(api: Api) -> None:
    assert api.get("/api/nothing").status_code == 404
    assert api.get("/api/borrowers/a/b").status_code == 404
    assert api.get("/elsewhere").json()["error"]["code"] == "notFound"
    # Unsupported methods stay inside the documented table: 404, not 405.
    assert api.request("PATCH", "/api/borrowers/123").status_code == 404
    assert api.delete("/api/borrowers").status_code == 404
    missing = api.get("/api/borrowers/ffffffffffffffffffffffff").json()["error"]
    assert missing["code"] == "notFound" and "ffffffffffffffffffffffff" in missing["message"]


def test_unknown_body_fields_are_ignored(api: Api) -> None:
    borrower = created(api, "borrowers", person(extra=1, locked=True))
    assert "extra" not in borrower and "locked" not in borrower


def test_every_response_is_json_with_a_request_id(api: Api) -> None:
    responses = [
        api.get("/api/borrowers"),
        api.get("/api/borrowers", key=None),
        api.get("/api/borrowers/x"),
        api.request("PATCH", "/api/borrowers"),
        api.get("/api/borrowers", version="banana"),
        api.post("/api/borrowers", {}),
    ]
    ids = [response.headers["x-request-id"] for response in responses]
    assert len(set(ids)) == len(ids) and all(len(i) == 32 for i in ids)
    for response in responses:
        assert response.headers["content-type"] == "application/json"
        json.loads(response.content)


# --- auth and the IP allow-list ----------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "", "wrong-key", API_KEY + "x"])
def test_every_verb_needs_the_api_key(api: Api, key: str | None) -> None:
    borrower = created(api, "borrowers", person())
    path = f"/api/borrowers/{borrower['id']}"
    before = api.total()
    answers = [
        api.get("/api/borrowers", key=key),
        api.post("/api/borrowers", person(), key=key),
        api.get(path, key=key),
        api.put(path, {"variables": {"x": 1}}, key=key),
        api.delete(path, key=key),
    ]
    for response in answers:
        assert response.status_code == 401
        assert response.json() == {
            "error": {"code": "unauthorized", "message": "The api-key is missing or not valid."}
        }
    assert api.total() == before
    assert api.get(path).json() == borrower


def _get_from(source: str, port: int, path: str) -> tuple[int, dict[str, Any]]:
    """GET from a chosen loopback source address (Linux accepts all of 127/8)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", path, headers={"api-key": API_KEY})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_allow_list_refuses_other_addresses_with_403_on_every_verb(
    api: Api, clean_server: EmbeddedServer
) -> None:
    borrower = created(api, "borrowers", person())
    path = f"/api/borrowers/{borrower['id']}"
    before = api.total()
    api.options(allow_ips=["127.0.0.2", "10.0.0.0/8"])
    answers = [
        api.get("/api/borrowers"),
        api.post("/api/borrowers", person(), headers={"idempotency-key": "ip-test"}),
        api.put(path, {"variables": {"x": 1}}),
        api.delete(path),
        api.get(path, key="wrong"),
    ]
    assert [r.status_code for r in answers] == [403] * 5
    assert answers[0].json()["error"]["code"] == "ipNotAllowed"
    # X-Forwarded-For is not believed.
    assert api.get(path, headers={"X-Forwarded-For": "127.0.0.2"}).status_code == 403
    # A listed source address is served.
    status, body = _get_from("127.0.0.2", clean_server.port, path)
    assert (status, body["id"]) == (200, borrower["id"])
    api.options(allow_ips=[])
    assert api.total() == before
    # The refused POST's key was not saved: it creates now.
    again = api.post("/api/borrowers", person(), headers={"idempotency-key": "ip-test"})
    assert again.status_code == 200 and "idempotent-replayed" not in again.headers
    api.options(allow_ips="127.0.0.1")
    assert api.get(path).status_code == 200


def test_bad_options_are_refused(api: Api) -> None:
    for options in (
        {"allow_ips": "not-an-ip"},
        {"rate_limit": 0},
        {"rate_limit": "many"},
        {"idempotency_ttl": -1},
        {"work_delay": 60},
        {"colour": "blue"},
    ):
        response = api.control("PUT", "options", {"options": options})
        assert response.status_code == 400, options
    assert api.control("PUT", "options", {"nope": 1}).status_code == 400


def test_cli_refuses_a_bad_option_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sandbox", "serve", "digifi", "--option", "rate_limit=0"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0 and "rate_limit must be a positive number" in err


# --- versions ----------------------------------------------------------------------------------


def test_no_version_header_means_2023_12_01(api: Api) -> None:
    response = api.get("/api/borrowers")
    assert response.headers["api-version"] == V2023
    assert set(response.json()) == {"data", "nextToken"}


@pytest.mark.parametrize(
    ("given", "canonical", "keys"),
    [
        ("2023-12-01", V2023, {"data", "nextToken"}),
        ("12/01/2023", V2023, {"data", "nextToken"}),
        ("2024-02-26", V2024, {"items"}),
        ("02/26/2024", V2024, {"items"}),
    ],
)
def test_versions_and_their_list_shapes(
    fresh: Api, given: str, canonical: str, keys: set[str]
) -> None:
    response = fresh.get("/api/borrowers", version=given)
    assert response.headers["api-version"] == canonical
    assert set(response.json()) == keys


@pytest.mark.parametrize("given", ["2019-01-01", "banana", "", "2024-02-27", "2023-12-01x"])
def test_unknown_versions_are_400(api: Api, given: str) -> None:
    response = api.get("/api/borrowers", version=None, headers={"api-version": given})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupportedApiVersion"
    assert "2024-02-26" in response.json()["error"]["message"]


# --- idempotency -------------------------------------------------------------------------------


def key() -> dict[str, str]:
    return {"idempotency-key": str(uuid.uuid4())}


def test_replay_returns_the_saved_status_and_body_without_a_second_resource(api: Api) -> None:
    tag = marker()
    headers = key()
    first = api.post("/api/borrowers", person(tag), headers=headers)
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    for body, version in ((person(tag), None), (person(marker()), V2024), (None, None)):
        replay = api.post("/api/borrowers", body, headers=headers, version=version)
        assert (replay.status_code, replay.content) == (first.status_code, first.content)
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.headers["api-version"] == V2023
    assert search_total(api, tag) == 1


def test_a_failure_is_saved_and_replayed(api: Api) -> None:
    tag = marker()
    headers = key()
    first = api.post("/api/borrowers", {"type": "person", "variables": {}}, headers=headers)
    assert first.status_code == 400
    replay = api.post("/api/borrowers", person(tag), headers=headers)
    assert (replay.status_code, replay.content) == (400, first.content)
    assert search_total(api, tag) == 0


def test_keys_are_per_api_key(api: Api, clean_server: EmbeddedServer) -> None:
    headers = key()
    first = api.post("/api/borrowers", person(), headers=headers)
    credentials = clean_server.sandbox.credentials
    credentials["api_key"] = "second-organisation-key"
    try:
        other = api.post("/api/borrowers", person(), headers=headers, key="second-organisation-key")
        assert other.status_code == 200 and other.json()["id"] != first.json()["id"]
    finally:
        credentials["api_key"] = API_KEY


def test_gate_refusals_are_not_saved(api: Api) -> None:
    tag = marker()
    headers = key()
    assert api.post("/api/borrowers", person(tag), headers=headers, version="x").status_code == 400
    assert api.post("/api/borrowers", person(tag), headers=headers, key="bad").status_code == 401
    served = api.post("/api/borrowers", person(tag), headers=headers)
    assert served.status_code == 200 and "idempotent-replayed" not in served.headers
    assert search_total(api, tag) == 1


@pytest.mark.parametrize("value", ["", "x" * 256, "caf\u00e9", "tab\there"])
def test_bad_idempotency_keys_are_400(api: Api, value: str) -> None:
    raw_headers = {"idempotency-key": value.encode("latin-1").decode("latin-1")}
    response = api.post("/api/borrowers", person(), headers=raw_headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalidIdempotencyKey"


def test_keys_expire_six_hours_after_the_first_request(fresh: Api) -> None:
    tag = marker()
    headers = key()
    first = fresh.post("/api/borrowers", person(tag), headers=headers)
    fresh.advance(SIX_HOURS - 5)
    kept = fresh.post("/api/borrowers", person(tag), headers=headers)
    assert kept.content == first.content
    fresh.advance(10)
    renewed = fresh.post("/api/borrowers", person(tag), headers=headers)
    assert renewed.status_code == 200 and renewed.json()["id"] != first.json()["id"]
    assert "idempotent-replayed" not in renewed.headers
    assert search_total(fresh, tag) == 2
    # The new result is saved in turn.
    assert fresh.post("/api/borrowers", person(tag), headers=headers).content == renewed.content


def test_idempotency_ttl_option(fresh: Api) -> None:
    fresh.options(idempotency_ttl=2)
    headers = key()
    first = fresh.post("/api/borrowers", person(), headers=headers)
    fresh.advance(3)
    assert fresh.post("/api/borrowers", person(), headers=headers).content != first.content


def _burst(api: Api, headers: dict[str, str], body: Any, n: int) -> list[requests.Response]:
    barrier = threading.Barrier(n)
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def send() -> None:
        client = Api(api.base_url)
        barrier.wait()
        response = client.post("/api/borrowers", body, headers=headers)
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=send) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return answers


def test_concurrent_requests_with_one_key_create_one_resource(api: Api) -> None:
    api.options(work_delay=0.3)
    tag = marker()
    headers = key()
    answers = _burst(api, headers, person(tag), 8)
    assert search_total(api, tag) == 1
    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 409}
    assert 409 in statuses  # the 0.3 s of work makes the others arrive while it runs
    bodies = {r.content for r in answers if r.status_code == 200}
    assert len(bodies) == 1
    busy = next(r for r in answers if r.status_code == 409)
    assert busy.json()["error"]["code"] == "idempotencyKeyInUse"
    assert busy.headers["retry-after"] == "1"
    # Once the first finished, every request replays it.
    replay = api.post("/api/borrowers", person(tag), headers=headers)
    assert replay.content in bodies


def test_a_stale_reservation_from_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with serve(path) as server:
        server.sandbox.store.execute(
            "INSERT INTO df_idempotency(owner, idem_key, state, boot, fingerprint, created_at)"
            " VALUES(?, 'k', 'in_progress', 'deadboot', '', ?)",
            (digifi.idem.digest(API_KEY), server.sandbox.now()),
        )
        response = Api(server.base_url).post(
            "/api/borrowers", person(), headers={"idempotency-key": "k"}
        )
        assert response.status_code == 200


# --- rate limit --------------------------------------------------------------------------------


def _hammer(api: Api, n: int, path: str = "/api/products") -> list[requests.Response]:
    return [api.get(path) for _ in range(n)]


def test_rate_limit_is_100_per_second_with_headers_and_recovery(fresh: Api) -> None:
    for _ in range(3):  # a loaded machine may need another try to fit the burst in 0.9 s
        started = time.monotonic()
        answers = _hammer(fresh, 130)
        if time.monotonic() - started < 0.9:
            break
        time.sleep(1.1)
    else:
        pytest.fail("could not send 130 requests within 0.9 s to test a per-second limit")
    statuses = [r.status_code for r in answers]
    assert statuses[:100] == [200] * 100 and set(statuses[100:]) == {429}
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "rateLimitExceeded"
    assert refused.headers["content-type"] == "application/json"
    assert 1 <= int(refused.headers["retry-after"]) <= 1
    assert refused.headers["ratelimit-policy"] == '"default";q=100;w=1'
    assert refused.headers["ratelimit"].startswith('"default";r=0;t=')
    assert answers[0].headers["ratelimit"] == '"default";r=99;t=1'
    time.sleep(1.05)
    assert fresh.get("/api/products").status_code == 200


def test_rate_limit_option_and_unauthenticated_requests_do_not_count(fresh: Api) -> None:
    fresh.options(rate_limit=5)
    assert {r.status_code for r in [fresh.get("/api/products", key="no") for _ in range(10)]} == {
        401
    }
    statuses = [r.status_code for r in _hammer(fresh, 8)]
    assert statuses == [200] * 5 + [429] * 3


# --- faults ------------------------------------------------------------------------------------

Probe = Callable[[Api], Any]


def probe_delete_without_key(api: Api) -> Any:
    borrower = created(api, "borrowers", person())
    return api.delete(f"/api/borrowers/{borrower['id']}", key=None).status_code


def probe_wrong_key(api: Api) -> Any:
    return api.get("/api/borrowers", key="wrong").status_code


def probe_unlisted_address(api: Api) -> Any:
    api.options(allow_ips="127.0.0.2")
    return api.get("/api/borrowers").status_code


def probe_create_status(api: Api) -> Any:
    return api.post("/api/borrowers", person()).status_code


def probe_delete(api: Api) -> Any:
    borrower = created(api, "borrowers", person())
    response = api.delete(f"/api/borrowers/{borrower['id']}")
    return response.status_code, response.content == b""


def probe_invalid_body(api: Api) -> Any:
    return api.post("/api/borrowers", {}).status_code


def probe_unknown_id(api: Api) -> Any:
    return api.get("/api/borrowers/ffffffffffffffffffffffff").status_code


def probe_error_media_type(api: Api) -> Any:
    api.options(rate_limit=2)
    answers = _hammer(api, 3, "/api/borrowers/x")
    return [r.headers["content-type"] for r in answers]


def probe_error_keys(api: Api) -> Any:
    return isinstance(api.get("/api/borrowers/x").json()["error"], dict)


def probe_replay_body(api: Api) -> Any:
    headers = key()
    first = api.post("/api/borrowers", person(), headers=headers)
    return api.post("/api/borrowers", person(), headers=headers).content == first.content


def probe_replay_count(api: Api) -> Any:
    headers = key()
    api.post("/api/borrowers", person(), headers=headers)
    api.post("/api/borrowers", person(), headers=headers)
    return api.total()


def probe_failure_replay(api: Api) -> Any:
    headers = key()
    api.post("/api/borrowers", {}, headers=headers)
    return api.post("/api/borrowers", person(), headers=headers).status_code, api.total()


def probe_changed_payload(api: Api) -> Any:
    headers = key()
    first = api.post("/api/borrowers", person(), headers=headers)
    second = api.post("/api/borrowers", company(), headers=headers)
    return second.content == first.content, api.total()


def probe_replay_after(seconds: float) -> Probe:
    def probe(api: Api) -> Any:
        headers = key()
        first = api.post("/api/borrowers", person(), headers=headers)
        api.advance(seconds)
        return api.post("/api/borrowers", person(), headers=headers).content == first.content

    return probe


def probe_concurrent(api: Api) -> Any:
    _burst(api, key(), person(), 6)
    return api.total()


def probe_any_429(api: Api) -> Any:
    return 429 in [r.status_code for r in _hammer(api, 80)]


def probe_limited(api: Api) -> Any:
    api.options(rate_limit=20)
    return 429 in [r.status_code for r in _hammer(api, 40)]


def probe_retry_after(api: Api) -> Any:
    api.options(rate_limit=5)
    return "retry-after" in _hammer(api, 8)[-1].headers


def probe_recovery(api: Api) -> Any:
    api.options(rate_limit=5)
    _hammer(api, 8)
    time.sleep(1.1)
    after = [api.get("/api/products").status_code for _ in range(2)]
    _hammer(api, 8)  # a burst right after: only the first request after a quiet window suffers
    return after, api.get("/api/products").status_code


def probe_list_keys(version: str | None, header: str | None = None) -> Probe:
    def probe(api: Api) -> Any:
        headers = {"api-version": header} if header else {}
        response = api.get("/api/borrowers", version=version, headers=headers)
        return response.status_code, sorted(response.json())

    return probe


FAULT_PROBES: dict[str, tuple[Probe, Any, Any]] = {
    "auth-skipped-on-delete": (probe_delete_without_key, 401, 200),
    "any-api-key": (probe_wrong_key, 401, 200),
    "allow-list-ignored": (probe_unlisted_address, 403, 200),
    "ip-refused-401": (probe_unlisted_address, 403, 401),
    "create-201": (probe_create_status, 200, 201),
    "delete-204": (probe_delete, (200, False), (204, True)),
    "validation-500": (probe_invalid_body, 400, 500),
    "not-found-400": (probe_unknown_id, 404, 400),
    "errors-plain-text": (
        probe_error_media_type,
        ["application/json"] * 3,
        ["text/plain; charset=utf-8"] * 2 + ["application/json"],  # 429 keeps its JSON body
    ),
    "error-message-elsewhere": (probe_error_keys, True, False),
    "replay-new-body": (probe_replay_body, True, False),
    "replay-creates-duplicate": (probe_replay_count, 1, 2),
    "failure-not-saved": (probe_failure_replay, (400, 0), (200, 1)),
    "changed-payload-processed": (probe_changed_payload, (True, 1), (False, 2)),
    "keys-never-expire": (probe_replay_after(SIX_HOURS + 1), False, True),
    "keys-expire-early": (probe_replay_after(2 * 3600), True, False),
    "concurrent-duplicates": (probe_concurrent, 1, 6),
    "rate-limit-50": (probe_any_429, False, True),
    "no-rate-limit": (probe_limited, True, False),
    "rate-limit-no-retry-after": (probe_retry_after, True, False),
    "rate-limit-no-recovery": (probe_recovery, ([200, 200], 429), ([429, 200], 429)),
    "version-header-ignored": (
        probe_list_keys(V2024),
        (200, ["items"]),
        (200, ["data", "nextToken"]),
    ),
    "wrong-default-version": (
        probe_list_keys(None),
        (200, ["data", "nextToken"]),
        (200, ["items"]),
    ),
    "unknown-version-accepted": (
        probe_list_keys(None, "2019-01-01"),
        (400, ["error"]),
        (200, ["data", "nextToken"]),
    ),
}


def test_every_fault_has_a_probe_and_breaks_known_requirements() -> None:
    catalog = yaml.safe_load(CATALOG.read_text())
    known = {requirement["id"] for requirement in catalog["requirements"]}
    assert set(FAULT_PROBES) == {fault.name for fault in digifi.FAULTS}
    for fault in digifi.FAULTS:
        assert fault.breaks and set(fault.breaks) <= known, fault.name


@pytest.mark.parametrize("fault", [fault.name for fault in digifi.FAULTS])
def test_fault_changes_the_documented_behaviour(fault: str, tmp_path: Path) -> None:
    probe, clean, faulty = FAULT_PROBES[fault]
    with serve(tmp_path / "clean.sqlite") as server:
        assert probe(Api(server.base_url)) == clean
    with serve(tmp_path / "faulty.sqlite", faults=(fault,)) as server:
        assert probe(Api(server.base_url)) == faulty
