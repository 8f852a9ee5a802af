"""A run with a fixed seed sends the same requests; another seed sends other ones.

Three real ``apicert run --record`` runs of a small connectFi selection (references, SSNs and a
Hypothesis property test): two with ``--seed 7``, one with ``--seed 8``. Their cassettes are
compared after the normalisation ``apicert.requestlog`` defines (server-given ids and tokens,
ports, secrets and the per-run login replaced). The seed is printed and recorded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from apicert import seeding
from apicert.requestlog import compare, load_exchanges, normalise

SELECTION = "references or invalid_customer"


def _run(report: Path, seed: int | None, keyword: str = SELECTION) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APICERT_", "PYTEST_"))}
    args = [sys.executable, "-m", "apicert.cli", "run", "--vendor", "connectfi", "--record"]
    args += ["--report-dir", str(report), "-k", keyword]
    if seed is not None:
        args += ["--seed", str(seed)]
    proc = subprocess.run(
        args, capture_output=True, text=True, timeout=180, env=env, cwd=report.parent
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc.stdout


def _requests(report: Path) -> list[tuple[str, str]]:
    exchanges, known = load_exchanges(report, "connectfi")
    return normalise(exchanges, known)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("seeds")
    out = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        out[name] = base / name
        _run(out[name], seed)
    return out


def test_the_same_seed_sends_the_same_requests(runs: dict[str, Path]) -> None:
    first, second = _requests(runs["a"]), _requests(runs["b"])
    result = compare("connectfi", first, second)
    assert len(first) >= 20, first  # the selection really sent something
    assert result.same, (result.line(), result.first_difference)
    # Not trivially equal: the raw request bodies carry generated references.
    raw, _ = load_exchanges(runs["a"], "connectfi")
    assert any('"reference": "cust_' in (e["request"]["body"] or "") for e in raw)


def test_another_seed_sends_other_requests(runs: dict[str, Path]) -> None:
    result = compare("connectfi", _requests(runs["a"]), _requests(runs["c"]))
    assert not result.same, result.line()
    assert result.differing_tests, result.line()


def test_the_seed_is_recorded_and_printed(tmp_path: Path, runs: dict[str, Path]) -> None:
    doc = json.loads((runs["a"] / "results.json").read_text(encoding="utf-8"))
    assert doc["run"]["seed"] == 7 and doc["run"]["hypothesis_seed"] == 7
    out = _run(tmp_path / "picked", None, keyword="health")
    picked = json.loads((tmp_path / "picked" / "results.json").read_text(encoding="utf-8"))
    seed = picked["run"]["seed"]
    assert isinstance(seed, int) and 0 <= seed < seeding.SEED_LIMIT
    assert f"seed: {seed} (repeat this run's data with --seed {seed})" in out, out[-2000:]


def test_per_test_streams_do_not_shift_with_selection() -> None:
    seeding.configure(5)
    with seeding.scope("suite::test_b"):
        alone = [seeding.token_hex(4), seeding.unique_hex(4)]
    seeding.configure(5)
    with seeding.scope("suite::test_a"):
        seeding.token_hex(4)
    with seeding.scope("suite::test_b"):
        after_another = [seeding.token_hex(4), seeding.unique_hex(4)]
    seeding.configure(5, salt="0badf00d")
    with seeding.scope("suite::test_b"):
        salted = [seeding.token_hex(4), seeding.unique_hex(4)]
    assert alone == after_another
    # A salted run (a target that keeps state) keeps ordinary data but not unique values.
    assert salted[0] == alone[0] and salted[1] != alone[1]
