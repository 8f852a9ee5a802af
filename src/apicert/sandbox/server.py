"""Serving a reference sandbox with uvicorn on loopback, in a thread or in the foreground."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

import uvicorn

from apicert.sandbox.runtime import SandboxConfig, SandboxState, build_app

__all__ = ["EmbeddedServer", "serve_forever"]

LOOPBACK = "127.0.0.1"


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this on Linux; without it a response written in two parts waits
    # for the client's delayed ACK (~40 ms a request on loopback).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((LOOPBACK, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _uvicorn_config(app: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
        limit_concurrency=None,
        # No proxy sits in front of a sandbox: the client address must be the socket's peer, so
        # an X-Forwarded-For header from loopback cannot pass an IP allow-list.
        proxy_headers=False,
    )


class EmbeddedServer:
    """One sandbox served by uvicorn in a daemon thread on 127.0.0.1 (ephemeral port by default).

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, config: SandboxConfig, port: int = 0) -> None:
        self.config = config
        self.app, self.state = build_app(config)
        self._sock = _bind(port)
        self.port: int = self._sock.getsockname()[1]
        self._server = uvicorn.Server(_uvicorn_config(self.app))
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name=f"sandbox-{config.vendor}",
            daemon=True,
        )

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def sandbox(self) -> SandboxState:
        """The live sandbox state (clock, store, faults)."""
        return self.state

    def start(self, timeout: float = 10.0) -> EmbeddedServer:
        """Start serving and return once the server accepts requests."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"sandbox {self.config.vendor} stopped during start-up")
            if time.monotonic() > deadline:
                raise RuntimeError(f"sandbox {self.config.vendor} did not start in {timeout} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and close the state."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
        with contextlib.suppress(OSError):
            self._sock.close()
        self.state.close()

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(config: SandboxConfig, port: int) -> None:
    """Serve a sandbox in the foreground on 127.0.0.1:``port`` until interrupted."""
    app, state = build_app(config)
    sock = _bind(port)
    actual = sock.getsockname()[1]
    faults = ", ".join(sorted(state.faults)) or "none"
    print(
        f"apicert sandbox {config.vendor} on http://{LOOPBACK}:{actual} "
        f"(state {state.store.path}; faults: {faults}); Ctrl-C stops it",
        flush=True,
    )
    server = uvicorn.Server(_uvicorn_config(app))
    try:
        server.run(sockets=[sock])
    finally:
        state.close()
