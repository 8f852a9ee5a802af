"""apicert.redact.Redactor: known values, secret names, identity keys and card/SSN patterns."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apicert.model import Exchange
from apicert.redact import Redactor, luhn_valid, mask_tail
from apicert.strategies import card_numbers, luhn_check_digit

SECRET = "s3cr3t-P@ssw0rd-value"
PAN = "4111111111111111"
MARKER = "[REDACTED]"


def luhn_run(length: int, prefix: str = "4") -> str:
    partial = prefix + "7" * (length - len(prefix) - 1)
    return partial + luhn_check_digit(partial)


# --- helpers ---------------------------------------------------------------------------------


def test_luhn_valid_accepts_test_pans_and_rejects_a_changed_digit() -> None:
    assert luhn_valid(PAN)
    assert luhn_valid("4111 1111 1111 1111")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("0")


def test_mask_tail_keeps_only_the_last_four() -> None:
    assert mask_tail("123456789") == "xxxxx6789"
    assert mask_tail("1234") == "xxxx"
    assert mask_tail("12") == "xx"


# --- known values ----------------------------------------------------------------------------


def test_registered_secret_is_masked_in_headers_json_free_text_and_url() -> None:
    r = Redactor()
    r.add_secret(SECRET)

    assert r.headers({"X-Trace": f"user:{SECRET}"}) == {"X-Trace": f"user:{MARKER}"}
    assert json.loads(r.body(json.dumps({"note": f"pw={SECRET}", "list": [SECRET]})) or "") == {
        "note": f"pw={MARKER}",
        "list": [MARKER],
    }
    assert r.text(f"login failed for {SECRET}!") == f"login failed for {MARKER}!"
    assert r.text(f"https://x.example/cb?p={SECRET}&q=1") == f"https://x.example/cb?p={MARKER}&q=1"


def test_secrets_given_at_construction_are_masked() -> None:
    r = Redactor(known=["alpha-key-1", "beta-key-22"])

    assert r.text("alpha-key-1 and beta-key-22") == f"{MARKER} and {MARKER}"


def test_values_shorter_than_four_characters_are_not_registered() -> None:
    r = Redactor()
    r.add_secret("abc")
    r.add_secret(None)

    assert r.text("abc abc") == "abc abc"


def test_registered_identity_value_keeps_at_most_its_last_four_digits() -> None:
    r = Redactor()
    r.add_identity("987654321")

    out = r.text("customer 987654321 verified")

    assert out == "customer xxxxx4321 verified"
    assert r.body(json.dumps({"memo": "id 987654321"})) == json.dumps({"memo": "id xxxxx4321"})


def test_secret_registered_after_first_use_is_still_masked() -> None:
    r = Redactor()
    r.add_secret("first-secret")
    assert r.text("first-secret") == MARKER

    r.add_secret("second-secret")

    assert r.text("first-secret second-secret") == f"{MARKER} {MARKER}"


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["api-key", "x-api-key", "Authorization", "x-connectfi-token"])
def test_secret_header_names_are_blanked_whatever_their_value(name: str) -> None:
    r = Redactor()

    out = r.headers({name: "plain-unregistered-value", "Content-Type": "application/json"})

    assert out == {name: MARKER, "Content-Type": "application/json"}


def test_secret_header_names_are_matched_case_insensitively() -> None:
    assert Redactor().headers({"X-API-KEY": "k", "AUTHORIZATION": "Bearer t"}) == {
        "X-API-KEY": MARKER,
        "AUTHORIZATION": MARKER,
    }


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("ssn", "123456789", "xxxxx6789"),
        ("socialSecurity", "123456789", "xxxxx6789"),
        ("accountNumber", "000123456789", "xxxxxxxx6789"),
        ("routingNumber", "026009593", "xxxxx9593"),
        ("cardNumber", "5500005555555559", "xxxxxxxxxxxx5559"),
        ("cvv", "123", "xxx"),
        ("birthDate", "1990-01-02", "xxxxxx1-02"),
        ("ein", "12-3456789", "xxxxxx6789"),
        ("account_number", 123456789012, "xxxxxxxx9012"),
    ],
)
def test_json_identity_keys_are_masked_keeping_the_last_four(
    key: str, value: object, expected: str
) -> None:
    out = json.loads(Redactor().body(json.dumps({"outer": {key: value}})) or "")

    assert out == {"outer": {key: expected}}


@pytest.mark.parametrize("key", ["password", "appToken", "client_secret", "access-token", "apiKey"])
def test_json_secret_keys_are_blanked(key: str) -> None:
    out = json.loads(Redactor().body(json.dumps({key: "hunter2", "ok": "kept"})) or "")

    assert out == {key: MARKER, "ok": "kept"}


def test_json_identity_keys_inside_lists_are_masked() -> None:
    body = json.dumps(
        {"accounts": [{"accountNumber": "111122223333"}, {"accountNumber": "999988887777"}]}
    )

    out = json.loads(Redactor().body(body) or "")

    assert out == {
        "accounts": [{"accountNumber": "xxxxxxxx3333"}, {"accountNumber": "xxxxxxxx7777"}]
    }


def test_non_json_body_is_redacted_as_free_text() -> None:
    assert Redactor().body(f"pan={PAN}&x=1") == "pan=xxxxxxxxxxxx1111&x=1"


# --- patterns --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"card {PAN} ok", "card xxxxxxxxxxxx1111 ok"),
        ("card 4111 1111 1111 1111 ok", "card xxxxxxxxxxxx1111 ok"),
        ("card 4111-1111-1111-1111.", "card xxxxxxxxxxxx1111."),
        ("amex 378282246310005", "amex xxxxxxxxxxx0005"),
        (f'{{"memo":"{PAN}"}}', '{"memo":"xxxxxxxxxxxx1111"}'),
    ],
)
def test_luhn_valid_card_runs_in_free_text_are_masked(text: str, expected: str) -> None:
    assert Redactor().text(text) == expected


@pytest.mark.parametrize("length", [13, 19])
def test_luhn_valid_runs_of_13_and_19_digits_are_masked(length: int) -> None:
    run = luhn_run(length)

    assert Redactor().text(f"n={run};") == f"n={mask_tail(run)};"


@pytest.mark.parametrize(
    "text",
    [
        "card 4111111111111112 declined",  # 16 digits, fails Luhn
        "ref 1234567890123456789",  # 19 digits, fails Luhn
        "amount 999 cents",
        "at 1732197000 sharp",  # Unix timestamp
        "batch 4222222222",  # 10 digits
    ],
)
def test_non_luhn_and_short_digit_runs_are_left_alone(text: str) -> None:
    assert Redactor().text(text) == text


def test_luhn_valid_run_of_12_digits_is_not_treated_as_a_card() -> None:
    run = luhn_run(12)

    assert Redactor().text(f"id {run}") == f"id {run}"


def test_ssn_shaped_numbers_are_masked() -> None:
    assert Redactor().text("ssn 123-45-6789 on file") == "ssn xxx-xx-6789 on file"


def test_date_like_dashed_numbers_are_not_taken_for_ssns() -> None:
    assert Redactor().text("on 2024-11-21 at 10:00") == "on 2024-11-21 at 10:00"


@pytest.mark.parametrize("text", [f"2024-11-21 {PAN}", f"qty 3 {PAN}"])
def test_card_preceded_by_a_short_number_is_still_masked(text: str) -> None:
    assert PAN not in (Redactor().text(text) or "")


def test_card_number_as_a_json_number_is_masked() -> None:
    out = Redactor().body(json.dumps({"memo": int(PAN)})) or ""

    assert PAN not in out


# --- whole exchanges -------------------------------------------------------------------------


def test_exchange_redacts_every_part_of_a_recorded_exchange() -> None:
    r = Redactor()
    r.add_secret(SECRET)
    exchange = Exchange(
        id="ex-000001",
        method="POST",
        url=f"https://sandbox.example/pay?token={SECRET}&pan={PAN}",
        request_headers={"Authorization": "Bearer abc.def", "X-Echo": SECRET},
        request_body=json.dumps({"password": "pw", "cardNumber": PAN, "amount": 999}),
        status=201,
        response_headers={"x-connectfi-token": "tkn-1", "X-Note": "ssn 123-45-6789"},
        response_body=json.dumps({"ssn": "123456789", "msg": f"charged {PAN}"}),
        elapsed=0.25,
        started_at=1732197000.0,
        error=f"retry with {SECRET}",
    )
    raw = exchange.to_dict()
    before = copy.deepcopy(raw)

    out = r.exchange(raw)

    assert (
        out["request"]["url"] == f"https://sandbox.example/pay?token={MARKER}&pan=xxxxxxxxxxxx1111"
    )
    assert out["request"]["headers"] == {"Authorization": MARKER, "X-Echo": MARKER}
    assert json.loads(out["request"]["body"]) == {
        "password": MARKER,
        "cardNumber": "xxxxxxxxxxxx1111",
        "amount": 999,
    }
    assert out["response"]["headers"] == {"x-connectfi-token": MARKER, "X-Note": "ssn xxx-xx-6789"}
    assert json.loads(out["response"]["body"]) == {
        "ssn": "xxxxx6789",
        "msg": "charged xxxxxxxxxxxx1111",
    }
    assert out["error"] == f"retry with {MARKER}"
    assert (out["id"], out["response"]["status"], out["elapsed"]) == ("ex-000001", 201, 0.25)
    dumped = json.dumps(out)
    for leaked in (SECRET, PAN, "123456789", "123-45-6789", "abc.def", "tkn-1"):
        assert leaked not in dumped
    assert raw == before, "exchange() must not modify its input"


# --- properties ------------------------------------------------------------------------------

# Masks write "x" and the marker "[REDACTED]"; a secret made of those characters could be
# rebuilt by the mask itself without leaking anything, so the property excludes them.
secret_text = st.text(
    alphabet=st.characters(exclude_characters="[]x", exclude_categories=("Cs",)), min_size=4
).filter(lambda s: s not in MARKER)
non_digit_text = st.text(alphabet=st.characters(exclude_categories=("Nd", "Cs")))


@given(secret=secret_text, before=st.text(), after=st.text())
def test_registered_secret_never_appears_in_the_output(
    secret: str, before: str, after: str
) -> None:
    r = Redactor()
    r.add_secret(secret)

    out = r.text(before + secret + after) or ""

    assert secret not in out


@given(
    card=card_numbers(),
    before=non_digit_text,
    after=non_digit_text,
    sep=st.sampled_from([" ", "\n", ":", "=", '"', "-", "/"]),
    grouped=st.booleans(),
)
def test_luhn_valid_card_in_text_never_appears_whole_and_keeps_its_last_four(
    card: str, before: str, after: str, sep: str, grouped: bool
) -> None:
    shown = " ".join(card[i : i + 4] for i in range(0, len(card), 4)) if grouped else card

    out = Redactor().text(before + sep + shown + sep + after) or ""

    assert card not in out
    assert shown not in out
    assert card[-4:] in out


def test_identity_values_sent_are_masked_wherever_they_come_back() -> None:
    redactor = Redactor()
    sent = json.dumps(
        {
            "bankInfo": {"accountNumber": "000123456789", "routingNumber": "026009593"},
            "personalInfo": {"socialSecurity": "123456789", "birthDate": "1981-11-23"},
        }
    )
    echoed = (
        '{"message": "account 000123456789 at 026009593 for 123456789 born 1981-11-23",'
        ' "note": 987654321}'
    )
    doc = redactor.exchange(
        {
            "request": {"url": "http://x/merchants", "headers": {}, "body": sent},
            "response": {"headers": {}, "body": echoed},
        }
    )
    body = doc["response"]["body"]
    for value in ("000123456789", "026009593", "123456789", "1981-11-23"):
        assert value not in body, value
    assert "xxxxxxxx6789" in body and "xxxxx9593" in body
    assert "987654321" in body  # a number the harness never sent stays as it is
    assert "000123456789" not in doc["request"]["body"]


def test_short_identity_values_are_not_learnt_as_patterns() -> None:
    redactor = Redactor()
    redactor.learn_request(json.dumps({"cvv": "123", "accountNumber": "4321"}))
    assert redactor.text("amount 123 and 4321") == "amount 123 and 4321"


def test_numbers_in_json_key_names_are_masked() -> None:
    """A fuzzer's key name is text like any other: an SSN- or card-shaped key is masked too."""
    body = '{"123-45-6789": 1, "4111111111111111": {"ok": true}, "plain": 2}'
    redacted = Redactor().body(body)
    assert redacted is not None
    assert "123-45-6789" not in redacted and "4111111111111111" not in redacted
    assert '"plain": 2' in redacted and "6789" in redacted and "1111" in redacted
