"""The evidence of a property-based failure is the shrunk example's.

Hypothesis runs a ``@given`` test many times: examples that pass, the first that fails (often
large), the smaller failing ones it tries while shrinking, and at the end the minimal failing
example once more (the *final* run, ``is_final``). The test's record collects findings and
exchanges from all of them, so without care the first (large) failure would be the one the
report shows and ``apicert repro`` replays.

:func:`final_example_only` wraps the test's inner function to note where each example starts.
When Hypothesis reported a failure, it keeps, for the requirements that failed in the final
run, only the final run's failed findings (earlier examples' failures of the same requirement are
the same bug with larger inputs), keeps every other finding (an observer failure on another
requirement in any example still counts), and sets ``record.example_from`` to the first exchange
of the final run: a replay of the failure starts there (plus what it links to, such as the
merchant the fixture created before the examples).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from apicert.model import Status

if TYPE_CHECKING:
    from apicert.run import TestRecord

__all__ = ["final_example_only"]


def _is_final() -> bool:
    try:
        from hypothesis.control import current_build_context

        return bool(current_build_context().is_final)
    except Exception:  # outside a Hypothesis example: not a final run
        return False


@contextmanager
def final_example_only(function: Any, record: TestRecord | None) -> Iterator[None]:
    """Around one call of a ``@given`` test: afterwards, when Hypothesis found a failure, the
    record's failed findings of the failing requirements are the final (shrunk) example's."""
    handle = getattr(getattr(function, "__func__", function), "hypothesis", None)
    if record is None or handle is None or not hasattr(handle, "inner_test"):
        yield
        return
    inner = handle.inner_test
    starts: list[tuple[int, int, bool]] = []  # (findings, exchanges, final) at each example

    @functools.wraps(inner)  # Hypothesis reads the signature to print the falsifying example
    def noting(*args: Any, **kwargs: Any) -> Any:
        starts.append((len(record.findings), len(record.exchanges), _is_final()))
        return inner(*args, **kwargs)

    handle.inner_test = noting
    try:
        yield
    finally:
        handle.inner_test = inner
        _keep_final(record, starts)


def _keep_final(record: TestRecord, starts: list[tuple[int, int, bool]]) -> None:
    finals = [i for i, (_, _, final) in enumerate(starts) if final]
    if not finals:
        return
    bounds = [*(s[0] for s in starts), len(record.findings)]
    in_final = [False] * len(record.findings)
    for i in finals:
        for j in range(bounds[i], bounds[i + 1]):
            in_final[j] = True
    pairs = list(zip(record.findings, in_final, strict=True))
    failing = {f.requirement for f, fin in pairs if fin and _failed(f)}
    first_example = starts[0][0]
    record.findings = [
        f
        for j, (f, fin) in enumerate(pairs)
        if fin or j < first_example or not (_failed(f) and f.requirement in failing)
    ]
    index = starts[finals[0]][1]
    if index < len(record.exchanges):
        record.example_from = record.exchanges[index]


def _failed(finding: Any) -> bool:
    return finding.status is Status.FAILED
