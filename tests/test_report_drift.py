"""Schema drift and reproduction commands on canned, redacted exchanges (no server)."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

from apicert.paths import schemas_dir
from apicert.report.drift import MAX_PATHS, compute_drift, load_documents, seen_paths
from apicert.report.repro import curl_command, reproduce

BASE = "http://127.0.0.1:9999"


def exchange(method: str, path: str, status: int, body: Any, request_body: Any = None) -> dict:
    return {
        "id": "ex-000001",
        "request": {
            "method": method,
            "url": BASE + path,
            "headers": {"x-connectfi-token": "[REDACTED]", "Content-Type": "application/json"},
            "body": json.dumps(request_body) if request_body is not None else None,
        },
        "response": {"status": status, "headers": {}, "body": json.dumps(body)},
        "elapsed": 0.01,
    }


def status_body(**extra: Any) -> dict[str, Any]:
    data = {
        "customerId": "cstap_1",
        "reference": "r1",
        "type": "individual",
        "status": "active",
        "documents": {"required": [], "uploaded": ["identity"]},
        **extra,
    }
    return {"code": "0", "data": data, "requestId": "r"}


def drift_of(*exchanges: dict[str, Any]) -> dict[str, Any]:
    documents = load_documents(schemas_dir() / "connectfi")
    assert [name for name, _doc in documents] == ["openapi.yaml"]
    return compute_drift(exchanges, {"connectfi": BASE}, {"connectfi": documents})["connectfi"]


def test_a_field_the_document_does_not_declare_is_undeclared() -> None:
    drift = drift_of(exchange("GET", "/customer/status/cstap_1", 200, status_body(legacyStatus=1)))
    op = drift["operations"]["GET /customer/status/{customerId} 200"]
    assert op["undeclared"] == ["data.legacyStatus"]
    assert op["unseen"] == []
    assert "data.documents.uploaded" in op["seen"]


def test_a_clean_response_has_no_drift_and_missing_optional_fields_are_unseen() -> None:
    error = {"code": "notFound", "message": "no such customer", "requestId": "r"}
    drift = drift_of(
        exchange("GET", "/customer/status/cstap_1", 200, status_body()),
        exchange("GET", "/customer/status/cstap_2", 404, error),
    )
    assert drift["operations"]["GET /customer/status/{customerId} 200"]["undeclared"] == []
    not_found = drift["operations"]["GET /customer/status/{customerId} 404"]
    assert not_found["undeclared"] == [] and set(not_found["unseen"]) == {"context", "subCode"}


def test_an_undeclared_status_and_an_unknown_route_are_reported() -> None:
    drift = drift_of(
        exchange("POST", "/customer/init", 202, {"code": "0", "data": {}, "requestId": "r"}),
        exchange("GET", "/no/such/route", 404, {"code": "notFound"}),
    )
    assert drift["operations"]["POST /customer/init 202"]["undeclared"] == [
        "code",
        "data",
        "requestId",
    ]
    assert drift["unmatched"] == ["GET /no/such/route"]


def test_drift_is_bounded() -> None:
    wide = status_body(**{f"extra{i:04d}": {"deep": {"deeper": i}} for i in range(1000)})
    drift = drift_of(exchange("GET", "/customer/status/cstap_1", 200, wide))
    op = drift["operations"]["GET /customer/status/{customerId} 200"]
    assert len(op["seen"]) == MAX_PATHS and len(op["undeclared"]) == MAX_PATHS
    deep: Any = 1
    for _ in range(50):
        deep = {"a": deep}
    assert max(p.count(".") for p in seen_paths(deep)) < 10


def test_curl_uses_placeholders_for_every_masked_value_and_runs_in_a_shell() -> None:
    request = {
        "user": {"login": "me", "password": "[REDACTED]"},
        "card": {"number": "xxxxxxxxxxxx4747"},
    }
    ex = exchange("POST", "/auth/get-token", 200, {}, request_body=request)
    command = curl_command(ex, "connectfi", BASE)
    assert BASE not in command and "[REDACTED]" not in command and "4747" not in command
    assert '"${APICERT_CONNECTFI_PASSWORD}"' in command
    assert '"${APICERT_CONNECTFI_URL}"' in command
    # The shell expands the placeholders (a quote in the secret survives) and nothing else.
    env = {
        "APICERT_CONNECTFI_URL": "http://h",
        "APICERT_CONNECTFI_PASSWORD": "p'w $x",
        "APICERT_CONNECTFI_NUMBER": "n",
        "APICERT_CONNECTFI_X_CONNECTFI_TOKEN": "t",
    }
    script = "printf '%s\\n' " + command.removeprefix("curl ")
    out = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True).stdout
    lines = out.splitlines()
    assert "http://h/auth/get-token" in lines and "x-connectfi-token: t" in lines
    sent = json.loads(lines[lines.index("--data-raw") + 1])
    assert sent == {"user": {"login": "me", "password": "p'w $x"}, "card": {"number": "n"}}


def test_reproduce_names_the_tests_the_faults_and_a_url_target() -> None:
    out = reproduce(
        "connectfi",
        ["connectfi/test_a.py::test_one[ssn]", "connectfi/test_a.py::test_two"],
        [],
        base_url=BASE,
        embedded=False,
        faults=["status-202"],
        seed=7,
    )
    assert out["pytest"][0] == "connectfi/test_a.py::test_one[ssn]"
    assert re.search(r"-k 'test_one or test_two'", out["command"])
    assert '--target connectfi="$APICERT_CONNECTFI_URL"' in out["command"]
    assert "--fault connectfi:status-202" in out["command"] and "--seed 7" in out["command"]


def versioned(version: str, fields: list[str]) -> tuple[str, dict[str, Any]]:
    schema = {
        "type": "object",
        "properties": {
            **{f: {"type": "string"} for f in fields},
            "errors": {"type": "array"},
        },
    }
    content = {"application/json": {"schema": schema}}
    operation = {"responses": {"200": {"description": "ok", "content": content}}}
    return f"openapi-{version}.yaml", {"paths": {"/things": {"get": operation}}}


def test_each_exchange_is_judged_by_the_version_it_asked_for() -> None:
    docs = [versioned("2023-12-01", ["data"]), versioned("2024-02-26", ["items"])]

    def get(version: str | None, body: dict[str, Any]) -> dict[str, Any]:
        ex = exchange("GET", "/things", 200, body)
        ex["request"]["headers"] = {"api-version": version} if version else {}
        return ex

    drift = compute_drift(
        [
            get(None, {"data": "x", "errors": [{"detail": "free-form items"}]}),
            get("02/26/2024", {"items": "x"}),
            get("2024-02-26", {"data": "x"}),
        ],
        {"acme": BASE},
        {"acme": docs},
    )["acme"]
    assert drift["document"] == "openapi-2023-12-01.yaml, openapi-2024-02-26.yaml"
    old = drift["operations"]["GET /things 200 openapi-2023-12-01.yaml"]
    new = drift["operations"]["GET /things 200 openapi-2024-02-26.yaml"]
    assert old["undeclared"] == []  # an array without items declares any item
    assert new["undeclared"] == ["data"]
