"""The sandbox runtime: state files are kept where asked and cleaned up when they were temporary."""

from __future__ import annotations

from pathlib import Path

from apicert.sandbox.runtime import SandboxConfig
from apicert.sandbox.server import EmbeddedServer


def test_a_sandbox_without_state_file_leaves_nothing_behind() -> None:
    server = EmbeddedServer(SandboxConfig(vendor="connectfi")).start()
    state_file = Path(server.sandbox.store.path)
    assert state_file.exists()
    server.stop()
    assert not state_file.parent.exists()


def test_a_sandbox_keeps_the_state_file_it_was_given(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with EmbeddedServer(SandboxConfig(vendor="connectfi", state_path=str(path))):
        pass
    assert path.exists()
