"""Secrets learnt at run time are registered before anything is stored."""

from __future__ import annotations

import json

from apicert.auth import ConnectFiAuth
from apicert.http import Recorder

from .canned import exchange, ok

TOKEN = "tok_" + "Q" * 44


def test_a_token_from_get_token_is_masked_wherever_it_reappears() -> None:
    recorder = Recorder()
    recorder.learners.append(ConnectFiAuth.learn_secrets)
    issued = ok({"token": TOKEN, "dtsExpireAt": "2030-01-01T00:00:00Z"}, path="/auth/get-token")
    issued.method = "POST"
    # A later answer echoes the token inside free text, where no field name gives it away.
    echoed = exchange(
        status=400, body={"code": "x", "message": f"token {TOKEN} refused", "requestId": "r"}
    )
    recorder.add(issued)
    recorder.add(echoed)
    assert TOKEN not in json.dumps(recorder.all())


def test_without_the_learner_free_text_would_leak() -> None:
    recorder = Recorder()
    echoed = exchange(
        status=400, body={"code": "x", "message": f"token {TOKEN} refused", "requestId": "r"}
    )
    recorder.add(echoed)
    assert TOKEN in json.dumps(recorder.all())


def test_other_paths_teach_nothing() -> None:
    recorder = Recorder()
    ConnectFiAuth.learn_secrets(ok({"token": TOKEN}, path="/health"), recorder.redactor)
    assert recorder.redactor.text(f"x {TOKEN}") == f"x {TOKEN}"
