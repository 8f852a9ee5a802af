"""A property-based failure is reported with the SHRUNK example's evidence, and the shrunk
example is kept in the Hypothesis database under the report directory.

A small property test runs through the apicert plugin against the Digitzs sandbox with the
``fee-off-by-cent`` fault (the 2.9% rounded down): every amount whose 2.9% has a fraction of a
half or more fails, so Hypothesis meets a large failing amount first and shrinks it. The finding
in results.json must be the final (shrunk) example's alone, with that example's exchanges as
evidence; a second run with the same report directory tries the saved example first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from apicert.paths import suites_dir

PROPERTY = """
import sys
sys.path.insert(0, {root!r})
import pytest
from hypothesis import given, settings, strategies as st
from apicert.checks.base import data_object
from apicert.checks.digitzs import card_fees
from suites.digitzs import payloads


@pytest.fixture
def merchant(api, verdict):
    created = verdict.step("DIGITZS-RES-01", api.post("/merchants", json=payloads.merchant()), "m")
    return str(data_object(created).get("id"))


@pytest.mark.requirement("DIGITZS-MONEY-01")
@settings(max_examples=40)
@given(amount=st.integers(1, 10**8))
def test_fee(api, verdict, merchant, amount):
    paid = api.post("/payments", json=payloads.card_payment(merchant, amount))
    verdict.require(card_fees(paid, amount))
"""


def _run(tmp_path: Path, report: Path) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    test_file = tmp_path / "test_property.py"
    test_file.write_text(PROPERTY.format(root=str(suites_dir().parent)), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APICERT_", "PYTEST_"))}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(test_file),
            "-p",
            "no:cacheprovider",
            "-p",
            "apicert.requestlog",
            "--rootdir",
            str(tmp_path),
            "--apicert-vendor",
            "digitzs",
            "--apicert-fault",
            "digitzs:fee-off-by-cent",
            "--apicert-report-dir",
            str(report),
            "--apicert-seed",
            "11",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env=env,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output[-3000:]
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    log = json.loads((report / "requests.json").read_text(encoding="utf-8"))
    return output, results, log["exchanges"]


def _amount(exchange: dict[str, Any]) -> int:
    body = json.loads(exchange["request"]["body"])
    return int(body["data"]["attributes"]["transaction"]["amount"])


def _payments(exchanges: list[dict[str, Any]]) -> list[int]:
    return [
        _amount(e)
        for e in exchanges
        if e["request"]["method"] == "POST" and e["request"]["url"].endswith("/payments")
    ]


@pytest.fixture(scope="module")
def shrunk_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run of the property against the faulty sandbox, and a second with the same report
    directory (its example database)."""
    tmp_path = tmp_path_factory.mktemp("shrink")
    report = tmp_path / "report"
    output, results, exchanges = _run(tmp_path, report)
    paid = _payments(exchanges)
    money = next(r for r in results["requirements"] if r["id"] == "DIGITZS-MONEY-01")
    database = report / "hypothesis"
    saved = database.is_dir() and any(p.is_file() for p in database.rglob("*"))
    _, again, exchanges_again = _run(tmp_path, report)
    return {
        "output": output,
        "paid": paid,
        "shrunk": paid[-1],  # Hypothesis re-runs the minimal failing example last ("final")
        "money": money,
        "results": results,
        "exchanges": exchanges,
        "saved": saved,
        "again": again,
        "paid_again": _payments(exchanges_again),
    }


def test_the_finding_is_the_shrunk_examples(shrunk_run: dict[str, Any]) -> None:
    output, paid, shrunk = shrunk_run["output"], shrunk_run["paid"], shrunk_run["shrunk"]
    assert "FindingsFailed" in output and "DIGITZS-MONEY-01" in output, output[-3000:]
    assert len(paid) > 3 and max(paid) > shrunk * 10, paid  # it met a much larger one first
    assert shrunk < 100, paid  # and shrank (the smallest failing amount is 18)

    money = shrunk_run["money"]
    assert money["status"] == "failed"
    assert len(money["findings"]) == 1, [f["message"] for f in money["findings"]]
    finding = money["findings"][0]
    assert f"of {shrunk} is" in finding["message"], finding["message"]
    evidence = [shrunk_run["results"]["exchanges"][e] for e in finding["evidence"]]
    assert evidence and all(_amount(e) == shrunk for e in evidence), finding["evidence"]


def test_the_shrunk_example_is_kept_and_tried_first(shrunk_run: dict[str, Any]) -> None:
    assert shrunk_run["saved"], "no example saved under <report dir>/hypothesis"
    assert shrunk_run["paid_again"][0] == shrunk_run["shrunk"], shrunk_run["paid_again"][:5]
    money = next(r for r in shrunk_run["again"]["requirements"] if r["id"] == "DIGITZS-MONEY-01")
    assert money["status"] == "failed"


def test_the_repro_replays_only_the_shrunk_example(shrunk_run: dict[str, Any]) -> None:
    """What `apicert repro` replays: the merchant the payment links to, and the final example."""
    finding = shrunk_run["money"]["findings"][0]
    by_id = {e["id"]: e for e in shrunk_run["exchanges"]}
    steps = [by_id[s] for s in finding["replay"]["steps"] if s in by_id]
    assert _payments(steps) == [shrunk_run["shrunk"]], _payments(steps)
    assert any(s["request"]["url"].endswith("/merchants") for s in steps), finding["replay"]
