"""The suites' identity literals are masked wherever a fuzzer sends them (a canary run found a
literal birth date, drawn by Hypothesis from suites/digitzs/payloads.py, sent as a merchantId and
stored in a cassette): the run's redactor knows them from the start, so the replay template of
such a request is refused like any other holding an identity value; and a report Schemathesis
rewrites after it was logged still reaches pytest-html masked."""

from __future__ import annotations

import json
from pathlib import Path

from apicert.model import Exchange
from apicert.redact import Redactor
from apicert.run import Run
from apicert.steps import StepLog
from apicert.suite_literals import identity_literals
from tests.test_cli import run_cli


def test_literals_under_identity_keys_and_names_are_found(tmp_path: Path) -> None:
    source = tmp_path / "payloads.py"
    source.write_text(
        'PERSON = {"birthDate": "11-23-1981", "name": "Ann", "accountNumber": "000123456789"}\n'
        'TEST_CARD = "4747474747474747"\n'
        'GREETING = "hello"\n'
    )
    (tmp_path / "broken.py").write_text("def (:\n")  # skipped, not an error
    assert identity_literals([source, tmp_path / "broken.py"]) == {
        "11-23-1981",
        "000123456789",
        "4747474747474747",
    }


def test_a_run_masks_the_suites_literals_under_any_key(tmp_path: Path) -> None:
    run = Run(targets={}, report_dir=tmp_path, env={})
    body = json.dumps({"merchantId": "11-23-1981", "note": "born 1985-12-10"})
    masked = run.redactor.body(body) or ""
    assert "11-23-1981" not in masked and "1985-12-10" not in masked, masked


def test_a_template_never_stores_what_the_run_s_redactor_masks(tmp_path: Path) -> None:
    redactor = Run(targets={}, report_dir=tmp_path, env={}).redactor
    log = StepLog(redactor, lambda ex: "v", lambda v: [], lambda: "t::one", lambda v: "h")
    fuzzed = Exchange(
        id="ex-000001",
        method="POST",
        url="h/customers",
        request_headers={"Content-Type": "application/json"},
        request_body=json.dumps({"merchantId": "11-23-1981", "name": "x"}),
        status=400,
        response_headers={},
        response_body="{}",
    )
    log.on_exchange(fuzzed)
    stored = json.dumps(log.step("ex-000001"))
    assert "11-23-1981" not in stored, stored
    assert "unreplayable" in stored


def test_a_clock_move_is_kept_to_the_microsecond() -> None:
    # A float's tail (3600.9947323799133) once looked like a Luhn-valid card run in a cassette.
    log = StepLog(Redactor(), lambda ex: "v", lambda v: [], lambda: "t::one", lambda v: "h")
    log.on_advance("v")(3600.9947323799133)
    [step_id] = [s for s in log.order if s.startswith("ctl")]
    assert log.step(step_id)["seconds"] == 3600.994732  # type: ignore[index]


def test_a_schemathesis_failure_rewritten_after_logging_is_masked_in_pytest_html(
    tmp_path: Path,
) -> None:
    # Schemathesis rewrites a failed report's longrepr in pytest_exception_interact, after the
    # report was logged (JUnit already written) and before pytest-html renders it at teardown.
    # digitzs:birthdate-unmasked answers the seeded birth date in a Schemathesis failure.
    proc = run_cli(
        tmp_path,
        *("run", "--vendor", "digitzs", "--fault", "digitzs:birthdate-unmasked", "-k", "stateful"),
        *("--seed", "1", "--report-dir", "reports"),
    )
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    html = (tmp_path / "reports" / "pytest-html.html").read_text(encoding="utf-8")
    assert "1981" in html  # the failure is there, its last four characters shown
    assert "11-23-1981" not in html
