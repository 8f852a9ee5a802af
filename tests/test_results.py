"""The status rules of results.json, on hand-built test records (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from apicert.model import Finding, Status
from apicert.report.results import build_results, exit_code
from apicert.run import Run, TestRecord
from apicert.targets import resolve_targets


@pytest.fixture
def run(tmp_path: Path) -> Run:
    return Run(targets=resolve_targets(["connectfi"], {}, env={}), report_dir=tmp_path, env={})


def record(
    run: Run, nodeid: str, *ids: str, outcome: str = "passed", **kwargs: object
) -> TestRecord:
    rec = TestRecord(nodeid=nodeid, vendor="connectfi", requirements=ids, outcome=outcome)
    for key, value in kwargs.items():
        setattr(rec, key, value)
    run.records[nodeid] = rec
    return rec


def status(doc: dict, rid: str) -> tuple[str, str]:
    entry = next(r for r in doc["requirements"] if r["id"] == rid)
    return entry["status"], entry["reason"]


def test_a_clean_test_passes_its_requirement_and_unexercised_ones_are_skipped(run: Run) -> None:
    record(run, "t1", "CONNECTFI-ENV-01")
    doc = build_results(run, ["connectfi"])
    assert status(doc, "CONNECTFI-ENV-01") == ("passed", "")
    assert status(doc, "CONNECTFI-ENV-02") == ("skipped", "not exercised in this run")
    assert exit_code(doc) == 0


def test_a_must_finding_fails_and_a_should_finding_warns(run: Run) -> None:
    rec = record(run, "t1", "CONNECTFI-ENV-01", "CONNECTFI-HEALTH-01", outcome="failed")
    rec.findings = [
        Finding("CONNECTFI-ENV-01", Status.FAILED, "code is 0"),
        Finding("CONNECTFI-HEALTH-01", Status.FAILED, "health answered 503"),
    ]
    doc = build_results(run, ["connectfi"])
    assert status(doc, "CONNECTFI-ENV-01") == ("failed", "code is 0")
    assert status(doc, "CONNECTFI-HEALTH-01") == ("warning", "health answered 503")
    assert exit_code(doc) == 1


def test_an_unexpected_error_fails_every_requirement_of_the_test(run: Run) -> None:
    record(
        run,
        "t1",
        "CONNECTFI-REF-01",
        "CONNECTFI-REF-02",
        outcome="failed",
        error="KeyError: 'data'",
    )
    doc = build_results(run, ["connectfi"])
    assert status(doc, "CONNECTFI-REF-01")[0] == "failed"
    assert "KeyError" in status(doc, "CONNECTFI-REF-02")[1]


def test_a_test_stopped_by_another_requirement_does_not_pass_its_own(run: Run) -> None:
    rec = record(
        run, "t1", "CONNECTFI-REF-02", outcome="failed", stopped=True, reason="PRE-03 broke"
    )
    rec.findings = [Finding("CONNECTFI-PRE-03", Status.FAILED, "could not upload")]
    doc = build_results(run, ["connectfi"])
    assert status(doc, "CONNECTFI-REF-02") == ("skipped", "blocked: PRE-03 broke")
    assert status(doc, "CONNECTFI-PRE-03")[0] == "failed"


def test_a_skipped_test_gives_its_reason(run: Run) -> None:
    record(run, "t1", "CONNECTFI-AUTH-04", outcome="skipped", reason="target has no clock control")
    doc = build_results(run, ["connectfi"])
    assert status(doc, "CONNECTFI-AUTH-04") == ("skipped", "target has no clock control")


def test_a_review_finding_needs_a_person(run: Run) -> None:
    rec = record(run, "t1", "CONNECTFI-BODY-01")
    rec.findings = [Finding("CONNECTFI-BODY-01", Status.REVIEW, "look at the upload size")]
    doc = build_results(run, ["connectfi"])
    assert status(doc, "CONNECTFI-BODY-01")[0] == "review"


def test_summary_counts_and_verdict(run: Run) -> None:
    rec = record(run, "t1", "CONNECTFI-ENV-01", outcome="failed")
    rec.findings = [Finding("CONNECTFI-ENV-01", Status.FAILED, "x")]
    summary = build_results(run, ["connectfi"])["summary"]["connectfi"]
    assert summary["failed"] == 1 and summary["conformant"] is False
    assert summary["verdict"] == "not conformant"


def test_nothing_failed_but_something_unverified_is_incomplete(run: Run) -> None:
    record(run, "t1", "CONNECTFI-ENV-01")
    summary = build_results(run, ["connectfi"])["summary"]["connectfi"]
    assert summary["verdict"] == "incomplete" and summary["conformant"] is False
    assert summary["requirements"] == sum(
        summary[s] for s in ("passed", "failed", "warning", "skipped", "review")
    )


def test_a_passed_finding_with_a_message_is_kept_as_a_note(run: Run) -> None:
    rec = record(run, "t1", "CONNECTFI-ENV-01")
    rec.findings = [Finding("CONNECTFI-ENV-01", Status.PASSED, "enforced about 99.8/s")] * 2
    doc = build_results(run, ["connectfi"])
    entry = next(r for r in doc["requirements"] if r["id"] == "CONNECTFI-ENV-01")
    assert (entry["status"], entry["findings"], entry["notes"]) == (
        "passed",
        [],
        ["enforced about 99.8/s"],
    )
    assert next(r for r in doc["requirements"] if r["id"] == "CONNECTFI-ENV-02")["notes"] == []
