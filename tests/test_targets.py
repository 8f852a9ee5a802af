"""apicert.targets: --target parsing, resolution with credentials, the production guard."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from apicert.targets import (
    SetupError,
    Target,
    check_reachable,
    parse_target_specs,
    resolve_targets,
)
from apicert.vendors import get_vendor

LOGIN_ENV = "APICERT_CONNECTFI_LOGIN"
PASSWORD_ENV = "APICERT_CONNECTFI_PASSWORD"
PASSWORD = "pw-Zq81!kd93"
CREDS = {LOGIN_ENV: "alice", PASSWORD_ENV: PASSWORD}
STAGING = "https://staging.example.com"


# --- parse_target_specs ----------------------------------------------------------------------


def test_parse_target_specs_maps_vendor_to_url_without_trailing_slash() -> None:
    assert parse_target_specs(["connectfi=http://127.0.0.1:9001/"]) == {
        "connectfi": "http://127.0.0.1:9001"
    }


def test_parse_target_specs_normalises_vendor_case_and_whitespace() -> None:
    assert parse_target_specs(["ConnectFi= https://staging.example.com/api/ "]) == {
        "connectfi": "https://staging.example.com/api"
    }


def test_parse_target_specs_of_nothing_is_empty() -> None:
    assert parse_target_specs([]) == {}


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("connectfi", "is not VENDOR=URL"),
        ("connectfi=", "is not VENDOR=URL"),
        ("=http://127.0.0.1:9001", "is not VENDOR=URL"),
        ("nosuchvendor=http://127.0.0.1:9001", "unknown vendor 'nosuchvendor'"),
        ("connectfi=ftp://files.example.com", "is not an http(s) URL"),
        ("connectfi=http://", "is not an http(s) URL"),
        ("connectfi=127.0.0.1:9001", "is not an http(s) URL"),
    ],
)
def test_parse_target_specs_rejects_bad_specs_with_a_one_line_message(
    spec: str, problem: str
) -> None:
    with pytest.raises(SetupError) as info:
        parse_target_specs([spec])

    message = str(info.value)
    assert problem in message
    assert repr(spec) in message
    assert "\n" not in message


# --- resolve_targets -------------------------------------------------------------------------


def test_vendor_without_url_gets_the_embedded_sandbox() -> None:
    targets = resolve_targets(["connectfi"], {}, env={})

    target = targets["connectfi"]
    assert list(targets) == ["connectfi"]
    assert target.embedded is True
    assert target.base_url == ""
    assert target.credentials == {}
    assert target.production is False


def test_url_target_takes_credentials_from_the_env_mapping() -> None:
    target = resolve_targets(["connectfi"], {"connectfi": STAGING}, env=CREDS)["connectfi"]

    assert target.embedded is False
    assert target.base_url == STAGING
    assert target.host == "staging.example.com"
    assert target.credentials == {"login": "alice", "password": PASSWORD}
    assert target.production is False


def test_url_target_can_come_from_the_vendor_url_env_var() -> None:
    env = {**CREDS, "APICERT_CONNECTFI_URL": f" {STAGING}/ "}

    target = resolve_targets(["connectfi"], {}, env=env)["connectfi"]

    assert target.embedded is False
    assert target.base_url == STAGING


def test_explicit_spec_wins_over_the_url_env_var() -> None:
    env = {**CREDS, "APICERT_CONNECTFI_URL": "https://other.example.com"}

    target = resolve_targets(["connectfi"], {"connectfi": STAGING}, env=env)["connectfi"]

    assert target.base_url == STAGING


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, LOGIN_ENV),
        ({LOGIN_ENV: "alice"}, PASSWORD_ENV),
        ({**CREDS, PASSWORD_ENV: ""}, PASSWORD_ENV),
    ],
)
def test_missing_credential_error_names_the_env_var(env: dict[str, str], missing: str) -> None:
    with pytest.raises(SetupError) as info:
        resolve_targets(["connectfi"], {"connectfi": STAGING}, env=env)

    message = str(info.value)
    assert f"set {missing}" in message
    assert "missing credential" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "url",
    [
        "https://api.connectfi.com",
        "https://API.ConnectFi.com/v1",
        "https://api.connectfi.com:443",
        "https://connectfi.com",
    ],
)
def test_production_host_is_refused_without_allow_production(url: str) -> None:
    with pytest.raises(SetupError) as info:
        resolve_targets(["connectfi"], {"connectfi": url}, env=CREDS)

    message = str(info.value)
    assert "production host" in message
    assert "--allow-production" in message
    assert "\n" not in message


def test_production_host_is_accepted_and_flagged_with_allow_production() -> None:
    assert "api.connectfi.com" in get_vendor("connectfi").production_hosts

    target = resolve_targets(
        ["connectfi"], {"connectfi": "https://api.connectfi.com"}, env=CREDS, allow_production=True
    )["connectfi"]

    assert target.production is True
    assert target.embedded is False
    assert target.credentials["password"] == PASSWORD


def test_documented_sandbox_host_is_not_taken_for_production() -> None:
    assert "sandbox.connectfi.com" in get_vendor("connectfi").sandbox_hosts

    target = resolve_targets(
        ["connectfi"], {"connectfi": "https://sandbox.connectfi.com"}, env=CREDS
    )["connectfi"]

    assert target.production is False


def test_production_host_written_with_a_trailing_dot_is_still_refused() -> None:
    with pytest.raises(SetupError):
        resolve_targets(["connectfi"], {"connectfi": "https://api.connectfi.com."}, env=CREDS)


def test_describe_never_contains_the_password() -> None:
    target = resolve_targets(["connectfi"], {"connectfi": STAGING}, env=CREDS)["connectfi"]

    described = target.describe()

    assert PASSWORD not in json.dumps(described)
    assert described == {
        "vendor": "connectfi",
        "base_url": STAGING,
        "embedded": False,
        "production": False,
        "credentials": {"login": "alice", "password": "[REDACTED]"},
    }


def test_describe_of_an_embedded_target_has_empty_login() -> None:
    described = Target(vendor=get_vendor("connectfi")).describe()

    assert described["credentials"] == {"login": "", "password": "[REDACTED]"}


# --- check_reachable -------------------------------------------------------------------------


@pytest.fixture
def listening_port() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    yield sock.getsockname()[1]
    sock.close()


def test_check_reachable_returns_none_for_a_listening_socket(listening_port: int) -> None:
    assert check_reachable(f"http://127.0.0.1:{listening_port}/x", timeout=1.0) is None


def test_check_reachable_names_host_port_and_reason_for_a_closed_port() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()

    reason = check_reachable(f"http://127.0.0.1:{port}", timeout=1.0)

    assert reason is not None
    assert reason.startswith(f"127.0.0.1:{port} unreachable (")
    assert "refused" in reason.lower()
