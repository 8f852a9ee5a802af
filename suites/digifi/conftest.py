"""Fixtures for the DigiFi suites: the client, counting by marker, and sandbox options."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from apicert.http import Client
from apicert.model import Exchange
from apicert.targets import Target
from apicert.verdict import Verdict

from . import payloads

# A documented create/get/update/delete answering anything but 200 is a failure of the status
# table's success row, whatever test needed the step.
STEP = "DIGIFI-STATUS-01"


@pytest.fixture
def digifi(api: Client) -> Client:
    """The authenticated DigiFi client (api-key on every request, paced under 100/s)."""
    return api


def body_of(exchange: Exchange) -> dict[str, Any]:
    """The JSON object of a response ({} when absent or not an object)."""
    try:
        body = exchange.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@pytest.fixture
def count(digifi: Client) -> Callable[[str], Exchange]:
    """Search borrowers for a marker; the exchange's ``total`` says how many carry it."""

    def search(mark: str) -> Exchange:
        return digifi.get("/api/borrowers/search", params={"search": mark, "count": 1})

    return search


@pytest.fixture
def create(digifi: Client, verdict: Verdict) -> Callable[..., dict[str, Any]]:
    """Create a borrower (ending the test on a refusal, under DIGIFI-STATUS-01); return it."""

    def make(body: dict[str, Any] | None = None) -> dict[str, Any]:
        exchange = digifi.post("/api/borrowers", json=body or payloads.person(payloads.marker()))
        return body_of(verdict.step(STEP, exchange, "create a borrower"))

    return make


class SandboxOptions:
    """The reference sandbox's ``/__sandbox__/options`` (a real vendor has none)."""

    def __init__(self, base_url: str) -> None:
        self.url = base_url.rstrip("/") + "/__sandbox__/options"
        self.session = requests.Session()
        self.session.trust_env = False

    def available(self) -> bool:
        """True when the target answers the options endpoint."""
        try:
            response = self.session.get(self.url, timeout=(3, 5))
            return response.status_code == 200 and "options" in response.json()
        except (requests.RequestException, ValueError):
            return False

    def set(self, **options: Any) -> None:
        """Merge ``options`` into the running sandbox (None removes one)."""
        response = self.session.put(self.url, json={"options": options}, timeout=(3, 5))
        response.raise_for_status()


@pytest.fixture
def sandbox_options(target: Target) -> Iterator[SandboxOptions]:
    """Options of the reference sandbox; skips on targets without them."""
    options = SandboxOptions(target.base_url)
    if not options.available():
        pytest.skip(
            "the IP allow-list is set in DigiFi's UI (General Settings > Developers); this "
            "target has no /__sandbox__/options to set it"
        )
    yield options
    options.session.close()
