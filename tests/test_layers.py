"""The import rules of ARCHITECTURE.md: sandboxes and checks share no behaviour code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "apicert"


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def violations(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{f.relative_to(ROOT)} imports {name}"
        for f in files
        for name in sorted(imports(f))
        if name.startswith(forbidden)
    ]


@pytest.mark.parametrize(
    ("files", "forbidden"),
    [
        (
            sorted((SRC / "sandbox").glob("*.py")),
            (
                "apicert.checks",
                "apicert.http",
                "apicert.redact",
                "apicert.plugin",
                "apicert.run",
                "apicert.verdict",
            ),
        ),
        (sorted((SRC / "checks").glob("*.py")), ("apicert.sandbox", "apicert.http", "requests")),
        (
            [SRC / "http.py", SRC / "redact.py", SRC / "model.py"],
            ("apicert.sandbox", "apicert.plugin", "apicert.checks"),
        ),
        (sorted((ROOT / "suites").rglob("*.py")), ("apicert.sandbox",)),
    ],
    ids=["sandbox", "checks", "client", "suites"],
)
def test_layer_imports(files: list[Path], forbidden: tuple[str, ...]) -> None:
    assert files
    assert violations(files, forbidden) == []


def test_rule_detects_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from apicert.checks.connectfi import envelope\n")
    assert violations_for_tmp(bad) == ["imports apicert.checks.connectfi"]


def violations_for_tmp(path: Path) -> list[str]:
    return [f"imports {n}" for n in sorted(imports(path)) if n.startswith("apicert.checks")]
