"""Reference sandboxes: local servers that implement what each vendor documents.

They share no behaviour code with the harness's checks (see ARCHITECTURE.md). Each vendor app is
built by ``create_app(config)`` in its own module; :mod:`apicert.sandbox.runtime` holds what all of
them share: the simulated clock, the SQLite store, the fault switches and the control endpoints.
"""

from __future__ import annotations

from apicert.sandbox.runtime import (
    SandboxConfig,
    SandboxState,
    available_sandboxes,
    build_app,
    fault_catalog,
)
from apicert.sandbox.server import EmbeddedServer, serve_forever

__all__ = [
    "EmbeddedServer",
    "SandboxConfig",
    "SandboxState",
    "available_sandboxes",
    "build_app",
    "fault_catalog",
    "serve_forever",
]
