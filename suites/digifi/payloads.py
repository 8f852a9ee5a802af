"""Request bodies for DigiFi, valid by the vendor's documented shapes, and strategies for valid and
invalid borrower payloads. Every body carries a marker so a test can count what it created."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from apicert import seeding

VERSIONS = ("2023-12-01", "2024-02-26")
DEFAULT_VERSION = "2023-12-01"
SIX_HOURS = 6 * 3600.0


def marker() -> str:
    """A fresh marker, unique within a run (from its seed), that the search endpoint can find."""
    return f"apicert{seeding.unique_hex(6)}"


def idempotency_key() -> str:
    """A fresh idempotency key (the vendor seed suggests UUIDs), from the run's seed."""
    return str(seeding.uuid4())


def person(mark: str, first: str = "Ada") -> dict[str, Any]:
    """A valid borrower body of type person whose last name is ``mark``."""
    return {
        "type": "person",
        "variables": {"borrower_first_name": first, "borrower_last_name": mark},
    }


def company(mark: str) -> dict[str, Any]:
    """A valid borrower body of type company named after ``mark``."""
    return {"type": "company", "variables": {"borrower_company_name": f"{mark} LLC"}}


def malformed(mark: str) -> dict[str, Any]:
    """A person without a last name: invalid, but findable by ``mark`` if stored anyway."""
    return {"type": "person", "variables": {"borrower_first_name": mark}}


# (raw body, why it is malformed): DIGIFI-STATUS-02 expects 400 for each.
MALFORMED_BODIES: list[tuple[str, str]] = [
    ("{not json", "not JSON"),
    ("[1, 2, 3]", "a JSON array, not an object"),
    ('"person"', "a JSON string"),
    ("{}", "no type and no variables"),
    ('{"type": "alien", "variables": {}}', "an unknown borrower type"),
    ('{"type": "person", "variables": "Ada"}', "variables not an object"),
    ('{"type": "person", "variables": {"borrower_first_name": "Ada"}}', "no last name"),
    ('{"type": "company", "variables": {"borrower_company_name": ""}}', "an empty company name"),
]

_text = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=20
)
_scalar = st.one_of(_text, st.integers(-(10**6), 10**6), st.booleans(), st.none())


def borrower_payloads(mark: str) -> st.SearchStrategy[dict[str, Any]]:
    """Valid and invalid borrower bodies, all carrying ``mark`` somewhere in variables."""
    extra = st.dictionaries(
        st.from_regex(r"[a-z][a-z_]{0,15}", fullmatch=True), _scalar, max_size=3
    )
    valid_person = st.builds(
        lambda first, more: {
            "type": "person",
            "variables": {**more, "borrower_first_name": first, "borrower_last_name": mark},
        },
        _text,
        extra,
    )
    valid_company = st.builds(
        lambda more: {"type": "company", "variables": {**more, "borrower_company_name": mark}},
        extra,
    )
    invalid = st.one_of(
        st.builds(lambda t: {"type": t, "variables": {"borrower_last_name": mark}}, _text),
        st.builds(lambda v: {"type": "person", "variables": v, "note": mark}, _scalar),
        st.just({"type": "person", "variables": {"borrower_first_name": mark}}),
        st.just({"type": "company", "variables": {"borrower_company_name": "", "m": mark}}),
    )
    return st.one_of(valid_person, valid_company, invalid)
