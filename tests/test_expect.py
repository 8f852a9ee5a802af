"""The expectation vocabulary (``apicert.expect``) and the expectations the checks attach.

1. Each operation holds on a canned conformant form and fails on a deviating one.
2. ``evaluator_source()`` runs standalone: exec'd in an empty namespace, and in a fresh
   interpreter with no site-packages (``-I -S``: the standard library only), it agrees with
   ``evaluate`` on every case.
3. Every check's failed finding carries expectations that FAIL on the faulty canned answer and
   HOLD on its conformant twin (the same exchange id, the answer a conforming vendor gives), on
   raw (unredacted) exchanges, including the masking expectations the redacted reports cannot show.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import date
from typing import Any

import pytest
import yaml

from apicert import expect as x
from apicert.checks import connectfi, digifi, digitzs
from apicert.checks.contract import OpenApiContract, schemathesis_expectations
from apicert.checks.masking import MaskingObserver, leaks, sensitive_origins, sensitive_values
from apicert.checks.ratelimit import ratelimit_headers, refusal_body_json, retry_after_present
from apicert.model import Exchange, Finding, Status
from apicert.paths import schemas_dir
from apicert.probe import Phase, ProbeResult, Sample

from .canned import err, exchange, ok

Forms = dict[str, dict[str, Any]]


def form(
    status: int | None = 200,
    body: Any = None,
    *,
    raw: str | None = None,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    request: Any = None,
    url: str = "http://vendor.test/x",
) -> dict[str, Any]:
    """An exchange form as ``Exchange.to_dict()`` shapes it."""
    text = raw if raw is not None else (None if body is None else json.dumps(body))
    return {
        "request": {
            "method": "GET",
            "url": url,
            "headers": {},
            "body": None if request is None else json.dumps(request),
        },
        "response": {
            "status": status,
            "headers": {"Content-Type": content_type, **(headers or {})},
            "body": text,
        },
    }


OBJ = {"a": {"b": [1, "two", None]}, "s": "text", "n": 2.5, "flag": True, "limit": "25"}
DATES = {"data": [{"created": "2026-01-02T10:00:00.000Z"}, {"created": "2026-01-03T00:00:00Z"}]}

# (expectation, forms where it holds, forms where it fails)
CASES: list[tuple[dict[str, Any], Forms, Forms]] = [
    (x.status_in("e", [200, 201]), {"e": form(201)}, {"e": form(202)}),
    (x.status_between("e", 400, 499), {"e": form(404)}, {"e": form(500)}),
    (x.status_between("e", 400, 499), {"e": form(400)}, {"e": form(None)}),
    (x.json_body("e"), {"e": form(body={})}, {"e": form(raw="{x", content_type="text/plain")}),
    (x.json_body("e"), {"e": form(body=[])}, {"e": form(body={}, content_type="text/plain")}),
    (x.json_equals("e", ["s"], "text"), {"e": form(body=OBJ)}, {"e": form(body={"s": "t"})}),
    (x.json_equals("e", ["limit"], "25"), {"e": form(body=OBJ)}, {"e": form(body={"limit": 25})}),
    (x.json_type("e", ["a", "b", 0], "integer"), {"e": form(body=OBJ)}, {"e": form(body={})}),
    (x.json_type("e", ["n"], ["number", "null"]), {"e": form(body=OBJ)}, {"e": form(body={})}),
    (x.json_type("e", ["a"], "object"), {"e": form(body=OBJ)}, {"e": form(body={"a": []})}),
    (x.json_present("e", ["a", "b", -1]), {"e": form(body=OBJ)}, {"e": form(body={"a": {}})}),
    (x.json_absent("e", ["legacy"]), {"e": form(body=OBJ)}, {"e": form(body={"legacy": 1})}),
    (x.json_matches("e", ["s"], "te.t"), {"e": form(body=OBJ)}, {"e": form(body={"s": "tex"})}),
    (x.json_matches("e", ["s"], "te.t"), {"e": form(body=OBJ)}, {"e": form(body={"s": 1})}),
    (
        x.header_present("e", "retry-after"),
        {"e": form(headers={"Retry-After": "1"})},
        {"e": form()},
    ),
    (
        x.header_matches("e", "Retry-After", "[0-9]+"),
        {"e": form(headers={"retry-after": "2"})},
        {"e": form(headers={"Retry-After": "soon"})},
    ),
    (
        x.same(["a", "b"]),
        {"a": form(body=OBJ), "b": form(body=OBJ)},
        {"a": form(body=OBJ), "b": form(body={**OBJ, "s": "other"})},
    ),
    (
        x.same(["a", "b"], ["id"]),
        {"a": form(body={"id": "1", "t": 1}), "b": form(body={"id": "1", "t": 2})},
        {"a": form(body={"id": "1"}), "b": form(body={"id": "2"})},
    ),
    (
        x.distinct(["a", "b"], ["requestId"]),
        {"a": form(body={"requestId": "r1"}), "b": form(body={"requestId": "r2"})},
        {"a": form(body={"requestId": "r1"}), "b": form(body={"requestId": "r1"})},
    ),
    (
        x.not_echoed("e", ["card", "number"]),
        {"e": form(body={"number": "xxxx1111"}, request={"card": {"number": "4111111111111111"}})},
        {
            "e": form(
                body={"msg": "card 4111111111111111"},
                request={"card": {"number": "4111111111111111"}},
            )
        },
    ),
    (
        x.not_echoed("got", ["ssn"], "sent"),
        {"sent": form(request={"ssn": "123-45-6789"}), "got": form(body={"ssn": "xxxxx6789"})},
        {"sent": form(request={"ssn": "123-45-6789"}), "got": form(body={"ssn": "123456789"})},
    ),
    (
        x.compare(x.operand("a", ["ctx", "id"]), "eq", x.operand("b", ["data", "id"])),
        {"a": form(body={"ctx": {"id": "c1"}}), "b": form(body={"data": {"id": "c1"}})},
        {"a": form(body={"ctx": {"id": "made-up"}}), "b": form(body={"data": {"id": "c1"}})},
    ),
    (
        x.compare(x.operand("e", ["name"]), "eq", x.operand("e", ["name"], side="request")),
        {"e": form(body={"name": "Ann"}, request={"name": "Ann"})},
        {"e": form(body={"name": "ANN"}, request={"name": "Ann"})},
    ),
    (
        x.compare(x.operand("e", ["items"]), "eq", x.operand("e", ["data"], length=True)),
        {"e": form(body={"items": 2, "data": [1, 2]})},
        {"e": form(body={"items": 5, "data": [1, 2]})},
    ),
    (
        x.compare(x.operand("e", ["data"], length=True), "le", x.operand("e", query="limit")),
        {"e": form(body={"data": [1]}, url="http://v.test/l?limit=2")},
        {"e": form(body={"data": [1, 2, 3]}, url="http://v.test/l?limit=2")},
    ),
    (
        x.compare(
            x.operand("e", ["net"], add=[x.operand("e", ["cut"])]),
            "eq",
            x.operand("e", ["gross"], number=True),
        ),
        {"e": form(body={"net": "940", "cut": "59", "gross": "999"})},
        {"e": form(body={"net": "941", "cut": "59", "gross": "999"})},
    ),
    (
        x.compare(
            x.operand("after", ["total"]),
            "eq",
            x.operand("before", ["total"], add=[x.operand(value=1)]),
        ),
        {"before": form(body={"total": 3}), "after": form(body={"total": 4})},
        {"before": form(body={"total": 3}), "after": form(body={"total": 5})},
    ),
    (
        x.compare(x.operand("e", status=True), "ne", x.operand(value=401)),
        {"e": form(404)},
        {"e": form(401)},
    ),
    (
        x.compare(x.operand("e", ["v"]), "gt", x.operand(value=3)),
        {"e": form(body={"v": "4"})},
        {"e": form(body={"v": "x"})},
    ),
    (
        x.compare(x.operand("e", ["v"]), "eq", x.operand(value=1)),
        {"e": form(body={"v": 1.0})},
        {"e": form(body={"v": "1"})},
    ),
    (
        x.each("e", ["data"], ["owner"], cmp="eq", right=x.operand("e", query="id")),
        {"e": form(body={"data": [{"owner": "m1"}]}, url="http://v.test/c?id=m1")},
        {"e": form(body={"data": [{"owner": "m1"}, {"owner": "m2"}]}, url="http://v.test/c?id=m1")},
    ),
    (
        x.each("e", ["data"], ["created"], pattern="(?:2026-01-02|2026-01-03)T.*"),
        {"e": form(body=DATES)},
        {"e": form(body={"data": [{"created": "2026-01-04T00:00:00Z"}]})},
    ),
    (
        x.each("e", ["data"], ["x"], pattern="."),
        {"e": form(body={"data": []})},
        {"e": form(body={})},
    ),
    (
        x.any_of(
            x.json_matches("e", ["error", "message"], ".+"), x.json_matches("e", ["message"], ".+")
        ),
        {"e": form(400, body={"message": "bad"})},
        {"e": form(400, body={"error": "bad"})},
    ),
    (x.status_in("gone", [200]), {"gone": form()}, {"other": form()}),
    (
        x.compare(
            x.operand("got", ["ssn"], tail=4),
            "eq",
            x.operand("sent", ["ssn"], side="request", tail=4),
        ),
        {"sent": form(request={"ssn": "123456789"}), "got": form(body={"ssn": "xxxxx6789"})},
        {"sent": form(request={"ssn": "123456789"}), "got": form(body={"ssn": "xxxxx1234"})},
    ),
]
CASE_IDS = [f"{i}-{c[0]['op']}" for i, c in enumerate(CASES)]


@pytest.mark.parametrize(("expectation", "holds", "fails"), CASES, ids=CASE_IDS)
def test_each_operation_holds_and_fails(
    expectation: dict[str, Any], holds: Forms, fails: Forms
) -> None:
    assert x.evaluate([expectation], holds) == []
    problems = x.evaluate([expectation], fails)
    assert len(problems) == 1 and problems[0].strip()


def test_unknown_operation_is_a_problem_not_a_crash() -> None:
    assert x.evaluate([{"op": "telepathy", "ex": "e"}], {"e": form()}) == [
        "unknown expectation 'telepathy'"
    ]


def test_expectations_are_json_and_name_their_exchanges() -> None:
    expectation = x.compare(
        x.operand("a", ["n"], add=[x.operand("b", ["m"])]), "eq", x.operand("c", status=True)
    )
    assert json.loads(json.dumps(expectation)) == expectation
    assert x.exchange_ids(expectation) == ["a", "c", "b"]
    assert x.exchange_ids(x.not_echoed("got", ["n"], "sent")) == ["got", "sent"]
    assert x.exchange_ids(x.any_of(x.status_in("p", [1]), x.json_body("q"))) == ["p", "q"]


def test_evaluator_source_runs_in_an_empty_namespace_and_agrees() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(x.evaluator_source(), "<repro>", "exec"), namespace)
    for expectation, holds, fails in CASES:
        for forms in (holds, fails):
            assert namespace["evaluate"]([expectation], forms) == x.evaluate([expectation], forms)


def test_evaluator_source_needs_only_the_standard_library() -> None:
    cases = [([e], forms) for e, holds, fails in CASES for forms in (holds, fails)]
    script = (
        x.evaluator_source()
        + "\nimport json, sys\n"
        + "cases = json.load(sys.stdin)\n"
        + "print(json.dumps([evaluate(e, f) for e, f in cases]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout) == [x.evaluate(e, f) for e, f in cases]


# -- the checks' expectations: fail on the faulty answer, hold on its conformant twin ----------


def twin(
    ex: Exchange,
    body: Any = None,
    *,
    status: int | None = None,
    raw: str | None = None,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Exchange:
    """The same exchange (same id and request) with the answer a conforming vendor gives."""
    return dataclasses.replace(
        ex,
        status=ex.status if status is None else status,
        response_body=raw if raw is not None else json.dumps(body),
        response_headers={"Content-Type": content_type, **(headers or {})},
    )


def forms_of(*exchanges: Exchange) -> Forms:
    return {e.id: e.to_dict() for e in exchanges}


def promise_of(findings: list[Finding], requirement: str) -> list[dict[str, Any]]:
    """The expectations of the failed findings on ``requirement`` (at least one must carry)."""
    mine = [f for f in findings if f.requirement == requirement]
    assert mine and all(f.status in (Status.FAILED, Status.WARNING) for f in mine), findings
    expect = [e for f in mine for e in f.expect]
    assert expect, f"{requirement}: no expectations in {mine}"
    for finding in mine:
        named = {i for e in finding.expect for i in x.exchange_ids(e)}
        assert named <= set(finding.evidence), "every exchange an expectation names is evidence"
    return expect


def judged(
    findings: list[Finding], requirement: str, faulty: list[Exchange], fixed: list[Exchange]
) -> None:
    """The expectations fail on the faulty exchanges and all hold on the conformant twins."""
    expect = promise_of(findings, requirement)
    assert x.evaluate(expect, forms_of(*faulty)), f"{requirement}: nothing fails on the fault"
    assert x.evaluate(expect, forms_of(*fixed)) == [], f"{requirement}: fails on the twin"


ENV = {"code": "0", "data": {"customerId": "c1"}, "requestId": "r" * 32}


@pytest.mark.parametrize(
    ("body", "status", "requirement"),
    [
        ({**ENV, "code": 0}, 200, "CONNECTFI-ENV-01"),
        ({k: v for k, v in ENV.items() if k != "code"}, 200, "CONNECTFI-ENV-01"),
        ({**ENV, "data": [{}]}, 200, "CONNECTFI-ENV-02"),
        ({k: v for k, v in ENV.items() if k != "requestId"}, 200, "CONNECTFI-ENV-03"),
        ({**ENV, "requestId": " "}, 200, "CONNECTFI-ENV-03"),
        (ENV, 202, "CONNECTFI-ENV-07"),
        ([ENV], 200, "CONNECTFI-ENV-01"),
    ],
)
def test_connectfi_success_envelope(body: Any, status: int, requirement: str) -> None:
    faulty = exchange("POST", "/customer/init", status=status, body=body)
    fixed = twin(faulty, ENV, status=201)
    judged(connectfi.success_envelope(faulty), requirement, [faulty], [fixed])


def test_connectfi_non_json_success() -> None:
    faulty = exchange(status=200, raw="<html>ok</html>", content_type="text/html")
    judged(connectfi.success_envelope(faulty), "CONNECTFI-ENV-01", [faulty], [twin(faulty, ENV)])


def test_connectfi_error_shape_and_status() -> None:
    faulty = exchange(status=400, body={"error": "used", "requestId": "e" * 32})
    fixed = twin(faulty, {"code": "referenceExists", "message": "used", "requestId": "e" * 32})
    judged(connectfi.envelope(faulty), "CONNECTFI-ENV-06", [faulty], [fixed])
    success = exchange(
        status=200, body={"code": "referenceExists", "message": "m", "requestId": "r"}
    )
    judged(
        connectfi.envelope(success), "CONNECTFI-ENV-05", [success], [twin(success, {}, status=400)]
    )


def test_connectfi_refusal_and_its_code() -> None:
    accepted = ok({"customerId": "c2"}, status=201)
    fixed = twin(
        accepted, {"code": "referenceExists", "message": "m", "requestId": "r"}, status=400
    )
    findings = connectfi.refused("CONNECTFI-REF-01", accepted, status=400, code="referenceExists")
    judged(findings, "CONNECTFI-REF-01", [accepted], [fixed])
    wrong_code = err("validationFailed", status=400)
    findings = connectfi.refused("CONNECTFI-REF-01", wrong_code, status=400, code="referenceExists")
    judged(
        findings,
        "CONNECTFI-REF-01",
        [wrong_code],
        [fixed := twin(wrong_code, {"code": "referenceExists"})],
    )
    assert fixed.status == 400


def test_connectfi_token_and_request_ids() -> None:
    faulty = ok({"token": "t" * 20})
    fixed = twin(faulty, {**ENV, "data": {"token": "t", "dtsExpireAt": "2030-01-01T00:00:00Z"}})
    now = connectfi.parse_expiry("2026-01-01T00:00:00Z")
    assert now is not None
    judged(connectfi.token_response(faulty, now=now), "CONNECTFI-AUTH-03", [faulty], [fixed])
    first, second = ok(request_id="same"), ok(request_id="same")
    findings = connectfi.unique_request_ids([first, second])
    judged(
        findings,
        "CONNECTFI-ENV-04",
        [first, second],
        [first, twin(second, {**ENV, "requestId": "other"})],
    )


def page(data: list[Any], **meta: Any) -> dict[str, Any]:
    return {"data": data, "meta": {"items": len(data), "limit": 10, "more": False, **meta}}


def customer(ident: str, owner: str = "m1") -> dict[str, Any]:
    return {"type": "customers", "id": ident, "attributes": {"merchantId": owner}}


def test_digitzs_envelope_and_lists() -> None:
    single = exchange(path="/merchants/m1", body={"data": {"type": "merchant", "id": "m1"}})
    fixed = twin(single, {"data": {"type": "merchants", "id": "m1"}})
    judged(digitzs.envelope(single), "DIGITZS-ENV-01", [single], [fixed])
    no_id = exchange(path="/customers", body=page([{"type": "customers"}]))
    judged(
        digitzs.envelope(no_id), "DIGITZS-ENV-02", [no_id], [twin(no_id, page([customer("c1")]))]
    )
    miscounted = exchange(path="/customers?id=m1&limit=2", body=page([customer("c1")], items=3))
    good = twin(miscounted, page([customer("c1")], limit=2))
    judged(digitzs.list_page(miscounted), "DIGITZS-LIST-01", [miscounted], [good])
    ignored = exchange(
        path="/customers?id=m1&limit=1", body=page([customer("a"), customer("b")], limit=1)
    )
    judged(
        digitzs.list_page(ignored),
        "DIGITZS-LIST-02",
        [ignored],
        [twin(ignored, page([customer("a")], limit=1, more=True))],
    )


def test_digitzs_more_owner_and_dates() -> None:
    small = exchange(path="/customers?id=m1&limit=1", body=page([customer("a")], limit=1))
    large = exchange(path="/customers?id=m1&limit=10", body=page([customer("a"), customer("b")]))
    fixed = twin(small, page([customer("a")], limit=1, more=True))
    judged(digitzs.more_consistent(small, large), "DIGITZS-LIST-03", [small, large], [fixed, large])
    mixed = exchange(
        path="/customers?id=m1&limit=10", body=page([customer("a"), customer("b", "m2")])
    )
    judged(
        digitzs.owned_by(mixed, "merchantId", "m1"),
        "DIGITZS-LIST-04",
        [mixed],
        [twin(mixed, page([customer("a")]))],
    )
    day = date(2026, 1, 2)
    entries = [
        {"type": "payments", "id": "p", "attributes": {"created": "2026-01-03T01:00:00.000Z"}}
    ]
    outside = exchange(path="/payments?id=m1&start=20260102&end=20260102", body=page(entries))
    inside = [{**entries[0], "attributes": {"created": "2026-01-02T23:59:59.999Z"}}]
    judged(
        digitzs.within_dates(outside, day, day),
        "DIGITZS-LIST-05",
        [outside],
        [twin(outside, page(inside))],
    )


def payment(**tx: str) -> dict[str, Any]:
    base = {
        "amount": "999",
        "gross": "999",
        "rate": "2.90",
        "fee": "30",
        "grossMinusNet": "59",
        "net": "940",
    }
    return {"data": {"type": "payments", "id": "p1", "attributes": {"transaction": {**base, **tx}}}}


def test_digitzs_money_refusals_and_masks() -> None:
    rounded_down = exchange("POST", "/payments", body=payment(grossMinusNet="58", net="941"))
    judged(
        digitzs.card_fees(rounded_down, 999),
        "DIGITZS-MONEY-01",
        [rounded_down],
        [twin(rounded_down, payment())],
    )
    off = exchange("POST", "/payments", body=payment(net="941"))
    judged(digitzs.net_balances(off), "DIGITZS-MONEY-02", [off], [twin(off, payment())])
    accepted = exchange(path="/payments/nope", body=payment())
    judged(
        digitzs.refused("DIGITZS-RES-02", accepted, (400, 404)),
        "DIGITZS-RES-02",
        [accepted],
        [twin(accepted, {"errors": []}, status=404)],
    )
    shown = {
        "data": {
            "type": "merchants",
            "id": "m",
            "attributes": {
                "personalInfo": {"socialSecurity": "123456789"},
                "card": {"number": "4111111111111111", "code": "123"},
            },
        }
    }
    masked = {
        "data": {
            "type": "merchants",
            "id": "m",
            "attributes": {
                "personalInfo": {"socialSecurity": "xxxxx6789"},
                "card": {"number": "xxxx1111", "code": "xxx"},
            },
        }
    }
    leaky = exchange(path="/merchants/m", body=shown)
    findings = digitzs.masked_details(leaky)
    assert len(promise_of(findings, "DIGITZS-MASK-02")) == 3
    judged(findings, "DIGITZS-MASK-02", [leaky], [twin(leaky, masked)])


def test_digifi_checks() -> None:
    text = exchange(status=404, raw="not found", content_type="text/plain")
    judged(digifi.json_response(text), "DIGIFI-JSON-01", [text], [twin(text, {"message": "x"})])
    elsewhere = exchange(status=404, body={"error": "not found"})
    judged(
        digifi.error_message(elsewhere),
        "DIGIFI-ERR-01",
        [elsewhere],
        [twin(elsewhere, {"error": {"message": "not found"}})],
    )
    created = exchange("POST", "/api/borrowers", status=201, body={"id": "b1"})
    judged(
        digifi.resource("DIGIFI-STATUS-01", created, "create"),
        "DIGIFI-STATUS-01",
        [created],
        [twin(created, {"id": "b1"}, status=200)],
    )
    got = exchange(path="/api/borrowers/b1", body={"id": "b2"})
    findings = digifi.resource(
        "DIGIFI-STATUS-01",
        got,
        "get",
        expected_id="b1",
        created=twin(created, {"id": "b1"}, status=200),
    )
    judged(
        findings,
        "DIGIFI-STATUS-01",
        [got, twin(created, {"id": "b1"})],
        [twin(got, {"id": "b1"}), twin(created, {"id": "b1"})],
    )
    first = exchange("POST", "/api/borrowers", body={"id": "b1"})
    again = exchange("POST", "/api/borrowers", body={"id": "b9"})
    judged(
        digifi.same_result("DIGIFI-IDEM-01", first, again, "replay"),
        "DIGIFI-IDEM-01",
        [first, again],
        [first, twin(again, {"id": "b1"})],
    )
    before = exchange(path="/api/borrowers/search", body={"total": 0})
    after = exchange(path="/api/borrowers/search", body={"total": 2})
    findings = digifi.count_change("DIGIFI-IDEM-02", before, after, expected=1, what="replay")
    judged(findings, "DIGIFI-IDEM-02", [before, after], [before, twin(after, {"total": 1})])
    changed = exchange("POST", "/api/borrowers", body={"id": "b1"})
    judged(
        digifi.changed_payload_refused(changed),
        "DIGIFI-IDEM-04",
        [changed],
        [twin(changed, {"message": "m"}, status=422)],
    )
    later = exchange("POST", "/api/borrowers", body={"id": "b1"})
    judged(
        digifi.new_resource_after_expiry(first, later),
        "DIGIFI-IDEM-06",
        [first, later],
        [first, twin(later, {"id": "b2"})],
    )
    burst = [exchange("POST", "/api/borrowers", body={"id": f"b{i}"}) for i in range(3)]
    findings = digifi.concurrent_single_resource(burst, 3, [before, after])
    fixed = [twin(e, {"id": "b0"}) for e in burst]
    judged(
        findings,
        "DIGIFI-IDEM-07",
        [*burst, before, after],
        [*fixed, before, twin(after, {"total": 1})],
    )
    default = exchange(path="/api/products", body=[{"id": "p"}])
    explicit = exchange(path="/api/products", body=[{"id": "p", "v": 2}])
    judged(
        digifi.same_answer("DIGIFI-VER-01", default, explicit, "list"),
        "DIGIFI-VER-01",
        [default, explicit],
        [twin(default, [{"id": "p", "v": 2}]), explicit],
    )


def test_masking_expectations_need_the_raw_exchanges() -> None:
    sent = exchange(
        "POST", "/payments", body={"data": {}}, request={"card": {"number": "4111111111111111"}}
    )
    shown = exchange(path="/payments/p", body={"card": {"number": "4111111111111111"}})
    findings = leaks(shown, sensitive_values(sent.request_body), "MASK-01", sensitive_origins(sent))
    judged(
        findings, "MASK-01", [sent, shown], [sent, twin(shown, {"card": {"number": "xxxx1111"}})]
    )
    observer = MaskingObserver("MASK-01")
    own = exchange(
        "POST",
        "/tokens",
        body={"m": "card 4111111111111111 stored"},
        request={"number": "4111111111111111"},
    )
    findings = observer.observe(own)
    judged(findings, "MASK-01", [own], [twin(own, {"m": "card ending 1111 stored"})])


@pytest.fixture(scope="module")
def contract() -> OpenApiContract:
    document = yaml.safe_load((schemas_dir() / "connectfi" / "openapi.yaml").read_text())
    return OpenApiContract(document, "CONNECTFI-CONTRACT-01")


STATUS = {
    "customerId": "cstap_" + "a" * 22,
    "reference": "cust_1",
    "type": "individual",
    "status": "active",
    "documents": {"required": ["identity"], "uploaded": ["identity"]},
}


@pytest.mark.parametrize(
    ("data", "op"),
    [
        ({**STATUS, "legacyStatus": 1}, "json_absent"),
        ({**STATUS, "status": 1}, "json_type"),
        ({k: v for k, v in STATUS.items() if k != "status"}, "json_present"),
    ],
)
def test_contract_expectations_from_the_schema_error(
    contract: OpenApiContract, data: dict[str, Any], op: str
) -> None:
    faulty = ok(data, path="/customer/status/cstap_" + "a" * 22)
    findings = contract.check(faulty)
    assert op in {alt["op"] for f in findings for e in f.expect for alt in e["of"]}
    judged(findings, "CONNECTFI-CONTRACT-01", [faulty], [twin(faulty, {**ENV, "data": STATUS})])
    # The schema is the one of the status answered: a conforming 404 is held to its own.
    not_found = twin(faulty, {"code": "notFound", "message": "m", "requestId": "r"}, status=404)
    assert x.evaluate(promise_of(findings, "CONNECTFI-CONTRACT-01"), forms_of(not_found)) == []


def test_contract_undeclared_status(contract: OpenApiContract) -> None:
    faulty = ok(STATUS, status=202, path="/customer/status/cstap_" + "a" * 22)
    judged(
        contract.check(faulty),
        "CONNECTFI-CONTRACT-01",
        [faulty],
        [twin(faulty, {**ENV, "data": STATUS}, status=200)],
    )


def probe_of(*answers: Exchange) -> ProbeResult:
    result = ProbeResult("GET", "/x", 1.0, [Phase("above", 10, 1.0)])
    for index, answer in enumerate(answers):
        result.samples.append(Sample(index, "above", index / 10, index / 10, answer))
    return result


def test_ratelimit_429_shape_expectations_and_their_condition() -> None:
    bare = exchange(status=429, raw="slow down", content_type="text/plain")
    good = twin(
        bare, {"message": "slow down"}, headers={"Retry-After": "1", "RateLimit-Policy": "100;w=1"}
    )
    served = twin(bare, {"ok": True}, status=200)  # a replay at its own pace may not be refused
    for check in (refusal_body_json, retry_after_present, ratelimit_headers):
        findings = check(probe_of(bare), "RATE-03")
        judged(findings, "RATE-03", [bare], [good])
        if check is not refusal_body_json:
            assert x.evaluate(promise_of(findings, "RATE-03"), forms_of(served)) == []


def test_schemathesis_failures_become_status_promises() -> None:
    accepted = exchange("POST", "/customer/init", status=201, body={})
    text = "Schema-violating request accepted: Invalid data should have been rejected; Server error"
    promise = schemathesis_expectations(text, accepted.id)
    assert [e["op"] for e in promise] == ["status_between", "status_between"]
    assert x.evaluate(promise, forms_of(accepted))
    assert x.evaluate(promise, forms_of(twin(accepted, {}, status=400))) == []
    assert schemathesis_expectations("Response violates schema: 'x' is required", "e") == []


def test_digifi_resource_status_failure_keeps_the_creation_as_evidence() -> None:
    created = exchange("POST", "/api/borrowers", body={"id": "b1"})
    gone = exchange("DELETE", "/api/borrowers/b1", status=204, raw="", content_type="")
    findings = digifi.resource(
        "DIGIFI-STATUS-01", gone, "delete", expected_id="b1", created=created
    )
    assert created.id in findings[0].evidence
    judged(
        findings,
        "DIGIFI-STATUS-01",
        [created, gone],
        [created, twin(gone, {"id": "b1"}, status=200)],
    )
