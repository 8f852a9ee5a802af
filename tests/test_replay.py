"""Cassettes: ``apicert run --record`` against a faulty sandbox, then ``apicert replay`` of the
cassette says "still failing" there and "fixed" against the clean one (real CLI, real standalone
sandboxes on loopback). A cassette that moves the clock cannot be judged on a target without
clock control, and says why.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_repro import CREDENTIALS, apicert, assert_no_secret, clean_env, sandbox

FAULTS = ("duplicate-reference-accepted", "token-never-expires")
SELECTION = "test_duplicate_customer_reference_points_at_existing or past_its_expiry"


def _verdicts(report_dir: Path) -> dict[str, str]:
    doc = json.loads((report_dir / "replay.json").read_text(encoding="utf-8"))
    assert_no_secret(json.dumps(doc))
    return {f["requirement"]: f["verdict"] for f in doc["failures"]}


def test_cassette_still_fails_on_the_faulty_sandbox_and_is_fixed_on_the_clean_one(
    tmp_path: Path,
) -> None:
    env = clean_env(**CREDENTIALS["connectfi"])
    with (
        sandbox(tmp_path / "faulty", "connectfi", env, *FAULTS) as faulty,
        sandbox(tmp_path / "clean", "connectfi", env) as clean,
    ):
        reports = tmp_path / "reports"
        run = apicert(
            "run", "--vendor", "connectfi", "--target", f"connectfi={faulty}", "-k", SELECTION,
            "--record", "--report-dir", str(reports), env=env, cwd=tmp_path,
        )  # fmt: skip
        assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
        cassette = reports / "cassettes" / "connectfi.json"
        text = cassette.read_text(encoding="utf-8")
        assert_no_secret(text)
        data = json.loads(text)
        assert {f["requirement"] for f in data["failures"]} == {
            "CONNECTFI-REF-01",
            "CONNECTFI-AUTH-04",
        }
        assert any(s.startswith("ctl-") for s in data["order"]), "the clock move is a step"
        assert set(data["exchanges"]) == {s for s in data["order"] if s.startswith("ex-")}

        def replay(url: str, name: str) -> tuple[int, dict[str, str], str]:
            out = apicert(
                "replay", str(cassette), "--target", f"connectfi={url}",
                "--report-dir", str(tmp_path / name), env=env, cwd=tmp_path,
            )  # fmt: skip
            assert_no_secret(out.stdout + out.stderr)
            return out.returncode, _verdicts(tmp_path / name), out.stdout

        code, verdicts, stdout = replay(faulty, "on-faulty")
        assert code == 1, stdout
        assert verdicts == {
            "CONNECTFI-REF-01": "still failing",
            "CONNECTFI-AUTH-04": "still failing",
        }
        assert "still failing CONNECTFI-REF-01/1" in stdout
        code, verdicts, stdout = replay(clean, "on-clean")
        assert code == 0, stdout
        assert verdicts == {"CONNECTFI-REF-01": "fixed", "CONNECTFI-AUTH-04": "fixed"}
        # Replaying twice against the same target works: made-up references are fresh each time.
        code, verdicts, stdout = replay(clean, "on-clean-again")
        assert code == 0 and set(verdicts.values()) == {"fixed"}, stdout


def test_a_clock_move_cannot_be_replayed_without_clock_control(tmp_path: Path) -> None:
    env = clean_env(**CREDENTIALS["connectfi"])
    reports = tmp_path / "reports"
    run = apicert(
        "run", "--vendor", "connectfi", "--fault", "connectfi:token-never-expires",
        "-k", "past_its_expiry", "--record", "--report-dir", str(reports), env=env, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 1, run.stdout[-3000:]
    cassette = reports / "cassettes" / "connectfi.json"
    with sandbox(tmp_path / "real-like", "connectfi", env, extra=("--no-control",)) as url:
        out = apicert(
            "replay", str(cassette), "--target", f"connectfi={url}",
            "--report-dir", str(tmp_path / "out"), env=env, cwd=tmp_path,
        )  # fmt: skip
    assert out.returncode == 1, out.stdout
    doc = json.loads((tmp_path / "out" / "replay.json").read_text(encoding="utf-8"))
    [failure] = doc["failures"]
    assert failure["verdict"] == "cannot tell"
    assert "/__sandbox__/clock" in failure["problems"][0]


def test_replay_usage_errors_are_one_line(tmp_path: Path) -> None:
    env = clean_env()
    not_cassette = tmp_path / "x.json"
    not_cassette.write_text("{}", encoding="utf-8")
    out = apicert("replay", str(not_cassette), env=env, cwd=tmp_path)
    assert out.returncode == 2 and "not an apicert cassette" in out.stderr
    assert out.stderr.count("\n") == 1, out.stderr
    cassette = tmp_path / "c.json"
    cassette.write_text(json.dumps({"cassette": 1, "vendor": "digifi"}), encoding="utf-8")
    out = apicert("replay", str(cassette), env=env, cwd=tmp_path)
    assert out.returncode == 2 and "APICERT_DIGIFI_URL" in out.stderr
    out = apicert(
        "replay", str(cassette), "--target", "connectfi=http://127.0.0.1:9", env=env, cwd=tmp_path
    )
    assert out.returncode == 2 and "cassette is of digifi" in out.stderr
