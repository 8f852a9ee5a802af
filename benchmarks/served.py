"""One way for the benchmarks to serve something in a child process on 127.0.0.1.

``apicert sandbox serve`` (and the bare app of ``cost.py``) print their base URL on the first
line of standard output, then serve until terminated. :func:`served` starts such a command, reads
that banner, yields the URL and the child's pid, and stops the child afterwards, whatever
happened; :func:`sandbox_command` is the ``apicert sandbox serve`` command line.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

__all__ = ["sandbox_command", "served"]

_BANNER = re.compile(r"http://127\.0\.0\.1:\d+")


def sandbox_command(
    vendor: str,
    *,
    state: Path | None = None,
    faults: Sequence[str] = (),
    options: Mapping[str, str] | None = None,
) -> list[str]:
    """The ``apicert sandbox serve VENDOR --port 0`` command line (this interpreter's apicert),
    with a state file, faults (``vendor:name``) and ``--option key=value`` settings."""
    command = [
        sys.executable,
        "-c",
        "import sys; from apicert.cli import entry; sys.argv[0] = 'apicert'; entry()",
        "sandbox",
        "serve",
        vendor,
        "--port",
        "0",
    ]
    if state is not None:
        command += ["--state", str(state)]
    for fault in faults:
        command += ["--fault", fault]
    for key, value in (options or {}).items():
        command += ["--option", f"{key}={value}"]
    return command


@contextmanager
def served(
    command: Sequence[str], env: Mapping[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """Run ``command``; yield (the base URL of its banner, its pid); terminate it on exit.

    Raises RuntimeError naming the command when the first line carries no URL (it did not start).
    """
    child = subprocess.Popen(
        list(command),
        env=dict(env) if env is not None else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert child.stdout is not None
        banner = child.stdout.readline()
        found = _BANNER.search(banner)
        if found is None:
            shown = " ".join(command[3:6]) if len(command) > 5 else " ".join(command)
            raise RuntimeError(f"{shown} did not start: {banner.strip()!r}")
        # Whatever it prints later is read and dropped, so a full pipe never stalls it.
        threading.Thread(target=child.stdout.read, daemon=True).start()
        yield found.group(0), child.pid
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
