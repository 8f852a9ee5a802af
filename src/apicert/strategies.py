"""Hypothesis strategies for fintech domain data, shared by every vendor's suites.

Card numbers that pass or fail Luhn for the common brands, ABA routing numbers with a valid or
invalid checksum, SSNs, EINs and amounts in cents. Generated identity numbers are sandbox data,
but the harness still masks them in every artifact.
"""

from __future__ import annotations

from hypothesis import strategies as st

from apicert.redact import luhn_valid

__all__ = [
    "BRAND_PREFIXES",
    "aba_checksum_ok",
    "aba_routing_numbers",
    "card_numbers",
    "cents",
    "eins",
    "luhn_check_digit",
    "ssns",
]

BRAND_PREFIXES: dict[str, tuple[tuple[str, ...], int]] = {
    "visa": (("4",), 16),
    "mastercard": (("51", "52", "53", "54", "55", "2221", "2720"), 16),
    "amex": (("34", "37"), 15),
    "discover": (("6011", "65"), 16),
}


def luhn_check_digit(partial: str) -> str:
    """Return the digit that makes ``partial + digit`` pass the Luhn check."""
    for digit in "0123456789":
        if luhn_valid(partial + digit):
            return digit
    raise AssertionError("unreachable: one digit always completes a Luhn number")


@st.composite
def card_numbers(draw: st.DrawFn, *, valid: bool = True, brand: str | None = None) -> str:
    """Card numbers of a brand (random when None) that pass (``valid``) or fail the Luhn check."""
    name = brand or draw(st.sampled_from(sorted(BRAND_PREFIXES)))
    prefixes, length = BRAND_PREFIXES[name]
    prefix = draw(st.sampled_from(prefixes))
    body = draw(
        st.text("0123456789", min_size=length - len(prefix) - 1, max_size=length - len(prefix) - 1)
    )
    partial = prefix + body
    check = luhn_check_digit(partial)
    if not valid:
        check = str((int(check) + draw(st.integers(1, 9))) % 10)
    return partial + check


def aba_checksum_ok(routing: str) -> bool:
    """True when a 9-digit ABA routing number satisfies 3-7-1 weighting mod 10."""
    if len(routing) != 9 or not routing.isdigit():
        return False
    weights = (3, 7, 1) * 3
    return sum(int(d) * w for d, w in zip(routing, weights, strict=True)) % 10 == 0


@st.composite
def aba_routing_numbers(draw: st.DrawFn, *, valid: bool = True) -> str:
    """9-digit ABA routing numbers whose checksum holds (``valid``) or does not."""
    first = draw(st.sampled_from(["0", "1", "2", "3"]))
    middle = draw(st.text("0123456789", min_size=7, max_size=7))
    partial = first + middle
    digits = [d for d in "0123456789" if aba_checksum_ok(partial + d) == valid]
    return partial + draw(st.sampled_from(digits))


def ssns() -> st.SearchStrategy[str]:
    """9-digit SSNs in the issued ranges (area not 000, 666 or 9xx; group and serial not 0)."""
    area = st.integers(1, 899).filter(lambda a: a != 666)
    return st.builds(
        lambda a, g, s: f"{a:03d}{g:02d}{s:04d}", area, st.integers(1, 99), st.integers(1, 9999)
    )


def eins() -> st.SearchStrategy[str]:
    """9-digit EINs with a plausible two-digit prefix."""
    return st.builds(lambda p, r: f"{p:02d}{r:07d}", st.integers(10, 99), st.integers(0, 9_999_999))


def cents(*, min_value: int = 1, max_value: int = 100_000_000) -> st.SearchStrategy[int]:
    """Amounts in cents, from one cent to a million dollars by default."""
    return st.integers(min_value, max_value)
