"""apicert.strategies: generated fintech data is valid (or invalid) exactly as asked."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apicert.redact import luhn_valid
from apicert.strategies import (
    BRAND_PREFIXES,
    aba_checksum_ok,
    aba_routing_numbers,
    card_numbers,
    cents,
    eins,
    luhn_check_digit,
    ssns,
)

brands = st.sampled_from(sorted(BRAND_PREFIXES))


def assert_brand_shape(card: str, brand: str) -> None:
    prefixes, length = BRAND_PREFIXES[brand]
    assert card.isdigit(), card
    assert len(card) == length, (brand, card)
    assert card.startswith(prefixes), (brand, card)


@given(data=st.data(), brand=brands)
def test_valid_card_numbers_pass_luhn_and_have_the_brand_length_and_prefix(
    data: st.DataObject, brand: str
) -> None:
    card = data.draw(card_numbers(valid=True, brand=brand))

    assert luhn_valid(card)
    assert_brand_shape(card, brand)


@given(data=st.data(), brand=brands)
def test_invalid_card_numbers_never_pass_luhn_but_keep_the_brand_shape(
    data: st.DataObject, brand: str
) -> None:
    card = data.draw(card_numbers(valid=False, brand=brand))

    assert not luhn_valid(card)
    assert_brand_shape(card, brand)


@given(card=card_numbers())
def test_card_numbers_without_brand_are_of_a_known_brand(card: str) -> None:
    assert luhn_valid(card)
    assert any(
        len(card) == length and card.startswith(prefixes)
        for prefixes, length in BRAND_PREFIXES.values()
    )


@pytest.mark.parametrize(
    ("partial", "digit"), [("411111111111111", "1"), ("37828224631000", "5"), ("7992739871", "3")]
)
def test_luhn_check_digit_completes_known_numbers(partial: str, digit: str) -> None:
    assert luhn_check_digit(partial) == digit


@given(routing=aba_routing_numbers(valid=True))
def test_valid_routing_numbers_pass_the_aba_checksum(routing: str) -> None:
    assert len(routing) == 9
    assert routing.isdigit()
    assert routing[0] in "0123"
    assert aba_checksum_ok(routing)


@given(routing=aba_routing_numbers(valid=False))
def test_invalid_routing_numbers_fail_the_aba_checksum(routing: str) -> None:
    assert len(routing) == 9
    assert routing.isdigit()
    assert not aba_checksum_ok(routing)


@pytest.mark.parametrize("routing", ["026009593", "021000021", "011000015"])
def test_real_routing_numbers_pass_aba_checksum(routing: str) -> None:
    assert aba_checksum_ok(routing)


@pytest.mark.parametrize("routing", ["026009594", "02600959", "0260095930", "02600959a", ""])
def test_aba_checksum_rejects_wrong_check_digit_length_or_characters(routing: str) -> None:
    assert not aba_checksum_ok(routing)


@given(ssn=ssns())
def test_ssns_are_nine_digits_in_issued_ranges(ssn: str) -> None:
    assert len(ssn) == 9
    assert ssn.isdigit()
    area, group, serial = ssn[:3], ssn[3:5], ssn[5:]
    assert area not in {"000", "666"}
    assert not area.startswith("9")
    assert group != "00"
    assert serial != "0000"


@given(ein=eins())
def test_eins_are_nine_digits_with_a_two_digit_prefix_of_at_least_10(ein: str) -> None:
    assert len(ein) == 9
    assert ein.isdigit()
    assert int(ein[:2]) >= 10


@given(amount=cents())
def test_cents_default_to_one_cent_up_to_a_million_dollars(amount: int) -> None:
    assert 1 <= amount <= 100_000_000


@given(data=st.data(), low=st.integers(-1000, 1000), span=st.integers(0, 1000))
def test_cents_stay_within_given_bounds(data: st.DataObject, low: int, span: int) -> None:
    amount = data.draw(cents(min_value=low, max_value=low + span))

    assert low <= amount <= low + span
