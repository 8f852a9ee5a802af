"""Standalone repro files for one finding: a pytest file (pytest + requests) and a shell script
(bash + curl + python3's standard library), both written from a ``results.json``.

Both re-send the finding's replay steps (``results.json`` ``replay``) to the URL in
``APICERT_<VENDOR>_URL`` with the credentials from the harness's environment variables, then
assert the finding's expectations (:mod:`apicert.expect`, whose evaluator is copied in) and fail
with the vendor's own clause quoted. Nothing secret is written: the steps are templates with
placeholders (:mod:`apicert.steps`), and failure messages mask credentials, tokens the target
issued, generated identity numbers and card-like numbers.
"""

from __future__ import annotations

import inspect
import json
import pprint
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from apicert import __version__, replay_runtime
from apicert.expect import evaluator_source

__all__ = ["ReproError", "find_finding", "python_file", "shell_script", "write_repro"]

NO_EXPECT = (
    "no machine-checkable expectation for this check: the exchanges above were replayed; "
    "compare them with the finding by hand"
)


class ReproError(Exception):
    """The finding cannot be turned into a repro (the message says why)."""


def find_finding(doc: dict[str, Any], finding_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return ``(requirement entry, finding)`` of ``finding_id`` in a results document."""
    ids: list[str] = []
    for req in doc.get("requirements", []):
        for finding in req.get("findings", []):
            if finding.get("id") == finding_id:
                return req, finding
            if finding.get("id"):
                ids.append(str(finding["id"]))
    if not ids:
        raise ReproError(
            "the results hold no finding with an id (nothing failed, or the run is "
            "older than finding ids)"
        )
    near = [i for i in ids if i.split("/")[0] == finding_id.split("/")[0]] or ids
    raise ReproError(f"no finding {finding_id!r} in the results; try one of: {', '.join(near[:8])}")


def runtime_source() -> str:
    """The replay runtime's source without its ``__future__`` import (the file has its own)."""
    source = inspect.getsource(replay_runtime)
    return source.replace("from __future__ import annotations\n", "", 1)


def _plan(doc: dict[str, Any], req: dict[str, Any], finding: dict[str, Any]) -> dict[str, Any]:
    replay = finding.get("replay") or {}
    section = doc.get("replay") or {}
    if not replay.get("steps"):
        raise ReproError(
            f"finding {finding.get('id')} has no replayable exchanges (it was found without "
            "sending a request, or by a run older than replay steps)"
        )
    if replay.get("timing"):
        command = (req.get("reproduce") or {}).get("command") or "apicert run"
        raise ReproError(
            f"finding {finding.get('id')} cannot be replayed one request at a time: "
            f"{replay['timing']}; reproduce it with: {command}"
        )
    steps = [(sid, (section.get("steps") or {}).get(sid)) for sid in replay["steps"]]
    lost = [sid for sid, step in steps if step is None]
    if lost:
        raise ReproError(f"the results lack the replay step {lost[0]}; run apicert again")
    vendor = str(req["vendor"])
    text = json.dumps(steps)
    env = sorted(set(re.findall(r"\{\{apicert[:=]env:([A-Za-z0-9_]+)\}\}", text)))
    gens = sorted(set(re.findall(r"\{\{apicert[:=]gen:([A-Za-z0-9_]+)\}\}", text)))
    variables = {g: (section.get("vars") or {}).get(g, {}) for g in gens}
    from apicert.vendors import get_vendor

    limit = get_vendor(vendor).rate_limit_per_second
    return {
        "id": finding.get("id"),
        "vendor": vendor,
        # Paced under the vendor's documented rate limit, as the harness paces (80 %).
        "interval": round(1 / (limit * 0.8), 4) if limit else 0.0,
        "url_env": f"APICERT_{vendor.upper()}_URL",
        "env": env,
        "steps": steps,
        "vars": variables,
        "omitted": replay.get("omitted", 0),
        "finding": {
            "id": finding.get("id"),
            "requirement": req["id"],
            "level": req.get("level"),
            "title": req.get("title"),
            "quote": req.get("quote", ""),
            "source": req.get("source", ""),
            "message": finding.get("message", ""),
            "expect": finding.get("expect", []),
            "steps": [sid for sid, _ in steps],
            "env": env,
        },
    }


def _header(plan: dict[str, Any], comment: str) -> list[str]:
    f = plan["finding"]
    names = " ".join(f"{n}=..." for n in [plan["url_env"], *plan["env"]])
    lines = [
        f"Reproduces {f['id']}: {f['requirement']} ({f['level']}) {f['title']}",
        f"Vendor's clause ({f['source']}):",
        f'  "{f["quote"]}"',
        f"Found: {f['message']}",
        "",
        f"Re-sends {len(plan['steps'])} recorded steps to ${plan['url_env']}, with credentials",
        f"from the environment (never written here): {names}",
        f"Generated by apicert {__version__}; the pass/fail rule is the vendor's clause above.",
    ]
    if plan["omitted"]:
        lines.append(f"({plan['omitted']} earlier steps of the same test are not included.)")
    return [f"{comment}{line}".rstrip() for line in lines]


def python_file(doc: dict[str, Any], req: dict[str, Any], finding: dict[str, Any]) -> str:
    """The standalone pytest file reproducing ``finding`` (needs only pytest and requests)."""
    plan = _plan(doc, req, finding)
    docstring = "\n".join(_header(plan, "")).replace('"""', "'''").replace("\\", "\\\\")
    name = re.sub(r"[^A-Za-z0-9]+", "_", str(plan["id"])).strip("_").lower()
    parts = [
        f'"""{docstring}\n\nRun: {" ".join(f"{n}=..." for n in [plan["url_env"], *plan["env"]])}'
        ' python -m pytest THIS_FILE\n"""\n',
        "from __future__ import annotations\n",
        "import os\n\nimport pytest\n",
        "# --- the replay runtime (apicert.replay_runtime, copied) ---",
        runtime_source(),
        "# --- the expectation evaluator (apicert.expect, copied) ---",
        evaluator_source(),
        "# --- what is replayed and asserted ---",
        f"URL_ENV = {plan['url_env']!r}",
        f"ENV = {plan['env']!r}",
        f"FINDING = {pprint.pformat(plan['finding'], width=100, sort_dicts=False)}",
        f"STEPS = {pprint.pformat(plan['steps'], width=100, sort_dicts=False)}",
        f"VARS = {pprint.pformat(plan['vars'], width=100, sort_dicts=False)}",
        f"INTERVAL = {plan['interval']!r}",
        f"NO_EXPECT = {NO_EXPECT!r}",
        _TEST_TEMPLATE.replace("NAME", name),
    ]
    return "\n\n".join(parts)


_TEST_TEMPLATE = '''
def _message(finding, problems, lines, hide):
    text = [
        f"{finding['requirement']} ({finding['level']}): {finding['title']}",
        f"vendor's clause ({finding['source']}): \\"{finding['quote']}\\"",
        f"first found: {finding['message']}",
        "now:",
        *(f"  - {p}" for p in problems),
        "replayed:",
        *(f"  {line}" for line in lines),
    ]
    return mask("\\n".join(text), hide)


def test_NAME():
    """The vendor's clause quoted in FINDING holds for this exchange sequence."""
    base_url = os.environ.get(URL_ENV, "")
    missing = [n for n in [URL_ENV, *ENV] if not os.environ.get(n)]
    if missing:
        pytest.fail(f"set {', '.join(missing)} (the target's base URL and credentials)",
                    pytrace=False)
    values = Values(VARS)
    try:
        forms = replay_steps(base_url, STEPS, values, interval=INTERVAL)
    except ReplaySkip as exc:
        pytest.skip(str(exc))
    hide = [os.environ[n] for n in ENV] + values.sensitive() + response_secrets(forms)
    lines = []
    for step_id, form in forms.items():
        request, response = form["request"], form["response"]
        status = response.get("status") or form.get("error")
        lines.append(f"{step_id}: {request['method']} {request['url'][len(base_url):]} -> {status}")
    if not FINDING["expect"]:
        pytest.fail(_message(FINDING, [NO_EXPECT], lines, hide), pytrace=False)
    problems = evaluate(FINDING["expect"], forms)
    if problems:
        pytest.fail(_message(FINDING, problems, lines, hide), pytrace=False)
'''


# --- the shell script -------------------------------------------------------------------------


def _shell_main(argv: list[str]) -> int:
    """The shell script's python3 helper: gen, secret, link STEP LINK-JSON, judge FINDING-JSON."""
    import json
    import os
    import random
    import sys

    work = os.environ["APICERT_WORK"]
    # The runtime and the evaluator are defined beside this function in the script.
    runtime = globals()
    generate_value, link_value = runtime["generate_value"], runtime["link_value"]
    evaluate, mask, response_secrets = (
        runtime["evaluate"],
        runtime["mask"],
        runtime["response_secrets"],
    )

    def form(step_id: str) -> dict[str, Any]:
        def read(suffix: str) -> str:
            path = os.path.join(work, step_id + suffix)
            if not os.path.exists(path):
                return ""
            with open(path, encoding="utf-8", errors="replace") as handle:
                return handle.read()

        method, _, url = read(".req").partition("\n")
        blocks = [b for b in read(".head").replace("\r\n", "\n").split("\n\n") if b.strip()]
        headers: dict[str, str] = {}
        for line in (blocks[-1] if blocks else "").splitlines()[1:]:
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
        status = read(".status").strip()
        return {
            "request": {"method": method, "url": url.strip(), "headers": {}, "body": read(".in")},
            "response": {
                "status": int(status) if status.isdigit() and status != "000" else None,
                "headers": headers,
                "body": read(".body"),
            },
        }

    command = argv[0] if argv else ""
    if command == "gen":
        print(generate_value(json.loads(argv[1]), random.Random()))
        return 0
    if command == "link":
        try:
            value = link_value(json.loads(argv[2]), {argv[1]: form(argv[1])})
        except KeyError as exc:
            print(f"apicert: a value the next step needs is missing: {exc}", file=sys.stderr)
            return 3
        print(value if isinstance(value, str) else json.dumps(value))
        return 0
    if command == "judge":
        finding = json.loads(argv[1])
        forms = {
            s: form(s)
            for s in finding["steps"]
            if os.path.exists(os.path.join(work, s + ".status"))
        }
        hide = [os.environ.get(n, "") for n in finding["env"]]
        hide += os.environ.get("APICERT_HIDE", "").split()
        hide += response_secrets(forms)
        expect = finding["expect"]
        problems = evaluate(expect, forms) if expect else [argv[2]]
        text = [
            f"{finding['requirement']} ({finding['level']}): {finding['title']}",
            f'vendor\'s clause ({finding["source"]}): "{finding["quote"]}"',
            f"first found: {finding['message']}",
        ]
        if problems:
            text += ["FAILED now:", *(f"  - {p}" for p in problems)]
        else:
            text.append("PASSED: the clause holds for this sequence")
        print(mask("\n".join(text), hide))
        return 1 if problems else 0
    print(f"apicert helper: unknown command {command!r}", file=sys.stderr)
    return 2


def _sq(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _shell_words(template: str, names: dict[str, str], mode: str) -> str:
    """A shell word for ``template``: literal parts single-quoted, placeholders "${VAR}"."""
    out, last = [], 0
    for match in replay_runtime.TOKEN.finditer(template):
        literal = template[last : match.start()]
        if literal:
            out.append(_sq(literal))
        out.append('"${' + names[match.group(2)] + '}"')
        last = match.end()
    if template[last:] or not out:
        out.append(_sq(template[last:]))
    return "".join(out)


def shell_script(doc: dict[str, Any], req: dict[str, Any], finding: dict[str, Any]) -> str:
    """The same repro as a bash script of curl commands (python3 standard library only for
    taking ids from JSON answers, generating card/SSN numbers and judging the result)."""
    plan = _plan(doc, req, finding)
    lines = ["#!/usr/bin/env bash", *_header(plan, "# ")]
    lines += [
        "# Needs bash, curl and python3 (standard library only). Exit 0: the clause holds;",
        "# 1: it is violated; 77: skipped (the target cannot replay this sequence).",
        "set -euo pipefail",
    ]
    for name in [plan["url_env"], *plan["env"]]:
        lines.append(f': "${{{name}:?set {name}}}"')
    helper = "\n\n".join(
        [
            runtime_source(),
            evaluator_source(),
            inspect.getsource(_shell_main),
            "import sys\nsys.exit(_shell_main(sys.argv[1:]))\n",
        ]
    )
    lines += [
        f'BASE="${{{plan["url_env"]}%/}}"',
        'W="$(mktemp -d)"',
        "trap 'rm -rf \"$W\"' EXIT",
        'export APICERT_WORK="$W" APICERT_HIDE=""',
        "APICERT_PY=$(cat <<'APICERT_PY_EOF'",
        helper,
        "APICERT_PY_EOF",
        ")",
        'apicert_py() { python3 -c "$APICERT_PY" "$@"; }',
        "apicert_send() {  # ID METHOD URL BODY-FILE|- CURL-ARGS...",
        '  local id="$1" method="$2" url="$3" body="$4" code; shift 4',
        '  printf \'%s\\n%s\\n\' "$method" "$url" > "$W/$id.req"',
        '  local data=(); if [ "$body" != "-" ]; then data=(--data-binary "@$body"); fi',
        '  code=$(curl -sS --max-time 15 -X "$method" "$url" "$@" ${data[@]+"${data[@]}"} \\',
        '    -D "$W/$id.head" -o "$W/$id.body" -w \'%{http_code}\') || code=000',
        '  echo "$code" > "$W/$id.status"',
        '  echo "$id: $method ${url#"$BASE"} -> $code"',
        "}",
        "apicert_advance() {  # SECONDS: the reference sandbox's clock; a real vendor has none",
        '  if ! curl -sS -f --max-time 15 -X POST "$BASE/__sandbox__/clock" -o /dev/null \\',
        '      -H \'Content-Type: application/json\' --data-raw "{\\"advance\\": $1}"; then',
        '    echo "skipped: this sequence moves the clock by $1 s; the target has no'
        ' /__sandbox__/clock" >&2',
        "    exit 77",
        "  fi",
        "}",
    ]
    names: dict[str, str] = {f"env:{n}": n for n in plan["env"]}
    for gen in sorted(plan["vars"]):
        names[f"gen:{gen}"] = f"G_{gen}"
        spec = json.dumps(plan["vars"][gen], sort_keys=True)
        lines.append(
            f'G_{gen}=$(apicert_py gen {_sq(spec)}); APICERT_HIDE="$APICERT_HIDE $G_{gen}"'
        )
    for number, (sid, step) in enumerate(plan["steps"], 1):
        lines.append(f"# step {number}/{len(plan['steps'])}: {sid} (recorded: {_recorded(step)})")
        if step.get("control") == "advance":
            lines.append(f"apicert_advance {float(step['seconds']):g}")
            continue
        if "unreplayable" in step:
            lines.append(f"echo 'skipped: step {sid} was not stored replayably' >&2; exit 77")
            continue
        local = dict(names)
        for token in replay_runtime.TOKEN.finditer(json.dumps(step)):
            name = token.group(2)
            if name.startswith("secret:") and name not in local:
                var = "S_" + name.split(":", 1)[1]
                names[name] = local[name] = var
                lines.append(f"{var}=wrong-$RANDOM$RANDOM$RANDOM")
        for link_name, link in (step.get("links") or {}).items():
            var = f"V{number}_{link_name}"
            local[link_name] = var
            spec = json.dumps(link, sort_keys=True)
            lines.append(f"{var}=$(apicert_py link {link['step']} {_sq(spec)})")
        url = '"$BASE"' + _shell_words(step["path"], local, "url")
        if step.get("query"):
            pairs = [
                _sq(("?" if i == 0 else "&") + quote(k, safe="") + "=")
                + _shell_words(v, local, "text")
                for i, (k, v) in enumerate(step["query"])
            ]
            url += "".join(pairs)
        body = "-"
        if step.get("body") is not None:
            lines.append(
                f"printf '%s' {_shell_words(step['body'], local, 'text')} > \"$W/{sid}.in\""
            )
            body = f'"$W/{sid}.in"'
        headers = " ".join(
            f"-H {_sq(k + ': ')}{_shell_words(v, local, 'text')}"
            for k, v in (step.get("headers") or {}).items()
        )
        lines.append(f"apicert_send {sid} {step['method']} {url} {body} {headers}".rstrip())
    finding_json = json.dumps(plan["finding"], ensure_ascii=False)
    lines += [
        "apicert_py judge \"$(cat <<'APICERT_FINDING_EOF'",
        finding_json,
        "APICERT_FINDING_EOF",
        f')" {_sq(NO_EXPECT)}',
    ]
    return "\n".join(lines) + "\n"


def _recorded(step: dict[str, Any]) -> str:
    if step.get("control"):
        return f"clock +{step.get('seconds')} s"
    return f"{step.get('method')} {step.get('path')} -> {step.get('status')}"


def write_repro(doc: dict[str, Any], finding_id: str, out: Path) -> tuple[Path, Path, list[str]]:
    """Write ``repro_<id>.py`` and ``repro_<id>.sh`` for ``finding_id`` under ``out``; return
    both paths and the environment variables they read."""
    req, finding = find_finding(doc, finding_id)
    plan = _plan(doc, req, finding)
    stem = "repro_" + re.sub(r"[^A-Za-z0-9]+", "_", finding_id).strip("_").lower()
    out.mkdir(parents=True, exist_ok=True)
    py_path, sh_path = out / f"{stem}.py", out / f"{stem}.sh"
    py_path.write_text(python_file(doc, req, finding), encoding="utf-8")
    sh_path.write_text(shell_script(doc, req, finding), encoding="utf-8")
    sh_path.chmod(0o755)
    return py_path, sh_path, [plan["url_env"], *plan["env"]]
