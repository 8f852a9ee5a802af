"""Authentication and authorization (seed 001: Headers, Auth, Create App Key / Token, Verify)."""

from __future__ import annotations

import pytest

from apicert import expect as x
from apicert.auth import AuthError, DigitzsAuth
from apicert.checks.base import NONEMPTY, fail
from apicert.checks.digitzs import refused
from apicert.control import SandboxControl
from apicert.http import Client
from apicert.model import Exchange, Finding
from apicert.run import Run
from apicert.verdict import Verdict

from .conftest import attributes_of, data_of
from .saved_tokens import TokenShelf

PROBE = "/merchants?limit=1"


def _auth(run: Run) -> DigitzsAuth:
    auth = run.auth("digitzs")
    assert isinstance(auth, DigitzsAuth)
    return auth


def _issued(requirement: str, exchange: Exchange, attribute: str) -> list[Finding]:
    """An auth answer: 200, data.type "auth" and a non-empty attributes.<attribute>."""
    data = data_of(exchange)
    problems = []
    if exchange.status != 200:
        problems.append(f"status {exchange.status}")
    if data.get("type") != "auth":
        problems.append(f"data.type {data.get('type')!r}, not 'auth'")
    if not attributes_of(exchange).get(attribute):
        problems.append(f"no attributes.{attribute}")
    if not problems:
        return []
    promise = [
        x.status_in(exchange.id, [200]),
        x.json_equals(exchange.id, ["data", "type"], "auth"),
        x.json_matches(exchange.id, ["data", "attributes", attribute], NONEMPTY),
    ]
    return [
        fail(
            requirement,
            f"{exchange.method} {exchange.path}: {'; '.join(problems)}",
            exchange,
            expect=promise,
        )
    ]


@pytest.mark.readonly
@pytest.mark.requirement("DIGITZS-AUTH-01")
def test_valid_api_key_is_verified(digitzs: Client, verdict: Verdict, apicert_run: Run) -> None:
    auth = _auth(apicert_run)
    exchange = digitzs.get("/auth", auth=False, headers=auth.key_headers())
    verdict.check(_issued("DIGITZS-AUTH-01", exchange, "appId"))
    app_id = attributes_of(exchange).get("appId")
    if exchange.status == 200 and app_id is not None and app_id != auth.app_id:
        verdict.check([fail("DIGITZS-AUTH-01", "GET /auth names another appId", exchange)])


@pytest.mark.readonly
@pytest.mark.requirement("DIGITZS-AUTH-02")
def test_unknown_api_key_is_refused(digitzs: Client, verdict: Verdict) -> None:
    exchange = digitzs.get(
        "/auth", auth=False, headers={"x-api-key": "not-a-key-the-vendor-issued"}
    )
    verdict.check(refused("DIGITZS-AUTH-02", exchange, (401, 403)))


@pytest.mark.requirement("DIGITZS-AUTH-03")
def test_app_key_gives_a_token_that_works(
    digitzs: Client, verdict: Verdict, apicert_run: Run
) -> None:
    auth = _auth(apicert_run)
    try:
        key = auth.new_app_key(digitzs)
        made = digitzs.last
        assert made is not None
        verdict.check(_issued("DIGITZS-AUTH-03", made, "appKey"))
        token = auth.new_token(digitzs, key)
    except AuthError as exc:
        if exc.refused:
            raise
        last = digitzs.last
        worked = [x.status_between(last.id, 200, 299)] if last else []
        verdict.require(
            [fail("DIGITZS-AUTH-03", str(exc), *([last] if last else []), expect=worked)]
        )
        return
    issued = digitzs.last
    assert issued is not None
    verdict.check(_issued("DIGITZS-AUTH-03", issued, "appToken"))
    used = digitzs.get(PROBE, auth=False, headers=auth.headers_for(token))
    if used.status != 200:
        verdict.check(
            [
                fail(
                    "DIGITZS-AUTH-03",
                    f"a fresh app token got {used.status}",
                    used,
                    expect=[x.status_in(used.id, [200])],
                )
            ]
        )


@pytest.mark.requirement("DIGITZS-AUTH-04")
def test_token_older_than_an_hour_is_refused(
    digitzs: Client, verdict: Verdict, clock: SandboxControl, apicert_run: Run
) -> None:
    auth = _auth(apicert_run)
    token = auth.new_token(digitzs)
    fresh = digitzs.get(PROBE, auth=False, headers=auth.headers_for(token))
    if fresh.status != 200:
        verdict.require(
            [
                fail(
                    "DIGITZS-AUTH-03",
                    f"a fresh app token got {fresh.status}",
                    fresh,
                    expect=[x.status_in(fresh.id, [200])],
                )
            ]
        )
    if not clock.has_clock():
        # No simulated clock: use a token an earlier run saved, or really wait when allowed.
        shelf = TokenShelf(digitzs.base_url, auth.api_key)
        shelf.save(token)
        saved = shelf.older_than(DigitzsAuth.lifetime)
        if saved is not None:
            token = saved[0]
            digitzs.redactor.add_secret(token)  # learnt in an earlier run, unknown to this one
        elif apicert_run.real_wait:
            _wait_until_refused(digitzs, clock, auth.headers_for(token))
        else:
            pytest.skip(
                "target has no clock control and no token older than an hour was saved "
                "(one was saved now: rerun in an hour, or use --real-wait)"
            )
    else:
        clock.advance(DigitzsAuth.lifetime + 1.0)
    stale = digitzs.get(PROBE, auth=False, headers=auth.headers_for(token))
    verdict.check(refused("DIGITZS-AUTH-04", stale, (401,)))
    verified = digitzs.get("/auth/token", auth=False, headers=auth.headers_for(token))
    verdict.check(refused("DIGITZS-AUTH-04", verified, (401,)))


def _wait_until_refused(client: Client, clock: SandboxControl, headers: dict[str, str]) -> None:
    """Really wait, doubling the step, until the token is refused or its hour is over."""
    waited, step = 0.0, 1.0
    while waited <= DigitzsAuth.lifetime:
        step = min(step, DigitzsAuth.lifetime + 1.0 - waited)
        clock.advance(step)
        waited += step
        if client.get(PROBE, auth=False, headers=headers).status == 401:
            return
        step *= 2


@pytest.mark.readonly
@pytest.mark.requirement("DIGITZS-AUTH-05")
def test_token_verification_tells_valid_from_unknown(
    digitzs: Client, verdict: Verdict, apicert_run: Run
) -> None:
    auth = _auth(apicert_run)
    token = auth.token(digitzs)
    valid = digitzs.get("/auth/token", auth=False, headers=auth.headers_for(token))
    if valid.status != 200:
        verdict.check(
            [
                fail(
                    "DIGITZS-AUTH-05",
                    f"a valid token verified {valid.status}",
                    valid,
                    expect=[x.status_in(valid.id, [200])],
                )
            ]
        )
    bogus = "x" * 40 + "not-a-token-the-vendor-issued"
    unknown = digitzs.get("/auth/token", auth=False, headers=auth.headers_for(bogus))
    verdict.check(refused("DIGITZS-AUTH-05", unknown, (401,)))


@pytest.mark.requirement("DIGITZS-AUTH-06")
def test_new_app_key_makes_the_old_one_unusable(
    digitzs: Client, verdict: Verdict, apicert_run: Run
) -> None:
    auth = _auth(apicert_run)
    old = auth.new_app_key(digitzs)
    auth.new_app_key(digitzs)  # the provider uses the new key from now on
    attempt = digitzs.post(
        "/auth/token", auth=False, headers=auth.key_headers(), json=auth.token_body(old)
    )
    verdict.check(refused("DIGITZS-AUTH-06", attempt, (401, 403)))
    auth.invalidate()
    after = digitzs.get(PROBE)
    if after.status != 200:
        verdict.check(
            [
                fail(
                    "DIGITZS-AUTH-06",
                    "the new appKey's token was refused",
                    after,
                    expect=[x.status_in(after.id, [200])],
                )
            ]
        )


@pytest.mark.readonly
@pytest.mark.requirement("DIGITZS-AUTH-07")
def test_resources_need_a_valid_app_token(
    digitzs: Client, verdict: Verdict, apicert_run: Run
) -> None:
    auth = _auth(apicert_run)
    headers = auth.headers_for("unused")
    del headers["Authorization"]
    bare = digitzs.get(PROBE, auth=False, headers=headers)
    verdict.check(refused("DIGITZS-AUTH-07", bare, (401,)))
    forged = digitzs.get(PROBE, auth=False, headers=auth.headers_for("forged-" + "y" * 40))
    verdict.check(refused("DIGITZS-AUTH-07", forged, (401,)))
