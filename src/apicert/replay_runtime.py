"""Re-sending recorded steps: placeholders resolved at replay time, standard library + requests.

This module is copied verbatim into standalone repro files (:func:`runtime_source`), so it imports
nothing from apicert and imports ``requests`` only where it sends. ``apicert replay`` uses the
same functions, so a repro file and a cassette replay re-send a step the same way.

A step is a request *template* (see docs/cassettes.md): its strings hold placeholders

* ``{{apicert:L1}}``: link ``L1`` of the step, a value taken from the NEW response of an earlier
  step (JSON path or header);
* ``{{apicert:env:NAME}}``: an environment variable (credentials, never written in a file);
* ``{{apicert:gen:g3}}``: an identity value regenerated for this replay (same kind, same last
  four digits, Luhn/ABA validity kept), the same value wherever ``g3`` appears;
* ``{{apicert:secret:s1}}``: a made-up credential (the harness sent a deliberately wrong one);

and ``{{apicert=...}}`` (with ``=``) is a whole non-string JSON value.
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import time
from typing import Any
from urllib.parse import quote, urlencode

TOKEN = re.compile(r"\{\{apicert([:=])([A-Za-z0-9_:.\-]+)\}\}")
CLOCK_PATH = "/__sandbox__/clock"


class ReplaySkip(Exception):
    """The sequence cannot be replayed on this target (the message says why)."""


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _aba_ok(digits: str) -> bool:
    weights = (3, 7, 1) * 3
    return len(digits) == 9 and sum(int(d) * w for d, w in zip(digits, weights)) % 10 == 0  # noqa: B905


def generate_value(spec: dict[str, Any], rng: random.Random) -> Any:
    """A fresh value of the kind ``spec`` describes: same length, first digits and last four,
    Luhn (card) or ABA (routing) validity kept, SSN/EIN/date shape kept."""
    kind = spec.get("kind")
    last4 = str(spec.get("last4", ""))
    length = int(spec.get("length", len(last4)))
    first = str(spec.get("first", ""))
    valid = bool(spec.get("valid", True))
    if kind == "fresh":
        if spec.get("uuid"):
            raw = secrets.token_hex(16)
            unique = f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
        else:
            unique = secrets.token_hex(32)[: int(spec.get("hex", 16))]
        return str(spec.get("prefix", "")) + unique
    if kind == "text":
        letters = "abcdefghijklmnopqrstuvwxyz"
        return "".join(rng.choice(letters) for _ in range(max(0, length - 4))) + last4
    if not last4.isdigit():
        last4 = "".join(c for c in last4 if c.isdigit())
    if kind == "date":
        year, month, day = rng.randint(1950, 1990), rng.randint(1, 12), rng.randint(1, 28)
        shape = str(spec.get("shape") or "9999-99-99")
        groups = re.findall(r"9+", shape)
        if groups and len(groups[0]) == 4:
            order = [f"{year:04d}", f"{month:02d}", f"{day:02d}"]
        else:
            order = [f"{month:02d}", f"{day:02d}", f"{year:04d}"]
        if len(groups) == 1:
            return "".join(order)
        parts = iter(order)
        return re.sub(r"9+", lambda m: next(parts, ""), shape)
    if kind in ("ssn", "ein") and spec.get("dashed"):
        body = generate_value(dict(spec, dashed=False), rng)
        return f"{body[:3]}-{body[3:5]}-{body[5:]}" if kind == "ssn" else f"{body[:2]}-{body[2:]}"
    if kind == "ssn":
        area = rng.choice([a for a in range(1, 900) if a != 666])
        group = rng.randint(1, 99)
        tail = last4 if len(last4) == 4 and last4 != "0000" else f"{rng.randint(1, 9999):04d}"
        value: str = f"{area:03d}{group:02d}{tail}"
    else:
        middle_len = max(0, length - len(first) - len(last4))
        for _ in range(200):
            middle = "".join(rng.choice("0123456789") for _ in range(middle_len))
            value = (first + middle + last4)[-length:] if length else first + middle + last4
            if kind == "card" and _luhn_ok(value) != valid:
                continue
            if kind == "routing" and _aba_ok(value) != valid:
                continue
            break
    if spec.get("type") == "int":
        return int(value)
    return value


def _at(value: Any, path: list[Any]) -> Any:
    for step in path:
        if isinstance(value, dict) and isinstance(step, str) and step in value:  # noqa: SIM114
            value = value[step]
        elif isinstance(value, list) and isinstance(step, int) and -len(value) <= step < len(value):
            value = value[step]
        else:
            raise KeyError("/".join(str(p) for p in path))
    return value


def link_value(link: dict[str, Any], forms: dict[str, dict[str, Any]]) -> Any:
    """The value a link names, from the replayed answer of its source step (KeyError when it
    is missing: the source step failed or answered differently)."""
    source = forms.get(str(link["step"]))
    if source is None:
        raise KeyError(f"step {link['step']} was not replayed")
    response = source.get("response") or {}
    if link.get("from") == "header":
        for name, value in (response.get("headers") or {}).items():
            if name.lower() == str(link["name"]).lower():
                return value
        raise KeyError(f"header {link['name']} of {link['step']}")
    try:
        body = json.loads(response.get("body") or "")
    except ValueError:
        raise KeyError(f"{link['step']} answered no JSON") from None
    return _at(body, list(link.get("path") or []))


class Values:
    """Resolves placeholders for one replay: environment, generated and made-up values, links."""

    def __init__(self, variables: dict[str, Any], env: Any = None, seed: int | None = None) -> None:
        self.variables = variables
        self.env = os.environ if env is None else env
        self.rng = random.Random(seed)
        self.generated: dict[str, Any] = {}
        self.missing_env: list[str] = []

    def get(self, name: str, links: dict[str, Any], forms: dict[str, dict[str, Any]]) -> Any:
        """The value of placeholder ``name`` (``env:X``, ``gen:g1``, ``secret:s1`` or a link)."""
        kind, _, rest = name.partition(":")
        if kind == "env":
            value = self.env.get(rest)
            if not value:
                raise KeyError(f"environment variable {rest} is not set")
            return value
        if kind in ("gen", "secret"):
            if name not in self.generated:
                spec = self.variables.get(rest)
                if kind == "secret" or spec is None:
                    self.generated[name] = "wrong-" + secrets.token_urlsafe(12)
                else:
                    self.generated[name] = generate_value(spec, self.rng)
            return self.generated[name]
        if name not in links:
            raise KeyError(f"unknown placeholder {name}")
        return link_value(links[name], forms)

    def sensitive(self) -> list[str]:
        """Values that must not be printed: generated numbers and made-up credentials."""
        return [
            str(v)
            for k, v in self.generated.items()
            if len(str(v)) >= 4
            and (self.variables.get(k.partition(":")[2]) or {}).get("kind") != "fresh"
        ]


def render(
    template: str,
    mode: str,
    values: Values,
    links: dict[str, Any],
    forms: dict[str, dict[str, Any]],
) -> str:
    """Fill the placeholders of ``template``: ``mode`` is json (JSON-escaped in strings, JSON
    values for ``{{apicert=...}}``), url (percent-encoded) or text (as is)."""

    def fill(match: re.Match[str]) -> str:
        value = values.get(match.group(2), links, forms)
        if match.group(1) == "=":
            return json.dumps(value)
        text = value if isinstance(value, str) else json.dumps(value)
        if mode == "json":
            return json.dumps(text)[1:-1]
        if mode == "url":
            return quote(text, safe="")
        return text

    return TOKEN.sub(fill, template)


def _form(
    method: str,
    url: str,
    headers: dict[str, str],
    body: str | None,
    response: Any = None,
    error: str | None = None,
) -> dict[str, Any]:
    form: dict[str, Any] = {
        "request": {"method": method, "url": url, "headers": headers, "body": body},
        "response": {"status": None, "headers": {}, "body": None},
        "error": error,
    }
    if response is not None:
        form["response"] = {
            "status": response.status_code,
            "headers": dict(response.headers),
            "body": response.content[: 2 * 1024 * 1024].decode("utf-8", errors="replace"),
        }
    return form


def send_step(
    session: Any,
    base_url: str,
    step_id: str,
    step: dict[str, Any],
    values: Values,
    forms: dict[str, dict[str, Any]],
    *,
    timeout: float = 15.0,
    real_wait: float = 0.0,
) -> dict[str, Any] | None:
    """Send one step to ``base_url`` and return its exchange form (None for a control step).

    A clock step moves the target's simulated time (``/__sandbox__/clock``); on a target without
    it, waits for real when at most ``real_wait`` seconds, else raises :class:`ReplaySkip`.
    """
    import requests

    base = base_url.rstrip("/")
    if "unreplayable" in step:
        raise ReplaySkip(f"step {step_id} was not stored replayably: {step['unreplayable']}")
    if step.get("control") == "advance":
        seconds = float(step["seconds"])
        try:
            answer = session.post(base + CLOCK_PATH, json={"advance": seconds}, timeout=timeout)
            moved = answer.status_code == 200
        except requests.RequestException:
            moved = False
        if not moved:
            if seconds > real_wait:
                raise ReplaySkip(
                    f"this sequence moves the target's clock by {seconds:g} s and the target "
                    f"has no {CLOCK_PATH} control (real waiting allowed up to {real_wait:g} s)"
                )
            time.sleep(seconds)
        return None
    links = step.get("links") or {}
    method = str(step["method"])
    try:
        path = render(step["path"], "url", values, links, forms)
        query = [
            (render(k, "text", values, links, forms), render(v, "text", values, links, forms))
            for k, v in step.get("query") or []
        ]
        headers = {
            k: render(v, "text", values, links, forms)
            for k, v in (step.get("headers") or {}).items()
        }
        body = step.get("body")
        if body is not None:
            body = render(
                body, "json" if step.get("body_kind") == "json" else "text", values, links, forms
            )
    except (KeyError, ValueError, TypeError) as exc:
        url = base + str(step["path"])
        return _form(method, url, {}, None, error=f"not sent: a value it needs is missing ({exc})")
    url = base + path + ("?" + urlencode(query) if query else "")
    try:
        response = session.request(
            method,
            url,
            headers=headers,
            data=body.encode("utf-8") if body is not None else None,
            timeout=(5, timeout),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return _form(method, url, headers, body, error=f"{exc.__class__.__name__}: {exc}"[:300])
    return _form(method, url, headers, body, response)


def replay_steps(
    base_url: str,
    ordered: list[tuple[str, dict[str, Any]]],
    values: Values,
    *,
    interval: float = 0.0,
    timeout: float = 15.0,
    real_wait: float = 0.0,
) -> dict[str, dict[str, Any]]:
    """Send ``ordered`` (step id, step) in order; return the exchange form of each sent step by
    its recorded id. Raises :class:`ReplaySkip` when a step cannot be replayed on this target."""
    import requests

    forms: dict[str, dict[str, Any]] = {}
    with requests.Session() as session:
        session.trust_env = False
        for step_id, step in ordered:
            if interval:
                time.sleep(interval)
            form = send_step(
                session,
                base_url,
                step_id,
                step,
                values,
                forms,
                timeout=timeout,
                real_wait=real_wait,
            )
            if form is not None:
                forms[step_id] = form
    return forms


_CARD_RUN = re.compile(r"(?<![0-9])\d{13,19}(?![0-9])")
_SSN = re.compile(r"(?<![0-9])\d{3}-\d{2}-\d{4}(?![0-9])")
_SECRET_KEY = re.compile(r"(?i)token|secret|password|apikey|api_key|appkey|authorization")


def mask(text: str, hide: list[str]) -> str:
    """``text`` with every value of ``hide`` and every Luhn-valid 13-19 digit run masked to its
    last four characters: failure messages of a repro never show a full card or credential."""
    for value in sorted({h for h in hide if h and len(h) >= 4}, key=len, reverse=True):
        text = text.replace(value, "x" * (len(value) - 4) + value[-4:])
    text = _SSN.sub(lambda m: "xxx-xx-" + m.group(0)[-4:], text)
    return _CARD_RUN.sub(
        lambda m: (
            "x" * (len(m.group(0)) - 4) + m.group(0)[-4:] if _luhn_ok(m.group(0)) else m.group(0)
        ),
        text,
    )


def response_secrets(forms: dict[str, dict[str, Any]]) -> list[str]:
    """String values under secret-looking keys of every JSON answer (tokens the target issued)."""
    found: list[str] = []
    for form in forms.values():
        try:
            stack: list[Any] = [json.loads((form.get("response") or {}).get("body") or "")]
        except ValueError:
            continue
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                for key, value in item.items():
                    if isinstance(value, str) and _SECRET_KEY.search(key):
                        found.append(value)
                    else:
                        stack.append(value)
            elif isinstance(item, list):
                stack.extend(item)
    return found
