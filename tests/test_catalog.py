"""apicert.catalog: the connectFi requirement catalog and the catalog parser's validation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from apicert.catalog import _parse, load_catalog, requirement
from apicert.model import Level, Requirement

GOOD_ENTRY = """\
  - id: "{id}"
    topic: envelope
    level: MUST
    title: A title
    source: seed
    quote: a quote
"""


def write_catalog(tmp_path: Path, *ids: str, vendor: str = "acme") -> Path:
    path = tmp_path / "requirements.yaml"
    entries = "".join(GOOD_ENTRY.format(id=rid) for rid in ids)
    path.write_text(f"vendor: {vendor}\ntitle: Acme\nrequirements:\n{entries}", encoding="utf-8")
    return path


# --- the shipped connectFi catalog -----------------------------------------------------------


def test_connectfi_catalog_has_unique_ids_prefixed_with_the_vendor() -> None:
    catalog = load_catalog("connectfi")
    ids = [r.id for r in catalog]

    assert catalog.vendor == "connectfi"
    assert len(ids) == len(catalog) >= 10
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"CONNECTFI(-[A-Z0-9]+)+", rid) for rid in ids), ids


def test_every_connectfi_requirement_has_title_source_quote_and_a_level() -> None:
    for req in load_catalog("connectfi"):
        assert isinstance(req, Requirement)
        assert req.vendor == "connectfi", req.id
        assert req.title.strip(), req.id
        assert req.source.strip(), req.id
        assert req.quote.strip(), req.id
        assert req.level in (Level.MUST, Level.SHOULD), req.id


def test_connectfi_catalog_uses_both_levels() -> None:
    assert {r.level for r in load_catalog("connectfi")} == {Level.MUST, Level.SHOULD}


def test_requirement_looks_up_one_id() -> None:
    req = requirement("CONNECTFI-ENV-01")

    assert req.id == "CONNECTFI-ENV-01"
    assert req.level is Level.MUST
    assert req.topic == "envelope"
    assert req.title == 'A successful response carries code as the string "0"'
    assert req is load_catalog("connectfi").requirements["CONNECTFI-ENV-01"]


@pytest.mark.parametrize("rid", ["CONNECTFI-NOPE-99", "NOVENDOR-ENV-01", "connectfi-env-01"])
def test_requirement_raises_key_error_for_an_unknown_id(rid: str) -> None:
    with pytest.raises(KeyError, match=re.escape(repr(rid))):
        requirement(rid)


# --- the parser ------------------------------------------------------------------------------


def test_parse_reads_a_well_formed_catalog_in_order(tmp_path: Path) -> None:
    catalog = _parse(write_catalog(tmp_path, "ACME-ENV-02", "ACME-ENV-01"))

    assert [r.id for r in catalog] == ["ACME-ENV-02", "ACME-ENV-01"]
    assert "ACME-ENV-01" in catalog
    assert catalog.title == "Acme"
    first = catalog.requirements["ACME-ENV-02"]
    assert (first.vendor, first.level, first.quote) == ("acme", Level.MUST, "a quote")


def test_parse_rejects_a_duplicate_id(tmp_path: Path) -> None:
    path = write_catalog(tmp_path, "ACME-ENV-01", "ACME-ENV-02", "ACME-ENV-01")

    with pytest.raises(ValueError, match="duplicate requirement id ACME-ENV-01"):
        _parse(path)


@pytest.mark.parametrize(
    "rid",
    ["acme-env-01", "ACME_ENV_01", "ACME", "OTHER-ENV-01", "ACME-ENV-01 ", "ACME--01"],
)
def test_parse_rejects_a_malformed_or_foreign_id(tmp_path: Path, rid: str) -> None:
    path = write_catalog(tmp_path, "ACME-ENV-01", rid)

    with pytest.raises(ValueError, match="malformed requirement id"):
        _parse(path)


def test_parse_rejects_an_unknown_level(tmp_path: Path) -> None:
    path = write_catalog(tmp_path, "ACME-ENV-01")
    path.write_text(path.read_text(encoding="utf-8").replace("MUST", "MAY"), encoding="utf-8")

    with pytest.raises(ValueError, match="MAY"):
        _parse(path)


def test_parse_rejects_an_id_with_a_trailing_newline(tmp_path: Path) -> None:
    path = write_catalog(tmp_path, "ACME-ENV-01\\n")

    with pytest.raises(ValueError, match="malformed requirement id"):
        _parse(path)
