"""Authentication and network access (seed 000: "API Authentication", "IP Address Whitelist",
"Response Status Codes" 401)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apicert.checks.digifi import count_change, refused, status_is
from apicert.http import Client
from apicert.model import Exchange
from apicert.verdict import Verdict

from . import payloads
from .conftest import SandboxOptions

VERBS = ["GET", "POST", "PUT", "DELETE"]


def _send(
    digifi: Client, verb: str, borrower_id: str, mark: str, headers: dict[str, str], auth: bool
) -> Exchange:
    """One request per verb against an existing borrower (so an accepted one would show)."""
    if verb == "GET":
        return digifi.get(f"/api/borrowers/{borrower_id}", auth=auth, headers=headers)
    if verb == "POST":
        body = payloads.person(mark)
        return digifi.post("/api/borrowers", auth=auth, headers=headers, json=body)
    if verb == "PUT":
        body = {"variables": {"borrower_first_name": "Changed"}}
        return digifi.put(f"/api/borrowers/{borrower_id}", auth=auth, headers=headers, json=body)
    return digifi.delete(f"/api/borrowers/{borrower_id}", auth=auth, headers=headers)


@pytest.mark.requirement("DIGIFI-AUTH-01")
@pytest.mark.parametrize("verb", VERBS)
def test_missing_api_key_is_refused_with_401(
    verb: str,
    digifi: Client,
    verdict: Verdict,
    create: Callable[..., dict[str, Any]],
    count: Callable[[str], Exchange],
) -> None:
    mark = payloads.marker()
    borrower_id = str(create().get("id"))
    before = count(mark)
    exchange = _send(digifi, verb, borrower_id, mark, {}, auth=False)
    verdict.check(status_is("DIGIFI-AUTH-01", exchange, 401, f"{verb} without api-key"))
    verdict.check(
        count_change("DIGIFI-AUTH-01", before, count(mark), expected=0, what="POST without key")
    )


@pytest.mark.requirement("DIGIFI-AUTH-02")
@pytest.mark.parametrize("verb", VERBS)
def test_wrong_api_key_is_refused_with_401(
    verb: str,
    digifi: Client,
    verdict: Verdict,
    create: Callable[..., dict[str, Any]],
    count: Callable[[str], Exchange],
) -> None:
    mark = payloads.marker()
    borrower_id = str(create().get("id"))
    before = count(mark)
    wrong = {"api-key": f"not-a-key-{payloads.marker()}"}
    exchange = _send(digifi, verb, borrower_id, mark, wrong, auth=False)
    verdict.check(status_is("DIGIFI-AUTH-02", exchange, 401, f"{verb} with a wrong api-key"))
    verdict.check(
        count_change("DIGIFI-AUTH-02", before, count(mark), expected=0, what="POST, wrong key")
    )


@pytest.mark.requirement("DIGIFI-IP-01", "DIGIFI-IP-02")
def test_ip_allow_list_refuses_unlisted_addresses(
    digifi: Client,
    verdict: Verdict,
    create: Callable[..., dict[str, Any]],
    count: Callable[[str], Exchange],
    sandbox_options: SandboxOptions,
) -> None:
    mark = payloads.marker()
    borrower_id = str(create().get("id"))
    before = count(mark)
    # TEST-NET-3 (RFC 5737): never this machine's address.
    sandbox_options.set(allow_ips="203.0.113.7")
    try:
        outside = [_send(digifi, verb, borrower_id, mark, {}, auth=True) for verb in VERBS]
        sandbox_options.set(allow_ips="127.0.0.1")
        listed = digifi.get(f"/api/borrowers/{borrower_id}")
    finally:
        sandbox_options.set(allow_ips=None)
    for exchange in outside:
        what = f"{exchange.method} from an address outside the allow-list"
        verdict.check(refused("DIGIFI-IP-01", exchange, what))
        verdict.check(status_is("DIGIFI-IP-02", exchange, 403, what))
    verdict.check(status_is("DIGIFI-IP-01", listed, 200, "GET from a listed address"))
    verdict.check(
        count_change("DIGIFI-IP-01", before, count(mark), expected=0, what="POST from outside")
    )
