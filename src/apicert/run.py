"""The state of one conformance run: targets, embedded sandboxes, clients and per-test records.

The pytest plugin owns one :class:`Run` per session. Suites reach it through fixtures; the report
layer reads it at the end.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from apicert.auth import ConnectFiAuth, DigiFiAuth, DigitzsAuth
from apicert.checks import digifi as digifi_checks
from apicert.checks import digitzs as digitzs_checks
from apicert.checks.connectfi import RequestIdLedger, envelope
from apicert.checks.contract import OpenApiContract
from apicert.checks.masking import MaskingObserver
from apicert.control import SandboxControl
from apicert.http import Client, ClientLimits, Recorder
from apicert.model import Exchange, Finding, Status
from apicert.paths import schemas_dir, suites_dir
from apicert.redact import Redactor
from apicert.steps import StepLog
from apicert.suite_literals import identity_literals
from apicert.targets import Target
from apicert.vendors import get_vendor

__all__ = ["Run", "TestRecord"]

Observer = Callable[[Exchange], list[Finding]]


@dataclass
class TestRecord:
    """What one test did: its requirements, findings, outcome and the exchanges it sent."""

    __test__ = False  # not a pytest test class, despite the name

    nodeid: str
    vendor: str | None
    requirements: tuple[str, ...]
    findings: list[Finding] = field(default_factory=list)
    exchanges: list[str] = field(default_factory=list)
    outcome: str = "not run"
    reason: str = ""
    duration: float = 0.0
    error: str = ""
    stopped: bool = False
    # A Hypothesis test that failed: the first exchange of the final (shrunk) example, where a
    # replay of its failure starts (apicert.shrink).
    example_from: str | None = None

    def failed_findings(self) -> list[Finding]:
        """Findings with status failed."""
        return [f for f in self.findings if f.status is Status.FAILED]


def _connectfi_observers() -> list[Observer]:
    ledger = RequestIdLedger()
    contract = OpenApiContract(_openapi("connectfi"), "CONNECTFI-CONTRACT-01")
    return [envelope, ledger.observe, contract.check]


def _digitzs_observers() -> list[Observer]:
    contract = OpenApiContract(_openapi("digitzs"), "DIGITZS-CONTRACT-01")
    masking = MaskingObserver("DIGITZS-MASK-01")
    return [
        digitzs_checks.envelope,
        digitzs_checks.masked_details,
        masking.observe,
        contract.check,
    ]


# DigiFi documents one OpenAPI document per api-version (schemas/digifi/openapi-<version>.yaml).
DIGIFI_VERSIONS = ("2023-12-01", "2024-02-26")


def _digifi_observers() -> list[Observer]:
    documents = {v: _openapi("digifi", f"openapi-{v}.yaml") for v in DIGIFI_VERSIONS}
    contract = digifi_checks.VersionedContract(documents, "DIGIFI-VER-02")
    return [digifi_checks.json_response, digifi_checks.error_message, contract.check]


def _openapi(vendor: str, name: str = "openapi.yaml") -> dict[str, Any]:
    with open(schemas_dir() / vendor / name, encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.safe_load(handle)
    return document


@dataclass(frozen=True)
class _VendorHarness:
    """Everything vendor-specific the run needs, in one place per vendor."""

    auth: Callable[[Target], Any]
    observers: Callable[[], list[Observer]]
    learn: Callable[[Exchange, Redactor], None] | None = None
    # The request header naming the API version (``apicert run --api-version``); None for a
    # vendor whose documents name no versions.
    version_header: str | None = None


_HARNESS: dict[str, _VendorHarness] = {
    "connectfi": _VendorHarness(
        auth=lambda t: ConnectFiAuth(t.credentials["login"], t.credentials["password"]),
        observers=_connectfi_observers,
        learn=ConnectFiAuth.learn_secrets,
    ),
    "digitzs": _VendorHarness(
        auth=lambda t: DigitzsAuth(t.credentials["api_key"], t.credentials["app_id"]),
        observers=_digitzs_observers,
        learn=DigitzsAuth.learn_secrets,
    ),
    "digifi": _VendorHarness(
        auth=lambda t: DigiFiAuth(t.credentials["api_key"]),
        observers=_digifi_observers,
        version_header=DigiFiAuth.version_header,
    ),
}


class Run:
    """One conformance run: owns the recorder, the targets and any embedded sandboxes."""

    def __init__(
        self,
        *,
        targets: dict[str, Target],
        report_dir: Path,
        faults: dict[str, tuple[str, ...]] | None = None,
        real_wait: bool = False,
        allow_load: bool = False,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        api_versions: dict[str, str] | None = None,
    ) -> None:
        self.targets = targets
        self.api_versions = dict(api_versions or {})
        self.report_dir = report_dir
        self.faults = faults or {}
        self.real_wait = real_wait
        self.allow_load = allow_load
        self.limits = ClientLimits() if timeout is None else ClientLimits.with_timeout(timeout)
        self.env = dict(os.environ if env is None else env)
        self.redactor = Redactor()
        # A fuzzer may send the suites' identity literals under any key (apicert.suite_literals).
        for literal in identity_literals(suites_dir().rglob("*.py")):
            self.redactor.add_identity(literal)
        # Redacted exchanges are spilled to a nameless temporary file in the report directory
        # (gone when the process ends), not held in memory (issue 8).
        self.recorder = Recorder(self.redactor, spill_dir=report_dir)
        self.records: dict[str, TestRecord] = {}
        self.current: TestRecord | None = None
        self.errors: list[str] = []
        self.orphan_findings: list[Finding] = []
        self.started = time.time()
        self.ended: float | None = None
        self._servers: dict[str, Any] = {}
        self._clients: dict[str, Client] = {}
        self._auths: dict[str, Any] = {}
        self._controls: dict[str, SandboxControl] = {}
        self._observers: dict[str, list[Observer]] = {}
        self._lock = threading.RLock()
        # Replayable steps for `apicert repro`, cassettes and `apicert replay` (apicert.steps).
        self.steps = StepLog(
            self.redactor,
            self._vendor_of,
            self._credential_values,
            lambda: self.recorder.current_test,
            lambda vendor: self.targets[vendor].base_url,
            lambda: self.recorder.prefix,
        )
        self.recorder.listeners.append(self.steps.on_exchange)
        self.recorder.listeners.append(self._on_exchange)
        for name in targets:
            learn = _HARNESS[name].learn
            if learn is not None:
                self.recorder.learners.append(learn)
        for target in targets.values():
            for cred in target.vendor.credentials:
                if cred.secret:
                    self.redactor.add_secret(target.credentials.get(cred.name))

    # -- targets -------------------------------------------------------------------------
    def target(self, vendor: str) -> Target:
        """Return the started target of ``vendor`` (starting its embedded sandbox if needed)."""
        with self._lock:
            target = self.targets[vendor]
            if target.embedded and vendor not in self._servers:
                self._start_embedded(target)
            return target

    def _start_embedded(self, target: Target) -> None:
        from apicert.sandbox.runtime import SandboxConfig
        from apicert.sandbox.server import EmbeddedServer

        vendor = target.vendor
        for cred in vendor.credentials:
            generated = (
                secrets.token_urlsafe(18) if cred.secret else f"apicert_{secrets.token_hex(6)}"
            )
            value = self.env.get(cred.env) or generated
            if cred.secret:
                self.redactor.add_secret(value)
            target.credentials[cred.name] = value
        config = SandboxConfig(
            vendor=vendor.name,
            faults=self.faults.get(vendor.name, ()),
            credentials=dict(target.credentials),
        )
        server = EmbeddedServer(config).start()
        self._servers[vendor.name] = server
        target.base_url = server.base_url

    def client(self, vendor: str) -> Client:
        """Return the run's authenticated client for ``vendor`` (one per vendor)."""
        with self._lock:
            if vendor not in self._clients:
                target = self.target(vendor)
                auth = self.auth(vendor)
                self._clients[vendor] = Client(
                    target.base_url,
                    recorder=self.recorder,
                    rate_limit=target.vendor.rate_limit_per_second,
                    auth=auth,
                    limits=self.limits,
                    default_headers=self.version_headers(vendor),
                )
            return self._clients[vendor]

    def auth(self, vendor: str) -> Any:
        """Return the vendor's auth provider (caches tokens; register secrets on use)."""
        with self._lock:
            if vendor not in self._auths:
                self._auths[vendor] = _HARNESS[vendor].auth(self.target(vendor))
            return self._auths[vendor]

    def control(self, vendor: str) -> SandboxControl:
        """Return the sandbox-control client of ``vendor``'s target."""
        with self._lock:
            if vendor not in self._controls:
                target = self.target(vendor)
                control = SandboxControl(target.base_url, real_wait=self.real_wait)
                auth = self.auth(vendor)
                control.on_advance.append(lambda _s: auth.invalidate())
                control.on_advance.append(self.steps.on_advance(vendor))
                self._controls[vendor] = control
            return self._controls[vendor]

    # -- recording -----------------------------------------------------------------------
    def _vendor_of(self, exchange: Exchange) -> str | None:
        for name, target in self.targets.items():
            if target.base_url and exchange.url.startswith(target.base_url):
                return name
        return None

    def _credential_values(self, vendor: str) -> list[tuple[str, str]]:
        """``(environment variable, value)`` of each credential of ``vendor``'s target."""
        target = self.targets[vendor]
        return [(c.env, target.credentials.get(c.name, "")) for c in target.vendor.credentials]

    def _on_exchange(self, exchange: Exchange) -> None:
        record = self.current
        vendor = self._vendor_of(exchange)
        findings: list[Finding] = []
        if vendor is not None:
            with self._lock:
                if vendor not in self._observers:
                    self._observers[vendor] = _HARNESS[vendor].observers()
                observers = self._observers[vendor]
            for observe in observers:
                findings.extend(observe(exchange))
            self.steps.note_observer(findings)
        if record is not None:
            record.exchanges.append(exchange.id)
            record.findings.extend(findings)
        elif findings:
            self.orphan_findings.extend(findings)

    def begin_test(
        self, nodeid: str, vendor: str | None, requirements: tuple[str, ...]
    ) -> TestRecord:
        """Open the record of a test; exchanges and observer findings go to it until it ends."""
        record = TestRecord(nodeid=nodeid, vendor=vendor, requirements=requirements)
        self.records[nodeid] = record
        self.current = record
        self.recorder.current_test = nodeid
        return record

    def end_test(self) -> None:
        """Close the current test record."""
        self.current = None
        self.recorder.current_test = None

    def close(self) -> None:
        """Stop embedded sandboxes and note the end time."""
        self.ended = time.time()
        for server in self._servers.values():
            server.stop()
        self._servers.clear()

    def vendor_version(self, vendor: str) -> str | None:
        """The vendor API version under test (``--api-version``); None when the run names none
        (the vendor's default version, or a vendor without API versions such as connectFi)."""
        get_vendor(vendor)
        return self.api_versions.get(vendor)

    def version_headers(self, vendor: str) -> dict[str, str]:
        """The header naming the run's API version, sent on every request of ``vendor``'s client
        (a request's own header of that name wins); empty when the run names no version."""
        version = self.vendor_version(vendor)
        header = _HARNESS[vendor].version_header
        return {header: version} if version and header else {}
