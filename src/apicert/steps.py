"""Replayable steps: every exchange of a run as a request template a repro or replay can re-send.

A :class:`StepLog` is a :class:`~apicert.http.Recorder` listener: it sees each RAW exchange once,
before anything is written, and keeps only a template with no secret in it:

* values the request took from an earlier response of the same vendor (ids, tokens, request ids)
  become *links* (``{{apicert:L1}}`` plus the source step and JSON path or header name), so a
  replay substitutes the new response's value;
* the target's credentials become ``{{apicert:env:APICERT_<VENDOR>_<NAME>}}``;
* card, SSN, EIN, routing, account numbers and birth dates become ``{{apicert:gen:gN}}`` with a
  description (kind, length, last four, validity) from which the replay generates a new one;
* other secrets (a deliberately wrong password or token) become ``{{apicert:secret:sN}}``;
* the literal rest is checked with the run's redactor: a step whose literal text the redactor
  would still change is kept only as ``{"unreplayable": why}``.

Clock moves (``SandboxControl.on_advance``) are steps too. See docs/cassettes.md.
"""

from __future__ import annotations

import itertools
import json
import re
import tempfile
import threading
from array import array
from collections.abc import Callable, Iterable
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit

from apicert.model import Exchange, Finding
from apicert.redact import IDENTITY_KEYS, SECRET_HEADERS, SECRET_KEYS, Redactor, luhn_valid

__all__ = ["MAX_OWN_STEPS", "StepLog"]

MAX_OWN_STEPS = 60  # steps of the finding's own test kept before its last evidence exchange
MAX_DEPENDENCIES = 60  # earlier steps pulled in through links, at most
MAX_BODY = 64 * 1024
# Link sources remembered per vendor (the oldest unused ones are forgotten first) and values
# remembered as sent: bounded, so a long run's memory stays flat (issue 8).
MAX_LINK_VALUES = 5_000
MAX_SENT_VALUES = 5_000
MAX_PLACES = 1 << 20  # distinct (header name | JSON path) link places interned, at most
_PLACE_MASK = (1 << 32) - 1
_SKIP_HEADERS = {"content-length", "accept-encoding", "connection", "user-agent", "host"}
_NO_LINK_HEADERS = {
    "date", "expires", "last-modified", "content-length", "content-type", "server",
    "retry-after", "age", "vary", "connection", "keep-alive", "transfer-encoding",
}  # fmt: skip
_CARD_RUN = re.compile(r"(?<![0-9])\d{13,19}(?![0-9])")
_SSN = re.compile(r"(?<![0-9A-Za-z-])\d{3}-\d{2}-\d{4}(?![0-9A-Za-z-])")
_DIGITS = re.compile(r"(?<![0-9])\d{5,}(?![0-9])")
_ANY_DIGIT = re.compile(r"\d")
_TOKEN = re.compile(r"\{\{apicert[:=][A-Za-z0-9_:.\-]+\}\}")
_BARE = re.compile(r'"@@APICERT-BARE:([A-Za-z0-9_:.\-]+)@@"')
_MAX_LEAVES = 2000
# A made-up unique value: an optional word prefix and 12+ hex digits, or a UUID.
_FRESH = re.compile(
    r"([A-Za-z][A-Za-z_.\-]{0,30}[_.\-]|)"
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{12,64})"
)


def _norm(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


def _identity_kind(key: str) -> str:
    norm = _norm(key)
    if norm in ("cardnumber", "pan"):
        return "card"
    if norm in ("ssn", "socialsecurity", "socialsecuritynumber", "itin", "taxid"):
        return "ssn"
    if norm in ("ein", "fein"):
        return "ein"
    if norm == "routingnumber":
        return "routing"
    if norm in ("birthdate", "dateofbirth", "dob"):
        return "date"
    return "digits"


def _linkable(value: Any) -> str | None:
    """The text of a response value that may later be sent back (an id, token, request id)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value) if abs(value) >= 100_000 else None
    if isinstance(value, str) and (
        (len(value) >= 6 and any(c.isdigit() for c in value)) or len(value) >= 20
    ):
        return value
    return None


def _leaves(value: Any, path: list[Any]) -> Iterable[tuple[list[Any], Any]]:
    stack: list[tuple[list[Any], Any]] = [(path, value)]
    count = 0
    while stack and count < _MAX_LEAVES:
        where, item = stack.pop()
        if isinstance(item, dict):
            stack.extend(([*where, k], v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend(([*where, i], v) for i, v in enumerate(item))
        else:
            count += 1
            yield where, item


class _Unreplayable(Exception):
    pass


class _Spill:
    """Step templates written out as JSON lines to a nameless temporary file (gone when closed
    or when the process ends); memory holds only each one's offset and length."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._end = 0
        self._offsets = array("q")
        self._lengths = array("q")

    def append(self, step: dict[str, Any]) -> int:
        """Write ``step`` out; return its slot."""
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="apicert-steps-")  # noqa: SIM115
        line = json.dumps(step, ensure_ascii=False).encode("utf-8")
        self._file.seek(self._end)
        self._file.write(line)
        self._offsets.append(self._end)
        self._lengths.append(len(line))
        self._end += len(line)
        return len(self._offsets) - 1

    def read(self, slot: int) -> dict[str, Any]:
        """The step at ``slot`` (a fresh copy)."""
        assert self._file is not None
        self._file.seek(self._offsets[slot])
        step: dict[str, Any] = json.loads(self._file.read(self._lengths[slot]))
        return step

    def close(self) -> None:
        """Delete the file."""
        if self._file is not None:
            self._file.close()
            self._file = None


class _Builder:
    """Builds the template of one exchange (one request) against the log's indexes."""

    def __init__(self, log: StepLog, vendor: str) -> None:
        self.log = log
        self.vendor = vendor
        self.links: dict[str, dict[str, Any]] = {}
        self._link_names: dict[str, str] = {}
        self.credentials = log.credentials(vendor)

    def link(self, text: str) -> str | None:
        source = self.log.link_source(self.vendor, text)
        if source is None:
            return None
        key = json.dumps(source, sort_keys=True)
        if key not in self._link_names:
            name = f"L{len(self._link_names) + 1}"
            self._link_names[key] = name
            self.links[name] = source
        return self._link_names[key]

    def word(self, text: str) -> str | None:
        """The placeholder name for a whole value, or None when it is a literal."""
        for env, value in self.credentials:
            if value and text == value:
                return f"env:{env}"
        return self.link(text)

    def string(self, text: str, *, secret: bool = False) -> str:
        """The template of one string value (a header value, path segment, JSON string)."""
        name = self.word(text)
        if name is not None:
            return "{{apicert:" + name + "}}"
        fresh = _FRESH.fullmatch(text)
        if fresh and (fresh.group(2).count("-") == 4 or not fresh.group(2).isdigit()):
            return self.fresh(text, fresh.group(1), fresh.group(2))
        words = text.split(" ")
        if len(words) > 1:
            names = [self.word(w) for w in words]
            if any(names):
                return " ".join(
                    w if n is None else "{{apicert:" + n + "}}"
                    for w, n in zip(words, names, strict=True)
                )
        out = text
        for env, value in self.credentials:
            if value and len(value) >= 6 and value in out:
                out = out.replace(value, "{{apicert:env:" + env + "}}")
        if _ANY_DIGIT.search(out):  # card, SSN and identity numbers all have digits
            out = _CARD_RUN.sub(
                lambda m: self.gen(m.group(0), "card") if luhn_valid(m.group(0)) else m.group(0),
                out,
            )
            out = _SSN.sub(lambda m: self.gen(m.group(0), "ssn"), out)
            out = _DIGITS.sub(
                lambda m: (
                    self.gen(m.group(0), "digits")
                    if self.log.redactor.text(m.group(0)) != m.group(0)
                    else m.group(0)
                ),
                out,
            )
        if secret and not _TOKEN.search(out):
            scheme, sep, _rest = out.partition(" ")
            token = "{{apicert:secret:" + self.log.secret_name(out) + "}}"
            return f"{scheme} {token}" if sep and scheme.isalpha() else token
        return out

    def fresh(self, raw: str, prefix: str, unique: str) -> str:
        """A unique-looking value the harness made up (a reference, an idempotency key): a new
        one per replay, so a repro can run twice against the same target."""
        name = self.log.gen_name(raw, "fresh")
        spec = self.log.variables[name]
        spec.update(prefix=prefix, hex=len(unique), uuid=unique.count("-") == 4)
        spec.pop("last4", None)
        return "{{apicert:gen:" + name + "}}"

    def gen(self, raw: str, kind: str, as_int: bool = False) -> str:
        name = self.log.gen_name(raw, kind, as_int)
        return "{{apicert:gen:" + name + "}}"

    def value(self, key: str | None, value: Any) -> Any:
        """The template of one JSON leaf (a marker string for a whole non-string value)."""
        norm = _norm(key) if key else ""
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int | float):
            text = str(value)
            name = self.link(text) if isinstance(value, int) else None
            if name is None and norm in IDENTITY_KEYS and isinstance(value, int):
                name = "gen:" + self.log.gen_name(text, _identity_kind(key or ""), True)
            if name is None and self.log.redactor.text(text) != text:
                raise _Unreplayable(f"a number under {key!r} the redactor masks")
            return value if name is None else f"@@APICERT-BARE:{name}@@"
        if isinstance(value, str):
            if norm in IDENTITY_KEYS and value and self.word(value) is None:
                return self.gen(value, _identity_kind(key or ""))
            return self.string(value, secret=norm in SECRET_KEYS)
        return value

    def body_json(self, parsed: Any) -> str:
        def walk(item: Any, key: str | None) -> Any:
            if isinstance(item, dict):
                return {k: walk(v, k) for k, v in item.items()}
            if isinstance(item, list):
                return [walk(v, key) for v in item]
            return self.value(key, item)

        text = json.dumps(walk(parsed, None), ensure_ascii=False)
        return _BARE.sub(lambda m: "{{apicert=" + m.group(1) + "}}", text)


class StepLog:
    """Every exchange and clock move of a run as a replayable step, plus how they link.

    ``vendor_of`` names the vendor of an exchange (None: not a vendor target);
    ``credentials(vendor)`` lists ``(env name, value)`` pairs of the target's credentials.
    """

    def __init__(
        self,
        redactor: Redactor,
        vendor_of: Callable[[Exchange], str | None],
        credentials: Callable[[str], list[tuple[str, str]]],
        current_test: Callable[[], str | None],
        base_url: Callable[[str], str],
        prefix: Callable[[], str] = lambda: "ex",
    ) -> None:
        self.redactor = redactor
        self.vendor_of = vendor_of
        self.credentials = credentials
        self.current_test = current_test
        self.base_url = base_url
        # The recorder's exchange-id prefix ("ex", or "ex-s1-gw0" in a shard or xdist worker):
        # clock steps, generated names and finding ids carry its suffix, so merged documents
        # of several workers never reuse one.
        self.prefix = prefix
        # The templates are written out (_Spill); memory keeps per step its position in run
        # order (``order``), vendor, test and (start, end) time, in compact arrays.
        self._spill = _Spill()
        self.order: dict[str, int] = {}
        self._ids: list[str] = []
        self._vendors: list[str] = []
        self._tests: list[str | None] = []
        self._starts = array("d")
        self._ends = array("d")
        self.by_test: dict[str | None, list[str]] = {}
        self.variables: dict[str, dict[str, Any]] = {}
        self.observer_findings: set[int] = set()
        # vendor -> value -> where it first came from, packed in one int: the source step's slot
        # << 32 | the id of its place ("header"/"body" + header name or JSON path, interned in
        # ``_places``: answers of one shape share them), so an entry holds no tuple or list.
        self._index: dict[str, dict[str, int]] = {}
        self._places: list[tuple[Any, ...]] = []
        self._place_ids: dict[tuple[Any, ...], int] = {}
        self._sent: dict[str, dict[str, None]] = {}  # insertion-ordered sets, bounded
        self._gen: dict[tuple[str, str], str] = {}
        self._secrets: dict[str, str] = {}
        self._controls = itertools.count(1)
        self._lock = threading.RLock()

    def suffix(self, sep: str) -> str:
        """``sep`` + the worker/shard part of the exchange-id prefix ('' outside one)."""
        rest = self.prefix().partition("-")[2]
        return f"{sep}{rest.replace('-', sep)}" if rest else ""

    # -- run-time hooks ---------------------------------------------------------------------
    def on_exchange(self, exchange: Exchange) -> None:
        """Recorder listener: add the exchange as a step and index its answer for links."""
        vendor = self.vendor_of(exchange)
        if vendor is None or (exchange.error or "").startswith("not sent"):
            return
        with self._lock:
            try:
                step = self._template(exchange, vendor)
            except _Unreplayable as exc:
                step = {"vendor": vendor, "unreplayable": str(exc)}
            except Exception as exc:  # a template must never break a run
                step = {"vendor": vendor, "unreplayable": f"{exc.__class__.__name__}"}
            step["test"] = exchange.test
            step["status"] = exchange.status
            self._add(
                exchange.id,
                step,
                (exchange.started_at, exchange.started_at + max(exchange.elapsed, 0.0)),
            )
            try:
                self._remember_sent(exchange, vendor)
                self._index_response(exchange, vendor)
            except Exception:  # links are a convenience: they never break a run
                return

    def on_advance(self, vendor: str) -> Callable[[float], None]:
        """A ``SandboxControl.on_advance`` callback recording a clock move of ``vendor``."""

        def record(seconds: float) -> None:
            with self._lock:
                step_id = f"ctl{self.suffix('-')}-{next(self._controls):06d}"
                self._add(
                    step_id,
                    {
                        "vendor": vendor,
                        "test": self.current_test(),
                        "control": "advance",
                        # Microseconds are plenty for a replay, and a float's long tail of
                        # digits is not left to look like a card number in a cassette.
                        "seconds": round(seconds, 6),
                    },
                )

        return record

    def note_observer(self, findings: Iterable[Finding]) -> None:
        """Mark findings that came from the vendor's observers (re-judgeable on any exchange)."""
        with self._lock:
            self.observer_findings.update(id(f) for f in findings)

    # -- building ---------------------------------------------------------------------------
    def _add(
        self, step_id: str, step: dict[str, Any], span: tuple[float, float] | None = None
    ) -> None:
        if step_id in self.order:  # a re-recorded id: the first step stands
            return
        slot = self._spill.append(step)
        self.order[step_id] = slot
        self._ids.append(step_id)
        self._vendors.append(str(step.get("vendor")))
        self._tests.append(step.get("test"))
        start, end = span if span is not None else (float("nan"), float("nan"))
        self._starts.append(start)
        self._ends.append(end)
        self.by_test.setdefault(step.get("test"), []).append(step_id)

    def step(self, step_id: str) -> dict[str, Any] | None:
        """The template of one step (a fresh copy read back), or None."""
        with self._lock:
            slot = self.order.get(step_id)
            return None if slot is None else self._spill.read(slot)

    def link_source(self, vendor: str, text: str) -> dict[str, Any] | None:
        """Where ``text`` first came from in an answer of ``vendor`` (a link's source), or None.
        A value used again counts as fresh: the bounded index forgets unused ones first."""
        index = self._index.get(vendor, {})
        found = index.pop(text, None)
        if found is None:
            return None
        index[text] = found
        place = self._places[found & _PLACE_MASK]
        where = place[0]
        name: Any = place[1] if where == "header" else list(place[1:])
        step = self._ids[found >> 32]
        return {"step": step, "from": where, ("name" if where == "header" else "path"): name}

    def _packed(self, slot: int, place: tuple[Any, ...]) -> int | None:
        """``slot`` and the interned ``place`` as one int (None: too many distinct places)."""
        known = self._place_ids.get(place)
        if known is None:
            if len(self._places) >= MAX_PLACES:
                return None
            known = self._place_ids[place] = len(self._places)
            self._places.append(place)
        return slot << 32 | known

    def close(self) -> None:
        """Delete the spilled templates (the log is unusable afterwards)."""
        with self._lock:
            self._spill.close()

    def gen_name(self, raw: str, kind: str, as_int: bool = False) -> str:
        """The variable standing for identity value ``raw`` (one per value and kind)."""
        key = (kind, raw)
        if key not in self._gen:
            name = f"g{len(self._gen) + 1}{self.suffix('_')}"
            digits = re.sub(r"\D", "", raw)
            if kind not in ("date", "fresh") and not re.fullmatch(r"[0-9][0-9 \-]*", raw):
                kind = "text"  # not a number (a fuzzed value under an identity key)
            spec: dict[str, Any] = {"kind": kind, "last4": raw[-4:], "length": len(digits)}
            if kind == "text":
                spec["length"] = len(raw)
            if kind == "date":  # the shape only (9999-99-99, 99-99-9999...), never the date
                spec = {"kind": "date", "shape": re.sub(r"[0-9]", "9", raw)}
            if kind == "card":
                spec.update(first=digits[:1], valid=luhn_valid(digits))
            elif kind == "routing":
                spec.update(first=digits[:1], valid=_aba(digits))
            elif kind in ("ssn", "ein"):
                spec.update(last4=digits[-4:], dashed="-" in raw)
                if kind == "ein":
                    spec["first"] = digits[:2]
            elif kind == "digits":
                spec["last4"] = digits[-4:]
            if as_int:
                spec["type"] = "int"
            self._gen[key] = name
            self.variables[name] = spec
        return self._gen[key]

    def secret_name(self, raw: str) -> str:
        """The variable standing for a made-up credential (one per value)."""
        if raw not in self._secrets:
            self._secrets[raw] = f"s{len(self._secrets) + 1}{self.suffix('_')}"
        return self._secrets[raw]

    def _template(self, exchange: Exchange, vendor: str) -> dict[str, Any]:
        builder = _Builder(self, vendor)
        base = self.base_url(vendor).rstrip("/")
        parts = urlsplit(
            exchange.url[len(base) :] if exchange.url.startswith(base) else exchange.url
        )
        segments = parts.path.split("/")
        path = "/".join(
            ("{{apicert:" + n + "}}" if (n := builder.word(s)) else builder.string(s)) if s else s
            for s in segments
        )
        query = [
            [k, builder.string(v, secret=_norm(k) in SECRET_KEYS)]
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
        headers = {
            name: builder.string(value, secret=name.lower() in SECRET_HEADERS)
            for name, value in exchange.request_headers.items()
            if name.lower() not in _SKIP_HEADERS
        }
        body, kind = exchange.request_body, None
        if body is not None:
            if len(body) > MAX_BODY or "[multipart body truncated]" in body:
                raise _Unreplayable("the request body was too large or multipart")
            try:
                parsed = json.loads(body)
            except ValueError:
                body, kind = builder.string(body), "text"
            else:
                body, kind = builder.body_json(parsed), "json"
        step: dict[str, Any] = {
            "vendor": vendor,
            "method": exchange.method,
            "path": path,
            "query": query,
            "headers": headers,
            "body": body,
            "body_kind": kind,
            "links": builder.links,
        }
        literal = _TOKEN.sub("", json.dumps(step, ensure_ascii=False))
        if self.redactor.text(literal) != literal:
            raise _Unreplayable("its literal text holds a secret or identity value")
        return step

    def _remember_sent(self, exchange: Exchange, vendor: str) -> None:
        sent = self._sent.setdefault(vendor, {})
        parts = urlsplit(exchange.url)
        values = [s for s in parts.path.split("/") if s]
        values += [v for _, v in parse_qsl(parts.query)]
        parsed = exchange.request_json()
        if parsed is not None:
            for _, leaf in _leaves(parsed, []):
                text = _linkable(leaf)
                if text is not None and text not in self._index.get(vendor, {}):
                    values.append(text)
        for value in values:
            sent.pop(value, None)
            sent[value] = None
        while len(sent) > MAX_SENT_VALUES:
            del sent[next(iter(sent))]

    def _index_response(self, exchange: Exchange, vendor: str) -> None:
        index = self._index.setdefault(vendor, {})
        sent = self._sent.get(vendor, {})
        slot = self.order.get(exchange.id)
        if slot is None:
            return
        for name, value in exchange.response_headers.items():
            if name.lower() in _NO_LINK_HEADERS or name.lower().startswith(("ratelimit", "x-rate")):
                continue
            if len(value) >= 8 and any(c.isdigit() for c in value) and value not in sent:
                packed = self._packed(slot, ("header", name))
                if packed is not None:
                    index[value] = packed
        try:
            parsed = exchange.json()
        except ValueError:
            return
        for path, leaf in _leaves(parsed, []):
            text = _linkable(leaf)
            # The FIRST answer that showed a value is where it came from; later answers that
            # echo it (each payment repeats its merchantId) must not pull each other in.
            if text is not None and text not in sent and text not in index:
                packed = self._packed(slot, ("body", *path))
                if packed is not None:
                    index[text] = packed
        while len(index) > MAX_LINK_VALUES:
            del index[next(iter(index))]

    # -- reading ----------------------------------------------------------------------------
    def sequence(self, evidence: list[str], start: str | None = None) -> tuple[list[str], int]:
        """The steps that replay a finding with ``evidence``: its test's steps up to the last
        evidence exchange (the last ``MAX_OWN_STEPS``, plus every evidence step), and every
        earlier step they link to; in run order. Own steps before ``start`` (the first exchange
        of Hypothesis's shrunk example) are left out. Returns (step ids, own steps left out)."""
        with self._lock:
            known = [e for e in evidence if e in self.order]
            if not known:
                return [], 0
            last = max(known, key=self.order.__getitem__)
            test = self._tests[self.order[last]]
            if test is None:
                own = sorted(known, key=self.order.__getitem__)
            else:
                first = self.order.get(start, -1) if start is not None else -1
                own = [
                    s
                    for s in self.by_test.get(test, [])
                    if first <= self.order[s] <= self.order[last]
                ]
            omitted = max(0, len(own) - MAX_OWN_STEPS)
            chosen = set(own[omitted:]) | set(known)
            queue = list(chosen)
            added = 0
            while queue:
                step = self._spill.read(self.order[queue.pop()])
                for link in (step.get("links") or {}).values():
                    source = str(link["step"])
                    if source not in chosen and source in self.order and added < MAX_DEPENDENCIES:
                        chosen.add(source)
                        queue.append(source)
                        added += 1
            return sorted(chosen, key=self.order.__getitem__), omitted

    def concurrent(self, step_ids: Iterable[str]) -> bool:
        """True when two of ``step_ids`` were in flight at the same time (a sequential replay
        cannot reproduce what they showed)."""
        with self._lock:
            slots = [self.order[i] for i in step_ids if i in self.order]
            spans = sorted(
                (self._starts[s], self._ends[s])
                for s in slots
                if self._starts[s] == self._starts[s]
            )  # clock moves have no time (NaN)
        end = float("-inf")
        for start, stop in spans:
            if start < end - 0.001:
                return True
            end = max(end, stop)
        return False

    def section(self, step_ids: Iterable[str]) -> dict[str, Any]:
        """The ``replay`` section of a results document or cassette for ``step_ids``: each
        step once, and the generated-value descriptions they use."""
        with self._lock:
            ids = sorted(set(step_ids) & self.order.keys(), key=self.order.__getitem__)
            steps = {i: self._spill.read(self.order[i]) for i in ids}
        used = set(re.findall(r"\{\{apicert[:=]gen:([A-Za-z0-9_]+)\}\}", json.dumps(steps)))
        return {
            "format": 1,
            "steps": steps,
            "vars": {n: self.variables[n] for n in sorted(used) if n in self.variables},
        }

    def vendor_steps(self, vendor: str) -> list[str]:
        """Every step id of ``vendor`` in run order."""
        with self._lock:
            return [i for i, v in zip(self._ids, self._vendors, strict=True) if v == vendor]


def _aba(digits: str) -> bool:
    weights = (3, 7, 1) * 3
    return (
        len(digits) == 9 and sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 10 == 0
    )
