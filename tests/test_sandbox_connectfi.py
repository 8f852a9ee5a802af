"""The connectFi reference sandbox, tested directly over HTTP with plain ``requests``.

Each documented behaviour is checked on the clean sandbox; each fault is then shown to change
exactly the observation it is meant to change (clean answer vs faulty answer).
"""

from __future__ import annotations

import ast
import json
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import yaml

from apicert.sandbox import connectfi
from apicert.sandbox.runtime import SandboxConfig
from apicert.sandbox.server import EmbeddedServer

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "schemas" / "connectfi"
CREDENTIALS = connectfi.DEFAULT_CREDENTIALS
TOKEN_HEADER = "x-connectfi-token"
LIFETIME = 3600
VALID_PAN = "4111111111111111"
REQUEST_ID = re.compile(r"[0-9A-Za-z]{32}")


# --- client ------------------------------------------------------------------------------------


class Api:
    """A tiny client: base URL and an optional token; one connection per request."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.token: str | None = None

    def request(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is None:
            token = self.token
        if token:
            headers[TOKEN_HEADER] = token
        kwargs.setdefault("allow_redirects", False)
        return requests.request(method, self.base_url + path, headers=headers, timeout=10, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=body, **kwargs)

    def get_token(self, password: str = CREDENTIALS["password"]) -> requests.Response:
        user = {"login": CREDENTIALS["login"], "password": password}
        return self.post("/auth/get-token", {"user": user}, token="")

    def login(self) -> Api:
        response = self.get_token()
        assert response.status_code == 200, response.text
        self.token = response.json()["data"]["token"]
        return self

    def advance(self, seconds: float) -> None:
        response = requests.post(f"{self.base_url}/__sandbox__/clock", json={"advance": seconds})
        assert response.status_code == 200, response.text


def outcome(response: requests.Response) -> tuple[int, Any]:
    """(status, body code): what most probes compare."""
    return response.status_code, response.json().get("code")


def serve(state_path: Path, faults: tuple[str, ...] = ()) -> EmbeddedServer:
    config = SandboxConfig(vendor="connectfi", state_path=str(state_path), faults=faults)
    return EmbeddedServer(config)


@pytest.fixture(scope="module")
def clean_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    with serve(tmp_path_factory.mktemp("connectfi") / "state.sqlite") as server:
        yield server


@pytest.fixture
def api(clean_server: EmbeddedServer) -> Api:
    return Api(clean_server.base_url).login()


# --- request bodies ----------------------------------------------------------------------------


def unique(prefix: str = "ref") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def nine_digits() -> str:
    return f"{uuid.uuid4().int % 10**9:09d}"


ADDRESS = {
    "line1": "1 Main St",
    "city": "Springfield",
    "state": "IL",
    "zip": "62701",
    "country": "US",
}


def individual(reference: str | None = None, ssn: str | None = None) -> dict[str, Any]:
    person = {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "dob": "1990-12-10",
        "ssn": ssn or nine_digits(),
        "email": "ada@example.com",
        "phone": "+13125550100",
    }
    customer = {"reference": reference or unique(), "type": "individual", "individual": person}
    return {"customer": {**customer, "address": dict(ADDRESS)}}


def business(reference: str | None = None, fein: str | None = None) -> dict[str, Any]:
    company = {
        "legalName": "Analytical Engines LLC",
        "fein": fein or nine_digits(),
        "email": "ops@example.com",
        "phone": "3125550100",
    }
    customer = {"reference": reference or unique(), "type": "business", "business": company}
    return {"customer": {**customer, "address": dict(ADDRESS)}}


def card(customer_id: str, reference: str | None = None, **changes: str) -> dict[str, Any]:
    details = {"pan": VALID_PAN, "expiry": "2099-12", "cvv": "123", "nameOnCard": "ADA LOVELACE"}
    details.update(changes)
    return {"reference": reference or unique(), "customerId": customer_id, "card": details}


def new_customer(api: Api, body: dict[str, Any] | None = None) -> str:
    response = api.post("/customer/init", body or individual())
    assert response.status_code in (201, 202), response.text
    customer_id: str = response.json()["data"]["customerId"]
    return customer_id


def generate(api: Api, customer_id: str, document_type: str = "identity") -> str:
    body = {"customerId": customer_id, "documentType": document_type}
    response = api.post("/akepa/document/generate", body)
    assert response.status_code == 201, response.text
    document_id: str = response.json()["data"]["documentId"]
    return document_id


def upload(api: Api, document_id: str, content: bytes = b"%PDF-1.7 passport") -> requests.Response:
    files = {"file": ("passport.pdf", content, "application/pdf")}
    return api.request("POST", f"/akepa/document/upload/{document_id}", files=files)


def onboarded(api: Api) -> str:
    """A customer whose required documents are uploaded."""
    customer_id = new_customer(api)
    assert upload(api, generate(api, customer_id)).status_code == 200
    return customer_id


def added_card(api: Api) -> dict[str, Any]:
    response = api.post("/ibis/debit-card/add", card(onboarded(api)))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


# --- happy path and envelope ---------------------------------------------------------------------


def test_documented_order_is_accepted_end_to_end(api: Api) -> None:
    created = api.post("/customer/init", individual())
    assert created.status_code == 201
    customer = created.json()["data"]
    assert re.fullmatch(r"cstap_[0-9A-Za-z]{22}", customer["customerId"])
    assert customer["status"] == "documentsRequired"

    status = api.get(f"/customer/status/{customer['customerId']}").json()["data"]
    assert status["documents"] == {"required": ["identity"], "uploaded": []}

    document_id = generate(api, customer["customerId"])
    assert re.fullmatch(r"doc_[0-9A-Za-z]{22}", document_id)
    uploaded = upload(api, document_id, b"12345")
    assert uploaded.status_code == 200
    assert uploaded.json()["data"] == {
        "documentId": document_id,
        "documentType": "identity",
        "status": "uploaded",
        "size": 5,
    }
    status = api.get(f"/customer/status/{customer['customerId']}").json()["data"]
    assert status["status"] == "active"
    assert status["documents"]["uploaded"] == ["identity"]

    added = api.post("/ibis/debit-card/add", card(customer["customerId"]))
    assert added.status_code == 201
    card_data = added.json()["data"]
    assert re.fullmatch(r"crd_[0-9A-Za-z]{22}", card_data["cardId"])
    assert card_data["last4"] == "1111"
    assert card_data["status"] == "added"
    assert VALID_PAN not in added.text

    activated = api.post("/ibis/debit-card/activate", {"cardId": card_data["cardId"]})
    assert activated.status_code == 200
    assert activated.json()["data"] == {
        "cardId": card_data["cardId"],
        "status": "active",
        "last4": "1111",
    }
    again = api.post("/ibis/debit-card/activate", {"cardId": card_data["cardId"]})
    assert outcome(again) == (400, "cardAlreadyActive")


def test_bodies_match_the_envelope_schemas(api: Api) -> None:
    success = json.loads((SCHEMAS / "envelope-success.json").read_text())
    error = json.loads((SCHEMAS / "envelope-error.json").read_text())
    jsonschema.validate(api.get("/health").json(), success)
    jsonschema.validate(api.post("/customer/init", individual()).json(), success)
    jsonschema.validate(api.get("/customer/status/cstap_unknown").json(), error)
    jsonschema.validate(api.get("/health", token="nope").json(), error)


def test_request_ids_are_32_alphanumerics_and_unique(api: Api) -> None:
    responses = [api.get("/health") for _ in range(5)] + [api.get("/nowhere")]
    ids = [response.json()["requestId"] for response in responses]
    assert all(REQUEST_ID.fullmatch(request_id) for request_id in ids)
    assert len(set(ids)) == len(ids)


def test_health(api: Api) -> None:
    response = api.get("/health")
    assert outcome(response) == (200, "0")
    assert response.json()["data"]["status"] == "ok"
    assert response.json()["data"]["time"].endswith("Z")


def test_openapi_document_loads_with_every_operation() -> None:
    schemathesis = pytest.importorskip("schemathesis")
    schema = schemathesis.openapi.from_path(str(SCHEMAS / "openapi.yaml"))
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert labels == {
        "POST /auth/get-token",
        "GET /health",
        "POST /customer/init",
        "GET /customer/status/{customerId}",
        "POST /customer/update",
        "POST /akepa/document/generate",
        "POST /akepa/document/upload/{documentId}",
        "POST /ibis/debit-card/add",
        "POST /ibis/debit-card/activate",
    }


# --- auth ----------------------------------------------------------------------------------------


def test_get_token_answers_a_token_that_expires_after_the_lifetime(api: Api) -> None:
    response = api.get_token()
    assert outcome(response) == (200, "0")
    data = response.json()["data"]
    assert len(data["token"]) >= 40
    now = requests.get(f"{api.base_url}/__sandbox__/clock", timeout=10).json()["now"]
    expires = datetime.strptime(data["dtsExpireAt"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs(expires.timestamp() - (now + LIFETIME)) < 5


def test_wrong_password_is_unauthorized(api: Api) -> None:
    response = api.get_token(password="not-the-password")
    assert response.status_code == 401
    body = response.json()
    assert (body["code"], body["message"]) == ("unauthorized", "Authentication error")
    assert "data" not in body


@pytest.mark.parametrize(
    ("user", "field"),
    [
        ({"login": "bad login!", "password": "x"}, "$.user.login"),
        ({"login": "a" * 37, "password": "x"}, "$.user.login"),
        ({"login": "ok", "password": ""}, "$.user.password"),
        ({"login": "ok", "password": 12345}, "$.user.password"),
        ({"password": "x"}, "$.user.login"),
        (None, "$.user"),
    ],
)
def test_get_token_validates_its_body(api: Api, user: Any, field: str) -> None:
    response = api.post("/auth/get-token", {"user": user}, token="")
    assert outcome(response) == (400, "validationFailed")
    assert response.json()["context"] == {"field": field}


@pytest.mark.parametrize(
    "headers",
    [{}, {TOKEN_HEADER: ""}, {TOKEN_HEADER: "never-issued-token"}],
    ids=["no-header", "empty", "never-issued"],
)
def test_requests_without_a_valid_token_are_unauthorized(api: Api, headers: dict[str, str]) -> None:
    response = requests.get(f"{api.base_url}/health", headers=headers, timeout=10)
    assert response.status_code == 401
    body = response.json()
    assert (body["code"], body["message"]) == ("unauthorized", "Authentication error")


def test_token_is_checked_before_the_body(api: Api) -> None:
    response = requests.post(f"{api.base_url}/customer/init", data=b"{not json", timeout=10)
    assert outcome(response) == (401, "unauthorized")


# --- customer/init -------------------------------------------------------------------------------


def _set(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, last = path.split(".")
    node = body
    for key in parents:
        node = node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return body


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("customer.reference", "has space"),
        ("customer.reference", "r" * 37),
        ("customer.type", "robot"),
        ("customer.individual", KeyError),
        ("customer.individual", None),
        ("customer.individual.firstName", "a" * 100_000),
        ("customer.individual.firstName", ""),
        ("customer.individual.dob", "2999-01-01"),
        ("customer.individual.dob", "1990-02-30"),
        ("customer.individual.dob", "19900101"),
        ("customer.individual.ssn", 123456789),
        ("customer.individual.ssn", "12345678"),
        ("customer.individual.ssn", "123456789\n"),
        ("customer.individual.email", "no-at-sign"),
        ("customer.individual.phone", "call me"),
        ("customer.address", [ADDRESS]),
        ("customer.address.state", "il"),
        ("customer.address.zip", "1234"),
        ("customer.address.country", "CA"),
    ],
)
def test_customer_init_names_the_first_bad_field(api: Api, path: str, value: Any) -> None:
    response = api.post("/customer/init", _set(individual(), path, value))
    assert outcome(response) == (400, "validationFailed")
    assert response.json()["context"] == {"field": "$." + path}


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"[]", b'"text"', b"null", b'{"customer": null}', b"[" * 50_000, b"\xff\xfe"],
)
def test_malformed_or_non_object_bodies_are_validation_failures(api: Api, raw: bytes) -> None:
    headers = {"content-type": "application/json"}
    response = api.request("POST", "/customer/init", data=raw, headers=headers)
    assert outcome(response) == (400, "validationFailed")


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/customer/init", "$.customer.individual.email"),
        ("/auth/get-token", "$.user.password"),
    ],
)
def test_lone_surrogates_are_validation_failures(api: Api, path: str, field: str) -> None:
    if path == "/auth/get-token":
        raw = '{"user": {"login": "apicert_sandbox", "password": "\\ud800"}}'
    else:
        raw = json.dumps(individual()).replace("ada@example.com", "\\ud800@example.com")
    headers = {"content-type": "application/json"}
    response = api.request("POST", path, data=raw.encode(), headers=headers)
    assert outcome(response) == (400, "validationFailed")
    assert response.json()["context"] == {"field": field}


def test_oversized_json_body_is_a_validation_failure(api: Api) -> None:
    body = individual()
    body["padding"] = "x" * (2 * 1024 * 1024)
    assert outcome(api.post("/customer/init", body)) == (400, "validationFailed")


def test_business_customer_is_created(api: Api) -> None:
    response = api.post("/customer/init", business())
    assert response.status_code == 201
    assert response.json()["data"]["type"] == "business"


def test_duplicate_reference_names_the_existing_customer(api: Api) -> None:
    reference = unique()
    first = new_customer(api, individual(reference))
    response = api.post("/customer/init", individual(reference))
    assert outcome(response) == (400, "referenceExists")
    assert response.json()["context"] == {"reference": reference, "entityId": first}


def test_duplicate_ssn_and_fein_are_refused(api: Api) -> None:
    ssn, fein = nine_digits(), nine_digits()
    person = new_customer(api, individual(ssn=ssn))
    company = new_customer(api, business(fein=fein))
    again = api.post("/customer/init", individual(ssn=ssn))
    assert outcome(again) == (400, "ssnExists")
    assert again.json()["context"] == {"entityId": person}
    again = api.post("/customer/init", business(fein=fein))
    assert outcome(again) == (400, "feinExists")
    assert again.json()["context"] == {"entityId": company}


# --- customer/status and customer/update ---------------------------------------------------------


def test_unknown_customer_status_is_404(api: Api) -> None:
    assert outcome(api.get("/customer/status/cstap_doesnotexist")) == (404, "customerNotFound")


def test_customer_update_answers_the_customer(api: Api) -> None:
    customer_id = new_customer(api)
    body = {"customerId": customer_id, "customer": {"email": "new@example.com"}}
    response = api.post("/customer/update", body)
    assert outcome(response) == (200, "0")
    assert response.json()["data"]["customerId"] == customer_id
    assert response.json()["data"]["status"] == "documentsRequired"


@pytest.mark.parametrize(
    ("customer", "field"),
    [
        ({}, "$.customer"),
        ({"phone": "12"}, "$.customer.phone"),
        ({"address": {"line1": "x"}}, "$.customer.address.city"),
    ],
)
def test_customer_update_validates(api: Api, customer: dict[str, Any], field: str) -> None:
    response = api.post("/customer/update", {"customerId": new_customer(api), "customer": customer})
    assert outcome(response) == (400, "validationFailed")
    assert response.json()["context"] == {"field": field}


def test_customer_update_of_unknown_customer_is_404(api: Api) -> None:
    body = {"customerId": "cstap_unknown", "customer": {"phone": "3125550100"}}
    assert outcome(api.post("/customer/update", body)) == (404, "customerNotFound")


# --- documents -----------------------------------------------------------------------------------


def test_document_generate_checks_type_and_customer(api: Api) -> None:
    body = {"customerId": new_customer(api), "documentType": "selfie"}
    assert outcome(api.post("/akepa/document/generate", body)) == (400, "validationFailed")
    body = {"customerId": "cstap_unknown", "documentType": "identity"}
    assert outcome(api.post("/akepa/document/generate", body)) == (404, "customerNotFound")


def test_upload_needs_multipart(api: Api) -> None:
    document_id = generate(api, new_customer(api))
    path = f"/akepa/document/upload/{document_id}"
    assert outcome(api.post(path, {"file": "abc"})) == (415, "unsupportedMediaType")


@pytest.mark.parametrize(
    "files",
    [
        {"file": ("empty.pdf", b"", "application/pdf")},
        {"other": ("passport.pdf", b"abc", "application/pdf")},
        {"file": ("big.pdf", b"x" * (5 * 1024 * 1024 + 1), "application/pdf")},
    ],
    ids=["empty", "missing", "too-big"],
)
def test_upload_validates_the_file(api: Api, files: dict[str, Any]) -> None:
    document_id = generate(api, new_customer(api))
    response = api.request("POST", f"/akepa/document/upload/{document_id}", files=files)
    assert outcome(response) == (400, "validationFailed")


def test_upload_to_unknown_document_is_404(api: Api) -> None:
    assert outcome(upload(api, "doc_unknown")) == (404, "documentNotFound")


# --- debit cards ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"pan": "4111111111111112"}, "$.card.pan"),
        ({"pan": "41111111"}, "$.card.pan"),
        ({"expiry": "2001-01"}, "$.card.expiry"),
        ({"expiry": "2099-13"}, "$.card.expiry"),
        ({"cvv": "12"}, "$.card.cvv"),
        ({"nameOnCard": ""}, "$.card.nameOnCard"),
    ],
)
def test_card_add_validates(api: Api, changes: dict[str, str], field: str) -> None:
    response = api.post("/ibis/debit-card/add", card(onboarded(api), **changes))
    assert outcome(response) == (400, "validationFailed")
    assert response.json()["context"] == {"field": field}


def test_card_add_needs_an_initialised_customer(api: Api) -> None:
    response = api.post("/ibis/debit-card/add", card("cstap_neverinitialised"))
    assert outcome(response) == (404, "customerNotFound")


def test_card_add_needs_uploaded_documents(api: Api) -> None:
    customer_id = new_customer(api)
    generate(api, customer_id)
    response = api.post("/ibis/debit-card/add", card(customer_id))
    assert outcome(response) == (400, "documentsRequired")
    assert response.json()["context"] == {"customerId": customer_id, "missing": ["identity"]}


def test_duplicate_card_reference_names_the_existing_card(api: Api) -> None:
    first = added_card(api)
    response = api.post("/ibis/debit-card/add", card(first["customerId"], first["reference"]))
    assert outcome(response) == (400, "referenceExists")
    assert response.json()["context"] == {
        "reference": first["reference"],
        "entityId": first["cardId"],
    }


def test_activate_unknown_card_is_404(api: Api) -> None:
    assert outcome(api.post("/ibis/debit-card/activate", {"cardId": "crd_unknown"})) == (
        404,
        "cardNotFound",
    )


def test_full_pan_and_cvv_are_never_stored(api: Api, clean_server: EmbeddedServer) -> None:
    pan, cvv = "5555555555554444", "9876"
    response = api.post("/ibis/debit-card/add", card(onboarded(api), pan=pan, cvv=cvv))
    assert response.status_code == 201
    assert pan not in response.text
    with sqlite3.connect(clean_server.state.store.path) as conn:
        dump = "\n".join(conn.iterdump())
    assert pan not in dump
    assert f"'{cvv}'" not in dump


# --- routing and errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/nowhere", "/", "/health/", "/customer/status/", "/__sandbox__/x"]
)
def test_unknown_routes_answer_404_not_found(api: Api, path: str) -> None:
    response = api.get(path)
    assert outcome(response) == (404, "notFound")


def test_wrong_method_answers_405_in_the_envelope(api: Api) -> None:
    response = api.request("DELETE", "/health")
    assert outcome(response) == (405, "methodNotAllowed")
    assert "GET" in response.headers["allow"]


def test_unexpected_exception_answers_500_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(state: Any, request: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(connectfi, "health", broken)
    with serve(tmp_path / "state.sqlite") as server:
        response = Api(server.base_url).login().get("/health")
    assert outcome(response) == (500, "internalError")
    assert "boom" not in response.text


def test_sandbox_imports_no_harness_behaviour() -> None:
    tree = ast.parse(Path(connectfi.__file__).read_text())
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    own = {m for m in modules if m and m.startswith("apicert")}
    assert own and all(m.startswith("apicert.sandbox") for m in own)


# --- control endpoints and persistence -----------------------------------------------------------


def test_clock_advance_makes_a_token_expire(tmp_path: Path) -> None:
    with serve(tmp_path / "state.sqlite") as server:
        api = Api(server.base_url).login()
        api.advance(LIFETIME - 60)
        assert api.get("/health").status_code == 200
        api.advance(61)
        assert outcome(api.get("/health")) == (401, "unauthorized")


def test_faults_can_be_switched_at_runtime(tmp_path: Path) -> None:
    with serve(tmp_path / "state.sqlite") as server:
        api = Api(server.base_url).login()
        control = f"{server.base_url}/__sandbox__/faults"
        assert (
            requests.put(control, timeout=10, json={"active": ["health-down"]}).status_code == 200
        )
        assert outcome(api.get("/health")) == (503, "serviceUnavailable")
        assert (
            requests.put(control, timeout=10, json={"active": ["no-such-fault"]}).status_code == 400
        )
        assert requests.put(control, timeout=10, json={"active": []}).status_code == 200
        assert outcome(api.get("/health")) == (200, "0")


def test_restart_with_the_same_state_keeps_customers_and_tokens(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    with serve(state) as server:
        api = Api(server.base_url).login()
        customer_id = new_customer(api)
    with serve(state) as server:
        again = Api(server.base_url)
        again.token = api.token
        response = again.get(f"/customer/status/{customer_id}")
    assert outcome(response) == (200, "0")
    assert response.json()["data"]["customerId"] == customer_id


def test_token_lifetime_option_is_honoured(tmp_path: Path) -> None:
    config = SandboxConfig(
        vendor="connectfi", state_path=str(tmp_path / "s.sqlite"), options={"token_lifetime": 60}
    )
    with EmbeddedServer(config) as server:
        api = Api(server.base_url).login()
        api.advance(61)
        assert api.get("/health").status_code == 401


# --- faults --------------------------------------------------------------------------------------
# Each probe runs the same scenario on the clean sandbox and on one with the fault switched on;
# the table gives the observation expected from each.

Probe = Callable[[Api], Any]


def probe_health_code(api: Api) -> Any:
    return api.get("/health").json()["code"]


def probe_status_data_type(api: Api) -> Any:
    data = api.get(f"/customer/status/{new_customer(api)}").json()["data"]
    return type(data).__name__


def probe_request_id_present(api: Api) -> Any:
    return ("requestId" in api.get("/health").json(), "requestId" in api.get("/nowhere").json())


def probe_distinct_request_ids(api: Api) -> Any:
    return len({api.get("/health").json()["requestId"] for _ in range(3)})


def probe_duplicate_reference(api: Api) -> Any:
    reference = unique()
    new_customer(api, individual(reference))
    return outcome(api.post("/customer/init", individual(reference)))


def probe_error_keys(api: Api) -> Any:
    return sorted(api.get("/customer/status/cstap_unknown").json())


def probe_init_status(api: Api) -> Any:
    return api.post("/customer/init", individual()).status_code


def probe_no_token(api: Api) -> Any:
    return requests.get(f"{api.base_url}/health", timeout=10).status_code


def probe_made_up_token(api: Api) -> Any:
    return api.get("/health", token="made-up-token").status_code


def probe_token_fields(api: Api) -> Any:
    return sorted(api.get_token().json()["data"])


def probe_expired_token(api: Api) -> Any:
    api.advance(LIFETIME + 1)
    return api.get("/health").status_code


def probe_wrong_password(api: Api) -> Any:
    return api.get_token(password="wrong-password").status_code


def probe_card_unknown_customer(api: Api) -> Any:
    return outcome(api.post("/ibis/debit-card/add", card("cstap_neverinitialised")))


def probe_card_without_documents(api: Api) -> Any:
    return outcome(api.post("/ibis/debit-card/add", card(new_customer(api))))


def probe_card_after_documents(api: Api) -> Any:
    return outcome(api.post("/ibis/debit-card/add", card(onboarded(api))))


def probe_activate_unknown(api: Api) -> Any:
    return outcome(api.post("/ibis/debit-card/activate", {"cardId": "crd_neveradded"}))


def probe_reference_entity(api: Api) -> Any:
    reference = unique()
    first = new_customer(api, individual(reference))
    response = api.post("/customer/init", individual(reference))
    return response.json()["context"]["entityId"] == first


def probe_duplicate_card_reference(api: Api) -> Any:
    first = added_card(api)
    return outcome(api.post("/ibis/debit-card/add", card(first["customerId"], first["reference"])))


def probe_duplicate_tax_ids(api: Api) -> Any:
    ssn, fein = nine_digits(), nine_digits()
    new_customer(api, individual(ssn=ssn))
    new_customer(api, business(fein=fein))
    return (
        outcome(api.post("/customer/init", individual(ssn=ssn))),
        outcome(api.post("/customer/init", business(fein=fein))),
    )


def probe_invalid_customer(api: Api) -> Any:
    return outcome(api.post("/customer/init", _set(individual(), "customer.address.zip", "1")))


def probe_multipart_upload(api: Api) -> Any:
    return outcome(upload(api, generate(api, new_customer(api))))


def probe_status_fields(api: Api) -> Any:
    data = api.get(f"/customer/status/{new_customer(api)}").json()["data"]
    return data["status"], "legacyStatus" in data


def probe_health(api: Api) -> Any:
    return outcome(api.get("/health"))


FAULT_PROBES: dict[str, tuple[Probe, Any, Any]] = {
    "code-integer": (probe_health_code, "0", 0),
    "data-not-object": (probe_status_data_type, "dict", "list"),
    "requestid-missing": (probe_request_id_present, (True, True), (False, False)),
    "requestid-repeated": (probe_distinct_request_ids, 3, 1),
    "error-status-200": (
        probe_duplicate_reference,
        (400, "referenceExists"),
        (200, "referenceExists"),
    ),
    "error-shape-bare": (
        probe_error_keys,
        ["code", "message", "requestId"],
        ["error", "requestId"],
    ),
    "status-202": (probe_init_status, 201, 202),
    "auth-not-required": (probe_no_token, 401, 200),
    "any-token-accepted": (probe_made_up_token, 401, 200),
    "token-no-expiry-field": (probe_token_fields, ["dtsExpireAt", "token"], ["token"]),
    "token-never-expires": (probe_expired_token, 401, 200),
    "login-any-password": (probe_wrong_password, 401, 200),
    "prereq-customer-unchecked": (
        probe_card_unknown_customer,
        (404, "customerNotFound"),
        (201, "0"),
    ),
    "prereq-documents-unchecked": (
        probe_card_without_documents,
        (400, "documentsRequired"),
        (201, "0"),
    ),
    "card-add-refused": (probe_card_after_documents, (201, "0"), (400, "documentsRequired")),
    "prereq-card-unchecked": (probe_activate_unknown, (404, "cardNotFound"), (200, "0")),
    "duplicate-reference-accepted": (
        probe_duplicate_reference,
        (400, "referenceExists"),
        (201, "0"),
    ),
    "duplicate-reference-wrong-entity": (probe_reference_entity, True, False),
    "duplicate-card-reference-accepted": (
        probe_duplicate_card_reference,
        (400, "referenceExists"),
        (201, "0"),
    ),
    "duplicate-ssn-accepted": (
        probe_duplicate_tax_ids,
        ((400, "ssnExists"), (400, "feinExists")),
        ((201, "0"), (201, "0")),
    ),
    "validation-500": (probe_invalid_customer, (400, "validationFailed"), (500, "internalError")),
    "upload-multipart-refused": (
        probe_multipart_upload,
        (200, "0"),
        (415, "unsupportedMediaType"),
    ),
    "schema-drift": (probe_status_fields, ("documentsRequired", False), (1, True)),
    "health-down": (probe_health, (200, "0"), (503, "serviceUnavailable")),
}


def test_every_fault_has_a_probe_and_breaks_known_requirements() -> None:
    catalog = yaml.safe_load((SCHEMAS / "requirements.yaml").read_text())
    known = {requirement["id"] for requirement in catalog["requirements"]}
    assert set(FAULT_PROBES) == {fault.name for fault in connectfi.FAULTS}
    for fault in connectfi.FAULTS:
        assert fault.breaks and set(fault.breaks) <= known, fault.name


@pytest.mark.parametrize("fault", [fault.name for fault in connectfi.FAULTS])
def test_fault_changes_the_documented_behaviour(fault: str, api: Api, tmp_path: Path) -> None:
    probe, clean, faulty = FAULT_PROBES[fault]
    # The clean sandbox is shared by the module; a probe that moves its clock gets its own.
    if probe is probe_expired_token:
        with serve(tmp_path / "clean.sqlite") as server:
            assert probe(Api(server.base_url).login()) == clean
    else:
        assert probe(api) == clean
    with serve(tmp_path / "faulty.sqlite", faults=(fault,)) as server:
        assert probe(Api(server.base_url).login()) == faulty
