"""The reports of real runs: a clean connectFi run and one with two faults, both with canary
credentials, through the real ``apicert`` command. Checks that every artifact is written, that
``results.json`` matches its published JSON Schema, that ``apicert report diff`` names exactly the
two broken requirements, that no secret or card/identity number reaches any file written, and
(in headless Chromium) that the page shows the right verdict, filters, and opens a failure to
its evidence."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from apicert.redact import luhn_valid
from tests.test_cli import run_cli

from .browser import Browser, chromium_path

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CANARY_PASSWORD = "canary-PASSWORD-r5-4f1e0b"
CANARY_LOGIN = "canary_login_r5"
TEST_CARD = "4747474747474747"  # suites/connectfi/payloads.py
# requestid-repeated breaks only ENV-04 (its evidence includes get-token calls carrying the
# password); card-add-refused breaks only PRE-03 (its evidence is a debit-card/add with the card).
FAULTS = ("connectfi:requestid-repeated", "connectfi:card-add-refused")
BROKEN = ["CONNECTFI-ENV-04", "CONNECTFI-PRE-03"]
ARTIFACTS = ("results.json", "conformance.html", "pytest-html.html", "junit.xml")
IDENTITY_KEYS = {"ssn", "fein", "number", "pan", "cardnumber", "accountnumber", "routingnumber"}


def apicert(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APICERT_", "PYTEST_"))}
    env.update(
        {"APICERT_CONNECTFI_LOGIN": CANARY_LOGIN, "APICERT_CONNECTFI_PASSWORD": CANARY_PASSWORD}
    )
    return run_cli(cwd, *args, env=env, timeout=300)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("report-runs")
    out: dict[str, Any] = {}
    for name, faults in (("clean", ()), ("broken", FAULTS)):
        args = ["run", "--vendor", "connectfi", "--report-dir", name]
        for fault in faults:
            args += ["--fault", fault]
        out[name] = (base / name, apicert(base, *args))
    out["base"] = base
    yield out


def results(run: tuple[Path, Any]) -> dict[str, Any]:
    return json.loads((run[0] / "results.json").read_text(encoding="utf-8"))


def test_both_runs_write_all_four_artifacts_and_the_evidence(runs: dict[str, Any]) -> None:
    for name, code in (("clean", 0), ("broken", 1)):
        report_dir, proc = runs[name]
        assert proc.returncode == code, proc.stdout[-2000:] + proc.stderr[-2000:]
        for artifact in ARTIFACTS:
            assert (report_dir / artifact).stat().st_size > 0, artifact
        assert list((report_dir / "evidence").glob("chunk-*.js"))
        assert f"{name}/conformance.html" in proc.stdout


def test_results_json_matches_the_published_schema(runs: dict[str, Any]) -> None:
    schema = json.loads((ROOT / "schemas" / "results.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    for name in ("clean", "broken"):
        doc = results(runs[name])
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(doc))
        assert errors == [], [e.message for e in errors[:5]]
        # Every evidence link resolves, and a failure says how to reproduce it.
        for req in doc["requirements"]:
            assert set(req["evidence"]) <= set(doc["exchanges"])
    broken = {r["id"]: r for r in results(runs["broken"])["requirements"]}
    env04 = broken["CONNECTFI-ENV-04"]["reproduce"]
    assert "--fault connectfi:requestid-repeated" in env04["command"]
    assert env04["curl"] and "APICERT_CONNECTFI_URL" in env04["env"]
    assert broken["CONNECTFI-ENV-04"]["tests"][0]["nodeid"] in env04["pytest"]


def test_diff_of_clean_and_broken_names_exactly_the_two_broken(runs: dict[str, Any]) -> None:
    base = runs["base"]
    proc = apicert(
        base, "report", "diff", "clean/results.json", "broken/results.json", "--html", "diff.html"
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    start = lines.index("newly failing: 2")
    named = [line.split()[0] for line in lines[start + 1 : start + 3]]
    assert named == BROKEN and lines[start + 3].startswith("fixed: 0")
    assert all(len(line) <= 80 for line in lines)
    html = (base / "diff.html").read_text(encoding="utf-8")
    section = html[html.index('id="newly_failing"') : html.index('id="fixed"')]
    assert re.findall(r'data-id="([^"]+)"', section) == BROKEN


def _masked(value: object) -> bool:
    return re.fullmatch(r"x+[0-9]{0,4}|xxx-xx-[0-9]{4}|\[REDACTED\]", str(value)) is not None


def _identity_values(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _identity_values(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _identity_values(v, key)
    elif key.lower().replace("_", "") in IDENTITY_KEYS and value is not None:
        yield key, value


def test_no_secret_or_card_or_identity_number_in_any_file(runs: dict[str, Any]) -> None:
    texts: dict[str, bytes] = {}
    for name in ("clean", "broken"):
        report_dir, proc = runs[name]
        texts.update({str(p): p.read_bytes() for p in report_dir.rglob("*") if p.is_file()})
        texts[f"{name} stdout"] = proc.stdout.encode()
        texts[f"{name} stderr"] = proc.stderr.encode()
    assert any(n.endswith("conformance.html") for n in texts)
    assert any("/evidence/chunk-" in n for n in texts)
    for secret in (CANARY_PASSWORD, TEST_CARD):
        leaks = [n for n, data in texts.items() if secret.encode() in data]
        assert leaks == [], f"{secret} found in {leaks}"
    # Not vacuous: the evidence holds the calls that carried the password and the card.
    doc = results(runs["broken"])
    urls = [ex["request"]["url"] for ex in doc["exchanges"].values()]
    assert any(u.endswith("/auth/get-token") for u in urls)
    assert any(u.endswith("/debit-card/add") for u in urls)
    # Any card-shaped number in what the report layer writes is masked, and every identity
    # field of every recorded body (SSN, FEIN, card number...) keeps at most its last four.
    for name, data in texts.items():
        if name.endswith((".json", ".html", ".js")) and "/hypothesis/" not in name:
            for run in re.findall(rb"(?<![0-9.])[3-6][0-9]{12,18}(?![0-9])", data):
                assert not luhn_valid(run.decode()), f"card number in {name}"
    for ex in doc["exchanges"].values():
        for part in (ex["request"]["body"], ex["response"]["body"]):
            try:
                body = json.loads(part or "")
            except ValueError:
                continue
            for key, value in _identity_values(body):
                assert _masked(value), f"{ex['id']}: {key}={value!r}"


@pytest.fixture
def browser() -> Iterator[Browser]:
    if chromium_path() is None:
        if os.environ.get("APICERT_REQUIRE_BROWSER") or os.environ.get("CI"):
            pytest.fail("this run requires chromium (.ci/run installs it)")
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    with Browser() as b:
        yield b


def test_the_page_in_chromium_verdict_filters_and_evidence(
    runs: dict[str, Any], browser: Browser, tmp_path: Path
) -> None:
    report_dir = runs["broken"][0]
    doc = results(runs["broken"])
    summary = doc["summary"]["connectfi"]
    failed = sorted(r["id"] for r in doc["requirements"] if r["status"] == "failed")
    assert failed == BROKEN
    browser.open((report_dir / "conformance.html").as_uri(), "document.body.dataset.ready")

    verdict = browser.evaluate(
        "Object.fromEntries([...document.querySelectorAll("
        "'#verdict .vendor[data-vendor=connectfi] .count')].map("
        "e => [e.dataset.status, +e.querySelector('.n').textContent]))"
    )
    assert verdict == {s: summary[s] for s in ("failed", "warning", "review", "skipped", "passed")}
    assert browser.evaluate("document.querySelector('#verdict .verdict').textContent") == (
        "NOT CONFORMANT"
    )
    shown = "[...document.querySelectorAll('#list .req')].map(e => e.dataset.id).sort()"
    assert len(browser.evaluate(shown)) == summary["requirements"]

    # Filter by status: only failures.
    for status in ("warning", "review", "skipped", "passed"):
        browser.click(f"input[name=status][value={status}]")
    browser.wait_for(f"document.querySelectorAll('#list .req').length === {len(failed)}")
    assert browser.evaluate(shown) == failed

    # Search by id, then by text.
    browser.evaluate(
        "(() => { const q = document.getElementById('q'); q.value = 'pre-03';"
        " q.dispatchEvent(new Event('input')); })()"
    )
    browser.wait_for("document.querySelectorAll('#list .req').length === 1")
    assert browser.evaluate(shown) == ["CONNECTFI-PRE-03"]

    # A failure opens to its finding, the redacted exchange, timing and the reproduction.
    browser.click('.req[data-id="CONNECTFI-PRE-03"] .line')
    browser.wait_for("document.querySelector('.req[data-id=\"CONNECTFI-PRE-03\"] .exchange')")
    detail = browser.evaluate(
        "document.querySelector('.req[data-id=\"CONNECTFI-PRE-03\"] .detail').innerText"
    )
    finding = next(r for r in doc["requirements"] if r["id"] == "CONNECTFI-PRE-03")["findings"][0]
    assert finding["message"] in detail
    assert "/ibis/debit-card/add" in detail and " ms" in detail
    assert "curl " in detail and "${APICERT_CONNECTFI_URL}" in detail
    assert TEST_CARD not in detail and CANARY_PASSWORD not in detail

    shot = browser.screenshot(tmp_path / "conformance.png")
    assert shot.stat().st_size > 10_000
    artifacts = ROOT / "reports"  # git-ignored: kept for CI as an artifact, never committed
    if artifacts.is_dir():
        shutil.copy(shot, artifacts / "conformance-browser-test.png")
