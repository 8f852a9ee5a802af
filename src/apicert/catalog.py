"""Requirement catalogs: one YAML file per vendor; each requirement has an id, level and source."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml

from apicert.model import Level, Requirement
from apicert.paths import schemas_dir

__all__ = ["Catalog", "load_catalog", "requirement"]

_ID = re.compile(r"^[A-Z]+(-[A-Z0-9]+)+$")


class Catalog:
    """The requirements of one vendor, in catalog order."""

    def __init__(
        self, vendor: str, title: str, requirements: list[Requirement], documents: dict[str, str]
    ) -> None:
        self.vendor = vendor
        self.title = title
        self.documents = documents
        self.requirements = {r.id: r for r in requirements}

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.requirements.values())

    def __len__(self) -> int:
        return len(self.requirements)

    def __contains__(self, requirement_id: object) -> bool:
        return requirement_id in self.requirements


def _parse(path: Path) -> Catalog:
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    vendor = str(raw["vendor"])
    items: list[Requirement] = []
    seen: set[str] = set()
    for entry in raw.get("requirements", []):
        rid = str(entry["id"])
        if not _ID.fullmatch(rid) or not rid.startswith(vendor.upper() + "-"):
            raise ValueError(f"{path}: malformed requirement id {rid!r}")
        if rid in seen:
            raise ValueError(f"{path}: duplicate requirement id {rid}")
        seen.add(rid)
        items.append(
            Requirement(
                id=rid,
                vendor=vendor,
                topic=str(entry["topic"]),
                level=Level(entry["level"]),
                title=str(entry["title"]),
                source=str(entry["source"]),
                quote=str(entry.get("quote", "")),
                time_dependent=bool(entry.get("time_dependent", False)),
                expected_warning=bool(entry.get("expected_warning", False)),
            )
        )
    return Catalog(vendor, str(raw.get("title", vendor)), items, dict(raw.get("documents", {})))


@functools.cache
def load_catalog(vendor: str) -> Catalog:
    """Return the catalog of ``vendor`` from ``schemas/<vendor>/requirements.yaml``."""
    return _parse(schemas_dir() / vendor / "requirements.yaml")


def requirement(requirement_id: str) -> Requirement:
    """Return one requirement by id from its vendor's catalog; raise KeyError if unknown."""
    vendor = requirement_id.split("-", 1)[0].lower()
    try:
        return load_catalog(vendor).requirements[requirement_id]
    except (FileNotFoundError, KeyError):
        raise KeyError(f"unknown requirement id {requirement_id!r}") from None
