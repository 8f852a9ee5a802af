"""Sharding and merging: ``apicert run --shard K/N`` and ``apicert report merge``.

Fast tier: the partition (every test in exactly one shard, modules together, stable), the merge
rules on hand-made documents, and bad input through the real command. Slow tier: a four-way
sharded connectFi run merged equals a single run, requirement by requirement.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from apicert.catalog import load_catalog
from apicert.cli import main
from apicert.report.merge import (
    MergeError,
    load_results,
    merge_results,
    shard_problem,
    status_rank,
)
from apicert.report.results import SCHEMA_VERSION, exit_code, vendor_summary
from apicert.shard import Shard, module_of, parse_shard, partition
from tests.test_cli import run_cli

ROOT = Path(__file__).resolve().parents[1]
STATUSES = ["skipped", "passed", "review", "warning", "failed"]
CATALOG = {r.id: r.to_dict() for r in load_catalog("connectfi")}
R1, R2, R3 = list(CATALOG)[:3]


# -- the partition ---------------------------------------------------------------------------
def _nodeids() -> list[str]:
    ids = []
    for m, size in enumerate([9, 1, 4, 4, 2, 7, 1, 3]):
        ids += [f"v/test_m{m}.py::test_{i}" for i in range(size)]
    ids += ["v/test_c.py::Klass::test_a", "v/test_c.py::Klass::test_b[1]"]
    return ids


@pytest.mark.parametrize("total", [1, 2, 3, 4, 7, 12])
def test_every_test_is_in_exactly_one_shard_with_its_module(total: int) -> None:
    ids = _nodeids()
    parts = partition(ids, total)
    assert len(parts) == total
    flat = [n for part in parts for n in part]
    assert sorted(flat) == sorted(ids)
    assert len(flat) == len(set(flat))
    homes = {module_of(n): i for i, part in enumerate(parts) for n in part}
    for i, part in enumerate(parts):
        assert all(homes[module_of(n)] == i for n in part)
        assert part == [n for n in ids if n in set(part)]  # collection order kept


def test_partition_is_stable_and_balanced() -> None:
    ids = _nodeids()
    shuffled = ids[:]
    random.Random(3).shuffle(shuffled)
    for total in (2, 4):
        a = [set(p) for p in partition(ids, total)]
        b = [set(p) for p in partition(shuffled, total)]
        assert a == b  # membership depends on what was collected, not on its order
    sizes = [len(p) for p in partition(ids, 4)]
    assert max(sizes) - min(sizes) <= 2, sizes  # modules of 9,7,4,4,3,2,2,1,1 → 9/9/9/8
    # more shards than modules: the extra shards are empty, nothing is lost
    assert sum(1 for p in partition(ids, 12) if p) == 9


@pytest.mark.parametrize(
    ("text", "expected"), [("1/1", Shard(1, 1)), ("2/4", Shard(2, 4)), (" 3 / 3 ", Shard(3, 3))]
)
def test_parse_shard(text: str, expected: Shard) -> None:
    assert parse_shard(text) == expected
    assert str(expected) == text.replace(" ", "")


@pytest.mark.parametrize("text", ["", "2", "0/4", "5/4", "1/0", "a/b", "1/2/3", "-1/2"])
def test_parse_shard_refuses_bad_specs(text: str) -> None:
    with pytest.raises(ValueError, match="--shard"):
        parse_shard(text)


# -- merge rules on hand-made documents ------------------------------------------------------
def _req(rid: str, status: str, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        **CATALOG[rid],
        "status": status,
        "reason": extra.pop("reason", ""),
        "findings": [],
        "findings_total": 0,
        "notes": [],
        "tests": [],
        "evidence": [],
    }
    entry.update(extra)
    return entry


def _doc(*requirements: dict[str, Any], **run: Any) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {"errors": [], "exchanges_recorded": 1, **run},
        "summary": {"connectfi": vendor_summary(Counter(r["status"] for r in requirements))},
        "requirements": list(requirements),
        "exchanges": {},
    }


@pytest.mark.parametrize("a", STATUSES)
@pytest.mark.parametrize("b", STATUSES)
def test_merged_status_is_the_highest(a: str, b: str) -> None:
    merged = merge_results([_doc(_req(R1, a)), _doc(_req(R1, b))])
    want = max(a, b, key=STATUSES.index)
    assert merged["requirements"][0]["status"] == want
    assert status_rank(want) == max(status_rank(a), status_rank(b))
    summary = merged["summary"]["connectfi"]
    assert summary[want] == 1 and summary["requirements"] == 1
    assert summary["verdict"] == {
        "failed": "not conformant",
        "passed": "conformant",
        "warning": "conformant",
    }.get(want, "incomplete")
    assert exit_code(merged) == (1 if want == "failed" else 0)


def test_skipped_only_when_skipped_everywhere_and_reasons_unioned() -> None:
    not_here = "not exercised in this run"
    merged = merge_results(
        [
            _doc(_req(R1, "skipped", reason=not_here), _req(R2, "skipped", reason="b; a")),
            _doc(_req(R1, "skipped", reason="needs --allow-load"), _req(R2, "passed")),
            _doc(_req(R1, "skipped", reason=not_here), _req(R2, "skipped", reason="c")),
        ]
    )
    by_id = {r["id"]: r for r in merged["requirements"]}
    assert list(by_id) == [R1, R2]
    assert by_id[R1]["status"] == "skipped"
    assert by_id[R1]["reason"] == "needs --allow-load"
    assert by_id[R2]["status"] == "passed" and by_id[R2]["reason"] == ""
    only = merge_results([_doc(_req(R3, "skipped", reason=not_here))] * 2)
    assert only["requirements"][0]["reason"] == not_here


def test_findings_tests_and_evidence_are_unioned_with_ids_namespaced() -> None:
    exchange = {
        "id": "ex-000001",
        "request": {"method": "GET", "url": "http://h/a", "headers": {}, "body": None},
        "response": {"status": 500, "headers": {}, "body": "oops"},
        "elapsed": 0.01,
    }
    finding = {
        "requirement": R1,
        "status": "failed",
        "message": "boom",
        "evidence": ["ex-000001"],
        "expect": [
            {"op": "status_in", "ex": "ex-000001", "values": [200]},
            {"op": "same", "exs": ["ex-000001", "ex-000002"], "path": None},
        ],
    }
    test = {
        "nodeid": "connectfi/test_a.py::test_x",
        "outcome": "failed",
        "reason": "",
        "duration": 1.0,
    }

    def one() -> dict[str, Any]:
        doc = _doc(
            _req(
                R1,
                "failed",
                reason="boom",
                findings=[finding],
                findings_total=3,
                evidence=["ex-000001"],
                tests=[test],
                notes=["n1"],
            )
        )
        doc["exchanges"] = {
            "ex-000001": dict(exchange),
            "ex-000002": dict(exchange, id="ex-000002"),
        }
        return doc

    merged = merge_results([one(), one()], ["a.json", "b.json"])
    req = merged["requirements"][0]
    assert req["findings_total"] == 6 and len(req["findings"]) == 2 and len(req["tests"]) == 2
    assert req["notes"] == ["n1"]
    assert req["evidence"] == ["ex-000001", "m2:ex-000001"]
    second = req["findings"][1]
    assert second["evidence"] == ["m2:ex-000001"]
    assert second["expect"][0]["ex"] == "m2:ex-000001"
    assert second["expect"][1]["exs"] == ["m2:ex-000001", "m2:ex-000002"]
    assert set(merged["exchanges"]) == {"ex-000001", "ex-000002", "m2:ex-000001", "m2:ex-000002"}
    assert all(eid == ex["id"] for eid, ex in merged["exchanges"].items())
    assert req["findings"][0]["evidence"] == ["ex-000001"]  # the first input keeps its ids
    assert merged["run"]["merged_from"] == ["a.json", "b.json"]
    assert merged["run"]["exchanges_recorded"] == 2
    schema = json.loads((ROOT / "schemas" / "results.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(merged, schema)


def test_run_facts_errors_and_drift_are_merged() -> None:
    a = _doc(_req(R1, "passed"), started="2026-01-01T10:00:00Z", ended="2026-01-01T10:00:30Z")
    b = _doc(_req(R1, "passed"), started="2026-01-01T10:00:10Z", ended="2026-01-01T10:01:00Z")
    b["run"]["errors"] = ["credentials refused"]
    a["run"]["faults"] = {"connectfi": ["x"]}
    b["run"]["faults"] = {"connectfi": ["x", "y"]}
    op = "GET /a 200"
    a["drift"] = {
        "connectfi": {
            "document": "openapi.yaml",
            "operations": {op: {"seen": ["p"], "undeclared": ["p"], "unseen": ["q", "r"]}},
            "unmatched": ["GET /x"],
        }
    }
    b["drift"] = {
        "connectfi": {
            "document": "openapi.yaml",
            "operations": {
                op: {"seen": ["q"], "undeclared": [], "unseen": ["p", "r"]},
                "GET /b 200": {"seen": [], "undeclared": [], "unseen": ["s"]},
            },
            "unmatched": ["GET /y"],
        }
    }
    merged = merge_results([a, b])
    run = merged["run"]
    assert (run["started"], run["ended"], run["duration"]) == (
        "2026-01-01T10:00:00Z",
        "2026-01-01T10:01:00Z",
        60.0,
    )
    assert run["faults"] == {"connectfi": ["x", "y"]}
    assert run["errors"] == ["credentials refused"]
    assert exit_code(merged) == 2  # a run error in any input is the merged run's error
    drift = merged["drift"]["connectfi"]
    assert drift["operations"][op] == {"seen": ["p", "q"], "undeclared": ["p"], "unseen": ["r"]}
    assert drift["operations"]["GET /b 200"]["unseen"] == ["s"]
    assert drift["unmatched"] == ["GET /x", "GET /y"]


def test_seed_is_kept_only_when_every_input_ran_with_it() -> None:
    def doc(seed: int) -> dict[str, Any]:
        test = {"nodeid": "suites/connectfi/test_auth.py::test_x", "outcome": "failed"}
        return _doc(
            _req(R1, "failed", tests=[test], reproduce={"command": "apicert run"}), seed=seed
        )

    merged = merge_results([doc(41), doc(41)])
    assert merged["run"]["seed"] == 41
    assert "--seed 41" in merged["requirements"][0]["reproduce"]["command"]
    merged = merge_results([doc(41), doc(42)])  # no one seed repeats both inputs' data
    assert "seed" not in merged["run"]
    assert "--seed" not in merged["requirements"][0]["reproduce"]["command"]


def test_shard_sets_must_be_whole() -> None:
    def shard(spec: str) -> dict[str, Any]:
        return _doc(_req(R1, "passed"), shard=spec)

    assert shard_problem([shard("1/2"), shard("2/2")], ["a", "b"]) is None
    assert shard_problem([_doc(), _doc()], ["a", "b"]) is None  # unsharded runs: any set
    missing = shard_problem([shard("1/3"), shard("3/3")], ["a", "b"])
    assert missing is not None and "shard 2/3 of connectfi is missing" in missing
    twice = shard_problem([shard("1/2"), shard("1/2"), shard("2/2")], ["a", "b", "c"])
    assert twice is not None and "b: shard 1/2" in twice and "also a" in twice
    mixed = shard_problem([shard("1/2"), shard("2/3")], ["a", "b"])
    assert mixed is not None and "3-way" in mixed


# -- bad input through the command -----------------------------------------------------------
def _write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["report", "merge", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("missing.json", None, "no such file"),
        ("junit.xml", "<testsuites/>", "not JSON"),
        ("other.json", '{"tests": []}', "not an apicert results.json"),
        ("list.json", "[1, 2]", "not an apicert results.json"),
        ("bad-status.json", None, "has status 'great'"),
        ("no-topic.json", None, "not a valid apicert results.json (at requirements/0: 'topic'"),
        ("v2.json", None, "results schema 2.0 cannot be merged"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str | None, needle: str
) -> None:
    good = _write(tmp_path / "good.json", json.dumps(_doc(_req(R1, "passed"))))
    path = tmp_path / name
    if name == "bad-status.json":
        _write(path, json.dumps(_doc(_req(R1, "great"))))
    elif name == "no-topic.json":
        entry = _req(R1, "passed")
        del entry["topic"]
        _write(path, json.dumps(_doc(entry)))
    elif name == "v2.json":
        _write(path, json.dumps(dict(_doc(_req(R1, "passed")), schema_version="2.0")))
    elif text is not None:
        _write(path, text)
    code, out, err = _cli(capsys, good, str(path), "--report-dir", str(tmp_path / "out"))
    assert code == 2, (out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("apicert: error: "), err
    assert str(path) in lines[0] and needle in lines[0], lines
    assert "Traceback" not in out + err
    assert not (tmp_path / "out" / "results.json").exists()
    with pytest.raises(MergeError):
        load_results(path)


def test_real_command_merges_and_exits_on_the_verdict(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.json", json.dumps(_doc(_req(R1, "passed"), shard="1/2")))
    b = _write(tmp_path / "b.json", json.dumps(_doc(_req(R1, "failed"), shard="2/2")))
    out_dir = tmp_path / "merged"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "apicert.cli",
            "report",
            "merge",
            a,
            b,
            "--report-dir",
            str(out_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads((out_dir / "results.json").read_text(encoding="utf-8"))
    assert doc["summary"]["connectfi"]["verdict"] == "not conformant"
    assert (out_dir / "conformance.html").is_file()
    assert "merged 2 results" in proc.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "apicert.cli", "report", "merge", a, "--report-dir", str(out_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        "apicert: error: shard 2/2 of connectfi is missing; a merge needs every shard of a split"
    ]


# -- slow: four shards merged equal one run --------------------------------------------------
def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APICERT_", "PYTEST_"))}
    env["APICERT_MAX_EXAMPLES"] = "5"  # Schemathesis's budget per operation: keeps five runs short
    return run_cli(cwd, *args, env=env, timeout=300)


def _statuses(doc: dict[str, Any]) -> dict[str, str]:
    return {r["id"]: r["status"] for r in doc["requirements"]}


@pytest.mark.slow
def test_four_shards_merged_equal_a_single_run(tmp_path: Path) -> None:
    common = ("run", "--vendor", "connectfi", "--seed", "11")
    jobs = [(tmp_path / "single", ())] + [
        (tmp_path / f"shard{k}", ("--shard", f"{k}/4")) for k in range(1, 5)
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        procs = list(
            pool.map(lambda j: _run(tmp_path, *common, "--report-dir", str(j[0]), *j[1]), jobs)
        )
    for (where, _args), proc in zip(jobs, procs, strict=True):
        assert proc.returncode == 0, f"{where}: {proc.stdout[-3000:]}{proc.stderr[-2000:]}"
    single = json.loads((tmp_path / "single" / "results.json").read_text(encoding="utf-8"))
    shards = [
        json.loads((tmp_path / f"shard{k}" / "results.json").read_text(encoding="utf-8"))
        for k in range(1, 5)
    ]
    # each shard ran a part: nodes are disjoint and together they are the single run's
    nodes = [{t["nodeid"] for r in d["requirements"] for t in r["tests"]} for d in shards]
    assert all(nodes), "a four-way split of connectFi's modules left a shard empty"
    assert sum(len(n) for n in nodes) == len(set().union(*nodes))
    assert set().union(*nodes) == {t["nodeid"] for r in single["requirements"] for t in r["tests"]}
    assert all(d["run"]["shard"] == f"{k}/4" for k, d in enumerate(shards, 1))
    merged_dir = tmp_path / "merged"
    merge = _run(
        tmp_path,
        "report",
        "merge",
        *(str(tmp_path / f"shard{k}" / "results.json") for k in range(1, 5)),
        "--report-dir",
        str(merged_dir),
    )
    assert merge.returncode == 0, merge.stdout + merge.stderr
    merged = json.loads((merged_dir / "results.json").read_text(encoding="utf-8"))
    assert _statuses(merged) == _statuses(single)
    assert merged["summary"] == single["summary"]
    assert (merged_dir / "conformance.html").is_file()
    schema = json.loads((ROOT / "schemas" / "results.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(merged, schema)
    # evidence ids point at the merged document's own exchanges, whatever shard they came from
    for req in merged["requirements"]:
        assert all(e in merged["exchanges"] for e in req["evidence"])
