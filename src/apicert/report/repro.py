"""How to reproduce a requirement's result: the pytest node ids, an ``apicert run`` command, and
curl commands for its evidence exchanges with every secret as an environment-variable placeholder.

Inputs are the redacted exchange forms the recorder keeps, so nothing here can leak a secret: a
masked value (``[REDACTED]``, or a card number masked to its last four digits) becomes a
``$APICERT_<VENDOR>_<NAME>`` placeholder the user fills in.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["curl_command", "reproduce"]

_REDACTED = "[REDACTED]"
_MASKED = re.compile(r"^x{3,}[^x\s]{0,6}$|^xxx-xx-[0-9]{4}$")
_SKIP_HEADERS = {"content-length", "accept-encoding", "connection", "user-agent", "host", "accept"}
_MAX_BODY = 4000


def _env_name(vendor: str, name: str) -> str:
    return f"APICERT_{vendor.upper()}_{re.sub(r'[^A-Za-z0-9]+', '_', name).strip('_').upper()}"


def _single_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _quote_with_vars(text: str, variables: dict[str, str]) -> str:
    """Quote ``text`` for a POSIX shell: literal parts in single quotes, and each placeholder
    token in ``variables`` (token -> variable name) as a double-quoted ``"${NAME}"``."""
    tokens = [t for t in variables if t in text]
    if not tokens:
        return _single_quote(text)
    pattern = re.compile("|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)))
    parts, last = [], 0
    for match in pattern.finditer(text):
        if match.start() > last:
            parts.append(_single_quote(text[last : match.start()]))
        parts.append('"${' + variables[match.group(0)] + '}"')
        last = match.end()
    if last < len(text):
        parts.append(_single_quote(text[last:]))
    return "".join(parts)


def _placeholder_body(body: str, vendor: str, variables: dict[str, str]) -> str:
    """Replace masked JSON values by unique tokens mapped to placeholder variable names."""
    try:
        data = json.loads(body)
    except ValueError:
        if _REDACTED in body:
            token = "@@APICERT_SECRET@@"
            variables[token] = _env_name(vendor, "secret")
            return body.replace(_REDACTED, token)
        return body

    def walk(value: Any, key: str | None) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, key) for v in value]
        if isinstance(value, str) and key and (value == _REDACTED or _MASKED.match(value)):
            token = f"@@{key}@@"
            variables[token] = _env_name(vendor, key)
            return token
        return value

    return json.dumps(walk(data, None), ensure_ascii=False)


def curl_command(exchange: dict[str, Any], vendor: str, base_url: str | None) -> str:
    """Return a curl command that repeats ``exchange`` (a redacted exchange form) against
    ``$APICERT_<VENDOR>_URL``, with secret headers and masked body fields as placeholders."""
    request = exchange.get("request") or {}
    url = str(request.get("url") or "")
    variables: dict[str, str] = {}
    if base_url and url.startswith(base_url.rstrip("/")):
        token = "@@URL@@"
        variables[token] = _env_name(vendor, "url")
        url = token + url[len(base_url.rstrip("/")) :]
    parts = ["curl", "-sS", "-i", "-X", str(request.get("method") or "GET")]
    parts.append(_quote_with_vars(url, variables))
    for name, value in (request.get("headers") or {}).items():
        if name.lower() in _SKIP_HEADERS:
            continue
        if _REDACTED in str(value):
            token = f"@@H:{name}@@"
            variables[token] = _env_name(vendor, name)
            value = str(value).replace(_REDACTED, token)
        parts += ["-H", _quote_with_vars(f"{name}: {value}", variables)]
    body = request.get("body")
    if body:
        body = str(body)[:_MAX_BODY]
        if body.startswith("<") and body.endswith(">") and " " in body:
            parts.append(f"# body not replayable: {body}")  # a multipart summary
        else:
            parts += [
                "--data-raw",
                _quote_with_vars(_placeholder_body(body, vendor, variables), variables),
            ]
    return " ".join(parts)


def reproduce(
    vendor: str,
    nodeids: list[str],
    exchanges: list[dict[str, Any]],
    *,
    base_url: str | None,
    embedded: bool,
    faults: list[str],
    seed: object,
) -> dict[str, Any]:
    """Return how to reproduce one requirement's result: the node ids, an ``apicert run`` command
    selecting those tests, and curl commands for up to three evidence exchanges."""
    names = sorted({nodeid.split("::")[-1].split("[")[0] for nodeid in nodeids})
    command = ["apicert", "run", "--vendor", vendor]
    if names:
        command += ["-k", _single_quote(" or ".join(names))]
    if not embedded:
        command += ["--target", f'{vendor}="${_env_name(vendor, "url")}"']
    for fault in faults:
        command += ["--fault", f"{vendor}:{fault}"]
    if seed is not None:
        command += ["--seed", str(seed)]
    curls = [curl_command(ex, vendor, base_url) for ex in exchanges[:3]]
    return {
        "pytest": nodeids,
        "command": " ".join(command),
        "curl": curls,
        "env": sorted({m for c in curls for m in re.findall(r"\$\{(APICERT_[A-Z0-9_]+)\}", c)}),
    }
