"""Where suites and schemas live: inside the package in a wheel, at the repo root in a checkout."""

from __future__ import annotations

from pathlib import Path

__all__ = ["schemas_dir", "suites_dir"]

_PACKAGE = Path(__file__).resolve().parent


def _locate(name: str) -> Path:
    bundled = _PACKAGE / f"_{name}"
    if bundled.is_dir():
        return bundled
    checkout = _PACKAGE.parent.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"cannot find the apicert {name}/ directory (looked in {bundled} and {checkout})"
    )


def suites_dir() -> Path:
    """Return the directory holding the conformance suites (one folder per vendor)."""
    return _locate("suites")


def schemas_dir() -> Path:
    """Return the directory holding OpenAPI documents and requirement catalogs per vendor."""
    return _locate("schemas")
