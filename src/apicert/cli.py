"""The ``apicert`` command.

* ``apicert run``: run the conformance suites (embedded reference sandboxes unless ``--target``),
  print the summary, write ``reports/``; exit 0 all passed, 1 a requirement failed, 2 a usage or
  set-up error.
* ``apicert sandbox serve VENDOR``: serve one reference sandbox in the foreground.
* ``apicert sandbox faults [VENDOR]``: list the faults and the requirement each breaks.
* ``apicert report diff OLD NEW [--html FILE]``: what changed between two runs, and schema drift;
  exit 1 when a requirement is newly failing.
* ``apicert report merge A.json B.json ... [--report-dir DIR]``: one results.json, report and
  verdict from shards (``apicert run --shard K/N``); exit as ``apicert run``.
* ``apicert selftest [--vendor V] [--fault NAME] [--jobs N]``: run the suites against every
  sandbox fault and print the kill matrix; exit 1 when a fault fails nothing it declares, fails
  something it does not, or a requirement is failed by no fault.
* ``apicert certify --vendor V --api-version X --baseline OLD.json [--out DIR]``: run the suites
  at a new API version, diff against the baseline, write a signed certification bundle; exit 0
  certified, 1 not (see :mod:`apicert.certify`).
* ``apicert verify BUNDLE``: check a bundle's digests and signature; exit 0 verified, 1 a file
  changed, added or removed, 2 when it cannot be checked (a signed bundle and no key).
* ``apicert repro FINDING_ID [--results FILE] [--out DIR]``: a standalone pytest file and curl
  script reproducing one finding; ``apicert replay CASSETTE --target VENDOR=URL``: re-send a
  ``run --record`` cassette; exit 1 while a recorded failure still fails (:mod:`apicert.replay`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_SETUP = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that ends a usage error with one line naming the problem and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_SETUP, f"apicert: error: {message} (see '{self.prog} --help')\n")


def _positive_seconds(text: str) -> float:
    """argparse type: a number of seconds above zero and at most an hour."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0 and at most 3600 seconds")
    return value


def _workers(text: str) -> str:
    """argparse type: a worker count (0 = serial) or 'auto'."""
    if text in ("auto", "logical") or (text.isdigit() and int(text) <= 256):
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers (0-256) or 'auto'")


def _vendor_list(values: Sequence[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        out.extend(v.strip().lower() for v in value.split(",") if v.strip())
    return out


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``apicert`` command."""
    parser = _Parser(
        prog="apicert", description="Contract and compliance tests for fintech vendor APIs."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    run = sub.add_parser("run", help="run the conformance suites and write reports/")
    run.add_argument(
        "--vendor",
        action="append",
        default=[],
        help="vendor(s) to run, repeatable or comma-separated (default: all)",
    )
    run.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="VENDOR=URL",
        help="test VENDOR at URL instead of its embedded sandbox",
    )
    run.add_argument("--report-dir", default="reports", help="where reports go (default: reports)")
    run.add_argument(
        "--allow-production",
        action="store_true",
        help="allow a known production host (read-only suites only)",
    )
    run.add_argument(
        "--allow-load", action="store_true", help="allow load probes against URL targets"
    )
    run.add_argument(
        "--real-wait",
        action="store_true",
        help="really wait for time-dependent requirements on targets without clock control",
    )
    run.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="VENDOR:FAULT",
        help="switch a fault on in an embedded sandbox",
    )
    run.add_argument(
        "--seed",
        type=int,
        default=None,
        help="the run's seed: generated data and Hypothesis (repeat a run; default: picked)",
    )
    run.add_argument(
        "--record",
        action="store_true",
        help="save every exchange (redacted) as cassettes/<vendor>.json under --report-dir",
    )
    run.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=None,
        metavar="SECONDS",
        help="read timeout per request (default 10; a whole response gets 1.5 times it)",
    )
    run.add_argument(
        "-k",
        dest="keyword",
        default=None,
        help="only run tests matching the expression (as pytest -k)",
    )
    run.add_argument(
        "-m", dest="markexpr", default=None, help="only run tests matching the mark expression"
    )
    run.add_argument("-v", "--verbose", action="store_true", help="one line per test")
    _add_version_options(run)
    run.add_argument(
        "-n",
        "--numprocesses",
        type=_workers,
        default=None,
        metavar="N",
        help="run tests in N worker processes (pytest-xdist), or 'auto'; same report as serial",
    )
    run.add_argument(
        "--shard",
        default=None,
        metavar="K/N",
        help="run only shard K of N (whole modules); join the shards with 'apicert report merge'",
    )
    run.add_argument(
        "pytest_args", nargs=argparse.REMAINDER, help="after --, arguments passed to pytest"
    )

    sandbox = sub.add_parser("sandbox", help="reference sandboxes")
    ssub = sandbox.add_subparsers(dest="sandbox_command", parser_class=_Parser)
    serve = ssub.add_parser("serve", help="serve one reference sandbox in the foreground")
    serve.add_argument("vendor")
    serve.add_argument(
        "--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)"
    )
    serve.add_argument(
        "--state", default=None, metavar="FILE", help="SQLite file for state (kept across restarts)"
    )
    serve.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="switch a fault on (repeatable)",
    )
    serve.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a sandbox setting, e.g. token_lifetime=60 (seconds) for connectfi",
    )
    serve.add_argument(
        "--no-control",
        action="store_true",
        help="no /__sandbox__/ endpoints: behave like a real vendor sandbox (no clock control)",
    )

    faults = ssub.add_parser("faults", help="list faults and the requirements they break")
    faults.add_argument("vendor", nargs="?")

    report = sub.add_parser("report", help="work with results.json files")
    rsub = report.add_subparsers(dest="report_command", parser_class=_Parser)
    diff = rsub.add_parser("diff", help="what changed between two runs, and schema drift")
    diff.add_argument("old", metavar="OLD.json")
    diff.add_argument("new", metavar="NEW.json")
    diff.add_argument("--html", default=None, metavar="FILE", help="also write the diff as HTML")
    merge = rsub.add_parser(
        "merge", help="one results.json, report and verdict from several (e.g. shards)"
    )
    merge.add_argument("inputs", nargs="+", metavar="RESULTS.json")
    merge.add_argument(
        "--report-dir", default="reports", help="where the merged report goes (default: reports)"
    )

    from apicert.replay import add_parsers as add_replay_parsers

    add_replay_parsers(sub)

    selftest = sub.add_parser(
        "selftest", help="run the suites against every sandbox fault; print the kill matrix"
    )
    selftest.add_argument(
        "--vendor",
        action="append",
        default=[],
        help="vendor(s) to self-test, repeatable or comma-separated (default: all)",
    )
    selftest.add_argument(
        "--fault", action="append", default=[], metavar="NAME", help="only this fault (repeatable)"
    )
    selftest.add_argument(
        "--jobs", type=int, default=2, help="runs at a time (default 2; each is one process)"
    )
    selftest.add_argument(
        "--report-dir",
        default="reports/selftest",
        help="where the runs and kill-matrix.json/.html go (default: reports/selftest)",
    )
    _add_certify_parsers(sub)
    return parser


def _add_certify_parsers(sub: argparse._SubParsersAction[_Parser]) -> None:
    """``apicert certify`` and ``apicert verify`` (see :mod:`apicert.certify`)."""
    certify = sub.add_parser(
        "certify", help="certify a new API version against a baseline run; write a bundle"
    )
    certify.add_argument("--vendor", required=True, help="the vendor (one with API versions)")
    certify.add_argument("--api-version", required=True, metavar="VERSION", help="the candidate")
    certify.add_argument(
        "--baseline", required=True, metavar="OLD.json", help="results.json of the baseline run"
    )
    certify.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="bundle directory, new or empty (default: reports/certify-VENDOR-VERSION)",
    )
    certify.add_argument("--target", default=None, metavar="URL", help="the vendor at URL")
    certify.add_argument("-k", dest="keyword", default=None, help="only tests matching (pytest -k)")
    certify.add_argument("--seed", type=int, default=None, help="the run's seed")
    certify.add_argument("--timeout", type=_positive_seconds, default=None, metavar="SECONDS")
    certify.add_argument("--known-issues", default=None, metavar="FILE")
    certify.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="VENDOR:FAULT",
        help="switch a fault on in the embedded sandbox (self-tests of certify)",
    )
    certify.add_argument("-v", "--verbose", action="store_true", help="one line per test")
    verify = sub.add_parser("verify", help="check a certification bundle's digests and signature")
    verify.add_argument("bundle", metavar="BUNDLE", help="the bundle directory")


def _certify(args: argparse.Namespace) -> int:
    """Run a certification; exit 0 certified, 1 not, 2 when it cannot start."""
    from apicert.bundle import bundle_key
    from apicert.certify import CertifyError, CertifyRequest, certify

    vendor = args.vendor.strip().lower()
    out = Path(args.out or f"reports/certify-{vendor}-{args.api_version}")
    run_args: list[str] = []
    if args.target:
        run_args += ["--target", f"{vendor}={args.target}"]
    if args.keyword:
        run_args += ["-k", args.keyword]
    if args.seed is not None:
        run_args += ["--seed", str(args.seed)]
    if args.timeout is not None:
        run_args += ["--timeout", f"{args.timeout:g}"]
    if args.known_issues:
        run_args += ["--known-issues", args.known_issues]
    for fault in args.fault:
        run_args += ["--fault", fault]
    if args.verbose:
        run_args.append("-v")
    request = CertifyRequest(vendor, args.api_version, Path(args.baseline), out, tuple(run_args))
    try:
        return certify(request, main, bundle_key())
    except CertifyError as exc:
        _error(str(exc))
        return EXIT_SETUP
    except OSError as exc:
        _error(f"cannot write the bundle {out}: {exc.strerror or exc}")
        return EXIT_SETUP


def _verify(args: argparse.Namespace) -> int:
    """Check a bundle: exit 0 verified, 1 tampered, 2 when it cannot be checked."""
    from apicert.bundle import KEY_ENV, bundle_key, verify_bundle

    try:
        result = verify_bundle(Path(args.bundle), bundle_key())
    except FileNotFoundError as exc:
        _error(str(exc))
        return EXIT_SETUP
    for problem in result.problems:
        print(problem)
    if result.problems:
        print(f"NOT verified: {len(result.problems)} problem(s) in {args.bundle}")
        return EXIT_FAILED
    if result.key_missing:
        _error(
            f"{args.bundle}: the manifest is signed; set {KEY_ENV} to the signing key to check "
            f"the signature ({result.files} file digests match)"
        )
        return EXIT_SETUP
    how = "signature checked" if result.signature_checked else "unsigned: digests only"
    print(f"verified: {result.files} files ({how})")
    return EXIT_OK


def _add_version_options(parser: argparse.ArgumentParser) -> None:
    """``--api-version`` and ``--known-issues``, shared by ``run`` and ``certify``."""
    parser.add_argument(
        "--api-version",
        default=None,
        metavar="VERSION",
        help="the vendor API version to test (DigiFi: a date such as 2024-02-26), sent on every "
        "request and checked against that version's OpenAPI document",
    )
    parser.add_argument(
        "--known-issues",
        default=None,
        metavar="FILE",
        help="known-issues registry: listed failures do not fail the run "
        "(default: known_issues.yaml in the working directory, when present)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from apicert import __version__

        print(f"apicert {__version__}")
        return EXIT_OK
    if args.command == "run":
        return _run(args)
    if args.command == "sandbox":
        if args.sandbox_command == "serve":
            return _serve(args)
        if args.sandbox_command == "faults":
            return _faults(args)
        _error("choose a sandbox command: serve or faults (see 'apicert sandbox --help')")
        return EXIT_SETUP
    if args.command == "report":
        if args.report_command == "diff":
            return _report_diff(args)
        if args.report_command == "merge":
            from apicert.report.merge import merge_command

            return merge_command(args.inputs, Path(args.report_dir))
        _error("choose a report command: diff or merge (see 'apicert report --help')")
        return EXIT_SETUP
    if args.command == "selftest":
        return _selftest(args)
    if args.command == "certify":
        return _certify(args)
    if args.command == "verify":
        return _verify(args)
    if args.command in ("repro", "replay"):
        from apicert.replay import command

        return command(args)
    _error(
        "choose a command: run, sandbox, report, selftest, certify, verify, repro or replay "
        "(see 'apicert --help')"
    )
    return EXIT_SETUP


def _selftest(args: argparse.Namespace) -> int:
    """Run the kill matrix; print one line per run as it ends, then the whole matrix."""
    from apicert.sandbox.runtime import available_sandboxes, fault_catalog
    from apicert.selftest import kill_matrix, matrix_lines, write_matrix, write_report

    vendors = _vendor_list(args.vendor) or available_sandboxes()
    unknown = [v for v in vendors if v not in available_sandboxes()]
    if unknown:
        _error(f"no reference sandbox for {unknown[0]!r}; have: {', '.join(available_sandboxes())}")
        return EXIT_SETUP
    if args.jobs < 1:
        _error("--jobs must be at least 1")
        return EXIT_SETUP
    known = {f.name for v in vendors for f in fault_catalog(v)}
    bad = [f for f in args.fault if f not in known]
    if bad:
        _error(f"unknown fault {bad[0]!r}; 'apicert sandbox faults' lists them")
        return EXIT_SETUP
    report_dir = Path(args.report_dir)
    matrix = kill_matrix(
        vendors,
        report_dir,
        jobs=args.jobs,
        faults=args.fault or None,
        progress=lambda row: print(
            f"  {'ok ' if row.ok else 'RED'} {row.vendor}:{row.fault} ({row.elapsed:.0f} s)",
            flush=True,
        ),
    )
    print()
    for line in matrix_lines(matrix):
        print(line)
    json_path, html_path = write_matrix(matrix, report_dir)
    print(f"kill matrix: {json_path}, {html_path}")
    page = write_report(matrix, report_dir)
    if page is not None:
        print(f"report (clean runs and the kill matrix): {page}")
    return EXIT_OK if matrix.ok else EXIT_FAILED


def _error(message: str) -> None:
    print(f"apicert: error: {message}", file=sys.stderr, flush=True)


def _setup_failure(message: str, vendors: list[str], report_dir: Path) -> int:
    """Print the one-line error and still write a results.json that says what happened."""
    from apicert.catalog import load_catalog
    from apicert.report.html import write_html
    from apicert.report.results import SCHEMA_VERSION, vendor_summary, write_results

    _error(message)
    requirements = []
    for vendor in vendors:
        try:
            catalog = load_catalog(vendor)
        except FileNotFoundError:
            continue
        for req in catalog:
            entry = req.to_dict()
            entry.update(
                status="skipped",
                reason=f"not run: {message}",
                findings=[],
                findings_total=0,
                tests=[],
            )
            requirements.append(entry)
    doc = {
        "schema_version": SCHEMA_VERSION,
        "run": {"errors": [message], "targets": {}, "faults": {}},
        "summary": {
            v: vendor_summary(Counter(r["status"] for r in requirements if r["vendor"] == v))
            for v in vendors
        },
        "requirements": requirements,
        "exchanges": {},
    }
    try:
        path = write_results(doc, report_dir / "results.json")
        write_html(doc, report_dir)  # never leave an earlier run's page beside this results.json
        print(f"apicert: report written to {path}", file=sys.stderr)
    except OSError as exc:
        _error(f"could not write the report to {report_dir}: {exc.strerror}")
    return EXIT_SETUP


def _run(args: argparse.Namespace) -> int:
    from apicert.paths import suites_dir
    from apicert.targets import SetupError, check_reachable, parse_target_specs, resolve_targets
    from apicert.vendors import VENDORS

    report_dir = Path(args.report_dir)
    vendors = _vendor_list(args.vendor) or sorted(VENDORS)
    unknown = [v for v in vendors if v not in VENDORS]
    if unknown:
        _error(f"unknown vendor {unknown[0]!r}; known vendors: {', '.join(sorted(VENDORS))}")
        return EXIT_SETUP
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _error(
            f"cannot create the report directory {report_dir}: {exc.strerror}; "
            "choose another with --report-dir"
        )
        return EXIT_SETUP
    from apicert.parallel import run_options_problem

    problem = _check_faults(args.fault, vendors) or run_options_problem(
        args.shard, args.numprocesses
    )
    if problem:
        _error(problem)
        return EXIT_SETUP
    registry = _check_registry(args.known_issues)
    if isinstance(registry, str):
        return _setup_failure(registry, vendors, report_dir)
    if args.api_version is not None:
        from apicert.openapi_diff import version_problem

        problems = [version_problem(v, args.api_version) for v in vendors]
        if any(problems):
            hint = "" if args.vendor else " (choose the vendor with --vendor)"
            return _setup_failure(next(p for p in problems if p) + hint, vendors, report_dir)
    try:
        specs = parse_target_specs(args.target)
        extra_vendors = [v for v in specs if v not in vendors]
        if extra_vendors and args.vendor:
            raise SetupError(f"--target names {extra_vendors[0]} but --vendor does not select it")
        targets = resolve_targets(vendors, specs, allow_production=args.allow_production)
    except SetupError as exc:
        return _setup_failure(str(exc), vendors, report_dir)
    for name, target in targets.items():
        if not target.embedded:
            problem = check_reachable(target.base_url)
            if problem:
                return _setup_failure(
                    f"{name}: target {target.base_url} is {problem.split(' ', 1)[1]}; "
                    "check the URL, or start the sandbox with 'apicert sandbox serve'",
                    vendors,
                    report_dir,
                )
    suites = suites_dir()
    pytest_args = [str(suites / v) for v in vendors if (suites / v).is_dir()]
    if not pytest_args:
        return _setup_failure(
            f"no suites found for {', '.join(vendors)} under {suites}", vendors, report_dir
        )
    for v in vendors:
        pytest_args += ["--apicert-vendor", v]
    for name, url in specs.items():
        pytest_args += ["--apicert-target", f"{name}={url}"]
    for fault in args.fault:
        pytest_args += ["--apicert-fault", fault]
    if args.api_version is not None:
        pytest_args += [f"--apicert-api-version={v}={args.api_version}" for v in vendors]
    if registry is not None:
        pytest_args.append(f"--apicert-known-issues={registry}")
    pytest_args += [
        "--apicert-report-dir",
        str(report_dir),
        f"--junitxml={report_dir / 'junit.xml'}",
        "-o",
        "junit_family=xunit1",
        f"--html={report_dir / 'pytest-html.html'}",
        "--self-contained-html",
        "--rootdir",
        str(suites),
        "-p",
        "no:cacheprovider",
        "--tb=line",
        # The CLI has imported starlette (and so anyio's pytest plugin) before pytest starts.
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
        "-v" if args.verbose else "-q",
    ]
    if args.allow_production:
        pytest_args.append("--allow-production")
    if args.allow_load:
        pytest_args.append("--allow-load")
    if args.real_wait:
        pytest_args.append("--real-wait")
    if args.record:
        pytest_args.append("--apicert-record")
    if args.seed is not None:
        pytest_args.append(f"--apicert-seed={args.seed}")
    if args.timeout is not None:
        pytest_args.append(f"--apicert-timeout={args.timeout:g}")
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    if args.markexpr:
        pytest_args += ["-m", args.markexpr]
    if args.shard:
        pytest_args.append(f"--apicert-shard={args.shard}")
    if args.numprocesses is not None:
        pytest_args.append(f"--numprocesses={args.numprocesses}")
    extra = list(args.pytest_args)
    if extra and extra[0] == "--":
        extra = extra[1:]
    pytest_args += extra
    return _invoke_pytest(pytest_args, report_dir, vendors)


def _check_registry(given: str | None) -> Path | str | None:
    """The known-issues registry to pass on (validated), None when there is none, or the
    one-line problem with it."""
    from apicert.known_issues import RegistryError, default_path, load_registry

    path = default_path(given)
    if path is None:
        return None
    try:
        load_registry(path)
    except RegistryError as exc:
        return str(exc)
    return path.resolve()


def _check_faults(specs: Sequence[str], vendors: list[str]) -> str | None:
    """Return a one-line problem with the ``--fault VENDOR:FAULT`` values, or None."""
    from apicert.sandbox.runtime import available_sandboxes, fault_catalog

    for spec in specs:
        vendor, sep, name = spec.partition(":")
        if not sep or not vendor or not name:
            return f"--fault {spec!r} is not VENDOR:FAULT (e.g. connectfi:code-integer)"
        if vendor not in available_sandboxes():
            return f"--fault {spec!r}: no reference sandbox for {vendor!r}"
        if vendor not in vendors:
            return f"--fault {spec!r}: {vendor} is not selected by --vendor"
        if name not in {f.name for f in fault_catalog(vendor)}:
            return (
                f"unknown fault {name!r} for {vendor}; 'apicert sandbox faults {vendor}' lists them"
            )
    return None


def _invoke_pytest(pytest_args: list[str], report_dir: Path, vendors: list[str]) -> int:
    import pytest

    from apicert.report.results import exit_code

    results = report_dir / "results.json"
    if results.exists():
        results.unlink()
    code = pytest.ExitCode(pytest.main(pytest_args))
    if code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.INTERNAL_ERROR):
        return _setup_failure(
            f"pytest stopped with a {code.name.lower().replace('_', ' ')} (see above)",
            vendors,
            report_dir,
        )
    if not results.exists():
        if code == pytest.ExitCode.NO_TESTS_COLLECTED:
            return _setup_failure(
                "no test matched the selection (-k/-m/--vendor)", vendors, report_dir
            )
        return _setup_failure(
            "the run wrote no results.json (see the pytest output above)", vendors, report_dir
        )
    doc = json.loads(results.read_text(encoding="utf-8"))
    status = exit_code(doc)
    for error in doc["run"].get("errors", []):
        _error(error)
    print(
        f"reports: {results}, {report_dir / 'conformance.html'}, "
        f"{report_dir / 'pytest-html.html'}, {report_dir / 'junit.xml'}"
    )
    ran = (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    empty_shard = code == pytest.ExitCode.NO_TESTS_COLLECTED and doc["run"].get("shard")
    if status == EXIT_OK and code not in ran and not empty_shard:
        return EXIT_SETUP
    return status


def _report_diff(args: argparse.Namespace) -> int:
    """Print what changed from OLD to NEW; exit 1 when a requirement is newly failing."""
    from apicert.report.diff import (
        DiffError,
        diff_lines,
        diff_results,
        load_results,
        render_diff_html,
    )

    try:
        diff = diff_results(load_results(Path(args.old)), load_results(Path(args.new)))
    except DiffError as exc:
        _error(str(exc))
        return EXIT_SETUP
    for line in diff_lines(diff):
        print(line)
    if args.html:
        try:
            Path(args.html).write_text(render_diff_html(diff), encoding="utf-8")
        except OSError as exc:
            _error(f"cannot write {args.html}: {exc.strerror}")
            return EXIT_SETUP
        print(f"html: {args.html}")
    return EXIT_FAILED if diff["newly_failing"] else EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    from apicert.sandbox.runtime import SandboxConfig, load_module
    from apicert.sandbox.server import serve_forever
    from apicert.vendors import VENDORS

    vendor = args.vendor.lower()
    try:
        module = load_module(vendor)
    except KeyError as exc:
        _error(exc.args[0])
        return EXIT_SETUP
    credentials: dict[str, str] = {}
    if vendor in VENDORS:
        for cred in VENDORS[vendor].credentials:
            if os.environ.get(cred.env):
                credentials[cred.name] = os.environ[cred.env]
    known = {f.name for f in module.FAULTS}
    bad = [f for f in args.fault if f not in known]
    if bad:
        _error(
            f"unknown fault {bad[0]!r} for {vendor}; 'apicert sandbox faults {vendor}' lists them"
        )
        return EXIT_SETUP
    options: dict[str, object] = {}
    for spec in args.option:
        key, sep, value = spec.partition("=")
        if not sep or not key:
            _error(f"--option {spec!r} is not KEY=VALUE (e.g. token_lifetime=60)")
            return EXIT_SETUP
        options[key] = int(value) if value.lstrip("-").isdigit() else value
    config = SandboxConfig(
        vendor=vendor,
        state_path=args.state,
        faults=tuple(args.fault),
        credentials=credentials,
        options=options,
        control=not args.no_control,
    )
    try:
        serve_forever(config, args.port)
    except OSError as exc:
        _error(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}; choose another --port")
        return EXIT_SETUP
    except ValueError as exc:  # a refused --option value (the sandbox's validate_option)
        _error(str(exc))
        return EXIT_SETUP
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def _faults(args: argparse.Namespace) -> int:
    from apicert.sandbox.runtime import available_sandboxes, fault_catalog

    vendors = [args.vendor.lower()] if args.vendor else available_sandboxes()
    for vendor in vendors:
        try:
            faults = fault_catalog(vendor)
        except KeyError as exc:
            _error(exc.args[0])
            return EXIT_SETUP
        print(f"{vendor}: {len(faults)} faults")
        for fault in faults:
            print(f"  {fault.name:<36} breaks {', '.join(fault.breaks)}")
            print(f"  {'':<36} {fault.description}")
    return EXIT_OK


def entry() -> None:
    """Console entry point: ``main()`` with a closed pipe (``apicert ... | head``) kept quiet."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = EXIT_OK
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
