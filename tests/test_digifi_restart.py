"""Issue 4, "done when": saved idempotency keys survive a crash of a standalone DigiFi sandbox.

A real ``apicert sandbox serve digifi --state FILE`` process is started, a POST with an
idempotency-key is answered, the process is killed with SIGKILL (no clean shutdown), and a new
process on the same state file replays the saved status and body without creating a second
resource; a saved failure survives too.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.slow

API_KEY = "restart-test-key"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def standalone(state: Path, port: int, *options: str) -> Iterator[subprocess.Popen[str]]:
    """``apicert sandbox serve digifi`` in a subprocess, ready to serve; SIGKILLed at the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APICERT_")}
    env["APICERT_DIGIFI_API_KEY"] = API_KEY
    command = [sys.executable, "-m", "apicert.cli", "sandbox", "serve", "digifi"]
    command += ["--port", str(port), "--state", str(state)]
    for option in options:
        command += ["--option", option]
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/__sandbox__/info", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                _out, err = proc.communicate(timeout=5)
                pytest.fail(f"sandbox did not start (exit {proc.returncode}): {err[-1000:]}")
            time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


def _post(port: int, body: object, key: str) -> requests.Response:
    headers = {"api-key": API_KEY, "idempotency-key": key}
    return requests.post(
        f"http://127.0.0.1:{port}/api/borrowers", json=body, headers=headers, timeout=10
    )


def _count(port: int, text: str) -> int:
    response = requests.get(
        f"http://127.0.0.1:{port}/api/borrowers/search?search={text}",
        headers={"api-key": API_KEY},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    total: int = response.json()["total"]
    return total


def test_saved_keys_survive_kill_9(tmp_path: Path) -> None:
    state = tmp_path / "digifi.sqlite"
    port = _free_port()
    tag = f"m{uuid.uuid4().hex[:12]}"
    body = {
        "type": "person",
        "variables": {"borrower_first_name": "Ada", "borrower_last_name": tag},
    }
    good_key, bad_key = str(uuid.uuid4()), str(uuid.uuid4())
    with standalone(state, port) as proc:
        first = _post(port, body, good_key)
        failed = _post(port, {"type": "person"}, bad_key)
        assert first.status_code == 200 and failed.status_code == 400
        assert _count(port, tag) == 1
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL

    with standalone(state, port):
        replay = _post(port, body, good_key)
        assert (replay.status_code, replay.content) == (first.status_code, first.content)
        assert replay.headers["idempotent-replayed"] == "true"
        assert _count(port, tag) == 1, "the replay after the restart created a second borrower"
        failure = _post(port, body, bad_key)
        assert (failure.status_code, failure.content) == (400, failed.content)
        assert _count(port, tag) == 1
        # A new key still does new work.
        assert _post(port, body, str(uuid.uuid4())).json()["id"] != first.json()["id"]
        assert _count(port, tag) == 2


def _status_from(source: str, port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", "/api/borrowers", headers={"api-key": API_KEY})
        return conn.getresponse().status
    finally:
        conn.close()


def test_allow_list_set_at_start_refuses_other_addresses(tmp_path: Path) -> None:
    port = _free_port()
    with standalone(tmp_path / "s.sqlite", port, "allow_ips=127.0.0.2", "rate_limit=50"):
        assert _status_from("127.0.0.1", port) == 403
        assert _status_from("127.0.0.2", port) == 200
        options = requests.get(f"http://127.0.0.1:{port}/__sandbox__/options", timeout=5).json()
        assert options == {"options": {"allow_ips": "127.0.0.2", "rate_limit": 50}}
