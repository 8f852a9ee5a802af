"""The Digitzs reference sandbox, tested directly over HTTP with plain ``requests``.

Each documented behaviour is checked on the clean sandbox; each fault is then shown to change the
observation it is meant to change (clean answer vs faulty answer); junk input never gets a 5xx;
state survives a restart.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apicert.sandbox import digitzs
from apicert.sandbox.runtime import SandboxConfig
from apicert.sandbox.server import EmbeddedServer

CREDENTIALS = digitzs.DEFAULT_CREDENTIALS
CARD = "4747474747474747"
CARD_MC = "5454545454545454"
ROUTING = "026009593"
SSN = "123456789"
EIN = "987654321"
ACCOUNT = "12345678"


# --- client ------------------------------------------------------------------------------------


class Api:
    """A tiny Digitzs client: API key on every call, the app token once logged in."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.api_key = CREDENTIALS["api_key"]
        self.token: str | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        api_key: str | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        headers = {"x-api-key": self.api_key if api_key is None else api_key}
        if api_key == "":
            del headers["x-api-key"]
        token = self.token if token is None else token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        headers.update(kwargs.pop("headers", {}))
        kwargs.setdefault("allow_redirects", False)
        return requests.request(method, self.base_url + path, headers=headers, timeout=10, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=body, **kwargs)

    def new_key(self) -> str:
        body = {"data": {"type": "auth", "attributes": {"appId": CREDENTIALS["app_id"]}}}
        response = self.post("/auth/key", body, token="")
        assert response.status_code == 200, response.text
        key: str = response.json()["data"]["attributes"]["appKey"]
        return key

    def make_token(self, key: str) -> requests.Response:
        body = {"data": {"type": "auth", "id": self.api_key, "attributes": {"appKey": key}}}
        return self.post("/auth/token", body, token="")

    def login(self) -> Api:
        response = self.make_token(self.new_key())
        assert response.status_code == 200, response.text
        self.token = response.json()["data"]["attributes"]["appToken"]
        return self

    def advance(self, seconds: float) -> None:
        response = requests.post(f"{self.base_url}/__sandbox__/clock", json={"advance": seconds})
        assert response.status_code == 200, response.text

    def set_faults(self, *names: str) -> None:
        response = requests.put(f"{self.base_url}/__sandbox__/faults", json={"active": list(names)})
        assert response.status_code == 200, response.text


def serve(state_path: Path, **options: Any) -> EmbeddedServer:
    config = SandboxConfig(vendor="digitzs", state_path=str(state_path), options=options)
    return EmbeddedServer(config)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    with serve(tmp_path_factory.mktemp("digitzs") / "state.sqlite") as running:
        yield running


@pytest.fixture
def api(server: EmbeddedServer) -> Iterator[Api]:
    client = Api(server.base_url).login()
    yield client
    client.set_faults()


@contextmanager
def fault(api: Api, name: str) -> Iterator[None]:
    api.set_faults(name)
    try:
        yield
    finally:
        api.set_faults()


# --- bodies --------------------------------------------------------------------------------------


ADDRESS = {
    "line1": "21 Jump Street",
    "line2": "Suite 007",
    "city": "Los Angeles",
    "state": "CA",
    "zip": "90210",
    "country": "USA",
}


def envelope(collection: str, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"data": {"type": collection, "attributes": attributes}}


def merchant_body(name: str = "Susan's Widgets") -> dict[str, Any]:
    return envelope(
        "merchants",
        {
            "accountType": "business",
            "accountName": name,
            "personalInfo": {
                "firstName": "Susan",
                "lastName": "Smith",
                "email": "susans@example.com",
                "dayPhone": "3105551222",
                "eveningPhone": "3105551222",
                "birthDate": "11-23-1981",
                "socialSecurity": SSN,
            },
            "personalAddress": dict(ADDRESS),
            "businessInfo": {"businessName": name, "ein": EIN},
            "businessAddress": dict(ADDRESS),
            "bankInfo": {
                "bankName": "Bank of Abundance",
                "accountOwnership": "business",
                "accountType": "checking",
                "accountName": name,
                "accountNumber": ACCOUNT,
                "routingNumber": ROUTING,
            },
            "verificationData": {
                "ipAddress": "192.168.0.1",
                "emailVerified": True,
                "emailVerifiedTimestamp": "2019-01-31T11:16:07.234Z",
                "signature": "Susan Smith",
                "signatureTimestamp": "2016-01-31T11:16:07.234Z",
                "termsAccepted": True,
            },
        },
    )


def created_id(response: requests.Response) -> str:
    assert response.status_code == 200, response.text
    ident: str = response.json()["data"]["id"]
    return ident


def new_merchant(api: Api, name: str = "Susan's Widgets") -> str:
    return created_id(api.post("/merchants", merchant_body(name)))


def new_customer(api: Api, merchant_id: str, name: str = "John Smith") -> str:
    body = envelope("customers", {"merchantId": merchant_id, "name": name, "externalId": "Vip"})
    return created_id(api.post("/customers", body))


def card_token_body(customer_id: str, number: str = CARD_MC) -> dict[str, Any]:
    card = {"type": "visa", "holder": "Jane Doe", "number": number, "expiry": "0219"}
    attrs = {"tokenType": "card", "customerId": customer_id, "label": "MasterCard", "card": card}
    return envelope("tokens", {**attrs, "billingAddress": dict(ADDRESS)})


def bank_token_body(customer_id: str) -> dict[str, Any]:
    bank = {
        "accountType": "checking",
        "accountName": "MegaCorp",
        "accountNumber": ACCOUNT,
        "routingNumber": ROUTING,
        "country": "USA",
    }
    attrs = {"tokenType": "bank", "customerId": customer_id, "label": "Checking", "bank": bank}
    return envelope("tokens", {**attrs, "StandardEntryClassCode": "WEB"})


def transaction(amount: Any) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD", "invoice": "123456"}


def card_payment(merchant_id: str, amount: Any = "999", number: str = CARD) -> dict[str, Any]:
    card = {"holder": "Jane Doe", "number": number, "expiry": "0919", "code": "999"}
    attrs = {"paymentType": "card", "merchantId": merchant_id, "card": card}
    return envelope("payments", {**attrs, "transaction": transaction(amount)})


def ach_payment(merchant_id: str, amount: str = "4000") -> dict[str, Any]:
    bank = {
        "accountType": "checking",
        "accountName": "MegaCorp",
        "accountNumber": ACCOUNT,
        "routingNumber": ROUTING,
    }
    attrs = {"paymentType": "ACH", "merchantId": merchant_id, "bank": bank}
    return envelope("payments", {**attrs, "transaction": transaction(amount)})


def token_payment(merchant_id: str, customer_id: str, token_id: str) -> dict[str, Any]:
    attrs = {
        "paymentType": "token",
        "merchantId": merchant_id,
        "token": {"customerId": customer_id, "tokenId": token_id},
    }
    return envelope("payments", {**attrs, "transaction": transaction("300")})


def split_payment(merchant_id: str, partner: str, amount: str, share: str) -> dict[str, Any]:
    body = card_payment(merchant_id, amount, number="4747474747474747")
    body["data"]["attributes"]["paymentType"] = "cardSplit"
    body["data"]["attributes"]["split"] = {"merchantId": partner, "amount": share}
    return body


def refund(merchant_id: str, original: str, amount: str) -> dict[str, Any]:
    attrs = {
        "paymentType": "cardRefund",
        "merchantId": merchant_id,
        "transaction": transaction(amount),
        "originalTransaction": {"id": original},
    }
    return envelope("payments", attrs)


def split_refund(
    merchant_id: str, original: str, amount: str, split: dict[str, str] | None = None
) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "paymentType": "cardSplitRefund",
        "merchantId": merchant_id,
        "transaction": transaction(amount),
        "originalSplit": {"id": original},
    }
    if split is not None:
        attrs["split"] = split
    return envelope("payments", attrs)


def pay(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/payments", body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def error_detail(response: requests.Response) -> str:
    body = response.json()
    assert isinstance(body["message"], str) and body["message"]
    assert body["errors"][0]["status"] == str(response.status_code)
    detail: str = body["errors"][0]["detail"]
    return detail


# --- auth ----------------------------------------------------------------------------------------


def test_get_auth_verifies_the_api_key(api: Api) -> None:
    answer = api.get("/auth", token="")
    assert answer.status_code == 200
    assert answer.json() == {
        "data": {"type": "auth", "attributes": {"appId": CREDENTIALS["app_id"]}}
    }
    assert api.get("/auth", api_key="wrong").status_code == 403
    assert api.get("/auth", api_key="").status_code == 403
    assert api.get("/auth", headers={"appId": "someone-else"}).status_code == 403
    assert api.get("/auth", headers={"appId": CREDENTIALS["app_id"]}).status_code == 200


def test_key_and_token_flow_answers_the_documented_shapes(api: Api) -> None:
    body = {"data": {"type": "auth", "attributes": {"appId": CREDENTIALS["app_id"]}}}
    key_answer = api.post("/auth/key", body).json()["data"]
    assert key_answer["type"] == "auth" and key_answer["attributes"]["appKey"]
    token_answer = api.make_token(key_answer["attributes"]["appKey"])
    assert token_answer.status_code == 200
    data = token_answer.json()["data"]
    assert data["type"] == "auth" and data["id"] == CREDENTIALS["api_key"]
    assert 600 <= len(data["attributes"]["appToken"]) <= 700
    wrong_app = {"data": {"type": "auth", "attributes": {"appId": "not-mine"}}}
    assert api.post("/auth/key", wrong_app).status_code == 403
    other_id = {"data": {"type": "auth", "id": "not-my-key", "attributes": {"appKey": "x"}}}
    assert api.post("/auth/token", other_id).status_code == 403


def test_new_app_key_makes_the_old_one_unusable_but_keeps_issued_tokens(api: Api) -> None:
    old = api.new_key()
    assert api.make_token(old).status_code == 200
    new = api.new_key()
    refused = api.make_token(old)
    assert refused.status_code == 401
    assert "app key" in error_detail(refused)
    assert api.make_token(new).status_code == 200
    assert api.get("/merchants").status_code == 200  # the token made earlier still works
    with fault(api, "old-app-key-accepted"):
        assert api.make_token(old).status_code == 200


def test_get_auth_token_verifies_tokens(api: Api) -> None:
    answer = api.get("/auth/token")
    assert answer.status_code == 200
    assert answer.json()["data"] == {"type": "auth", "attributes": {"appToken": api.token}}
    assert api.get("/auth/token", token="never-issued").status_code == 401
    assert (
        api.request("GET", "/auth/token", headers={"Authorization": "Basic abc"}).status_code == 401
    )
    with fault(api, "token-verify-lies"):
        assert api.get("/auth/token", token="never-issued").status_code == 200


def test_resources_need_a_bearer_token(api: Api) -> None:
    bare = Api(api.base_url)
    assert bare.get("/merchants").status_code == 401
    assert bare.get("/merchants", token="never-issued").status_code == 401
    assert bare.get("/merchants", api_key="", token=api.token).status_code == 403
    with fault(api, "token-not-required"):
        assert bare.get("/merchants").status_code == 200
        assert bare.get("/merchants", token="never-issued").status_code == 401
    with fault(api, "any-token-accepted"):
        assert bare.get("/merchants", token="never-issued").status_code == 200
        assert bare.get("/merchants").status_code == 401


def test_tokens_expire_one_hour_after_they_are_made(server: EmbeddedServer) -> None:
    api = Api(server.base_url).login()
    api.advance(3599)
    assert api.get("/merchants").status_code == 200
    api.advance(2)
    assert api.get("/merchants").status_code == 401
    assert api.get("/auth/token").status_code == 401
    with fault(api, "token-never-expires"):
        assert api.get("/merchants").status_code == 200
        assert api.get("/auth/token").status_code == 200


def test_token_lifetime_option_shortens_the_real_wait(tmp_path: Path) -> None:
    with serve(tmp_path / "state.sqlite", token_lifetime="1") as running:
        api = Api(running.base_url).login()
        assert api.get("/auth/token").status_code == 200
        time.sleep(1.1)
        assert api.get("/auth/token").status_code == 401
    with pytest.raises(ValueError, match="token_lifetime"):
        digitzs.validate_option("token_lifetime", "soon")
    with pytest.raises(ValueError, match="unknown digitzs option"):
        digitzs.validate_option("rate", 3)


# --- merchants, customers, tokens ---------------------------------------------------------------


def test_merchant_detail_masks_identity_and_bank_numbers(api: Api) -> None:
    created = api.post("/merchants", merchant_body())
    assert created.status_code == 200
    assert created.json()["data"]["type"] == "merchants"
    merchant_id = created.json()["data"]["id"]
    assert SSN not in created.text and ACCOUNT not in created.text
    detail = api.get(f"/merchants/{merchant_id}").json()["data"]
    assert detail["type"] == "merchants" and detail["id"] == merchant_id
    attrs = detail["attributes"]
    assert attrs["personalInfo"]["socialSecurity"] == "xxxx6789"
    assert attrs["personalInfo"]["birthDate"] == "xxxx1981"
    assert attrs["businessInfo"]["ein"] == "xxxx4321"
    assert attrs["bankInfo"]["accountNumber"] == "xxxx5678"
    assert attrs["bankInfo"]["routingNumber"] == "xxxx9593"
    assert attrs["accountName"] == "Susan's Widgets" and attrs["accountType"] == "business"
    assert attrs["created"].endswith("Z")


def test_merchant_list_honours_limit_and_more(api: Api) -> None:
    for index in range(3):
        new_merchant(api, f"Listed {index}")
    total = api.get("/merchants?limit=100").json()["meta"]["items"]
    page = api.get("/merchants?limit=2").json()
    assert page["meta"] == {"items": 2, "limit": 2, "more": True}
    assert [item["type"] for item in page["data"]] == ["merchants", "merchants"]
    assert page["data"][0]["attributes"]["accountName"] == "Listed 2"  # newest first
    everything = api.get(f"/merchants?limit={total}").json()["meta"]
    assert everything == {"items": total, "limit": total, "more": False}
    assert api.get("/merchants").json()["meta"]["limit"] == 20
    for bad in ("0", "-1", "101", "abc", "2.5"):
        assert api.get(f"/merchants?limit={bad}").status_code == 400


def test_customers_belong_to_a_merchant(api: Api) -> None:
    mine, other = new_merchant(api), new_merchant(api)
    customer_id = new_customer(api, mine)
    new_customer(api, other)
    listed = api.get(f"/customers?id={mine}&limit=25").json()
    assert listed["meta"] == {"items": 1, "limit": 25, "more": False}
    assert listed["data"][0]["id"] == customer_id
    assert listed["data"][0]["attributes"]["merchantId"] == mine
    detail = api.get(f"/customers/{customer_id}").json()["data"]
    assert detail["type"] == "customers"
    assert detail["attributes"]["name"] == "John Smith"
    assert detail["attributes"]["internal"]["protectpayId"]
    unknown = api.post("/customers", envelope("customers", {"merchantId": "nope", "name": "X"}))
    assert unknown.status_code == 400 and "merchant" in error_detail(unknown)
    assert api.get("/customers").status_code == 400
    assert api.get("/customers?id=nope").status_code == 400
    assert api.get("/customers/nope").status_code == 404


def test_card_and_bank_tokens_come_back_masked(api: Api) -> None:
    customer_id = new_customer(api, new_merchant(api))
    card_answer = api.post("/tokens", card_token_body(customer_id))
    assert card_answer.status_code == 200
    assert card_answer.json()["data"]["attributes"] == {
        "label": "MasterCard",
        "customerId": customer_id,
    }
    card_id = card_answer.json()["data"]["id"]
    bank_id = created_id(api.post("/tokens", bank_token_body(customer_id)))
    card = api.get(f"/tokens/{card_id}").json()["data"]["attributes"]
    assert card["card"]["number"] == "xxxx5454" and card["tokenType"] == "card"
    bank = api.get(f"/tokens/{bank_id}").json()["data"]["attributes"]["bank"]
    assert bank["accountNumber"] == "xxxx5678" and bank["routingNumber"] == "xxxx9593"
    listed = api.get(f"/tokens?id={customer_id}&limit=1")
    assert listed.json()["meta"] == {"items": 1, "limit": 1, "more": True}
    assert CARD_MC not in listed.text and ACCOUNT not in listed.text
    bad = api.post("/tokens", card_token_body(customer_id, number="5454545454545455"))
    assert bad.status_code == 400 and "card number" in error_detail(bad)
    assert api.post("/tokens", card_token_body("nobody")).status_code == 400


# --- payments ------------------------------------------------------------------------------------


def expected_fee(gross: int) -> int:
    """2.9% rounded half up to a cent plus 30 cents, by decimal arithmetic (not the sandbox's)."""
    percentage = (Decimal(gross) * Decimal("0.029")).quantize(Decimal(1), ROUND_HALF_UP)
    return int(percentage) + 30


@pytest.mark.parametrize(
    ("amount", "net", "gross_minus_net"),
    [("999", "940", "59"), ("500", "455", "45"), ("100", "67", "33")],
)
def test_card_payment_matches_the_documented_examples(
    api: Api, amount: str, net: str, gross_minus_net: str
) -> None:
    data = pay(api, card_payment(new_merchant(api), amount))
    assert data["type"] == "payments" and data["id"]
    tx = data["attributes"]["transaction"]
    assert tx["amount"] == amount and tx["gross"] == amount
    assert (tx["net"], tx["grossMinusNet"], tx["fee"], tx["rate"]) == (
        net,
        gross_minus_net,
        "30",
        "2.90",
    )
    assert CARD not in json.dumps(data)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(gross=st.integers(min_value=1, max_value=10**10))
def test_card_fees_follow_the_one_rounding_rule(api: Api, gross: int) -> None:
    merchant_id = getattr(api, "merchant", None) or new_merchant(api)
    api.merchant = merchant_id  # type: ignore[attr-defined]
    tx = pay(api, card_payment(merchant_id, str(gross)))["attributes"]["transaction"]
    assert int(tx["grossMinusNet"]) == expected_fee(gross)
    assert int(tx["net"]) + int(tx["grossMinusNet"]) == gross


def test_payment_detail_masks_card_and_cvv(api: Api) -> None:
    merchant_id = new_merchant(api)
    payment_id = pay(api, card_payment(merchant_id, "100"))["id"]
    answer = api.get(f"/payments/{payment_id}")
    card = answer.json()["data"]["attributes"]["card"]
    assert card == {"holder": "Jane Doe", "number": "xxxx4747", "expiry": "0919", "code": "xxx"}
    assert CARD not in answer.text
    assert answer.json()["data"]["attributes"]["merchantId"] == merchant_id
    assert api.get("/payments/nope").status_code == 404


def test_ach_and_token_payments(api: Api) -> None:
    merchant_id = new_merchant(api)
    ach = pay(api, ach_payment(merchant_id))
    assert ach["attributes"]["paymentType"] == "ACH"
    assert "gross" not in ach["attributes"]["transaction"]
    bank = api.get(f"/payments/{ach['id']}").json()["data"]["attributes"]["bank"]
    assert bank["accountNumber"] == "xxxx5678" and bank["routingNumber"] == "xxxx9593"
    customer_id = new_customer(api, merchant_id)
    token_id = created_id(api.post("/tokens", card_token_body(customer_id)))
    paid = pay(api, token_payment(merchant_id, customer_id, token_id))["attributes"]
    assert paid["paymentType"] == "token" and paid["transaction"]["gross"] is None
    assert paid["transaction"]["codeResult"] == "NotPresent"
    unknown = api.post("/payments", token_payment(merchant_id, customer_id, "no-such-token"))
    assert unknown.status_code == 400
    stranger = new_customer(api, new_merchant(api))
    assert api.post("/payments", token_payment(merchant_id, stranger, token_id)).status_code == 400
    bad_routing = ach_payment(merchant_id)
    bad_routing["data"]["attributes"]["bank"]["routingNumber"] = "026009594"
    assert api.post("/payments", bad_routing).status_code == 400


def test_split_cannot_exceed_the_total(api: Api) -> None:
    merchant_id, partner = new_merchant(api), new_merchant(api)
    data = pay(api, split_payment(merchant_id, partner, "500", "100"))
    split = data["attributes"]["split"]
    assert split["merchantId"] == partner and split["amount"] == "100" and split["splitId"]
    assert pay(api, split_payment(merchant_id, partner, "500", "500"))["id"]
    over = api.post("/payments", split_payment(merchant_id, partner, "500", "501"))
    assert over.status_code == 400 and "exceed" in error_detail(over)
    unknown = api.post("/payments", split_payment(merchant_id, "nobody", "500", "100"))
    assert unknown.status_code == 400


def test_refunds_never_exceed_what_is_left(api: Api) -> None:
    merchant_id = new_merchant(api)
    original = pay(api, card_payment(merchant_id, "1000"))["id"]
    first = pay(api, refund(merchant_id, original, "400"))
    assert first["attributes"]["paymentType"] == "cardRefund"
    assert first["attributes"]["originalTransaction"] == {"id": original}
    assert pay(api, refund(merchant_id, original, "600"))["id"]
    over = api.post("/payments", refund(merchant_id, original, "1"))
    assert over.status_code == 400 and "exceeds what is left" in error_detail(over)
    second = pay(api, card_payment(merchant_id, "1000"))["id"]
    too_much = api.post("/payments", refund(merchant_id, second, "1001"))
    assert too_much.status_code == 400
    assert pay(api, refund(merchant_id, second, "1000"))["id"]  # nothing was taken by the refusal
    unknown = api.post("/payments", refund(merchant_id, "no-such-payment", "1"))
    assert unknown.status_code == 400 and "no-such-payment" in error_detail(unknown)
    ach = pay(api, ach_payment(merchant_id))["id"]
    assert api.post("/payments", refund(merchant_id, ach, "1")).status_code == 400
    other = new_merchant(api)
    assert api.post("/payments", refund(other, second, "1")).status_code == 400


def test_split_refunds_track_the_split_part(api: Api) -> None:
    merchant_id, partner = new_merchant(api), new_merchant(api)
    original = pay(api, split_payment(merchant_id, partner, "500", "100"))
    share = {"merchantId": partner, "amount": "60"}
    first = pay(api, split_refund(merchant_id, original["id"], "200", share))
    assert first["attributes"]["originalSplit"] == {"id": original["id"]}
    by_split_id = original["attributes"]["split"]["splitId"]
    assert pay(api, split_refund(merchant_id, by_split_id, "100", share | {"amount": "40"}))
    too_much_split = split_refund(merchant_id, original["id"], "10", share | {"amount": "1"})
    assert api.post("/payments", too_much_split).status_code == 400
    assert (
        api.post("/payments", split_refund(merchant_id, original["id"], "201")).status_code == 400
    )
    assert pay(api, split_refund(merchant_id, original["id"], "200"))


def test_payment_list_filters_by_merchant_and_date(api: Api) -> None:
    merchant_id = new_merchant(api)
    first = pay(api, card_payment(merchant_id, "100"))["id"]
    day_one = datetime.fromtimestamp(api_now(api), UTC).strftime("%Y%m%d")
    api.advance(2 * 86400)
    api.login()
    second = pay(api, ach_payment(merchant_id))["id"]
    day_three = datetime.fromtimestamp(api_now(api), UTC).strftime("%Y%m%d")
    pay(api, card_payment(new_merchant(api), "100"))
    listed = api.get(f"/payments?id={merchant_id}&limit=25").json()
    assert [item["id"] for item in listed["data"]] == [second, first]
    assert listed["meta"] == {"items": 2, "limit": 25, "more": False}
    only_first = api.get(f"/payments?id={merchant_id}&start={day_one}&end={day_one}").json()
    assert [item["id"] for item in only_first["data"]] == [first]
    from_three = api.get(f"/payments?id={merchant_id}&start={day_three}").json()
    assert [item["id"] for item in from_three["data"]] == [second]
    for query in ("start=2019-01-01", "start=20191301", f"start={day_three}&end={day_one}"):
        assert api.get(f"/payments?id={merchant_id}&{query}").status_code == 400
    assert api.get("/payments").status_code == 400


def api_now(api: Api) -> float:
    now: float = requests.get(f"{api.base_url}/__sandbox__/clock", timeout=5).json()["now"]
    return now


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "status"),
    [
        (lambda a: a["transaction"].update(amount="-5"), 400),
        (lambda a: a["transaction"].update(amount="9.99"), 400),
        (lambda a: a["transaction"].update(amount="abc"), 400),
        (lambda a: a["transaction"].update(amount=999), 400),
        (lambda a: a["transaction"].update(amount="0"), 400),
        (lambda a: a["transaction"].update(currency="EUR"), 400),
        (lambda a: a.pop("transaction"), 400),
        (lambda a: a.pop("card"), 400),
        (lambda a: a["card"].update(number="4747474747474748"), 400),
        (lambda a: a["card"].update(expiry="1319"), 400),
        (lambda a: a.update(paymentType="cash"), 400),
        (lambda a: a.update(merchantId="nobody"), 400),
    ],
)
def test_bad_payment_input_gets_a_clear_400(
    api: Api, change: Callable[[dict[str, Any]], Any], status: int
) -> None:
    body = card_payment(new_merchant(api))
    change(body["data"]["attributes"])
    answer = api.post("/payments", body)
    assert answer.status_code == status
    assert error_detail(answer)


def test_envelope_errors(api: Api) -> None:
    wrong_type = envelope("customers", {})
    assert api.post("/payments", wrong_type).status_code == 409
    assert api.post("/payments", {"data": {"attributes": {}}}).status_code == 400
    assert api.request("POST", "/payments", data=b"{not json").status_code == 400
    assert api.post("/payments", [1, 2]).status_code == 400
    assert api.get("/nowhere").status_code == 404
    not_allowed = api.request("DELETE", "/payments")
    assert not_allowed.status_code == 405
    assert {"GET", "POST"} <= {m.strip() for m in not_allowed.headers["allow"].split(",")}
    assert api.request("PUT", "/auth/token").headers["allow"].count("POST") == 1
    large = api.request("POST", "/merchants", data=b"x" * (300 * 1024))
    assert large.status_code == 413


def test_negative_amount_fault_answers_500(api: Api) -> None:
    body = card_payment(new_merchant(api), "-5")
    with fault(api, "negative-amount-500"):
        assert api.post("/payments", body).status_code == 500
    missing = card_payment(new_merchant(api))
    del missing["data"]["attributes"]["transaction"]
    with fault(api, "missing-field-500"):
        assert api.post("/payments", missing).status_code == 500


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "paymentType": st.sampled_from([*digitzs.rules.PAYMENT_TYPES, "x"]) | JSON,
        "merchantId": st.text(max_size=5) | JSON,
        "card": JSON,
        "bank": JSON,
        "token": JSON,
        "split": JSON,
        "transaction": st.fixed_dictionaries({}, optional={"amount": JSON, "currency": JSON}),
        "originalTransaction": JSON,
        "originalSplit": JSON,
    },
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(["/payments", "/merchants", "/customers", "/tokens", "/auth/key"]),
    attributes=FIELDS | JSON,
    kind=st.sampled_from(["payments", "merchants", "customers", "tokens", "auth", 7]),
)
def test_junk_bodies_never_get_a_5xx(api: Api, path: str, attributes: Any, kind: Any) -> None:
    answer = api.post(path, {"data": {"type": kind, "attributes": attributes}})
    assert 200 <= answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert error_detail(answer)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(["/merchants", "/payments", "/customers", "/tokens", "/payments/x"]),
    params=st.dictionaries(
        st.sampled_from(["id", "limit", "start", "end", "other"]), st.text(max_size=12), max_size=4
    ),
)
def test_junk_queries_never_get_a_5xx(api: Api, path: str, params: dict[str, str]) -> None:
    answer = api.get(path, params=params)
    assert 200 <= answer.status_code < 500, answer.text


# --- faults ---------------------------------------------------------------------------------


def _merchant_with(api: Api) -> dict[str, Any]:
    merchant_id = new_merchant(api)
    customer_id = new_customer(api, merchant_id)
    return {
        "merchant": merchant_id,
        "customer": customer_id,
        "card_token": created_id(api.post("/tokens", card_token_body(customer_id))),
        "bank_token": created_id(api.post("/tokens", bank_token_body(customer_id))),
    }


def _status(response: requests.Response) -> int:
    return response.status_code


def _payment_detail(api: Api, body_of: Callable[[str], dict[str, Any]]) -> str:
    merchant_id = new_merchant(api)
    answer = api.post("/payments", body_of(merchant_id))
    return api.get(f"/payments/{answer.json()['data']['id']}").text


def _refund_twice(api: Api) -> tuple[int, int]:
    merchant_id = new_merchant(api)
    original = pay(api, card_payment(merchant_id, "1000"))["id"]
    first = api.post("/payments", refund(merchant_id, original, "100")).status_code
    return first, api.post("/payments", refund(merchant_id, original, "100")).status_code


def _refund_other_payment(api: Api) -> int:
    merchant_id = new_merchant(api)
    first = pay(api, card_payment(merchant_id, "1000"))["id"]
    pay(api, refund(merchant_id, first, "1000"))
    second = pay(api, card_payment(merchant_id, "1000"))["id"]
    return api.post("/payments", refund(merchant_id, second, "500")).status_code


def _date_filter(api: Api) -> int:
    merchant_id = new_merchant(api)
    pay(api, card_payment(merchant_id, "100"))
    answer = api.get(f"/payments?id={merchant_id}&start=20000101&end=20000101").json()
    return len(answer["data"])


PROBES: dict[str, Callable[[Api], Any]] = {
    "auth-verify-no-app-id": lambda api: api.get("/auth").json(),
    "any-api-key-accepted": lambda api: _status(api.get("/auth", api_key="wrong")),
    "app-token-type-wrong": lambda api: api.make_token(api.new_key()).json()["data"]["type"],
    "token-never-expires": lambda api: _expired_token_status(api),
    "token-verify-lies": lambda api: _status(api.get("/auth/token", token="never")),
    "old-app-key-accepted": lambda api: _old_key_status(api),
    "token-not-required": lambda api: _status(Api(api.base_url).get("/merchants")),
    "any-token-accepted": lambda api: _status(api.get("/merchants", token="never")),
    "type-singular": lambda api: api.post("/merchants", merchant_body()).json()["data"]["type"],
    "list-item-id-missing": lambda api: sorted(api.get("/merchants").json()["data"][0]),
    "items-miscounted": lambda api: api.get("/merchants?limit=1").json()["meta"]["items"],
    "limit-ignored": lambda api: len(api.get("/merchants?limit=1").json()["data"]),
    "more-always-false": lambda api: api.get("/merchants?limit=1").json()["meta"]["more"],
    "list-owner-ignored": lambda api: api.get(f"/customers?id={new_merchant(api)}").json()["meta"][
        "items"
    ],
    "date-filter-ignored": _date_filter,
    "retrieve-name-changed": lambda api: api.get(f"/merchants/{new_merchant(api, 'Lower')}").json()[
        "data"
    ]["attributes"]["accountName"],
    "unknown-id-200": lambda api: _status(api.get("/payments/nope")),
    "fee-off-by-cent": lambda api: pay(api, card_payment(new_merchant(api), "999"))["attributes"][
        "transaction"
    ]["grossMinusNet"],
    "net-off-by-cent": lambda api: pay(api, card_payment(new_merchant(api), "999"))["attributes"][
        "transaction"
    ]["net"],
    "ach-refused": lambda api: _status(api.post("/payments", ach_payment(new_merchant(api)))),
    "unknown-token-accepted": lambda api: _status(
        api.post("/payments", token_payment(*_token_owner(api), "no-such-token"))
    ),
    "second-refund-refused": _refund_twice,
    "refund-over-remainder-accepted": lambda api: _refund_over(api),
    "refund-unknown-original-accepted": lambda api: _status(
        api.post("/payments", refund(new_merchant(api), "no-such", "100"))
    ),
    "split-id-missing": lambda api: sorted(
        pay(api, split_payment(new_merchant(api), new_merchant(api), "500", "100"))["attributes"][
            "split"
        ]
    ),
    "split-over-total-accepted": lambda api: _status(
        api.post("/payments", split_payment(new_merchant(api), new_merchant(api), "500", "501"))
    ),
    "card-number-in-message": lambda api: (
        CARD in api.post("/payments", card_payment(new_merchant(api))).text
    ),
    "card-number-unmasked": lambda api: CARD in _payment_detail(api, card_payment),
    "cvv-unmasked": lambda api: (
        '"code":"999"' in _payment_detail(api, card_payment).replace(" ", "")
    ),
    "ssn-unmasked": lambda api: SSN in api.get(f"/merchants/{new_merchant(api)}").text,
    "birthdate-unmasked": lambda api: (
        "11-23-1981" in api.get(f"/merchants/{new_merchant(api)}").text
    ),
    "ein-unmasked": lambda api: EIN in api.get(f"/merchants/{new_merchant(api)}").text,
    "merchant-bank-unmasked": lambda api: (
        ROUTING in api.get(f"/merchants/{new_merchant(api)}").text
    ),
    "token-card-unmasked": lambda api: (
        CARD_MC in api.get(f"/tokens/{_merchant_with(api)['card_token']}").text
    ),
    "token-bank-unmasked": lambda api: (
        ACCOUNT in api.get(f"/tokens/{_merchant_with(api)['bank_token']}").text
    ),
    "ach-bank-unmasked": lambda api: ACCOUNT in _payment_detail(api, ach_payment),
    "negative-amount-500": lambda api: _status(
        api.post("/payments", card_payment(new_merchant(api), "-5"))
    ),
    "missing-field-500": lambda api: _status(
        api.post("/payments", envelope("payments", {"paymentType": "card"}))
    ),
    "refund-remainder-per-merchant": _refund_other_payment,
    "schema-drift": lambda api: (
        type(api.get("/merchants").json()["data"][0]["attributes"]["created"]).__name__
    ),
}


def _expired_token_status(api: Api) -> int:
    fresh = Api(api.base_url).login()
    fresh.advance(3601)
    return _status(fresh.get("/merchants"))


def _old_key_status(api: Api) -> int:
    old = api.new_key()
    api.new_key()
    return _status(api.make_token(old))


def _token_owner(api: Api) -> tuple[str, str]:
    owned = _merchant_with(api)
    return owned["merchant"], owned["customer"]


def _refund_over(api: Api) -> int:
    merchant_id = new_merchant(api)
    original = pay(api, card_payment(merchant_id, "1000"))["id"]
    return _status(api.post("/payments", refund(merchant_id, original, "1001")))


def test_every_fault_has_a_probe() -> None:
    assert sorted(PROBES) == sorted(f.name for f in digitzs.FAULTS)
    ids = {f.name: f.breaks for f in digitzs.FAULTS}
    assert all(breaks and all(b.startswith("DIGITZS-") for b in breaks) for breaks in ids.values())


@pytest.mark.parametrize("name", [f.name for f in digitzs.FAULTS])
def test_each_fault_changes_what_it_claims(api: Api, name: str) -> None:
    probe = PROBES[name]
    new_merchant(api)  # lists are never empty
    clean = probe(api)
    with fault(api, name):
        faulty = probe(api)
    assert faulty != clean, f"{name}: {clean!r} both times"


# --- persistence and the standalone server ------------------------------------------------------


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    with serve(state) as first:
        api = Api(first.base_url).login()
        merchant_id = new_merchant(api)
        payment_id = pay(api, card_payment(merchant_id, "1000"))["id"]
        pay(api, refund(merchant_id, payment_id, "900"))
        api.advance(60)
    with serve(state) as second:
        api.base_url = second.base_url
        assert api.get(f"/merchants/{merchant_id}").status_code == 200
        assert api.post("/payments", refund(merchant_id, payment_id, "101")).status_code == 400
        assert api.post("/payments", refund(merchant_id, payment_id, "100")).status_code == 200
        api.advance(3541)
        assert api.get("/auth/token").status_code == 401


@pytest.mark.slow
def test_standalone_serve_command(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    state = tmp_path / "served.sqlite"
    args = [sys.executable, "-m", "apicert.cli", "sandbox", "serve", "digitzs"]
    args += ["--port", str(port), "--state", str(state)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        api = Api(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = api.get("/auth")
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
                time.sleep(0.1)
        assert answer.status_code == 200
        api.login()
        assert api.get("/merchants").json()["meta"]["items"] == 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert state.exists()


def test_ids_are_unique(api: Api) -> None:
    ids = {new_merchant(api, f"Same {uuid.uuid4().hex[:4]}") for _ in range(5)}
    assert len(ids) == 5
