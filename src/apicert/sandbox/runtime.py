"""What every reference sandbox shares: configuration, state, faults and control endpoints.

A vendor sandbox is a module that defines:

* ``FAULTS``: a tuple of :class:`Fault`, each a named, documented deviation from one promise;
* ``SCHEMA``: the SQL of its tables;
* ``DEFAULT_CREDENTIALS``: what it accepts when none are configured;
* ``routes(state) -> list[BaseRoute]``: its Starlette routes;
* optionally ``validate_option(key, value) -> value``: the checked value of one ``--option``
  (raise ValueError with a one-line reason), applied at start and by ``PUT /__sandbox__/options``.

:func:`build_app` adds the control endpoints under ``/__sandbox__/`` (clock, faults, info), which
only reference sandboxes have: the harness discovers them to decide whether time-dependent
requirements can be tested quickly.
"""

from __future__ import annotations

import importlib
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from apicert.sandbox.clock import Clock
from apicert.sandbox.store import Store

__all__ = [
    "CONTROL_PREFIX",
    "Fault",
    "SandboxConfig",
    "SandboxState",
    "available_sandboxes",
    "build_app",
    "fault_catalog",
    "load_module",
]

CONTROL_PREFIX = "/__sandbox__"

SANDBOX_MODULES: dict[str, str] = {
    "connectfi": "apicert.sandbox.connectfi",
    "digitzs": "apicert.sandbox.digitzs",
    "digifi": "apicert.sandbox.digifi",
}


@dataclass(frozen=True)
class Fault:
    """A named deviation a sandbox can switch on, and the requirement(s) it must break."""

    name: str
    breaks: tuple[str, ...]
    description: str


@dataclass
class SandboxConfig:
    """How to start one sandbox: state file, faults, credentials, vendor-specific options."""

    vendor: str
    state_path: str | None = None
    faults: tuple[str, ...] = ()
    credentials: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    control: bool = True


class SandboxState:
    """The live state of one sandbox: config, clock, store and active faults."""

    def __init__(self, config: SandboxConfig, module: ModuleType) -> None:
        self.config = config
        self.module = module
        self.known_faults: dict[str, Fault] = {f.name: f for f in module.FAULTS}
        for name in config.faults:
            if name not in self.known_faults:
                known = ", ".join(sorted(self.known_faults))
                raise ValueError(f"unknown fault {name!r} for {config.vendor}; known: {known}")
        path = config.state_path
        # Without --state the sandbox keeps its SQLite file in a directory of its own, removed
        # again by close(): a run must not leave state files behind in /tmp.
        self._temp_dir: str | None = None
        if path is None:
            self._temp_dir = tempfile.mkdtemp(prefix=f"apicert-{config.vendor}-")
            path = str(Path(self._temp_dir) / "state.sqlite")
        self.store = Store(path, schema=module.SCHEMA)
        self.clock = Clock(offset=float(self.store.get_kv("clock_offset", 0.0)))
        saved = self.store.get_kv("faults")
        self.faults: set[str] = set(config.faults) if config.faults or saved is None else set(saved)
        self.store.set_kv("faults", sorted(self.faults))
        self.options: dict[str, Any] = {}
        self.set_options(dict(config.options))
        self.credentials: dict[str, str] = dict(module.DEFAULT_CREDENTIALS)
        self.credentials.update({k: v for k, v in config.credentials.items() if v})

    def close(self) -> None:
        """Close the store; remove the state file too when the sandbox made it (no --state)."""
        self.store.close()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def fault(self, name: str) -> bool:
        """Return True when fault ``name`` is switched on."""
        if name not in self.known_faults:
            raise KeyError(f"sandbox code asked for undeclared fault {name!r}")
        return name in self.faults

    def set_faults(self, names: list[str]) -> None:
        """Replace the active faults; raise ValueError on an unknown name."""
        unknown = [n for n in names if n not in self.known_faults]
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(unknown)}")
        self.faults = set(names)
        self.store.set_kv("faults", sorted(self.faults))

    def set_options(self, changes: dict[str, Any]) -> None:
        """Merge ``changes`` into the live options (None removes a key); raise ValueError on a
        value the vendor module's ``validate_option`` refuses (nothing is changed then)."""
        validate = getattr(self.module, "validate_option", None)
        merged = dict(self.options)
        for key, value in changes.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = validate(key, value) if validate else value
        self.options = merged
        self.config.options = dict(merged)

    def now(self) -> float:
        """The simulated time in POSIX seconds."""
        return self.clock.now()

    def now_iso(self) -> str:
        """The simulated time as an ISO 8601 UTC string with milliseconds."""
        return iso(self.clock.now())

    def advance(self, seconds: float) -> float:
        """Advance the simulated clock and persist the offset."""
        now = self.clock.advance(seconds)
        self.store.set_kv("clock_offset", self.clock.offset)
        return now


def iso(timestamp: float) -> str:
    """Format POSIX seconds as ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    text = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def load_module(vendor: str) -> ModuleType:
    """Import the sandbox module of ``vendor``; raise KeyError naming the known ones."""
    try:
        path = SANDBOX_MODULES[vendor]
    except KeyError:
        known = ", ".join(sorted(SANDBOX_MODULES))
        raise KeyError(f"no reference sandbox for {vendor!r}; available: {known}") from None
    return importlib.import_module(path)


def available_sandboxes() -> list[str]:
    """Return the vendors that have a reference sandbox."""
    return sorted(SANDBOX_MODULES)


def fault_catalog(vendor: str) -> list[Fault]:
    """Return the faults the vendor's sandbox declares, in declaration order."""
    return list(load_module(vendor).FAULTS)


def _control_routes(state: SandboxState) -> list[BaseRoute]:
    async def clock(request: Request) -> Response:
        if request.method == "POST":
            try:
                payload = await request.json()
                seconds = float(payload.get("advance", 0))
                state.advance(seconds)
            except (ValueError, TypeError, AttributeError) as exc:
                return JSONResponse({"error": f"bad clock request: {exc}"}, status_code=400)
        now = state.now()
        return JSONResponse({"now": now, "iso": iso(now), "offset": state.clock.offset})

    async def faults(request: Request) -> Response:
        if request.method == "PUT":
            try:
                payload = await request.json()
                state.set_faults(list(payload.get("active", [])))
            except (ValueError, TypeError, AttributeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(
            {
                "active": sorted(state.faults),
                "available": [
                    {"name": f.name, "breaks": list(f.breaks), "description": f.description}
                    for f in state.known_faults.values()
                ],
            }
        )

    async def options(request: Request) -> Response:
        if request.method == "PUT":
            try:
                payload = await request.json()
                changes = payload.get("options")
                if not isinstance(changes, dict):
                    raise ValueError('the body must be {"options": {KEY: VALUE or null}}')
                state.set_options(changes)
            except (ValueError, TypeError, AttributeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"options": state.options})

    async def info(request: Request) -> Response:
        return JSONResponse(
            {
                "vendor": state.config.vendor,
                "reference_sandbox": True,
                "state": state.store.path,
                "faults": sorted(state.faults),
            }
        )

    return [
        Route(f"{CONTROL_PREFIX}/clock", clock, methods=["GET", "POST"]),
        Route(f"{CONTROL_PREFIX}/faults", faults, methods=["GET", "PUT"]),
        Route(f"{CONTROL_PREFIX}/options", options, methods=["GET", "PUT"]),
        Route(f"{CONTROL_PREFIX}/info", info, methods=["GET"]),
    ]


def build_app(config: SandboxConfig) -> tuple[Starlette, SandboxState]:
    """Build the Starlette app of ``config.vendor``'s sandbox with its control endpoints."""
    module = load_module(config.vendor)
    state = SandboxState(config, module)
    # Control routes go first so a vendor's catch-all route never shadows them.
    routes = (_control_routes(state) if config.control else []) + list(module.routes(state))
    handlers = getattr(module, "exception_handlers", None)
    app = Starlette(routes=routes, exception_handlers=handlers(state) if handlers else None)
    app.state.sandbox = state
    return app, state


def dumps(value: Any) -> str:
    """Compact JSON used by sandboxes for stored documents."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
