"""Nothing false against a hostile target: every broken answer ends in a clear failed finding.

Each mode of ``tests/hostile.py`` is a whole connectFi target that answers every request badly.
``apicert run`` against it must end with exit code 1, a ``results.json`` whose first failed finding
names the problem, no traceback on stderr, bounded time (the timeout, plus at most a couple of
seconds over a run that waits for nothing) and bounded memory. The client gives up on a
target after a stall or three broken answers in a row (``apicert.http``), which is what bounds it.

Slow tier: one ``apicert run`` per mode, one at a time so the timings are comparable.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .hostile import MODES, HostileServer

pytestmark = pytest.mark.slow

TIMEOUT = 2.0  # --timeout: read timeout; a whole response gets 1.5 times it
MAX_RSS_MB = 400  # a clean connectFi run peaks near 120 MB
SLACK = 3.0  # seconds of noise allowed on a shared machine

# What the first failed finding must say, per mode.
EXPECTED: dict[str, str] = {
    "malformed-json": "body is not JSON",
    "wrong-content-type": "Content-Type 'text/plain'",
    "invalid-utf8": "body is not valid utf-8",
    "huge-body": "response body larger than 2097152 bytes",
    "endless-chunked": "response not complete after 3 s",
    "stall": "no response within the read timeout of 2 s",
    "reset-mid-body": "connection broken mid-response",
    "redirect-loop": "more than 5 redirects",
    "html-error-200": "body is not JSON (JSONDecodeError; starts '<html>",
    "gzip-bomb": "response body larger than 2097152 bytes",
    "no-content-204": "empty body where JSON was promised",
    "huge-headers": "response headers too large",
}
# Modes that cost up to one whole timeout before the client gives up on the target.
WAITS = {"stall": TIMEOUT, "endless-chunked": TIMEOUT * 1.5}
BASELINE = "no-content-204"


@dataclass
class Outcome:
    code: int
    stderr: str
    stdout: str
    elapsed: float
    max_rss_mb: float
    results: dict[str, Any] | None
    hits: int


def _first_failure(doc: dict[str, Any]) -> str:
    for requirement in doc["requirements"]:
        for finding in requirement["findings"]:
            if finding["status"] == "failed":
                return str(finding["message"])
    return ""


def _run(server: HostileServer, mode: str, workdir: Path) -> Outcome:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APICERT_", "PYTEST_"))}
    env |= {"APICERT_CONNECTFI_LOGIN": "hostile", "APICERT_CONNECTFI_PASSWORD": "hostile-pw"}
    workdir.mkdir(parents=True)
    before = server.hits.get(mode, 0)
    start = time.monotonic()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "apicert.cli",
            "run",
            "--vendor",
            "connectfi",
            "--target",
            f"connectfi={server.base_url}/{mode}",
            "--timeout",
            f"{TIMEOUT:g}",
            "--report-dir",
            "reports",
        ],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        pytest.fail(f"{mode}: apicert run hung for 300 s\n{stdout[-2000:]}")
    elapsed = time.monotonic() - start
    # communicate() has reaped the child; the peak of all children so far bounds its memory.
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    path = workdir / "reports" / "results.json"
    doc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    return Outcome(
        proc.returncode, stderr, stdout, elapsed, rss_mb, doc, server.hits.get(mode, 0) - before
    )


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    base = tmp_path_factory.mktemp("hostile")
    server = HostileServer().start()
    try:
        return {mode: _run(server, mode, base / mode) for mode in MODES}
    finally:
        server.stop()


def test_every_hostile_mode_has_an_expected_finding() -> None:
    assert set(EXPECTED) == set(MODES)


@pytest.mark.parametrize("mode", list(MODES))
def test_hostile_target_ends_in_a_clear_failed_finding(
    mode: str, outcomes: dict[str, Outcome]
) -> None:
    outcome = outcomes[mode]
    assert outcome.results is not None, f"{mode}: no results.json\n{outcome.stderr[-2000:]}"
    assert outcome.code == 1, outcome.stdout[-2000:] + outcome.stderr[-2000:]
    assert "Traceback" not in outcome.stderr, outcome.stderr[-3000:]
    assert "apicert conformance" in outcome.stdout
    first = _first_failure(outcome.results)
    assert EXPECTED[mode] in first, f"{mode}: first failed finding is {first!r}"
    assert outcome.hits >= 1, f"{mode}: the run never reached the hostile server"


@pytest.mark.parametrize("mode", list(MODES))
def test_hostile_target_takes_bounded_time_and_memory(
    mode: str, outcomes: dict[str, Outcome]
) -> None:
    outcome = outcomes[mode]
    # The baseline run waits for nothing; the same suite against another broken answer may do a
    # little more work (Hypothesis shrinking), so it gets half as much again, plus the waits.
    budget = outcomes[BASELINE].elapsed * 1.5 + WAITS.get(mode, 0.0) + SLACK
    assert outcome.elapsed <= budget, (
        f"{mode}: {outcome.elapsed:.1f} s, budget {budget:.1f} s "
        f"(baseline {outcomes[BASELINE].elapsed:.1f} s)"
    )
    if mode in WAITS:
        assert outcome.hits == 1, f"{mode}: {outcome.hits} requests sent after a stall"
    assert outcome.max_rss_mb <= MAX_RSS_MB, f"{mode}: peak {outcome.max_rss_mb:.0f} MB"
