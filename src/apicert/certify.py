"""``apicert certify``: certify a vendor's new API version against a baseline run.

Promises: :func:`certify` refuses (one line, exit 2, nothing written) a vendor without API
versions, an unknown version, an unreadable baseline or one without the vendor's requirements,
and an output directory that is not empty. Otherwise it runs the suites at the candidate version
(``apicert run --api-version``), and writes the bundle:

=========================== =================================================================
``results.json``            the candidate run (source of truth), ``conformance.html`` +
                            ``evidence/`` rendered from it
``baseline-results.json``   the baseline run, as given
``openapi/openapi-V.yaml``  the OpenAPI documents of the baseline's and the candidate's version
``requirements.yaml``       the vendor's requirement catalog
``behaviour-diff.json``     ``apicert report diff`` of baseline to candidate (+ ``.html``, ``.txt``)
``breaking-changes.json``   the OpenAPI breaking changes from the baseline's document to the
                            candidate's (:mod:`apicert.openapi_diff`) (+ ``.txt``)
``certification.json``      what was certified, the verdict, and the response fields observed in
                            the baseline run but not the candidate's and the reverse
``manifest.json``           SHA-256 of every file, HMAC-SHA256 signed with ``APICERT_BUNDLE_KEY``
=========================== =================================================================

The exit code is the run's (0 passed, 1 a requirement failed), and 1 too when the behaviour diff
shows a requirement newly failing. Breaking changes are listed, not judged: a new version is
allowed to change its contract; the integrator reads the list.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from apicert import __version__
from apicert.bundle import KEY_ENV, write_manifest
from apicert.known_issues import counts_as_failure
from apicert.openapi_diff import (
    api_versions,
    breaking_changes,
    change_lines,
    document_path,
    response_fields,
    version_problem,
)
from apicert.paths import schemas_dir
from apicert.report.diff import DiffError, diff_lines, diff_results, load_results, render_diff_html

__all__ = ["CertifyError", "CertifyRequest", "certify", "observed_changes"]


class CertifyError(ValueError):
    """A certification that cannot start; the message is one line."""


@dataclass(frozen=True)
class CertifyRequest:
    """What to certify: ``vendor`` at ``version`` against the ``baseline`` results, into ``out``.
    ``run_args`` are extra ``apicert run`` arguments (target, -k, seed, timeout, registry)."""

    vendor: str
    version: str
    baseline: Path
    out: Path
    run_args: tuple[str, ...] = ()


def _only_vendor(doc: dict[str, Any], vendor: str) -> dict[str, Any]:
    """The results document restricted to one vendor's requirements and drift."""
    out = dict(doc)
    out["requirements"] = [r for r in doc.get("requirements") or [] if r.get("vendor") == vendor]
    out["drift"] = {k: v for k, v in (doc.get("drift") or {}).items() if k == vendor}
    return out


def _version_of(doc: dict[str, Any], vendor: str) -> str:
    """The API version a results document tested (the vendor's default when it names none)."""
    named = ((doc.get("run") or {}).get("vendor_api_versions") or {}).get(vendor)
    return str(named) if named else api_versions(vendor)[0]


def check_request(request: CertifyRequest) -> tuple[dict[str, Any], str]:
    """Validate ``request`` before anything runs; return the baseline (this vendor only) and
    its version. Raise :class:`CertifyError` with one line."""
    problem = version_problem(request.vendor, request.version)
    if problem:
        raise CertifyError(problem)
    try:
        baseline = load_results(request.baseline)
    except DiffError as exc:
        raise CertifyError(f"--baseline {exc}") from None
    baseline = _only_vendor(baseline, request.vendor)
    if not baseline["requirements"]:
        raise CertifyError(
            f"--baseline {request.baseline}: has no {request.vendor} requirements "
            f"(make it with 'apicert run --vendor {request.vendor}')"
        )
    old_version = _version_of(baseline, request.vendor)
    if old_version not in api_versions(request.vendor):
        raise CertifyError(
            f"--baseline {request.baseline}: tested {request.vendor} api-version "
            f"{old_version[:40]!r}, which apicert has no document for"
        )
    if request.out.exists() and (not request.out.is_dir() or any(request.out.iterdir())):
        raise CertifyError(f"--out {request.out}: exists and is not empty; choose another")
    return baseline, old_version


def _seen(doc: dict[str, Any], vendor: str, document: str) -> dict[str, set[str]]:
    """Response fields seen per ``METHOD path status`` in exchanges judged by ``document``."""
    out: dict[str, set[str]] = {}
    for key, op in ((doc.get("drift") or {}).get(vendor, {}).get("operations") or {}).items():
        head, _, name = key.rpartition(" ")
        if name == document and op.get("seen"):
            out.setdefault(head, set()).update(op["seen"])
    return out


def _topmost(paths: set[str]) -> list[str]:
    return sorted(
        p
        for p in paths
        if not any(p != q and (p.startswith(q + ".") or p.startswith(q + "[]")) for q in paths)
    )


def observed_changes(
    baseline: dict[str, Any], candidate: dict[str, Any], vendor: str, old: str, new: str
) -> list[dict[str, Any]]:
    """Per operation and status seen in both runs at their own version: the response fields
    either document declares there that were seen only in the baseline (``gone``) or only in
    the candidate (``new``), topmost paths. Keys of free-form maps (a borrower's variables) are
    left out: they are data, not contract."""
    before = _seen(baseline, vendor, f"openapi-{old}.yaml")
    after = _seen(candidate, vendor, f"openapi-{new}.yaml")
    documents = []
    for version in dict.fromkeys((old, new)):
        with open(document_path(vendor, version), encoding="utf-8") as handle:
            documents.append(yaml.safe_load(handle))
    out = []
    for op in sorted(set(before) & set(after)):
        operation, _, status = op.rpartition(" ")
        declared = set().union(*(response_fields(d, operation, status) for d in documents))
        was, now = before[op] & declared, after[op] & declared
        gone, added = _topmost(was - now), _topmost(now - was)
        if gone or added:
            out.append({"operation": op, "gone": gone, "new": added})
    return out


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def certify(
    request: CertifyRequest,
    run: Callable[[Sequence[str]], int],
    key: bytes | None,
    echo: Callable[[str], None] = print,
) -> int:
    """Run the certification (see the module docstring) with ``run`` (``apicert run``'s
    ``main``); return the exit code. Raise :class:`CertifyError` before anything runs."""
    baseline, old_version = check_request(request)
    vendor, new_version = request.vendor, request.version
    with tempfile.TemporaryDirectory(prefix="apicert-certify-") as tmp:
        run_dir = Path(tmp)
        argv = ["run", "--vendor", vendor, "--api-version", new_version]
        argv += ["--report-dir", str(run_dir), *request.run_args]
        code = run(argv)
        if code not in (0, 1) or not (run_dir / "results.json").is_file():
            echo("apicert certify: the run did not complete; no bundle written")
            return 2
        out = request.out
        out.mkdir(parents=True, exist_ok=True)
        for name in ("results.json", "conformance.html"):
            shutil.copy2(run_dir / name, out / name)
        if (run_dir / "evidence").is_dir():
            shutil.copytree(run_dir / "evidence", out / "evidence")
    candidate = _only_vendor(load_results(out / "results.json"), vendor)
    shutil.copy2(request.baseline, out / "baseline-results.json")
    (out / "openapi").mkdir()
    old_doc_path, new_doc_path = (
        document_path(vendor, old_version),
        document_path(vendor, new_version),
    )
    for path in {old_doc_path, new_doc_path}:
        shutil.copy2(path, out / "openapi" / path.name)
    shutil.copy2(schemas_dir() / vendor / "requirements.yaml", out / "requirements.yaml")

    diff = diff_results(baseline, candidate)
    _write_json(out / "behaviour-diff.json", diff)
    (out / "behaviour-diff.html").write_text(render_diff_html(diff), encoding="utf-8")
    behaviour = diff_lines(diff)
    (out / "behaviour-diff.txt").write_text("\n".join(behaviour) + "\n", encoding="utf-8")

    with open(old_doc_path, encoding="utf-8") as a, open(new_doc_path, encoding="utf-8") as b:
        changes = breaking_changes(yaml.safe_load(a), yaml.safe_load(b))
    _write_json(
        out / "breaking-changes.json",
        {
            "from": old_doc_path.name,
            "to": new_doc_path.name,
            "breaking": [c.to_dict() for c in changes if c.breaking],
            "additions": [c.to_dict() for c in changes if not c.breaking],
        },
    )
    listed = change_lines(changes, width=200)
    (out / "breaking-changes.txt").write_text("\n".join(listed) + "\n", encoding="utf-8")

    observed = observed_changes(baseline, candidate, vendor, old_version, new_version)
    failing = [r["id"] for r in candidate["requirements"] if counts_as_failure(r)]
    certified = code == 0 and not failing and not diff["newly_failing"]
    summary = (candidate.get("summary") or {}).get(vendor, {})
    info = {
        "vendor": vendor,
        "baseline_version": old_version,
        "candidate_version": new_version,
        "certified": certified,
        "verdict": summary.get("verdict"),
        "apicert_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _write_json(
        out / "certification.json",
        dict(
            info,
            run_exit_code=code,
            run_args=list(request.run_args),
            failing=failing,
            newly_failing=[d["id"] for d in diff["newly_failing"]],
            breaking_changes=sum(1 for c in changes if c.breaking),
            observed_response_changes=observed,
        ),
    )
    write_manifest(out, key, info)

    echo(f"certify {vendor} api-version {new_version} against {old_version} ({request.baseline})")
    for line in behaviour:
        echo(line)
        if line.startswith("schema drift:"):
            echo(f"  (drift in full: {out / 'behaviour-diff.txt'})")
            break
    for line in change_lines(changes):
        echo(line)
    echo(f"response fields observed changed: {len(observed)} operations")
    for item in observed:
        text = f"  {item['operation']}: gone {', '.join(item['gone']) or '-'}; new "
        text += ", ".join(item["new"]) or "-"
        echo(text if len(text) <= 80 else text[:79] + "~")
    signed = f"signed (HMAC-SHA256, {KEY_ENV})" if key else f"unsigned (set {KEY_ENV} to sign)"
    echo(f"bundle: {out} ({signed})")
    echo(f"{'CERTIFIED' if certified else 'NOT CERTIFIED'}: {vendor} api-version {new_version}")
    return 0 if certified else 1
