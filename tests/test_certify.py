"""``apicert certify`` and ``apicert verify``: DigiFi's 2024-02-26 certified against a baseline
run at 2023-12-01, the bundle it writes, and every way of tampering with that bundle.

One baseline run and one certification are shared by the module (``-k test_versions``: the
version tests reach every operation where the versions differ, in seconds, not the whole suite).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from apicert.bundle import KEY_ENV, MANIFEST, verify_bundle, write_manifest
from apicert.cli import main
from apicert.paths import schemas_dir
from apicert.run import Run
from apicert.targets import resolve_targets

from .test_cli import Result, _env, apicert

KEY = "test-bundle-key-7f3a9c"
SELECT = ("-k", "test_versions")


@dataclass
class Certified:
    baseline: Result
    result: Result
    bundle: Path

    def json(self, name: str) -> Any:
        return json.loads((self.bundle / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def certified(tmp_path_factory: pytest.TempPathFactory) -> Certified:
    root = tmp_path_factory.mktemp("certify")
    baseline = apicert(root, "run", "--vendor", "digifi", "--api-version", "2023-12-01", *SELECT)
    assert baseline.code == 0, baseline.stdout + baseline.stderr
    result = apicert(
        root,
        "certify",
        "--vendor",
        "digifi",
        "--api-version",
        "2024-02-26",
        "--baseline",
        "reports/results.json",
        "--out",
        "bundle",
        *SELECT,
        env=_env(**{KEY_ENV: KEY}),
    )
    return Certified(baseline, result, root / "bundle")


# -- the certification ---------------------------------------------------------------------
def test_certify_runs_the_candidate_version_and_certifies_it(certified: Certified) -> None:
    result = certified.result
    assert result.code == 0, result.stdout + result.stderr
    assert "CERTIFIED: digifi api-version 2024-02-26" in result.stdout
    old = certified.baseline.results()["run"]["vendor_api_versions"]
    new = certified.json("results.json")["run"]["vendor_api_versions"]
    assert old == {"digifi": "2023-12-01"} and new == {"digifi": "2024-02-26"}
    assert certified.json("certification.json")["run_args"] == list(SELECT)


def test_certification_lists_the_deliberate_differences_of_2024_02_26(
    certified: Certified,
) -> None:
    """What the two documents and the sandbox differ by: list pages answer ``items`` instead of
    ``data`` (``nextToken`` no longer null, absent on the last page); an application names its
    borrowers ``borrowerId`` / ``coborrowerIds`` instead of ``borrower`` / ``coBorrowers``."""
    changes = certified.json("breaking-changes.json")
    assert (changes["from"], changes["to"]) == (
        "openapi-2023-12-01.yaml",
        "openapi-2024-02-26.yaml",
    )
    breaking = {(c["kind"], c["operation"], c["location"]) for c in changes["breaking"]}
    for op in ("GET /api/borrowers", "GET /api/applications"):
        assert ("removed response field", op, "200 data") in breaking
        assert ("retyped response field", op, "200 nextToken") in breaking
    for op in ("POST /api/applications", "GET /api/applications/{id}"):
        assert ("removed response field", op, "200 borrower") in breaking
        assert ("removed response field", op, "200 coBorrowers") in breaking
    assert not [c for c in changes["breaking"] if "request" in c["kind"]]
    assert not [c for c in changes["breaking"] if c["kind"] == "removed operation"]
    # The behaviour side: what the sandbox answered at each run's version.
    observed = {
        o["operation"]: (o["gone"], o["new"])
        for o in certified.json("certification.json")["observed_response_changes"]
    }
    assert observed["GET /api/borrowers 200"] == (["data"], ["items"])
    assert observed["GET /api/applications 200"] == (["data"], ["items"])
    assert observed["GET /api/applications/{id} 200"] == (
        ["borrower", "coBorrowers"],
        ["borrowerId", "coborrowerIds"],
    )
    out = certified.result.stdout
    assert "removed response field: GET /api/borrowers 200 data (was array)" in out
    assert "GET /api/applications/{id} 200: gone borrower, coBorrowers; new borrowerId" in out
    # Same requirements, same statuses: the behaviour diff has nothing newly failing.
    diff = certified.json("behaviour-diff.json")
    assert diff["newly_failing"] == [] and diff["removed"] == [] and diff["added"] == []


def test_the_bundle_holds_every_artifact_and_the_manifest_lists_them(
    certified: Certified,
) -> None:
    bundle = certified.bundle
    files = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert set(files) >= {
        "results.json",
        "conformance.html",
        "baseline-results.json",
        "openapi/openapi-2023-12-01.yaml",
        "openapi/openapi-2024-02-26.yaml",
        "requirements.yaml",
        "behaviour-diff.json",
        "behaviour-diff.html",
        "behaviour-diff.txt",
        "breaking-changes.json",
        "breaking-changes.txt",
        "certification.json",
        MANIFEST,
    }
    assert any(f.startswith("evidence/chunk-") for f in files)
    manifest = certified.json(MANIFEST)
    assert sorted(manifest["files"]) == [f for f in files if f != MANIFEST]
    assert manifest["signature"]["algorithm"] == "hmac-sha256"
    for version in ("2023-12-01", "2024-02-26"):
        name = f"openapi-{version}.yaml"
        assert (bundle / "openapi" / name).read_bytes() == (
            schemas_dir() / "digifi" / name
        ).read_bytes()
    assert (bundle / "requirements.yaml").read_bytes() == (
        schemas_dir() / "digifi" / "requirements.yaml"
    ).read_bytes()


def test_the_key_never_appears(certified: Certified) -> None:
    assert KEY not in certified.result.stdout + certified.result.stderr
    for path in certified.bundle.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_certify_refuses_bad_requests_with_one_line(certified: Certified, tmp_path: Path) -> None:
    baseline = str(certified.baseline.report_dir / "results.json")
    cases = [
        (
            ("--vendor", "connectfi", "--api-version", "2024-02-26", "--baseline", baseline),
            "no API versions",
        ),
        (
            ("--vendor", "digifi", "--api-version", "2030-01-01", "--baseline", baseline),
            "documents 2023-12-01",
        ),
        (
            ("--vendor", "digifi", "--api-version", "2024-02-26", "--baseline", "nope.json"),
            "no such file",
        ),
        (
            (
                "--vendor",
                "digifi",
                "--api-version",
                "2024-02-26",
                "--baseline",
                baseline,
                "--out",
                str(certified.bundle),
            ),
            "not empty",
        ),
    ]
    for args, expected in cases:
        result = apicert(tmp_path, "certify", *args)
        assert result.code == 2, (args, result.stdout, result.stderr)
        errors = [line for line in result.stderr.splitlines() if line.startswith("apicert: error:")]
        assert len(errors) == 1 and expected in errors[0], result.stderr
        assert "Traceback" not in result.stderr


# -- --api-version on every request ---------------------------------------------------------
def test_a_run_at_a_version_sends_it_on_every_request(tmp_path: Path) -> None:
    run = Run(
        targets=resolve_targets(["digifi"], {}, env={}),
        report_dir=tmp_path,
        env={},
        api_versions={"digifi": "2024-02-26"},
    )
    try:
        assert run.vendor_version("digifi") == "2024-02-26"
        client = run.client("digifi")
        listed = client.get("/api/borrowers", params={"count": 1})
        refused = client.get("/api/borrowers", auth=False)
        explicit = client.get("/api/borrowers", headers={"api-version": "2023-12-01"})
        bare = client.get("/api/borrowers", headers={"api-version": None})  # type: ignore[dict-item]
        sent = [e["request"]["headers"].get("api-version") for e in run.recorder.all()]
    finally:
        run.close()
    assert sent[:2] == ["2024-02-26", "2024-02-26"]  # the key check, then the list
    assert "items" in listed.json() and "data" not in listed.json()
    assert refused.status == 401 and refused.request_headers.get("api-version") == "2024-02-26"
    assert "data" in explicit.json() and "api-version" not in bare.request_headers
    assert Run(targets={}, report_dir=tmp_path, env={}).vendor_version("digifi") is None


# -- verify ---------------------------------------------------------------------------------
def _verify(
    bundle: Path, capsys: pytest.CaptureFixture[str], key: str | None = KEY
) -> tuple[int, str]:
    with pytest.MonkeyPatch.context() as mp:
        if key is None:
            mp.delenv(KEY_ENV, raising=False)
        else:
            mp.setenv(KEY_ENV, key)
        code = main(["verify", str(bundle)])
    out = capsys.readouterr()
    text = out.out + out.err
    assert KEY not in text
    return code, text


def _copy(certified: Certified, tmp_path: Path, name: str) -> Path:
    return Path(shutil.copytree(certified.bundle, tmp_path / name))


def test_verify_accepts_the_untouched_bundle(
    certified: Certified, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = _verify(certified.bundle, capsys)
    assert code == 0 and "verified: " in text and "signature checked" in text


def test_verify_through_the_real_cli(certified: Certified, tmp_path: Path) -> None:
    ok = apicert(tmp_path, "verify", str(certified.bundle), env=_env(**{KEY_ENV: KEY}))
    assert ok.code == 0 and ok.stdout.startswith("verified:"), ok.stdout + ok.stderr
    keyless = apicert(tmp_path, "verify", str(certified.bundle))
    assert keyless.code == 2 and f"set {KEY_ENV}" in keyless.stderr
    assert "Traceback" not in keyless.stderr


def test_verify_catches_a_change_to_any_file(
    certified: Certified, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = sorted(certified.json(MANIFEST)["files"])
    assert len(names) >= 13
    for i, name in enumerate(names):
        bundle = _copy(certified, tmp_path, f"changed-{i}")
        path = bundle / name
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01  # one bit, mid-file
        path.write_bytes(bytes(data))
        code, text = _verify(bundle, capsys)
        assert code == 1 and f"changed: {name}\n" in text, (name, text)


def test_verify_catches_a_removed_or_added_file(
    certified: Certified, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i, name in enumerate(sorted(certified.json(MANIFEST)["files"])):
        bundle = _copy(certified, tmp_path, f"removed-{i}")
        (bundle / name).unlink()
        code, text = _verify(bundle, capsys)
        assert code == 1 and f"removed: {name}\n" in text, (name, text)
    for extra in ("notes.txt", "evidence/chunk-9999.js", "openapi/new/extra.yaml"):
        bundle = _copy(certified, tmp_path, f"added-{extra.replace('/', '_')}")
        (bundle / extra).parent.mkdir(parents=True, exist_ok=True)
        (bundle / extra).write_text("x", encoding="utf-8")
        code, text = _verify(bundle, capsys)
        assert code == 1 and f"added: {extra}\n" in text, (extra, text)


def _edit_manifest(bundle: Path, edit: Any) -> None:
    path = bundle / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    edit(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def test_verify_catches_manifest_edits(
    certified: Certified, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signature = "changed: manifest.json (the signature does not match"
    edits = {
        # An attacker who changed a file and put its new digest in the manifest:
        "digest": lambda m: m["files"].update({"results.json": "0" * 64}),
        "claim": lambda m: m["info"].update({"certified": False}),
        "drop-entry": lambda m: m["files"].pop("certification.json"),
        "add-entry": lambda m: m["files"].update({"ghost.txt": "0" * 64}),
    }
    expected = {
        "digest": "changed: results.json",
        "claim": signature,
        "drop-entry": "added: certification.json",
        "add-entry": "removed: ghost.txt",
    }
    for name, edit in edits.items():
        bundle = _copy(certified, tmp_path, f"manifest-{name}")
        _edit_manifest(bundle, edit)
        code, text = _verify(bundle, capsys)
        assert code == 1 and expected[name] in text and signature in text, (name, text)
    # Stripped signature, digests recomputed over a changed file: caught when the key is set.
    bundle = _copy(certified, tmp_path, "manifest-resigned")
    (bundle / "results.json").write_text("{}", encoding="utf-8")
    write_manifest(bundle, None)
    code, text = _verify(bundle, capsys)
    assert code == 1 and "not signed, but APICERT_BUNDLE_KEY is set" in text
    # Re-signed with another key: the signature does not match ours.
    write_manifest(bundle, b"another-key")
    code, text = _verify(bundle, capsys)
    assert code == 1 and signature in text
    for name, content in (("missing", None), ("garbage", "{not json"), ("foreign", "[]")):
        bundle = _copy(certified, tmp_path, f"manifest-{name}")
        if content is None:
            (bundle / MANIFEST).unlink()
        else:
            (bundle / MANIFEST).write_text(content, encoding="utf-8")
        code, text = _verify(bundle, capsys)
        assert code == 1 and "manifest.json" in text, (name, text)


def test_verify_refuses_unsafe_manifest_paths(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    bundle.mkdir()
    (bundle / "a.txt").write_text("a", encoding="utf-8")
    write_manifest(bundle, None)
    _edit_manifest(bundle, lambda m: m["files"].update({"../outside.txt": "0" * 64}))
    result = verify_bundle(bundle, None)
    assert not result.ok and any("unsafe path" in p for p in result.problems)


def test_verify_with_the_wrong_key_or_none(
    certified: Certified, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = _verify(certified.bundle, capsys, key="not-the-key")
    assert code == 1 and "signature does not match" in text
    code, text = _verify(certified.bundle, capsys, key=None)
    assert code == 2 and f"the manifest is signed; set {KEY_ENV}" in text


def test_a_candidate_that_breaks_its_version_is_not_certified(
    certified: Certified, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sandbox ignoring api-version answers 2023-12-01 shapes to 2024-02-26 requests."""
    result = apicert(
        tmp_path,
        "certify",
        "--vendor",
        "digifi",
        "--api-version",
        "2024-02-26",
        "--baseline",
        str(certified.baseline.report_dir / "results.json"),
        "--out",
        "bundle",
        "--fault",
        "digifi:version-header-ignored",
        *SELECT,
    )
    assert result.code == 1, result.stdout + result.stderr
    assert "NOT CERTIFIED: digifi api-version 2024-02-26" in result.stdout
    bundle = tmp_path / "bundle"
    cert = json.loads((bundle / "certification.json").read_text(encoding="utf-8"))
    assert not cert["certified"] and "DIGIFI-VER-02" in cert["newly_failing"]
    code, text = _verify(bundle, capsys, key=None)  # unsigned: digests only
    assert code == 0 and "unsigned: digests only" in text
