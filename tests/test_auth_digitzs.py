"""DigitzsAuth against the real reference sandbox: key, token, refresh before the hour and once
after a 401, refused credentials, and every key and token registered with the redactor."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from apicert.auth import AuthError, DigitzsAuth
from apicert.http import Client, Recorder
from apicert.sandbox.runtime import SandboxConfig
from apicert.sandbox.server import EmbeddedServer

from .canned import exchange

API_KEY = "dz-test-api-key-" + "K" * 24
APP_ID = "dz-test-app"


@pytest.fixture
def server() -> Iterator[EmbeddedServer]:
    config = SandboxConfig(
        vendor="digitzs", faults=(), credentials={"api_key": API_KEY, "app_id": APP_ID}
    )
    srv = EmbeddedServer(config).start()
    try:
        yield srv
    finally:
        srv.stop()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def client_for(server: EmbeddedServer, auth: DigitzsAuth) -> Client:
    recorder = Recorder()
    recorder.learners.append(DigitzsAuth.learn_secrets)
    return Client(server.base_url, recorder=recorder, auth=auth)


def tokens_sent(client: Client) -> list[str]:
    return [
        e["request"]["url"]
        for e in client.recorder.all()
        if e["request"]["url"].endswith("/auth/token")
    ]


def test_token_is_cached_and_used_as_bearer(server: EmbeddedServer) -> None:
    auth = DigitzsAuth(API_KEY, APP_ID)
    client = client_for(server, auth)
    assert client.get("/merchants?limit=1").status == 200
    assert client.get("/merchants?limit=1").status == 200
    assert len(tokens_sent(client)) == 1  # one token for both calls
    last = client.last
    assert last is not None and last.request_headers["Authorization"].startswith("Bearer ")


def test_token_refreshed_before_the_hour_is_up(server: EmbeddedServer) -> None:
    clock = Clock()
    auth = DigitzsAuth(API_KEY, APP_ID, margin=300.0, now=clock)
    client = client_for(server, auth)
    first = auth.token(client)
    clock.now += 3600 - 301
    assert auth.token(client) == first
    clock.now += 2
    assert auth.token(client) != first


def test_refreshed_once_after_a_401(server: EmbeddedServer) -> None:
    auth = DigitzsAuth(API_KEY, APP_ID)
    client = client_for(server, auth)
    first = auth.token(client)
    auth._token = "revoked-" + "z" * 40  # the vendor no longer knows the cached token
    assert client.get("/merchants?limit=1").status == 401
    assert client.get("/merchants?limit=1").status == 200  # refreshed after the 401
    assert auth.token(client) not in (first, "revoked-" + "z" * 40)


def test_refused_api_key_is_a_refused_auth_error_and_never_retried(server: EmbeddedServer) -> None:
    auth = DigitzsAuth("not-the-key", APP_ID)
    client = client_for(server, auth)
    with pytest.raises(AuthError) as caught:
        client.get("/merchants?limit=1")
    assert caught.value.refused
    sent = len(client.recorder)
    with pytest.raises(AuthError):
        auth.token(client)
    assert len(client.recorder) == sent


def test_new_app_key_retires_the_old(server: EmbeddedServer) -> None:
    auth = DigitzsAuth(API_KEY, APP_ID)
    client = client_for(server, auth)
    old = auth.new_app_key(client)
    auth.new_app_key(client)
    refused = client.post(
        "/auth/token", auth=False, headers=auth.key_headers(), json=auth.token_body(old)
    )
    assert refused.status in (401, 403)
    assert client.get("/merchants?limit=1").status == 200


def test_keys_and_tokens_never_reach_the_record(server: EmbeddedServer) -> None:
    auth = DigitzsAuth(API_KEY, APP_ID)
    client = client_for(server, auth)
    client.get("/merchants?limit=1")
    key, token = auth._app_key, auth._token
    assert key and token
    stored = json.dumps(client.recorder.all())
    for secret in (API_KEY, key, token):
        assert secret not in stored


def test_learner_registers_keys_and_tokens_of_any_auth_answer() -> None:
    recorder = Recorder()
    answer = exchange(
        "POST",
        "/auth/token",
        body={"data": {"type": "auth", "attributes": {"appToken": "T" * 640}}},
    )
    DigitzsAuth.learn_secrets(answer, recorder.redactor)
    assert recorder.redactor.text("x " + "T" * 640) != "x " + "T" * 640
    other = exchange("GET", "/merchants", body={"data": {"attributes": {"appKey": "k" * 30}}})
    DigitzsAuth.learn_secrets(other, recorder.redactor)
    assert recorder.redactor.text("k" * 30) == "k" * 30


def test_a_key_created_by_anyone_is_adopted(server: EmbeddedServer) -> None:
    auth = DigitzsAuth(API_KEY, APP_ID)
    client = client_for(server, auth)
    assert client.get("/merchants?limit=1").status == 200
    made = client.post("/auth/key", auth=False, headers=auth.key_headers(), json=auth.key_body())
    assert made.status == 200
    auth.adopt_key(made)
    assert client.get("/merchants?limit=1").status == 200
    auth.invalidate()
    assert client.get("/merchants?limit=1").status == 200  # a new token from the adopted key
