"""End to end: the real ``apicert`` command in a subprocess (``python -m apicert.cli``).

Each test runs the command with ``cwd`` in a temporary directory, its report directory inside it,
a timeout, and an environment without any ``APICERT_*`` variable unless the test sets one. One
clean embedded run is shared by the tests that only read its outputs.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from apicert.catalog import load_catalog
from apicert.paths import suites_dir
from apicert.sandbox.runtime import available_sandboxes, fault_catalog
from apicert.vendors import get_vendor

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 180  # a whole suite run; a clean one takes ~6-10 s
QUICK_TIMEOUT = 60  # a command that stops before running any test
LOGIN_ENV = "APICERT_CONNECTFI_LOGIN"
PASSWORD_ENV = "APICERT_CONNECTFI_PASSWORD"
SANDBOX_CREDS = {LOGIN_ENV: "apicert_sandbox", PASSWORD_ENV: "sandbox-password"}
SERVE_LINE = re.compile(r"apicert sandbox (\w+) on (http://127\.0\.0\.1:\d+) \(state (.+?); ")
# Every vendor with a reference sandbox and suites: what a bare ``apicert run`` covers.
VENDORS = [v for v in available_sandboxes() if (suites_dir() / v).is_dir()]


# -- helpers ---------------------------------------------------------------------------------


@dataclass
class Result:
    """One finished ``apicert`` command."""

    code: int
    stdout: str
    stderr: str
    cwd: Path
    elapsed: float

    @property
    def report_dir(self) -> Path:
        return self.cwd / "reports"

    def results(self) -> dict[str, Any]:
        return json.loads((self.report_dir / "results.json").read_text(encoding="utf-8"))

    def requirements(self) -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in self.results()["requirements"]}

    def statuses(self) -> dict[str, str]:
        return {rid: r["status"] for rid, r in self.requirements().items()}


def _env(**extra: str) -> dict[str, str]:
    """os.environ minus APICERT_*, the outer pytest's PYTEST_* and terminal size; plus extra."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("APICERT_", "PYTEST_")) and k not in ("COLUMNS", "LINES")
    }
    env.update(extra)
    return env


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "apicert.cli", *args]


def run_cli(
    cwd: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = RUN_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run the real ``apicert ARGS`` in ``cwd`` (created), with ``env`` (default: the cleaned
    environment), capturing its output as text."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        _command(*args),
        cwd=cwd,
        env=_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def apicert(
    cwd: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = RUN_TIMEOUT,
) -> Result:
    """Run ``apicert ARGS`` in ``cwd``; ``run`` commands get ``--report-dir reports``."""
    argv = list(args)
    if argv and argv[0] == "run":
        argv[1:1] = ["--report-dir", "reports"]
    start = time.monotonic()
    proc = run_cli(cwd, *argv, env=env, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr, cwd, time.monotonic() - start)


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_one_error_line(result: Result) -> str:
    """Exit 2, one ``apicert: error:`` line, no traceback; return the error line.

    The only other stderr line allowed is the note saying where results.json went.
    """
    both = result.stdout + result.stderr
    assert result.code == 2, both
    assert "Traceback" not in both, both
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("apicert: error:")]
    assert len(errors) == 1, lines
    others = [line for line in lines if line not in errors]
    assert all(line.startswith("apicert: report written to ") for line in others), lines
    assert len(errors[0]) > len("apicert: error: ")
    return errors[0]


def conformance_section(stdout: str) -> list[str]:
    """The lines of the ``apicert conformance`` terminal section, header to ``results:`` line."""
    lines = stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if re.fullmatch(r"=+ apicert conformance =+", line)]
    assert len(starts) == 1, stdout
    section: list[str] = []
    for line in lines[starts[0] :]:
        section.append(line)
        if line.startswith("results: "):
            return section
    raise AssertionError(f"no 'results:' line after the apicert conformance header:\n{stdout}")


def readonly_tests() -> set[str]:
    """Node ids (``connectfi/test_x.py::name``) of the suite tests marked ``readonly``."""
    out: set[str] = set()
    for path in sorted((suites_dir() / "connectfi").glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module_mark = any(
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
            and "readonly" in ast.unparse(node.value)
            for node in tree.body
        )
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test"
            ):
                marked = any(ast.unparse(d).endswith("mark.readonly") for d in node.decorator_list)
                if marked or module_mark:
                    out.add(f"connectfi/{path.name}::{node.name}")
    return out


def _base_nodeid(nodeid: str) -> str:
    return nodeid.split("[", 1)[0]


@contextlib.contextmanager
def standalone_sandbox(
    tmp_path: Path, env: dict[str, str], *extra: str, vendor: str = "connectfi"
) -> Iterator[str]:
    """``apicert sandbox serve VENDOR --port 0`` in the background; yield its URL."""
    workdir = tmp_path / "serve"
    workdir.mkdir()
    state = workdir / "state.sqlite"
    out, err = workdir / "stdout.txt", workdir / "stderr.txt"
    with out.open("wb") as fout, err.open("wb") as ferr:
        proc = subprocess.Popen(
            _command("sandbox", "serve", vendor, "--port", "0", "--state", str(state), *extra),
            cwd=workdir,
            env=env,
            stdout=fout,
            stderr=ferr,
        )
    try:
        deadline = time.monotonic() + 30
        while "\n" not in out.read_text(encoding="utf-8"):
            if proc.poll() is not None:
                pytest.fail(f"sandbox serve exited {proc.returncode}: {err.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"sandbox serve printed no line in 30 s: {err.read_text()}")
            time.sleep(0.05)
        first = out.read_text(encoding="utf-8").splitlines()[0]
        match = SERVE_LINE.match(first)
        assert match, first
        assert match.group(1) == vendor, first
        assert Path(match.group(3)) == state, first
        yield match.group(2)
        assert proc.poll() is None, f"sandbox serve died during the test: {err.read_text()}"
        assert state.exists()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# -- 1. a clean embedded run -----------------------------------------------------------------


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Result:
    return apicert(tmp_path_factory.mktemp("clean"), "run")


@pytest.fixture(scope="module")
def all_ids() -> list[str]:
    return [r.id for v in VENDORS for r in load_catalog(v)]


def test_clean_run_exits_0_and_writes_the_three_reports(clean_run: Result) -> None:
    assert clean_run.code == 0, clean_run.stdout + clean_run.stderr
    for name in ("results.json", "junit.xml", "pytest-html.html"):
        assert (clean_run.report_dir / name).is_file(), name
    assert "Traceback" not in clean_run.stdout + clean_run.stderr


def test_clean_run_results_json_passes_every_requirement_of_every_vendor(
    clean_run: Result, all_ids: list[str]
) -> None:
    doc = clean_run.results()
    assert doc["schema_version"]
    assert doc["run"]["errors"] == []
    statuses = clean_run.statuses()
    assert sorted(statuses) == sorted(all_ids)
    # Warnings the catalogs mark as expected of a sandbox that keeps the vendor's own rule.
    expected = {r.id: "warning" for v in VENDORS for r in load_catalog(v) if r.expected_warning}
    assert {rid: s for rid, s in statuses.items() if s != "passed"} == expected
    for vendor in VENDORS:
        assert doc["summary"][vendor]["conformant"] is True, vendor
        assert doc["summary"][vendor]["verdict"] == "conformant", vendor


def test_clean_run_junit_and_html_name_the_requirements(
    clean_run: Result, all_ids: list[str]
) -> None:
    junit = (clean_run.report_dir / "junit.xml").read_text(encoding="utf-8")
    assert '<property name="requirement" value="CONNECTFI-' in junit
    in_junit = set(re.findall(r'<property name="requirement" value="([^"]+)"', junit))
    assert in_junit == set(all_ids)
    html = (clean_run.report_dir / "pytest-html.html").read_text(encoding="utf-8")
    assert "CONNECTFI-ENV-01" in html


def test_clean_run_prints_an_80_column_conformance_summary(clean_run: Result) -> None:
    section = conformance_section(clean_run.stdout)
    for vendor in VENDORS:
        assert any(line.startswith(f"{vendor}: CONFORMANT (") for line in section), section
    too_wide = [line for line in section if len(line) > 80]
    assert too_wide == [], too_wide


# -- 2. a fault makes its requirement fail, with evidence ------------------------------------


def test_fault_run_fails_env_04_with_evidence_in_the_report(tmp_path: Path) -> None:
    result = apicert(
        tmp_path, "run", "--vendor", "connectfi", "--fault", "connectfi:requestid-repeated"
    )
    assert result.code == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    doc = result.results()
    env04 = result.requirements()["CONNECTFI-ENV-04"]
    assert env04["status"] == "failed"
    assert env04["findings"], env04
    assert any(f["evidence"] for f in env04["findings"]), env04["findings"]
    for req in doc["requirements"]:
        for finding in req["findings"]:
            missing = [eid for eid in finding["evidence"] if eid not in doc["exchanges"]]
            assert missing == [], (req["id"], finding)
    assert doc["run"]["faults"] == {"connectfi": ["requestid-repeated"]}
    assert "connectfi: NOT CONFORMANT" in result.stdout
    too_wide = [line for line in conformance_section(result.stdout) if len(line) > 80]
    assert too_wide == [], too_wide


# -- 3. usage errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--bogus"], "--bogus"),
        (["--vendor", "nope"], "nope"),
        (["--target", "connectfi"], "VENDOR=URL"),
        (["--target", "connectfi=ftp://x"], "ftp://x"),
    ],
    ids=["unknown-flag", "unknown-vendor", "malformed-target", "non-http-target"],
)
def test_usage_error_is_one_line_and_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    result = apicert(tmp_path, "run", *args, timeout=QUICK_TIMEOUT)
    line = assert_one_error_line(result)
    assert expected in line


# -- 4./5./6. set-up errors on URL targets ---------------------------------------------------


def assert_setup_report(result: Result) -> dict[str, Any]:
    doc = result.results()
    assert doc["run"]["errors"], doc["run"]
    assert doc["requirements"], doc
    assert {r["status"] for r in doc["requirements"]} == {"skipped"}
    return doc


def test_missing_credential_names_the_variable(tmp_path: Path) -> None:
    result = apicert(
        tmp_path,
        "run",
        "--target",
        f"connectfi=http://127.0.0.1:{_closed_port()}",
        timeout=QUICK_TIMEOUT,
    )
    line = assert_one_error_line(result)
    assert LOGIN_ENV in line
    doc = assert_setup_report(result)
    assert LOGIN_ENV in doc["run"]["errors"][0]
    # Same summary schema as a run that happened: nothing verified, so incomplete.
    assert doc["summary"]["connectfi"]["verdict"] == "incomplete"


def test_unreachable_target_fails_fast(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    result = apicert(
        tmp_path, "run", "--target", f"connectfi={url}", env=_env(**SANDBOX_CREDS), timeout=60
    )
    line = assert_one_error_line(result)
    assert "unreachable" in line
    assert url in line
    assert_setup_report(result)
    assert result.elapsed < 15, result.elapsed


def test_production_host_is_refused_before_connecting(tmp_path: Path) -> None:
    result = apicert(
        tmp_path,
        "run",
        "--target",
        "connectfi=https://api.connectfi.com",
        env=_env(**SANDBOX_CREDS),
        timeout=QUICK_TIMEOUT,
    )
    line = assert_one_error_line(result)
    assert "--allow-production" in line
    assert "api.connectfi.com" in line
    assert_setup_report(result)


# -- 7./8. a standalone sandbox --------------------------------------------------------------


@pytest.mark.parametrize("vendor", VENDORS)
def test_standalone_sandbox_gives_the_same_statuses_as_embedded(
    tmp_path: Path, clean_run: Result, vendor: str
) -> None:
    creds = {c.env: f"standalone_{c.name}_{vendor}" for c in get_vendor(vendor).credentials}
    env = _env(**creds)
    with standalone_sandbox(tmp_path, env, vendor=vendor) as url:
        # --allow-load: the standalone sandbox is a URL target, where the load probe is opt-in.
        run = ["run", "--vendor", vendor, "--target", f"{vendor}={url}", "--allow-load"]
        result = apicert(tmp_path / "run", *run, env=env)
    assert result.code == 0, result.stdout + result.stderr
    doc = result.results()
    target = doc["run"]["targets"][vendor]
    assert target["base_url"] == url
    assert target["embedded"] is False
    embedded = {
        rid: s for rid, s in clean_run.statuses().items() if rid.startswith(vendor.upper() + "-")
    }
    assert result.statuses() == embedded


def test_local_production_host_runs_read_only_tests_only(tmp_path: Path) -> None:
    env = _env(**SANDBOX_CREDS, APICERT_PRODUCTION_HOSTS="127.0.0.1")
    with standalone_sandbox(tmp_path, env) as url:
        target = ["--vendor", "connectfi", "--target", f"connectfi={url}"]
        refused = apicert(tmp_path / "refused", "run", *target, env=env, timeout=60)
        allowed = apicert(tmp_path / "allowed", "run", "--allow-production", *target, env=env)
    line = assert_one_error_line(refused)
    assert "--allow-production" in line

    assert allowed.code == 0, allowed.stdout + allowed.stderr
    assert allowed.results()["run"]["targets"]["connectfi"]["production"] is True
    readonly = readonly_tests()
    assert readonly, "no test in suites/connectfi is marked readonly"
    seen_readonly: set[str] = set()
    seen_other: set[str] = set()
    for rid, req in allowed.requirements().items():
        by_readonly = [t for t in req["tests"] if _base_nodeid(t["nodeid"]) in readonly]
        others = [t for t in req["tests"] if _base_nodeid(t["nodeid"]) not in readonly]
        seen_readonly.update(_base_nodeid(t["nodeid"]) for t in by_readonly)
        seen_other.update(_base_nodeid(t["nodeid"]) for t in others)
        assert all(t["outcome"] == "passed" for t in by_readonly), (rid, req["tests"])
        assert all(t["outcome"] == "skipped" for t in others), (rid, req["tests"])
        if by_readonly:
            assert req["status"] == "passed", (rid, req)
        else:
            assert req["status"] == "skipped", (rid, req)
            assert "production host" in req["reason"], (rid, req)
    assert seen_readonly == readonly
    assert seen_other, "every test ran as read-only: the guard was not exercised"
    # Nothing failed, but most requirements were not verified: never called conformant.
    assert allowed.results()["summary"]["connectfi"]["verdict"] == "incomplete"
    assert "connectfi: INCOMPLETE" in allowed.stdout


# -- refused credentials ----------------------------------------------------------------------


def test_refused_credentials_are_a_setup_error_not_a_vendor_failure(tmp_path: Path) -> None:
    serve_env = _env(**SANDBOX_CREDS)
    run_env = _env(
        APICERT_CONNECTFI_LOGIN="apicert_sandbox", APICERT_CONNECTFI_PASSWORD="wrong-pw-123"
    )
    with standalone_sandbox(tmp_path, serve_env) as url:
        target = ["--vendor", "connectfi", "--target", f"connectfi={url}"]
        result = apicert(tmp_path / "run", "run", *target, env=run_env)
    assert result.code == 2, result.stdout + result.stderr
    assert "APICERT_CONNECTFI_PASSWORD" in assert_one_error_line(result)
    statuses = {r["status"] for r in result.requirements().values()}
    assert "failed" not in statuses, result.requirements()
    assert result.results()["run"]["errors"]


# -- time without clock control ---------------------------------------------------------------


def test_target_without_clock_skips_expiry_or_really_waits(tmp_path: Path) -> None:
    env = _env(**SANDBOX_CREDS)
    args = ("--no-control", "--option", "token_lifetime=2")
    with standalone_sandbox(tmp_path, env, *args) as url:
        run = ["run", "--vendor", "connectfi", "--target", f"connectfi={url}"]
        skipped = apicert(tmp_path / "skip", *run, "-k", "past_its_expiry", env=env)
        waited = apicert(tmp_path / "wait", *run, "--real-wait", "-k", "past_its_expiry", env=env)
    assert skipped.code == 0, skipped.stdout + skipped.stderr
    status = skipped.requirements()["CONNECTFI-AUTH-04"]
    assert status["status"] == "skipped" and "--real-wait" in status["reason"], status
    assert waited.code == 0, waited.stdout + waited.stderr
    assert waited.requirements()["CONNECTFI-AUTH-04"]["status"] == "passed"


# -- 9. sandbox faults / serve usage ---------------------------------------------------------


def test_sandbox_faults_lists_every_fault(tmp_path: Path) -> None:
    result = apicert(tmp_path, "sandbox", "faults", "connectfi", timeout=QUICK_TIMEOUT)
    assert result.code == 0, result.stderr
    assert result.stderr == ""
    breaks = [line for line in result.stdout.splitlines() if "breaks CONNECTFI-" in line]
    assert len(breaks) >= 20, result.stdout
    faults = fault_catalog("connectfi")
    assert len(breaks) == len(faults)
    for fault in faults:
        assert any(line.split()[0] == fault.name for line in breaks), fault.name


def test_sandbox_faults_of_unknown_vendor_is_a_usage_error(tmp_path: Path) -> None:
    result = apicert(tmp_path, "sandbox", "faults", "nope", timeout=QUICK_TIMEOUT)
    assert "nope" in assert_one_error_line(result)


def test_sandbox_serve_with_unknown_fault_is_a_usage_error(tmp_path: Path) -> None:
    result = apicert(
        tmp_path, "sandbox", "serve", "connectfi", "--fault", "nope", timeout=QUICK_TIMEOUT
    )
    assert "nope" in assert_one_error_line(result)


@pytest.mark.parametrize("spec", ["connectfi:nope", "nope", "acme:code-integer"])
def test_run_with_a_bad_fault_is_a_usage_error(tmp_path: Path, spec: str) -> None:
    result = apicert(tmp_path, "run", "--fault", spec, timeout=QUICK_TIMEOUT)
    assert spec.split(":")[-1] in assert_one_error_line(result)


# -- load: only with --allow-load on a URL target, never on production -------------------------


def test_load_probe_needs_allow_load_on_a_url_target_and_never_runs_on_production(
    tmp_path: Path,
) -> None:
    creds = {c.env: f"load-{c.name}" for c in get_vendor("digifi").credentials}
    env = _env(**creds)
    prod_env = _env(**creds, APICERT_PRODUCTION_HOSTS="127.0.0.1")
    with standalone_sandbox(tmp_path, env, vendor="digifi") as url:
        run = ["run", "--vendor", "digifi", "--target", f"digifi={url}", "-k", "rate_limit"]
        without = apicert(tmp_path / "without", *run, env=env)
        allowed = apicert(tmp_path / "allowed", *run, "--allow-load", env=env)
        production = apicert(
            tmp_path / "production", *run, "--allow-load", "--allow-production", env=prod_env
        )
    rate = [r.id for r in load_catalog("digifi") if r.id.startswith("DIGIFI-RATE-")]
    assert rate
    for rid in rate:
        skipped = without.requirements()[rid]
        assert skipped["status"] == "skipped", skipped
        assert "--allow-load" in skipped["reason"], skipped
        assert allowed.requirements()[rid]["status"] == "passed", allowed.stdout[-3000:]
        refused = production.requirements()[rid]
        assert refused["status"] == "skipped", refused
        assert "production" in refused["reason"], refused
    # Nothing was sent by the refused probes: every exchange of those runs predates the probe.
    assert len(without.results()["exchanges"]) < 20
    assert len(production.results()["exchanges"]) < 20
