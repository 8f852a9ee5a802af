"""The GitHub Actions workflow (``.github/workflows/apicert.yml``) parses, and every ``apicert``
command it names is one the real command line accepts, for every cell of its matrix; the shards it
runs are a whole split, and the merge job downloads what the shard jobs upload."""

from __future__ import annotations

import fnmatch
import itertools
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from apicert.cli import build_parser
from apicert.shard import parse_shard
from apicert.vendors import VENDORS

WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "apicert.yml"
EXPR = re.compile(r"\$\{\{\s*matrix\.(\w+)\s*\}\}")


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _cells(job: dict[str, Any]) -> list[dict[str, Any]]:
    matrix = (job.get("strategy") or {}).get("matrix") or {}
    keys = [k for k in matrix if k not in ("include", "exclude")]
    return [
        dict(zip(keys, values, strict=True))
        for values in itertools.product(*(matrix[k] for k in keys))
    ] or [{}]


RUN_NUMBER = re.compile(r"\$\{\{\s*github\.run_number\s*\}\}")


def _fill(text: str, cell: dict[str, Any]) -> str:
    """``text`` with each ``${{ matrix.NAME }}`` replaced by the cell's value and the workflow
    run's number by an example (41)."""
    return RUN_NUMBER.sub("41", EXPR.sub(lambda m: str(cell[m.group(1)]), text))


def _apicert_commands(job: dict[str, Any], cell: dict[str, Any]) -> list[list[str]]:
    out = []
    for step in job.get("steps") or []:
        script = _fill(str(step.get("run") or ""), cell)
        for line in script.splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "apicert":
                out.append(words[1:])
    return out


def _parse(argv: list[str]) -> Any:
    try:
        return build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse refused it: name the command in the failure
        raise AssertionError(f"apicert {' '.join(argv)}: refused by the CLI ({exc.code})") from None


def test_workflow_is_valid_yaml_with_a_shard_matrix_and_a_merge_job(
    workflow: dict[str, Any],
) -> None:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert triggers and "pull_request" in triggers
    jobs = workflow["jobs"]
    assert set(jobs) == {"shard", "merge"}
    matrix = jobs["shard"]["strategy"]["matrix"]
    assert set(matrix["vendor"]) == set(VENDORS)
    assert len(matrix["shard"]) >= 2
    assert jobs["merge"]["needs"] == "shard"
    assert jobs["merge"]["if"] == "always()"  # a failing shard still gets a merged report


def test_every_shard_command_is_accepted_and_the_split_is_whole(workflow: dict[str, Any]) -> None:
    job = workflow["jobs"]["shard"]
    seen: dict[str, set[tuple[int, int]]] = {}
    report_dirs = set()
    seeds = set()
    for cell in _cells(job):
        commands = _apicert_commands(job, cell)
        assert len(commands) == 1, commands
        args = _parse(commands[0])
        assert args.command == "run"
        assert args.vendor == [cell["vendor"]]
        shard = parse_shard(args.shard)
        assert shard.index == cell["shard"]
        seen.setdefault(cell["vendor"], set()).add((shard.index, shard.total))
        report_dirs.add(args.report_dir)
        seeds.add(args.seed)
        uploads = [s for s in job["steps"] if "upload-artifact" in str(s.get("uses"))]
        assert len(uploads) == 1
        path = _fill(uploads[0]["with"]["path"], cell)
        assert path == f"{args.report_dir}/results.json"
    assert len(report_dirs) == len(_cells(job))  # no two jobs share a report directory
    # One seed for every shard of a workflow run: the merged report's repeat line needs it.
    assert seeds == {41}, f"shards must share the run's seed: {seeds}"
    for vendor, shards in seen.items():
        totals = {n for _k, n in shards}
        assert len(totals) == 1, f"{vendor}: shards of different splits {shards}"
        (total,) = totals
        assert {k for k, _n in shards} == set(range(1, total + 1)), f"{vendor}: {shards}"


def test_merge_job_merges_what_the_shards_upload(workflow: dict[str, Any]) -> None:
    shard_job, merge_job = workflow["jobs"]["shard"], workflow["jobs"]["merge"]
    (command,) = _apicert_commands(merge_job, {})
    args = _parse(command)
    assert (args.command, args.report_command) == ("report", "merge")
    download = next(s for s in merge_job["steps"] if "download-artifact" in str(s.get("uses")))
    upload = next(s for s in shard_job["steps"] if "upload-artifact" in str(s.get("uses")))
    for cell in _cells(shard_job):
        name = _fill(upload["with"]["name"], cell)
        assert fnmatch.fnmatch(name, download["with"]["pattern"]), name
        # download-artifact puts each artifact in <path>/<name>/: the merge glob must see it
        landed = f"{download['with']['path']}/{name}/results.json"
        assert any(fnmatch.fnmatch(landed, pattern) for pattern in args.inputs), landed
    final = [s for s in merge_job["steps"] if "upload-artifact" in str(s.get("uses"))]
    assert final and final[0]["if"] == "always()"
    assert final[0]["with"]["path"].rstrip("/") == args.report_dir


def test_a_command_the_cli_does_not_know_is_caught() -> None:
    """The check above can fail: an option the CLI lacks is refused."""
    with pytest.raises(AssertionError, match="refused by the CLI"):
        _parse(["run", "--vendor", "connectfi", "--shards", "1/2"])
    with pytest.raises(AssertionError, match="refused by the CLI"):
        _parse(["report", "combine", "a.json"])
