"""API versions (seed 000, "API Versions": dates in the api-version header, 12/01/2023 when
absent). Each exchange is also held to its own version's OpenAPI document by the DIGIFI-VER-02
observer."""

from __future__ import annotations

from typing import Any

import pytest

from apicert.checks.digifi import same_answer, status_is
from apicert.http import Client
from apicert.model import Exchange
from apicert.verdict import Verdict

from . import payloads
from .conftest import STEP, body_of

VERSION = "api-version"


def _application(digifi: Client, verdict: Verdict) -> str:
    """Create an application for a new person on a product that takes persons; return its id."""
    products = digifi.get("/api/products")
    verdict.step(STEP, products, "list products")
    try:
        listed = products.json()
    except ValueError:
        listed = []
    takes_persons = [
        p
        for p in (listed if isinstance(listed, list) else [])
        if isinstance(p, dict) and "person" in (p.get("borrowerTypes") or [])
    ]
    product = takes_persons[0] if takes_persons else None
    if product is None:
        pytest.skip("no product takes person borrowers on this target")
    body = {"productId": product["id"], "borrower": payloads.person(payloads.marker())}
    created = verdict.step(
        STEP, digifi.post("/api/applications", json=body), "create an application"
    )
    return str(body_of(created).get("id"))


def _pair(digifi: Client, path: str, **kwargs: Any) -> tuple[Exchange, Exchange]:
    # No api-version header at all, even when the run pins one (apicert run --api-version):
    # requests leaves out a header whose value is None.
    default = digifi.get(path, headers={VERSION: None}, **kwargs)
    explicit = digifi.get(path, headers={VERSION: payloads.DEFAULT_VERSION}, **kwargs)
    return default, explicit


@pytest.mark.requirement("DIGIFI-VER-01")
def test_no_version_header_behaves_as_2023_12_01(digifi: Client, verdict: Verdict) -> None:
    app_id = _application(digifi, verdict)
    default, explicit = _pair(digifi, f"/api/applications/{app_id}")
    verdict.check(same_answer("DIGIFI-VER-01", default, explicit, "GET an application"))
    default, explicit = _pair(digifi, "/api/borrowers", params={"count": 3})
    verdict.check(same_answer("DIGIFI-VER-01", default, explicit, "list borrowers"))


@pytest.mark.requirement("DIGIFI-VER-02")
@pytest.mark.parametrize("version", payloads.VERSIONS)
def test_each_version_answers_its_own_document(
    version: str, digifi: Client, verdict: Verdict
) -> None:
    """Where the versions differ (list pages, application fields), each answer is held to its
    version's document by the observer."""
    app_id = _application(digifi, verdict)
    headers = {VERSION: version}
    for exchange in (
        digifi.get(f"/api/applications/{app_id}", headers=headers),
        digifi.get("/api/applications", headers=headers, params={"count": 2}),
        digifi.get("/api/borrowers", headers=headers, params={"count": 2}),
    ):
        verdict.check(status_is(STEP, exchange, 200, f"GET with api-version {version}"))


@pytest.mark.requirement("DIGIFI-VER-03")
@pytest.mark.parametrize("version", ["1999-01-01", "2023-13-45", "latest"])
def test_unknown_version_is_refused_with_400(
    version: str, digifi: Client, verdict: Verdict
) -> None:
    exchange = digifi.get("/api/products", headers={VERSION: version})
    verdict.check(status_is("DIGIFI-VER-03", exchange, 400, f"api-version {version!r}"))
