"""``apicert repro``: a fault's failure becomes a standalone pytest file and a curl script that
fail against the faulty sandbox and pass against the clean one, with only pytest and requests.

Everything is real: ``apicert run`` against ``apicert sandbox serve --fault`` on loopback,
``apicert repro`` on its results.json, the repro file run by a ``python -S`` that can import
pytest, requests and their dependencies and nothing else (apicert is proven not importable), and
the shell script run by bash with curl.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from apicert.model import Exchange
from tests.test_cli import _env, run_cli, standalone_sandbox

# pytest, requests and what they import: nothing else is importable by the repro.
MINIMAL = (
    "pytest", "_pytest", "pluggy", "iniconfig", "packaging", "pygments", "py.py",
    "requests", "urllib3", "idna", "certifi", "charset_normalizer",
)  # fmt: skip
LUHN_RUN = re.compile(r"(?<![0-9])\d{13,19}(?![0-9])")

# vendor -> credentials for the standalone sandboxes and the harness (distinctive, to grep for)
CREDENTIALS = {
    "connectfi": {
        "APICERT_CONNECTFI_LOGIN": "repro_login_7q",
        "APICERT_CONNECTFI_PASSWORD": "Pw-repro-Zq81-secret",
    },
    "digitzs": {
        "APICERT_DIGITZS_API_KEY": "dzkey-repro-Zq81-secret",
        "APICERT_DIGITZS_APP_ID": "repro-app-7q",
    },
    "digifi": {"APICERT_DIGIFI_API_KEY": "dfkey-repro-Zq81-secret"},
}
SECRET_VALUES = ["Pw-repro-Zq81-secret", "dzkey-repro-Zq81-secret", "dfkey-repro-Zq81-secret"]

# vendor, fault, -k selection of the test that finds it, finding id, a quote fragment
CASES = [
    ("connectfi", "duplicate-reference-accepted",
     "test_duplicate_customer_reference_points_at_existing", "CONNECTFI-REF-01/1"),
    ("digitzs", "fee-off-by-cent",
     "test_card_fees_follow_the_published_rate", "DIGITZS-MONEY-01/1"),
    ("digifi", "create-201",
     "test_borrower_lifecycle_answers_200_with_the_resource", "DIGIFI-STATUS-01/1"),
]  # fmt: skip


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without APICERT_* and the outer pytest's variables, plus ``extra``."""
    return _env(**extra)


def apicert(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the real ``apicert`` command line."""
    return run_cli(cwd, *args, env=env, timeout=300)


@contextlib.contextmanager
def sandbox(
    workdir: Path, vendor: str, env: dict[str, str], *faults: str, extra: tuple[str, ...] = ()
) -> Iterator[str]:
    """``apicert sandbox serve VENDOR [--fault F] [EXTRA] --state FILE`` on a free loopback
    port (test_cli's standalone sandbox, checked alive to the end); yield its URL."""
    workdir.mkdir(parents=True)
    flags = [arg for fault in faults for arg in ("--fault", fault)]
    with standalone_sandbox(workdir, env, *flags, *extra, vendor=vendor) as url:
        yield url


def minimal_path(tmp_path: Path) -> Path:
    """A directory holding symlinks to pytest, requests and their dependencies only."""
    import requests

    site = Path(requests.__file__).resolve().parents[1]
    target = tmp_path / "only-pytest-and-requests"
    target.mkdir()
    for name in MINIMAL:
        if (site / name).exists():
            (target / name).symlink_to(site / name)
    return target


def minimal_python(path: Path, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The command and environment of a Python that imports only what ``path`` holds."""
    env = dict(env, PYTHONPATH=str(path), PYTHONNOUSERSITE="1")
    return [sys.executable, "-S"], env


def assert_no_secret(text: str) -> None:
    """No credential value and no full (Luhn-valid) card number in ``text``."""
    for value in SECRET_VALUES:
        assert value not in text
    from apicert.redact import luhn_valid

    cards = [m for m in LUHN_RUN.findall(text) if luhn_valid(m)]
    assert not cards, cards


@pytest.mark.parametrize(
    ("vendor", "fault", "keyword", "finding_id"), CASES, ids=[c[0] for c in CASES]
)
def test_repro_fails_on_the_faulty_sandbox_and_passes_on_the_clean_one(
    tmp_path: Path, vendor: str, fault: str, keyword: str, finding_id: str
) -> None:
    creds = CREDENTIALS[vendor]
    env = clean_env(**creds)
    url_env = f"APICERT_{vendor.upper()}_URL"
    with (
        sandbox(tmp_path / "faulty", vendor, env, fault) as faulty,
        sandbox(tmp_path / "clean", vendor, env) as clean,
    ):
        run = apicert(
            "run", "--vendor", vendor, "--target", f"{vendor}={faulty}", "-k", keyword,
            "--report-dir", str(tmp_path / "reports"), env=env, cwd=tmp_path,
        )  # fmt: skip
        assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
        results = tmp_path / "reports" / "results.json"
        doc = json.loads(results.read_text(encoding="utf-8"))
        finding = next(
            f for r in doc["requirements"] for f in r["findings"] if f.get("id") == finding_id
        )
        assert finding["replay"]["judge"] == "expect", finding
        assert finding_id in run.stdout  # the terminal names the finding id to type

        made = apicert(
            "repro", finding_id, "--results", str(results), "--out", str(tmp_path / "repro"),
            env=env, cwd=tmp_path,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        stem = "repro_" + re.sub(r"[^a-z0-9]+", "_", finding_id.lower()).strip("_")
        py_file, sh_file = tmp_path / "repro" / f"{stem}.py", tmp_path / "repro" / f"{stem}.sh"
        requirement = next(r for r in doc["requirements"] if r["id"] == finding["requirement"])
        for path in (py_file, sh_file):
            text = path.read_text(encoding="utf-8")
            assert_no_secret(text)
            assert requirement["quote"] in text or json.dumps(requirement["quote"])[1:-1] in text
        assert_no_secret(results.read_text(encoding="utf-8"))

        python, pyenv = minimal_python(minimal_path(tmp_path), env)
        probe = subprocess.run(
            [*python, "-c", "import pytest, requests\ntry:\n import apicert\nexcept ImportError:"
             "\n print('apicert not importable')\ntry:\n import yaml\nexcept ImportError:\n"
             " print('yaml not importable')"],
            env=pyenv, capture_output=True, text=True, cwd=tmp_path / "repro", timeout=60,
        )  # fmt: skip
        assert probe.returncode == 0, probe.stderr
        assert "apicert not importable" in probe.stdout and "yaml not importable" in probe.stdout

        outcome = {}
        for name, url in (("faulty", faulty), ("clean", clean)):
            ran = subprocess.run(
                [*python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(py_file)],
                env=dict(pyenv, **{url_env: url}), capture_output=True, text=True,
                cwd=tmp_path / "repro", timeout=120,
            )  # fmt: skip
            outcome[name] = ran
            assert_no_secret(ran.stdout + ran.stderr)
        assert outcome["faulty"].returncode == 1, outcome["faulty"].stdout[-3000:]
        assert "1 failed" in outcome["faulty"].stdout
        # The vendor's own clause and source are in the failure message.
        assert requirement["quote"][:60] in outcome["faulty"].stdout
        assert requirement["source"][:40] in outcome["faulty"].stdout
        assert outcome["clean"].returncode == 0, outcome["clean"].stdout[-3000:]
        assert "1 passed" in outcome["clean"].stdout

        bash, curl = shutil.which("bash"), shutil.which("curl")
        if bash is None or curl is None:
            pytest.skip("bash or curl is not installed: the curl script was written, not run")
        for name, url, code in (("faulty", faulty, 1), ("clean", clean, 0)):
            ran = subprocess.run(
                [bash, str(sh_file)], env=dict(pyenv, **{url_env: url}), capture_output=True,
                text=True, cwd=tmp_path / "repro", timeout=120,
            )  # fmt: skip
            assert ran.returncode == code, (name, ran.stdout[-3000:], ran.stderr[-2000:])
            assert_no_secret(ran.stdout + ran.stderr)
            assert requirement["quote"][:60] in ran.stdout
            assert ("FAILED now:" if code else "PASSED:") in ran.stdout


def test_repro_of_an_unknown_finding_is_one_line(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"requirements": []}), encoding="utf-8")
    made = apicert("repro", "X-1/1", "--results", str(results), env=clean_env(), cwd=tmp_path)
    assert made.returncode == 2
    assert made.stderr.count("\n") == 1 and "apicert: error:" in made.stderr, made.stderr
    missing = apicert("repro", "X-1/1", "--results", "nope.json", env=clean_env(), cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_generated_values_keep_kind_last_four_and_validity() -> None:
    import random

    from apicert.redact import luhn_valid
    from apicert.replay_runtime import generate_value
    from apicert.strategies import aba_checksum_ok

    rng = random.Random(7)
    card = generate_value({"kind": "card", "last4": "1111", "length": 16, "first": "4"}, rng)
    assert len(card) == 16 and card.endswith("1111") and card[0] == "4" and luhn_valid(card)
    bad = generate_value(
        {"kind": "card", "last4": "1112", "length": 16, "first": "4", "valid": False}, rng
    )
    assert bad.endswith("1112") and not luhn_valid(bad)
    routing = generate_value({"kind": "routing", "last4": "0021", "length": 9, "first": "0"}, rng)
    assert routing.endswith("0021") and aba_checksum_ok(routing)
    ssn = generate_value({"kind": "ssn", "last4": "6789", "length": 9, "dashed": True}, rng)
    assert re.fullmatch(r"\d{3}-\d{2}-6789", ssn) and not ssn.startswith(("000", "666", "9"))
    date = generate_value({"kind": "date", "shape": "99-99-9999"}, rng)
    assert re.fullmatch(r"(0[1-9]|1[0-2])-\d\d-19\d\d", date)
    fresh = {generate_value({"kind": "fresh", "prefix": "cust_", "hex": 16}, rng) for _ in "ab"}
    assert len(fresh) == 2 and all(re.fullmatch(r"cust_[0-9a-f]{16}", f) for f in fresh)


def _exchange(
    eid: str, method: str, path: str, body: object, answer: object, **headers: str
) -> Exchange:

    return Exchange(
        id=eid,
        method=method,
        url=f"http://h:1{path}",
        request_headers={"Content-Type": "application/json", **headers},
        request_body=None if body is None else json.dumps(body),
        status=200,
        response_headers={"Content-Type": "application/json"},
        response_body=json.dumps(answer),
        test="t::one",
    )


def test_steps_link_answers_and_keep_secrets_and_numbers_out() -> None:
    """Canned raw exchanges through a StepLog: links, env credentials, regenerated numbers,
    fresh references and made-up secrets, and no raw value left in the templates."""
    from apicert.redact import Redactor
    from apicert.steps import StepLog

    redactor = Redactor(["pw-secret-123"])
    log = StepLog(
        redactor,
        lambda ex: "connectfi",
        lambda vendor: [("APICERT_X_LOGIN", "me_login1"), ("APICERT_X_PASSWORD", "pw-secret-123")],
        lambda: "t::one",
        lambda vendor: "http://h:1",
    )
    token = "tok-abcdefghijklmnopqrstuvwxyz123"
    TOK = "x-connectfi-token"  # a secret header
    login = {"user": {"login": "me_login1", "password": "pw-secret-123"}}
    customer = {"ssn": "123456789", "reference": "cust_0123456789abcdef", "no": "4111111111111111"}
    log.on_exchange(_exchange("ex-1", "POST", "/auth", login, {"data": {"token": token}}))
    redactor.add_secret(token)  # what the vendor's learner does
    log.on_exchange(
        _exchange("ex-2", "POST", "/c", customer, {"data": {"id": "cus_000123456"}}, **{TOK: token})
    )
    log.on_exchange(_exchange("ex-3", "GET", "/c/cus_000123456", None, {}, **{TOK: "bogus-1"}))
    steps = log.section(log.vendor_steps("connectfi"))
    text = json.dumps(steps)
    for raw in ("pw-secret-123", "me_login1", token, "123456789", "4111111111111111", "cus_0001"):
        assert raw not in text, raw
    first, second, third = (steps["steps"][i] for i in ("ex-1", "ex-2", "ex-3"))
    assert "{{apicert:env:APICERT_X_PASSWORD}}" in first["body"]
    assert second["headers"][TOK] == "{{apicert:L1}}"
    assert second["links"]["L1"] == {"step": "ex-1", "from": "body", "path": ["data", "token"]}
    body = json.loads(second["body"])
    kinds = {k: steps["vars"][v.split(":")[-1].rstrip("}")]["kind"] for k, v in body.items()}
    assert kinds == {"ssn": "ssn", "reference": "fresh", "no": "card"}
    assert steps["vars"][body["no"].split(":")[-1].rstrip("}")]["last4"] == "1111"
    assert third["path"] == "/c/{{apicert:L1}}"
    assert third["links"]["L1"]["path"] == ["data", "id"]
    assert third["headers"][TOK].startswith("{{apicert:secret:")
    # The finding on ex-3 replays its test's steps (and what they link to).
    assert log.sequence(["ex-3"]) == (["ex-1", "ex-2", "ex-3"], 0)


def test_timing_dependent_findings_are_refused_not_replayed_sequentially(tmp_path: Path) -> None:
    from apicert.redact import Redactor
    from apicert.repro_file import ReproError, write_repro
    from apicert.steps import StepLog

    log = StepLog(
        Redactor(), lambda ex: "digifi", lambda v: [], lambda: "t", lambda v: "http://h:1"
    )
    for eid, start in (("ex-1", 10.0), ("ex-2", 10.5), ("ex-3", 10.05)):
        exchange = _exchange(eid, "POST", "/a", {}, {})
        exchange.started_at, exchange.elapsed = start, 0.1
        log.on_exchange(exchange)
    assert not log.concurrent(["ex-1", "ex-2"])  # one after the other
    assert log.concurrent(["ex-1", "ex-3"])  # ex-3 started before ex-1 had its answer
    finding = {
        "id": "DIGIFI-IDEM-07/1",
        "replay": {"steps": ["ex-1"], "omitted": 0, "judge": "expect", "timing": "concurrent"},
    }
    doc = {
        "requirements": [
            {"id": "DIGIFI-IDEM-07", "vendor": "digifi", "findings": [finding], "reproduce": {}}
        ],
        "replay": log.section(["ex-1"]),
    }
    with pytest.raises(ReproError, match="cannot be replayed one request at a time"):
        write_repro(doc, "DIGIFI-IDEM-07/1", tmp_path)
