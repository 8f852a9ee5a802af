"""Request bodies for connectFi, valid by the vendor's documented formats, and strategies for
invalid ones. Identity numbers here are sandbox data and still masked in every artifact."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from apicert import seeding
from apicert.strategies import card_numbers, ssns

ADDRESS = {
    "line1": "1 Main Street",
    "city": "Springfield",
    "state": "IL",
    "zip": "62701",
    "country": "US",
}
TEST_CARD = "4747474747474747"


def reference(prefix: str = "ac") -> str:
    """A fresh reference (documented pattern ^[A-Za-z0-9_-]{1,36}$), from the run's seed."""
    return f"{prefix}_{seeding.unique_hex(8)}"


def random_ssn() -> str:
    """A fresh 9-digit SSN-shaped number from the run's seed, unlikely to repeat within a run."""
    area, group, serial = (
        seeding.randbelow(799) + 100,
        seeding.randbelow(98) + 1,
        seeding.randbelow(9998) + 1,
    )
    return f"{area:03d}{group:02d}{serial:04d}"


def individual(ref: str | None = None, ssn: str | None = None) -> dict[str, Any]:
    """A valid customer/init body for an individual."""
    return {
        "customer": {
            "reference": ref or reference("cust"),
            "type": "individual",
            "individual": {
                "firstName": "Ada",
                "lastName": "Lovelace",
                "dob": "1985-12-10",
                "ssn": ssn or random_ssn(),
                "email": "ada@example.com",
                "phone": "+15555550100",
            },
            "address": dict(ADDRESS),
        }
    }


def business(ref: str | None = None, fein: str | None = None) -> dict[str, Any]:
    """A valid customer/init body for a business."""
    return {
        "customer": {
            "reference": ref or reference("biz"),
            "type": "business",
            "business": {
                "legalName": "Analytical Engines LLC",
                "fein": fein or random_ssn(),
                "email": "ops@example.com",
                "phone": "+15555550101",
            },
            "address": dict(ADDRESS),
        }
    }


def card(customer_id: str, ref: str | None = None, pan: str = TEST_CARD) -> dict[str, Any]:
    """A valid debit-card/add body."""
    return {
        "reference": ref or reference("card"),
        "customerId": customer_id,
        "card": {"pan": pan, "expiry": "2031-12", "cvv": "123", "nameOnCard": "Ada Lovelace"},
    }


# Values no documented field accepts: wrong JSON types, the empty string, over-long text.
_BAD_SCALARS = st.one_of(
    st.none(),
    st.integers(),
    st.booleans(),
    st.just(""),
    st.just("x" * 300),
    st.lists(st.integers(), max_size=2),
)

_FIELDS = {
    ("reference",): st.one_of(st.just(""), st.just("has space"), st.just("r" * 37), _BAD_SCALARS),
    ("type",): st.one_of(st.just("person"), st.just(""), _BAD_SCALARS),
    ("individual", "ssn"): st.one_of(
        st.just("12345678"), st.just("12345678a"), st.just("123-45-6789"), _BAD_SCALARS
    ),
    ("individual", "dob"): st.one_of(
        st.just("1985-13-40"), st.just("tomorrow"), st.just("2999-01-01"), _BAD_SCALARS
    ),
    ("individual", "email"): st.one_of(st.just("no-at-sign"), _BAD_SCALARS),
    ("individual", "firstName"): st.one_of(st.just(""), st.just("n" * 51), _BAD_SCALARS),
    ("individual", "phone"): st.one_of(st.just("12"), st.just("phone"), _BAD_SCALARS),
    ("address", "zip"): st.one_of(st.just("1234"), st.just("ABCDE"), _BAD_SCALARS),
    ("address", "state"): st.one_of(st.just("Illinois"), st.just("il"), _BAD_SCALARS),
    ("address",): _BAD_SCALARS,
    ("individual",): _BAD_SCALARS,
}


@st.composite
def invalid_customer_bodies(draw: st.DrawFn) -> Any:
    """customer/init bodies that break at least one documented rule (or are not objects at all)."""
    kind = draw(st.sampled_from(["field", "missing", "shape"]))
    body = individual(ssn=draw(ssns()))
    customer = body["customer"]
    if kind == "shape":
        return draw(
            st.one_of(
                st.just({}),
                st.just([]),
                st.just({"customer": None}),
                st.just({"customer": "x"}),
                _BAD_SCALARS,
            )
        )
    if kind == "missing":
        path = draw(
            st.sampled_from(
                [
                    ("reference",),
                    ("type",),
                    ("individual",),
                    ("address",),
                    ("individual", "ssn"),
                    ("individual", "lastName"),
                ]
            )
        )
        parent = customer
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]
        return body
    path = draw(st.sampled_from(sorted(_FIELDS)))
    value = draw(_FIELDS[path])
    parent = customer
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return body


def invalid_pans() -> st.SearchStrategy[str]:
    """Card numbers failing the Luhn check."""
    return card_numbers(valid=False)
