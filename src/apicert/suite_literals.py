"""The card and identity literals written in the suites, known to the redactor before any request.

Hypothesis draws string constants from every local, non-test module it has imported (its "local
constants": ``suites/*/payloads.py`` among them), so a fuzzer may send a literal birth date or
account number under any key, where the redactor's learning (identity values under identity keys
of a request body) does not see it, and an echo of it would be stored unmasked. So every literal
the suites hold under an identity key (``"birthDate": "11-23-1981"``) or in a constant named like
one (``TEST_CARD``) is registered with the redactor when a run starts.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path

from apicert.redact import IDENTITY_KEYS, _norm

__all__ = ["identity_literals"]

_IDENTITY_NAME = re.compile(r"CARD|SSN|SOCIAL|ACCOUNT|ROUTING|EIN|TAX|BIRTH", re.IGNORECASE)


def identity_literals(paths: Iterable[Path]) -> set[str]:
    """The string values the Python files at ``paths`` hold under an identity key of a dict
    literal or assign to a name like an identity (files that do not parse are skipped)."""
    found: set[str] = set()
    for path in paths:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            values: list[ast.expr | None] = []
            if isinstance(node, ast.Dict):
                values = [
                    value
                    for key, value in zip(node.keys, node.values, strict=True)
                    if isinstance(key, ast.Constant) and _norm(str(key.value)) in IDENTITY_KEYS
                ]
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and _IDENTITY_NAME.search(t.id) for t in targets):
                    values = [node.value]
            found.update(
                v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)
            )
    return found
