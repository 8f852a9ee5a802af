"""The vendor-neutral masking check (PCI DSS 3.4): learns what was sent, finds it shown in full,
never repeats it in a finding."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from apicert.checks.masking import MaskingObserver, Sensitive, leaks, sensitive_values
from apicert.strategies import aba_routing_numbers, card_numbers, ssns

from .canned import exchange

CARD = "4747474747474747"


def test_learns_named_fields_of_json_bodies() -> None:
    body = json.dumps(
        {
            "card": {"number": CARD, "code": "999", "expiry": "1230"},
            "personalInfo": {"socialSecurity": "123-45-6789", "birthDate": "11-23-1981"},
            "bank": {"accountNumber": 1234567, "routingNumber": "026009593"},
            "note": "merchant 5454545454545454",
            "amount": "1234567890123",
        }
    )
    assert sensitive_values(body) == {
        Sensitive("card number", CARD),
        Sensitive("SSN", "123456789"),
        Sensitive("account number", "1234567"),
        Sensitive("routing number", "026009593"),
    }


def test_ignores_short_values_and_non_json() -> None:
    assert sensitive_values(json.dumps({"accountNumber": "1234"})) == set()
    assert sensitive_values(None) == set()
    # Outside JSON nothing names the fields: any Luhn-valid run counts as a card number.
    assert sensitive_values("card=" + CARD + "&id=1234567890123") == {
        Sensitive("card number", CARD)
    }


def test_full_value_is_a_finding_without_the_value() -> None:
    sent = {Sensitive("card number", CARD), Sensitive("SSN", "123456789")}
    answer = exchange(body={"card": {"number": CARD}, "ssn": "123-45-6789"})
    findings = leaks(answer, sent, "DIGITZS-MASK-01")
    assert [f.requirement for f in findings] == ["DIGITZS-MASK-01"]
    assert "card number ending 4747" in findings[0].message
    assert "SSN ending 6789" in findings[0].message
    assert CARD not in findings[0].message and "123456789" not in findings[0].message


def test_masked_or_embedded_values_pass() -> None:
    sent = {Sensitive("card number", CARD), Sensitive("account number", "1234567")}
    masked = exchange(body={"card": {"number": "xxxx4747"}, "bank": {"accountNumber": "xxxx4567"}})
    assert leaks(masked, sent, "X-MASK-01") == []
    longer = exchange(body={"id": "corsourc-12345678-1"})  # 1234567 inside a longer digit run
    assert leaks(longer, sent, "X-MASK-01") == []


def test_spaced_card_number_counts_as_shown() -> None:
    sent = {Sensitive("card number", CARD)}
    answer = exchange(body={"message": "card 4747 4747 4747 4747 declined"})
    assert len(leaks(answer, sent, "X-MASK-01")) == 1


def test_headers_are_scanned() -> None:
    answer = exchange(body={})
    answer.response_headers["X-Debug"] = CARD
    assert len(leaks(answer, {Sensitive("card number", CARD)}, "X-MASK-01")) == 1


def test_observer_learns_then_checks_every_later_response() -> None:
    observer = MaskingObserver("DIGITZS-MASK-01")
    sent = exchange("POST", "/payments", request={"card": {"number": CARD}}, body={"id": "p"})
    assert observer.observe(sent) == []
    echoed = exchange("GET", "/payments/p", body={"card": {"number": CARD}})
    assert [f.requirement for f in observer.observe(echoed)] == ["DIGITZS-MASK-01"]
    own = exchange("POST", "/payments", request={"ssn": "987654321"}, body={"ssn": "987654321"})
    assert len(observer.observe(own)) == 1


@given(card=card_numbers(), ssn=ssns(), routing=aba_routing_numbers())
def test_any_sent_value_shown_in_full_is_found(card: str, ssn: str, routing: str) -> None:
    body = json.dumps({"number": card, "socialSecurity": ssn, "routingNumber": routing})
    sent = sensitive_values(body)
    assert leaks(exchange(body={"echo": json.loads(body)}), sent, "X-MASK-01")
    masked = {"number": "xxxx" + card[-4:], "ssn": "xxxx" + ssn[-4:], "r": "xxxx" + routing[-4:]}
    assert leaks(exchange(body=masked), sent, "X-MASK-01") == []


@given(st.text())
def test_arbitrary_request_bodies_never_crash(body: str) -> None:
    sensitive_values(body)
