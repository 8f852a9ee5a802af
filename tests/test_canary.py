"""Nothing leaked: every vendor runs with canary credentials, clean and with faults that echo card,
SSN, account and routing numbers back, recording cassettes and writing the repro files of every
failed finding; then every file the runs wrote (reports, evidence, cassettes, repro files, the
Hypothesis example database) and the terminal output are searched. Zero hits allowed.

What is searched for: each canary credential; every card or identity number the suites send as a
literal (test cards, SSNs, EINs, routing and account numbers in ``suites/*/*.py``); any
Luhn-valid 13-19 digit run that looks like a card number; any ``123-45-6789``-shaped SSN.

Slow tier: two ``apicert run`` of every vendor, side by side.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from apicert.paths import suites_dir
from apicert.redact import IDENTITY_KEYS, _norm, luhn_valid
from apicert.sandbox.runtime import available_sandboxes, fault_catalog
from apicert.vendors import get_vendor

pytestmark = pytest.mark.slow

VENDORS = [v for v in available_sandboxes() if (suites_dir() / v).is_dir()]
# Faults that put sensitive values into responses (and so into evidence), per vendor.
ECHO_FAULTS = {
    "connectfi": ["card-add-refused", "token-no-expiry-field"],
    "digitzs": [
        "card-number-in-message",
        "card-number-unmasked",
        "ssn-unmasked",
        "merchant-bank-unmasked",
        "token-bank-unmasked",
        "ach-bank-unmasked",
    ],
}
CARD_RUN = re.compile(rb"(?<![0-9])[2-6]\d{12,18}(?![0-9])")
IDENTITY_NAME = re.compile(r"CARD|SSN|SOCIAL|ACCOUNT|ROUTING|EIN|TAX", re.IGNORECASE)
SSN_SHAPED = re.compile(rb"(?<![0-9A-Za-z-])\d{3}-\d{2}-\d{4}(?![0-9A-Za-z-])")


def _canaries() -> dict[str, str]:
    """A unique canary value for every secret credential of every vendor, by env variable."""
    out: dict[str, str] = {}
    for vendor in VENDORS:
        for cred in get_vendor(vendor).credentials:
            value = f"canary-{vendor}-{cred.name}-5e1f0c" if cred.secret else f"canary_{vendor}"
            out[cred.env] = value
    return out


def _sent_literals() -> set[str]:
    """The card and identity numbers the suites send as literals: values of identity keys in
    dict literals (``"accountNumber": "..."``) and of constants named like one (``TEST_CARD``)."""
    found: set[str] = set()

    def add(node: ast.AST) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            digits = node.value.replace(" ", "").replace("-", "")
            if digits.isdigit() and len(digits) >= 6:
                found.add(node.value)

    for path in suites_dir().rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and _norm(str(key.value)) in IDENTITY_KEYS:
                        add(value)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
                if node.value is not None and any(IDENTITY_NAME.search(n) for n in names):
                    add(node.value)
    return found


def _run(workdir: Path, faults: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    workdir.mkdir(parents=True)
    args = [sys.executable, "-m", "apicert.cli", "run", "--report-dir", "reports", "--record"]
    for fault in faults:
        args += ["--fault", fault]
    proc = subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True, timeout=900)
    stdout, stderr = proc.stdout, proc.stderr
    # Every repro a user could ask for is an artifact too: write the pytest file and curl
    # script of each failed finding that has a repro id (into reports/repro/).
    for finding_id in sorted(set(re.findall(r"apicert repro (\S+)", stdout))):
        repro = subprocess.run(
            [
                sys.executable,
                "-m",
                "apicert.cli",
                "repro",
                finding_id,
                "--results",
                "reports/results.json",
                "--out",
                "reports/repro",
            ],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert repro.returncode == 0, f"repro {finding_id}: {repro.stderr[-1000:]}"
        stdout, stderr = stdout + repro.stdout, stderr + repro.stderr
    return proc.returncode, stdout, stderr


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    base = tmp_path_factory.mktemp("canary")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APICERT_", "PYTEST_"))}
    env |= _canaries()
    faults = [
        f"{v}:{name}"
        for v in VENDORS
        for name in ECHO_FAULTS.get(v, [])
        if name in {f.name for f in fault_catalog(v)}
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        clean = pool.submit(_run, base / "clean", [], env)
        echo = pool.submit(_run, base / "echo", faults, env)
        outcomes = {"clean": clean.result(), "echo": echo.result()}
    files: dict[str, bytes] = {}
    for name, (code, stdout, stderr) in outcomes.items():
        assert code in (0, 1), f"{name}: exit {code}\n{stderr[-2000:]}"
        files[f"{name}/stdout"] = stdout.encode()
        files[f"{name}/stderr"] = stderr.encode()
        for path in (base / name).rglob("*"):
            if path.is_file():
                files[str(path.relative_to(base))] = path.read_bytes()
        # junit.xml carries Hypothesis statistics base64-encoded: search them decoded too.
        junit = (base / name / "reports" / "junit.xml").read_text(encoding="utf-8")
        encoded = re.findall(r'name="hypothesis-[^"]*" value="([^"]*)"', junit)
        for i, value in enumerate(encoded):
            with contextlib.suppress(ValueError):
                files[f"{name}/junit.xml hypothesis property {i}"] = base64.b64decode(value)
    return files


def test_the_search_covers_every_kind_of_artifact(artifacts: dict[str, bytes]) -> None:
    names = set(artifacts)
    for expected in ("results.json", "conformance.html", "pytest-html.html", "junit.xml"):
        assert any(n.endswith(f"reports/{expected}") for n in names), expected
    assert any("/evidence/" in n for n in names)
    # Hypothesis saves an example database under reports/ only for generated failures (an
    # explicit @example failing saves nothing); whatever the runs wrote is searched (rglob).
    for vendor in VENDORS:
        assert any(n.endswith(f"reports/cassettes/{vendor}.json") for n in names), vendor
    assert any(n.startswith("echo/reports/repro/") and n.endswith(".py") for n in names)
    assert any(n.startswith("echo/reports/repro/") and n.endswith(".sh") for n in names)
    echoed = b"".join(v for k, v in artifacts.items() if k.startswith("echo/reports/results"))
    assert b"xxxx" in echoed, "the echo faults put masked values into the evidence"


def test_no_canary_credential_anywhere(artifacts: dict[str, bytes]) -> None:
    secrets = [v for v in _canaries().values() if v.startswith("canary-")]
    assert secrets
    leaks = [(s, name) for s in secrets for name, data in artifacts.items() if s.encode() in data]
    assert leaks == []


def test_no_card_or_identity_number_the_suites_send(artifacts: dict[str, bytes]) -> None:
    literals = _sent_literals()
    assert literals, "the suites send no literal card or identity numbers?"
    leaks = [
        (value, name)
        for value in literals
        for name, data in artifacts.items()
        if value.encode() in data
    ]
    assert leaks == []


def test_no_card_number_or_ssn_shaped_value_anywhere(artifacts: dict[str, bytes]) -> None:
    leaks: list[tuple[str, str]] = []
    for name, data in artifacts.items():
        for match in CARD_RUN.finditer(data):
            if luhn_valid(match.group(0).decode()):
                leaks.append((name, match.group(0).decode()[:6] + "..."))
        leaks += [(name, "ssn-shaped") for _ in SSN_SHAPED.finditer(data)]
    assert leaks == []
