"""The apicert pytest plugin: options, markers, fixtures, per-requirement results.

Loaded through the ``pytest11`` entry point, so ``pytest suites/`` works as well as
``apicert run``. It stays inert for tests that name no requirement.

Options (each also readable from the environment, shown in brackets):

* ``--apicert-target VENDOR=URL`` (``APICERT_<VENDOR>_URL``): test a URL instead of the embedded
  reference sandbox; credentials then come from the variables in the README;
* ``--apicert-vendor NAME`` (``APICERT_VENDORS``, comma-separated): which vendors to run;
* ``--apicert-report-dir DIR`` (``APICERT_REPORT_DIR``): where ``results.json`` goes;
* ``--allow-production``, ``--allow-load``, ``--real-wait``: the safety switches;
* ``--apicert-fault VENDOR:FAULT``: switch a fault on in an embedded sandbox (self-tests);
* ``--apicert-seed N`` (``APICERT_SEED``): the run's seed (default: picked, printed, recorded).
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from apicert import hypothesis_memory, parallel, seeding
from apicert.auth import AuthError
from apicert.cassette import write_cassettes
from apicert.catalog import requirement as lookup_requirement
from apicert.checks.contract import schemathesis_expectations
from apicert.contract import failure_text, is_schemathesis_failure
from apicert.control import ClockUnavailable, SandboxControl
from apicert.http import Client
from apicert.known_issues import (
    KnownIssue,
    RegistryError,
    apply_registry,
    default_path,
    load_registry,
)
from apicert.model import Finding, Status
from apicert.report.html import write_html
from apicert.report.results import build_results, write_results
from apicert.report.terminal import summary_lines
from apicert.run import Run, TestRecord
from apicert.shard import Shard, parse_shard
from apicert.shard import select as shard_select
from apicert.shrink import final_example_only
from apicert.targets import SetupError, Target, parse_target_specs, resolve_targets
from apicert.vendors import VENDORS
from apicert.verdict import FindingsFailed, Verdict, blocking, summarise

__all__ = ["RUN_KEY"]

RUN_KEY = pytest.StashKey[Run]()
RESULTS_KEY = pytest.StashKey[dict[str, Any]]()
SELECTED_KEY = pytest.StashKey[list[str]]()
REGISTRY_KEY = pytest.StashKey["tuple[Path, list[KnownIssue]] | None"]()
SHARD_KEY = pytest.StashKey[Shard | None]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("apicert", "apicert conformance runs")
    group.addoption(
        "--apicert-target",
        action="append",
        default=[],
        metavar="VENDOR=URL",
        help="test a vendor at URL instead of its embedded reference sandbox",
    )
    group.addoption(
        "--apicert-vendor",
        action="append",
        default=[],
        metavar="NAME",
        help="run only these vendors (repeatable)",
    )
    group.addoption(
        "--apicert-report-dir",
        default=None,
        metavar="DIR",
        help="directory for results.json (default: reports)",
    )
    group.addoption(
        "--apicert-fault",
        action="append",
        default=[],
        metavar="VENDOR:FAULT",
        help="switch a fault on in an embedded reference sandbox",
    )
    group.addoption(
        "--allow-production",
        action="store_true",
        default=False,
        help="allow a known production host (read-only suites only)",
    )
    group.addoption(
        "--allow-load",
        action="store_true",
        default=False,
        help="allow load probes (rate limits) against URL targets",
    )
    group.addoption(
        "--apicert-record",
        action="store_true",
        default=False,
        help="save every exchange of the run (redacted) as cassettes/<vendor>.json",
    )
    group.addoption(
        "--apicert-timeout",
        type=float,
        default=None,
        help="read timeout per request in seconds (default 10; a whole response 1.5 times it)",
    )
    group.addoption(
        "--apicert-seed",
        type=int,
        default=None,
        metavar="N",
        help="the run's seed: generated data and Hypothesis (default: picked and printed)",
    )
    group.addoption(
        "--apicert-shard",
        default=None,
        metavar="K/N",
        help="run only shard K of N of the selected tests (whole modules; see apicert.shard)",
    )
    group.addoption(
        "--real-wait",
        action="store_true",
        default=False,
        help="on targets without clock control, really wait for time-dependent requirements",
    )
    group.addoption(
        "--apicert-api-version",
        action="append",
        default=[],
        metavar="VENDOR=VERSION",
        help="test this API version (sent on every request, checked against its document)",
    )
    group.addoption(
        "--apicert-known-issues",
        default=None,
        metavar="FILE",
        help="known-issues registry (default: known_issues.yaml in the working directory)",
    )


def _selected_vendors(config: pytest.Config) -> list[str]:
    names = list(config.getoption("apicert_vendor") or [])
    if not names and os.environ.get("APICERT_VENDORS"):
        names = [n.strip() for n in os.environ["APICERT_VENDORS"].split(",") if n.strip()]
    if not names:
        return sorted(VENDORS)
    unknown = [n for n in names if n.lower() not in VENDORS]
    if unknown:
        raise pytest.UsageError(
            f"unknown vendor {unknown[0]!r}; known vendors: {', '.join(sorted(VENDORS))}"
        )
    return sorted({n.lower() for n in names})


def _faults(config: pytest.Config) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for spec in config.getoption("apicert_fault") or []:
        vendor, sep, name = spec.partition(":")
        if not sep or vendor not in VENDORS or not name:
            raise pytest.UsageError(
                f"--apicert-fault {spec!r} is not VENDOR:FAULT (e.g. connectfi:code-integer)"
            )
        out.setdefault(vendor, []).append(name)
    return {k: tuple(v) for k, v in out.items()}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirement(*ids): the requirement ids this test checks")
    config.addinivalue_line("markers", "readonly: safe against production (sends no writes)")
    config.addinivalue_line(
        "markers", "load: pushes past a rate limit (needs --allow-load on URL targets)"
    )
    _hypothesis_profile(config)
    vendors = _selected_vendors(config)
    try:
        specs = parse_target_specs(config.getoption("apicert_target") or [])
        targets = resolve_targets(
            vendors, specs, allow_production=bool(config.getoption("allow_production"))
        )
    except SetupError as exc:
        raise pytest.UsageError(str(exc)) from None
    report_dir = Path(
        config.getoption("apicert_report_dir") or os.environ.get("APICERT_REPORT_DIR") or "reports"
    )
    config.stash[SELECTED_KEY] = vendors
    config.stash[REGISTRY_KEY] = _known_issues(config)
    seed = _run_seed(config)
    # A target that keeps state between runs (a URL) gets salted unique values, so repeating a
    # seed never collides with the earlier run's references and idempotency keys.
    salted = any(not t.embedded for t in targets.values())
    seeding.configure(seed, salt=f"{seeding.choose_seed():08x}" if salted else "")
    config.stash[RUN_KEY] = Run(
        targets=targets,
        report_dir=report_dir,
        faults=_faults(config),
        real_wait=bool(config.getoption("real_wait")),
        allow_load=bool(config.getoption("allow_load")),
        timeout=config.getoption("apicert_timeout"),
        api_versions=_api_versions(config, vendors),
    )
    try:
        spec = config.getoption("apicert_shard")
        shard = parse_shard(spec) if spec else None
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[SHARD_KEY] = shard
    parallel.configure(config, config.stash[RUN_KEY], shard)


def _api_versions(config: pytest.Config, vendors: list[str]) -> dict[str, str]:
    from apicert.openapi_diff import version_problem

    out: dict[str, str] = {}
    for spec in config.getoption("apicert_api_version") or []:
        vendor, sep, version = spec.partition("=")
        vendor, version = vendor.strip().lower(), version.strip()
        if not sep or vendor not in VENDORS or not version:
            raise pytest.UsageError(
                f"--apicert-api-version {spec!r} is not VENDOR=VERSION (e.g. digifi=2024-02-26)"
            )
        problem = version_problem(vendor, version)
        if problem:
            raise pytest.UsageError(problem)
        if vendor in vendors:
            out[vendor] = version
    return out


def _known_issues(config: pytest.Config) -> tuple[Path, list[KnownIssue]] | None:
    path = default_path(config.getoption("apicert_known_issues"))
    if path is None:
        return None
    try:
        return path, load_registry(path)
    except RegistryError as exc:
        raise pytest.UsageError(str(exc)) from None


def _run_seed(config: pytest.Config) -> int:
    """``--apicert-seed`` (``APICERT_SEED``), else ``--hypothesis-seed`` when an integer, else a
    fresh one: every run has a seed, printed at the end and recorded in results.json."""
    seed = config.getoption("apicert_seed", default=None)
    if seed is None and os.environ.get("APICERT_SEED", "").strip():
        try:
            seed = int(os.environ["APICERT_SEED"])
        except ValueError:
            raise pytest.UsageError(
                f"APICERT_SEED={os.environ['APICERT_SEED']!r} is not an integer"
            ) from None
    if seed is None:
        try:
            seed = int(config.getoption("hypothesis_seed", default=None))
        except (TypeError, ValueError):
            seed = seeding.choose_seed()
    return int(seed)


def _hypothesis_profile(config: pytest.Config) -> None:
    """Register the ``apicert`` hypothesis profile (bounded examples, no deadline, shrunk examples
    kept under the report directory) and load it unless the user chose another profile."""
    from hypothesis import HealthCheck, settings
    from hypothesis.configuration import set_hypothesis_home_dir
    from hypothesis.database import DirectoryBasedExampleDatabase

    report_dir = Path(
        config.getoption("apicert_report_dir") or os.environ.get("APICERT_REPORT_DIR") or "reports"
    )
    # Hypothesis's working cache (it scrapes literals from source, test card numbers included)
    # goes to the user's cache directory: neither into the cwd nor into the reports.
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "apicert"
    set_hypothesis_home_dir(str(cache / "hypothesis"))
    settings.register_profile(
        "apicert",
        # Based on Hypothesis's default profile, not the "ci" one it loads when CI is set
        # (derandomized, no database): a run behaves the same on a laptop and in CI.
        parent=settings.get_profile("default"),
        derandomize=False,
        max_examples=int(os.environ.get("APICERT_MAX_EXAMPLES", "25")),
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.filter_too_much,
        ],
        database=DirectoryBasedExampleDatabase(str(report_dir / "hypothesis")),
        print_blob=True,
    )
    if not config.getoption("hypothesis_profile", default=None):
        settings.load_profile("apicert")
    # Peak memory must not grow with the example budget (see apicert.hypothesis_memory).
    hypothesis_memory.bound_example_cache()


def _requirements(item: pytest.Item) -> tuple[str, ...]:
    ids: list[str] = []
    for mark in item.iter_markers("requirement"):
        ids.extend(str(a) for a in mark.args)
    return tuple(dict.fromkeys(ids))


def _vendor_of(item: pytest.Item) -> str | None:
    for rid in _requirements(item):
        return rid.split("-", 1)[0].lower()
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run = config.stash[RUN_KEY]
    names: list[str] = config.stash[SELECTED_KEY]
    selected = set(names)
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        ids = _requirements(item)
        vendor = _vendor_of(item)
        if vendor is not None and vendor not in selected:
            dropped.append(item)
            continue
        for rid in ids:
            try:
                lookup_requirement(rid)
            except KeyError as exc:
                raise pytest.UsageError(f"{item.nodeid}: {exc.args[0]}") from None
            item.user_properties.append(("requirement", rid))
        if vendor is not None:
            target = run.targets[vendor]
            if target.production and item.get_closest_marker("readonly") is None:
                item.add_marker(
                    pytest.mark.skip(reason="production host: only read-only suites run")
                )
            if item.get_closest_marker("load") is not None:
                if target.production:
                    item.add_marker(
                        pytest.mark.skip(reason="load is never sent to a production host")
                    )
                elif not target.embedded and not run.allow_load:
                    item.add_marker(
                        pytest.mark.skip(
                            reason="load probe against a URL target needs --allow-load"
                        )
                    )
        keep.append(item)
    shard = config.stash.get(SHARD_KEY, None)
    if shard is not None:
        keep, outside = shard_select(keep, shard)
        dropped += outside
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    ids = _requirements(item)
    run = item.config.stash[RUN_KEY]
    if ids:
        run.begin_test(item.nodeid, _vendor_of(item), ids)
    try:
        with seeding.scope(item.nodeid):
            return (yield)
    finally:
        if ids:
            run.end_test()


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, object, object]:
    # A fixture wider than a test draws from its own stream, whichever test first needs it.
    if fixturedef.scope == "function":
        return (yield)
    node = "" if fixturedef.scope == "session" else request.node.nodeid
    with seeding.scope(f"{fixturedef.scope}:{node}:{fixturedef.argname}"):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    run = item.config.stash[RUN_KEY]
    record = run.current if _requirements(item) else None
    try:
        obj = getattr(item, "obj", None)
        with seeding.hypothesis_seeded(obj, item.nodeid), final_example_only(obj, record):
            result = yield
    except ClockUnavailable as exc:
        pytest.skip(str(exc))
    if record is not None:
        failed = blocking(record.findings)
        if failed:
            raise FindingsFailed(summarise(failed))
    return result


def _contains_findings(exc: BaseException) -> bool:
    if isinstance(exc, FindingsFailed):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_contains_findings(e) for e in exc.exceptions)
    return False


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    run = item.config.stash[RUN_KEY]
    # The open record, not a lookup by node id: Schemathesis renames the node per operation and
    # calls this hook once per operation (subtest), and every one of those reports counts.
    record = run.current if _requirements(item) else None
    if record is None:
        return report
    record.duration += report.duration
    if report.skipped:
        if record.outcome in ("not run", "skipped"):  # a skipped subtest never hides a pass
            record.outcome = "skipped"
        longrepr = report.longrepr
        record.reason = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr or "")
        record.reason = record.reason.removeprefix("Skipped: ")
    elif report.failed:
        record.outcome = "failed"
        excinfo = call.excinfo
        if excinfo is not None and isinstance(excinfo.value, AuthError) and excinfo.value.refused:
            # The user's credentials were refused: a set-up error of the run, not a finding
            # against the vendor. The test did not run; the run ends with exit code 2.
            message = run.redactor.text(str(excinfo.value)) or "credentials refused"
            if message not in run.errors:
                run.errors.append(message)
            record.outcome, record.reason = "skipped", f"not run: {message}"
        elif excinfo is not None and is_schemathesis_failure(excinfo.value):
            # Schemathesis's own checks (ignored auth, rejected valid data...) failed outside
            # the test body: a finding on the test's requirements, not an unexpected error.
            message = run.redactor.text(failure_text(excinfo.value)) or "Schemathesis check failed"
            last = record.exchanges[-1:]
            promises = schemathesis_expectations(message, last[0]) if last else []
            record.findings.extend(
                Finding(rid, Status.FAILED, message, last, list(promises))
                for rid in record.requirements
            )
            record.reason = message
        elif excinfo is not None and not _contains_findings(excinfo.value):
            text = f"{excinfo.type.__name__}: {excinfo.value}".strip().splitlines()
            record.error = run.redactor.text(text[0] if text else excinfo.type.__name__) or ""
            if report.when != "call":
                record.error = f"in {report.when}: {record.error}"
        elif excinfo is not None:
            record.reason = run.redactor.text(str(excinfo.value).splitlines()[0]) or ""
    elif report.when == "call" and record.outcome in ("not run", "skipped"):
        record.outcome, record.reason = "passed", ""
    _redact_report(report, run)
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _attach_extras(item, report, record, run)
    return report


@pytest.hookimpl(trylast=True)
def pytest_exception_interact(
    node: pytest.Item | pytest.Collector,
    call: pytest.CallInfo[Any],
    report: pytest.TestReport | pytest.CollectReport,
) -> None:
    """Redact a failed report again: Schemathesis's own hook rewrites its longrepr here from the
    raw exception, after the report was logged and before pytest-html renders it."""
    run = node.config.stash.get(RUN_KEY, None)
    if run is not None:
        _redact_report(report, run)


def _redact_report(report: pytest.TestReport | pytest.CollectReport, run: Run) -> None:
    """Keep secrets out of what pytest prints and what pytest-html and JUnit write."""
    if report.longrepr is not None and not isinstance(report.longrepr, tuple):
        report.longrepr = run.redactor.text(str(report.longrepr))
    report.sections = [(name, run.redactor.text(text) or "") for name, text in report.sections]


def _attach_extras(
    item: pytest.Item, report: pytest.TestReport, record: TestRecord, run: Run
) -> None:
    try:
        from pytest_html import extras
    except ImportError:  # pragma: no cover - pytest-html is a dependency
        return
    lines = [f"requirements: {', '.join(record.requirements)}"]
    for finding in record.findings[:20]:
        lines.append(
            f"[{finding.status}] {finding.requirement}: {run.redactor.text(finding.message)}"
        )
        for eid in finding.evidence[:2]:
            ex = run.recorder.get(eid)
            if ex:
                req, resp = ex["request"], ex["response"]
                lines.append(
                    f"    {req['method']} {req['url']} -> {resp['status']} ({ex['elapsed']:.3f} s)"
                )
                body = (resp.get("body") or "")[:500]
                if body:
                    lines.append(f"    {body}")
    evidence = extras.text("\n".join(lines), name="apicert evidence")
    setattr(  # noqa: B010 - pytest-html reads this attribute; TestReport does not declare it
        report,
        "extras",
        [*getattr(report, "extras", []), evidence],
    )


def pytest_html_results_table_header(cells: list[str]) -> None:
    cells.insert(2, '<th class="sortable" data-column-type="requirement">Requirements</th>')


def pytest_html_results_table_row(report: pytest.TestReport, cells: list[str]) -> None:
    ids = [value for name, value in report.user_properties if name == "requirement"]
    cells.insert(2, f'<td class="col-requirement">{" ".join(str(i) for i in ids)}</td>')


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        return
    run.close()
    if parallel.is_controller(config):  # the workers ran the tests: merge what they sent
        merged = parallel.merged_results(config, run, _run_extra(config))
        if merged is None:
            return
        doc = merged
    else:
        # A shard with no tests still writes its (all skipped) results, for the merge.
        if not run.records and config.stash.get(SHARD_KEY, None) is None:
            return
        selected: list[str] = config.stash[SELECTED_KEY]
        doc = build_results(run, selected, extra=_run_extra(config))
    if config.getoption("apicert_record") and not parallel.is_controller(config):
        # Each worker of a parallel run had its own sandboxes: one cassette per worker.
        write_cassettes(run, doc, run.report_dir / "cassettes", parallel.worker_id(config))
    if parallel.is_worker(config):  # the controller merges, then applies the registry once
        parallel.send_results(config, doc)
        return
    registry = config.stash.get(REGISTRY_KEY, None)
    if registry is not None:
        apply_registry(doc, registry[1], registry[0])
    config.stash[RESULTS_KEY] = doc
    write_results(doc, run.report_dir / "results.json")
    write_html(doc, run.report_dir)


def _run_extra(config: pytest.Config) -> dict[str, Any]:
    seed = seeding.run_seed()
    forced = config.getoption("hypothesis_seed", default=None)
    shard = config.stash.get(SHARD_KEY, None)
    return {
        **({"shard": str(shard)} if shard is not None else {}),
        "seed": seed,
        # Hypothesis draws from per-test seeds derived from the run's seed (unless forced).
        "hypothesis_seed": seed if forced is None else forced,
        "pytest_args": list(config.invocation_params.args),
    }


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    doc = config.stash.get(RESULTS_KEY, None)
    if doc is None:
        return
    run = config.stash[RUN_KEY]
    terminalreporter.section("apicert conformance")
    for line in summary_lines(doc):
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"results: {run.report_dir / 'results.json'}")
    terminalreporter.write_line(f"report: {run.report_dir / 'conformance.html'}")
    seed = doc["run"].get("seed")
    if seed is not None:
        terminalreporter.write_line(f"seed: {seed} (repeat this run's data with --seed {seed})")


# -- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def apicert_run(pytestconfig: pytest.Config) -> Run:
    """The run: targets, recorder, records."""
    return pytestconfig.stash[RUN_KEY]


def _item_vendor(request: pytest.FixtureRequest) -> str:
    vendor = _vendor_of(request.node) if isinstance(request.node, pytest.Item) else None
    if vendor is None:
        raise pytest.UsageError(
            f"{request.node.nodeid}: mark it with @pytest.mark.requirement to use apicert fixtures"
        )
    return vendor


@pytest.fixture
def verdict(request: pytest.FixtureRequest, apicert_run: Run) -> Verdict:
    """Hands findings to the run for this test's requirements."""
    # The current record, not a lookup by node id: Schemathesis renames the node per operation.
    record = apicert_run.current
    if record is None:
        raise pytest.UsageError(
            f"{request.node.nodeid}: the verdict fixture needs @pytest.mark.requirement"
        )
    return Verdict(record)


@pytest.fixture
def target(request: pytest.FixtureRequest, apicert_run: Run) -> Target:
    """The started target of this test's vendor."""
    return apicert_run.target(_item_vendor(request))


@pytest.fixture
def api(request: pytest.FixtureRequest, apicert_run: Run) -> Client:
    """The authenticated, recording client of this test's vendor."""
    return apicert_run.client(_item_vendor(request))


@pytest.fixture
def clock(request: pytest.FixtureRequest, apicert_run: Run) -> SandboxControl:
    """Time control of this test's target (simulated clock, or real waiting when allowed)."""
    return apicert_run.control(_item_vendor(request))
