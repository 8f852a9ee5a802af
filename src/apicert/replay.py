"""``apicert repro FINDING_ID`` and ``apicert replay CASSETTE --target VENDOR=URL``.

* ``repro`` writes a standalone pytest file and a curl script for one finding of a
  ``results.json`` (:mod:`apicert.repro_file`); exit 0, or 2 with one line when it cannot.
* ``replay`` re-sends every step of a cassette (``apicert run --record``) in order to a target and
  judges each failure the cassette recorded: **still failing**, **fixed**, or **cannot tell**
  (why). A failure with expectations is judged by them (:func:`apicert.expect.evaluate`); one
  found by the vendor's observers (envelope, OpenAPI contract, masking) by running fresh
  observers over the re-sent exchanges. Writes ``replay.json`` under ``--report-dir``; exit 1
  when any failure still fails or cannot be judged, 0 when all are fixed, 2 on a set-up error.
  Everything printed or written goes through a redactor that knows the credentials, the tokens
  the target issued and the identity numbers generated for the replay.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from apicert.cassette import CASSETTE_FORMAT
from apicert.model import Exchange, Status

__all__ = ["add_parsers", "command", "judge_failures", "replay_cassette"]

EXIT_OK, EXIT_FAILED, EXIT_SETUP = 0, 1, 2


def add_parsers(sub: Any) -> None:
    """Add the ``repro`` and ``replay`` sub-commands to the ``apicert`` parser."""
    repro = sub.add_parser(
        "repro", help="write a standalone pytest file and curl script reproducing a finding"
    )
    repro.add_argument("finding_id", metavar="FINDING_ID", help="e.g. CONNECTFI-REF-01/1")
    repro.add_argument("--results", default="reports/results.json", help="the run's results.json")
    repro.add_argument(
        "--out", default=None, help="where the files go (default: repro/ beside --results)"
    )
    replay = sub.add_parser(
        "replay", help="re-send a cassette to a target; say which recorded failures still fail"
    )
    replay.add_argument("cassette", metavar="CASSETTE", help="cassettes/<vendor>.json of a run")
    replay.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="VENDOR=URL",
        help="where to send it (default: $APICERT_<VENDOR>_URL)",
    )
    replay.add_argument(
        "--report-dir", default="reports", help="where replay.json goes (default: reports)"
    )
    replay.add_argument(
        "--real-wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="on a target without clock control, really wait clock moves up to this long",
    )


def _error(message: str) -> None:
    import sys

    print(f"apicert: error: {message}", file=sys.stderr, flush=True)


def command(args: argparse.Namespace) -> int:
    """Run ``apicert repro`` or ``apicert replay``; return the exit code."""
    if args.command == "repro":
        return _repro(args)
    return _replay(args)


def _load_json(path: Path, what: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        _error(f"{what} {path} does not exist")
        return None
    except (OSError, ValueError) as exc:
        _error(f"cannot read {what} {path}: {getattr(exc, 'strerror', None) or exc}")
        return None
    if not isinstance(doc, dict):
        _error(f"{path} is not a {what}")
        return None
    return doc


def _repro(args: argparse.Namespace) -> int:
    from apicert.repro_file import ReproError, write_repro

    results = Path(args.results)
    doc = _load_json(results, "results file")
    if doc is None:
        return EXIT_SETUP
    out = Path(args.out) if args.out else results.parent / "repro"
    try:
        py_path, sh_path, env = write_repro(doc, args.finding_id, out)
    except ReproError as exc:
        _error(str(exc))
        return EXIT_SETUP
    except OSError as exc:
        _error(f"cannot write to {out}: {exc.strerror}")
        return EXIT_SETUP
    print(f"pytest file: {py_path}")
    print(f"curl script: {sh_path}")
    print(f"set: {' '.join(env)}")
    print(f"run: python -m pytest {py_path}   or   bash {sh_path}")
    return EXIT_OK


# -- replay -------------------------------------------------------------------------------------


def _exchange(step_id: str, form: dict[str, Any]) -> Exchange:
    request, response = form.get("request") or {}, form.get("response") or {}
    return Exchange(
        id=step_id,
        method=str(request.get("method") or "GET"),
        url=str(request.get("url") or ""),
        request_headers=dict(request.get("headers") or {}),
        request_body=request.get("body"),
        status=response.get("status"),
        response_headers=dict(response.get("headers") or {}),
        response_body=response.get("body"),
        error=form.get("error"),
    )


def replay_cassette(
    cassette: dict[str, Any], base_url: str, env: Any = None, *, real_wait: float = 0.0
) -> tuple[dict[str, dict[str, Any]], dict[str, str], Any]:
    """Re-send every step of ``cassette`` in order to ``base_url``; return the exchange forms by
    step id, the steps not replayed (id -> why), and the replay's :class:`Values`."""
    import requests

    from apicert.replay_runtime import ReplaySkip, Values, send_step
    from apicert.vendors import get_vendor

    limit = get_vendor(cassette["vendor"]).rate_limit_per_second
    interval = 1 / (limit * 0.8) if limit else 0.0
    values = Values(cassette.get("vars") or {}, env)
    forms: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    steps = cassette.get("steps") or {}
    with requests.Session() as session:
        session.trust_env = False
        for step_id in cassette.get("order") or []:
            step = steps.get(step_id)
            if step is None:
                skipped[step_id] = "not in the cassette"
                continue
            if interval:
                time.sleep(interval)
            try:
                form = send_step(
                    session, base_url, step_id, step, values, forms, real_wait=real_wait
                )
            except ReplaySkip as exc:
                skipped[step_id] = str(exc)
                continue
            if form is not None:
                forms[step_id] = form
    return forms, skipped, values


def judge_failures(
    cassette: dict[str, Any], forms: dict[str, dict[str, Any]], skipped: dict[str, str]
) -> list[dict[str, Any]]:
    """Judge every failure of ``cassette`` on the re-sent ``forms``: a verdict ("still
    failing", "fixed", "cannot tell") and the problems or reason, unredacted."""
    observed = _observer_findings(cassette["vendor"], cassette.get("order") or [], forms)
    out = []
    for failure in cassette.get("failures") or []:
        verdict, problems = _judge(failure, forms, skipped, observed)
        out.append(
            {
                "id": failure.get("id"),
                "requirement": failure.get("requirement"),
                "verdict": verdict,
                "problems": problems,
                "message": failure.get("message", ""),
                "quote": failure.get("quote", ""),
                "source": failure.get("source", ""),
            }
        )
    return out


def _judge(
    failure: dict[str, Any],
    forms: dict[str, dict[str, Any]],
    skipped: dict[str, str],
    observed: dict[str, list[str]],
) -> tuple[str, list[str]]:
    from apicert.expect import evaluate

    steps = failure.get("steps") or []
    if not steps:
        return "cannot tell", ["no replayable exchanges were recorded for it"]
    lost = [s for s in steps if s in skipped]
    if lost:
        return "cannot tell", [f"step {lost[0]} was not replayed: {skipped[lost[0]]}"]
    if failure.get("timing"):
        return "cannot tell", [f"a sequential replay cannot show it: {failure['timing']}"]
    judge = failure.get("judge")
    if judge == "expect" and failure.get("expect"):
        problems = evaluate(failure["expect"], forms)
        return ("still failing" if problems else "fixed"), problems
    evidence = set(failure.get("evidence") or steps[-1:])
    again = [
        message
        for step_id, messages in observed.items()
        if step_id in evidence
        for message in messages
        if message.startswith(f"{failure.get('requirement')}:")
    ]
    if judge == "observer":
        return ("still failing" if again else "fixed"), again
    if again:  # another check's failure, seen again by the observers on the same exchange
        return "still failing", again
    return "cannot tell", ["no machine-checkable expectation for this check"]


def _observer_findings(
    vendor: str, order: list[str], forms: dict[str, dict[str, Any]]
) -> dict[str, list[str]]:
    """Fresh observers of ``vendor`` over the re-sent exchanges in order: step id -> failed
    findings (``REQUIREMENT: message``)."""
    from apicert.run import _HARNESS

    observers = _HARNESS[vendor].observers()
    found: dict[str, list[str]] = {}
    for step_id in order:
        form = forms.get(step_id)
        if form is None:
            continue
        exchange = _exchange(step_id, form)
        for observe in observers:
            for finding in observe(exchange):
                if finding.status is Status.FAILED:
                    for eid in finding.evidence or [step_id]:
                        found.setdefault(eid, []).append(
                            f"{finding.requirement}: {finding.message}"
                        )
    return found


def _redactor(vendor: str, env: Any, forms: dict[str, dict[str, Any]], values: Any) -> Any:
    """A redactor that knows the credentials, what the target issued and what was generated."""
    from apicert.redact import Redactor
    from apicert.replay_runtime import response_secrets
    from apicert.run import _HARNESS
    from apicert.vendors import get_vendor

    redactor = Redactor()
    for cred in get_vendor(vendor).credentials:
        if cred.secret:
            redactor.add_secret(env.get(cred.env))
    for value in values.generated.values():
        redactor.add_identity(str(value))
    for value in response_secrets(forms):
        redactor.add_secret(value)
    learn = _HARNESS[vendor].learn
    for step_id, form in forms.items():
        redactor.learn_request((form.get("request") or {}).get("body"))
        if learn is not None:
            learn(_exchange(step_id, form), redactor)
    return redactor


def _replay(args: argparse.Namespace) -> int:
    from apicert.targets import (
        SetupError,
        check_reachable,
        is_production_host,
        parse_target_specs,
    )
    from apicert.vendors import get_vendor

    path = Path(args.cassette)
    cassette = _load_json(path, "cassette")
    if cassette is None:
        return EXIT_SETUP
    if cassette.get("cassette") != CASSETTE_FORMAT or "vendor" not in cassette:
        _error(f"{path} is not an apicert cassette (format {CASSETTE_FORMAT})")
        return EXIT_SETUP
    try:
        vendor = get_vendor(str(cassette["vendor"]))
        specs = parse_target_specs(args.target)
    except (KeyError, SetupError) as exc:
        _error(str(exc.args[0]))
        return EXIT_SETUP
    others = [v for v in specs if v != vendor.name]
    if others:
        _error(f"the cassette is of {vendor.name}, not {others[0]}")
        return EXIT_SETUP
    base_url = specs.get(vendor.name) or os.environ.get(vendor.url_env, "").rstrip("/")
    if not base_url:
        _error(f"give --target {vendor.name}=URL (or set {vendor.url_env})")
        return EXIT_SETUP
    from urllib.parse import urlsplit

    if is_production_host(vendor, (urlsplit(base_url).hostname or "").lower()):
        _error(f"{base_url} is a production host; a replay sends writes, so it is refused")
        return EXIT_SETUP
    problem = check_reachable(base_url)
    if problem:
        _error(f"target {base_url} is {problem.split(' ', 1)[1]}")
        return EXIT_SETUP
    needed = sorted(
        {
            c.env
            for c in vendor.credentials
            if "{{apicert:env:" + c.env + "}}" in json.dumps(cassette.get("steps"))
        }
    )
    missing = [n for n in needed if not os.environ.get(n)]
    if missing:
        _error(f"set {', '.join(missing)}: the cassette's requests carry these credentials")
        return EXIT_SETUP
    forms, skipped, values = replay_cassette(
        cassette, base_url, os.environ, real_wait=args.real_wait
    )
    results = judge_failures(cassette, forms, skipped)
    redactor = _redactor(vendor.name, os.environ, forms, values)
    for result in results:
        result["problems"] = [redactor.text(p) or "" for p in result["problems"]]
        result["message"] = redactor.text(result["message"]) or ""
    counts = {
        v: sum(r["verdict"] == v for r in results)
        for v in ("still failing", "fixed", "cannot tell")
    }
    print(
        f"replayed {len(forms)} of {len(cassette.get('order') or [])} steps of {path} to "
        f"{base_url}" + (f" ({len(skipped)} not replayed)" if skipped else "")
    )
    for result in results:
        print(f"  {result['verdict']:<13} {result['id']}  {result['message'].splitlines()[0][:90]}")
        for problem in result["problems"][:3]:
            print(f"      {problem.splitlines()[0][:110]}")
    if not results:
        print("  the cassette records no failure")
    print(", ".join(f"{n} {v}" for v, n in counts.items()))
    report = {
        "replay": 1,
        "cassette": str(path),
        "vendor": vendor.name,
        "target": base_url,
        "replayed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "steps": len(cassette.get("order") or []),
        "sent": len(forms),
        "not_replayed": {k: redactor.text(v) for k, v in list(skipped.items())[:50]},
        "summary": counts,
        "failures": results,
    }
    report_dir = Path(args.report_dir)
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        out = report_dir / "replay.json"
        out.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        _error(f"cannot write {report_dir}/replay.json: {exc.strerror}")
        return EXIT_SETUP
    print(f"report: {out}")
    if counts["still failing"] or counts["cannot tell"]:
        return EXIT_FAILED
    return EXIT_OK
