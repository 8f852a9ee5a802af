"""The one HTTP client every suite uses: auth, pacing, bounded reads, recording, redaction.

Promises:

* every request and its response (or the reason none came) is recorded as an
  :class:`~apicert.model.Exchange`, with the redacted copy kept for the report;
* a POST is never retried on the client's own initiative (that would hide idempotency defects);
  GET/PUT/DELETE/HEAD answered with 429 are retried after ``Retry-After`` when back-off is on;
* requests are paced under the vendor's documented rate limit;
* no read is unbounded: connect and read timeouts, a whole-response deadline, a body size cap,
  and at most five redirects.
"""

from __future__ import annotations

import itertools
import json
import re
import tempfile
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any

import requests
from requests.adapters import HTTPAdapter

from apicert.model import Exchange
from apicert.redact import Redactor

__all__ = [
    "Client",
    "ClientLimits",
    "Pacer",
    "Recorder",
    "exchange_of",
    "parse_retry_after",
]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class ClientLimits:
    """Bounds on every request: timeouts in seconds, body cap in bytes, 429 back-off policy."""

    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 15.0
    max_body_bytes: int = 2 * 1024 * 1024
    max_redirects: int = 5
    max_429_retries: int = 3
    max_retry_after: float = 5.0

    @classmethod
    def with_timeout(cls, seconds: float) -> ClientLimits:
        """Limits with read timeout ``seconds`` (connect at most 5 s, a whole response 1.5x)."""
        return cls(
            connect_timeout=min(5.0, seconds), read_timeout=seconds, total_timeout=seconds * 1.5
        )


class Recorder:
    """A thread-safe log of every exchange of a run, written out rather than held.

    Raw :class:`Exchange` objects are handed to checks and not kept. The redacted ``to_dict()``
    form (the only form reports and cassettes may contain) is appended as one JSON line to an
    anonymous temporary file (``spill_dir``, else the system temp dir); memory holds only an
    ``id -> (offset, length)`` index, so a run's memory does not grow with its exchanges. The
    file has no name on disk on POSIX and is gone when the recorder is closed or the process
    ends. :meth:`get` reads one form back, :meth:`iter` streams them in the order recorded.
    """

    def __init__(self, redactor: Redactor | None = None, spill_dir: Path | None = None) -> None:
        self.redactor = redactor or Redactor()
        self.spill_dir = spill_dir
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._file: IO[bytes] | None = None
        self._end = 0
        # exchange id -> position in the arrays below: ids this recorder made (prefix-NNNNNN,
        # numbered in order) are found by number in one array per prefix (slot + 1, 0: none),
        # so the index holds no string per exchange; any other id goes in ``_slot``.
        self._numbered: dict[str, array[int]] = {}
        self._slot: dict[str, int] = {}
        self._offsets = array("q")
        self._lengths = array("q")
        self.current_test: str | None = None
        self.prefix = "ex"
        self._local = threading.local()
        self.listeners: list[Callable[[Exchange], None]] = []
        # Called before an exchange is redacted, to register secrets it reveals (a new token).
        self.learners: list[Callable[[Exchange, Redactor], None]] = []

    def new_id(self) -> str:
        """Return a fresh exchange id, unique within this run."""
        return f"{self.prefix}-{next(self._counter):06d}"

    def add(self, exchange: Exchange) -> None:
        """Write the redacted form of ``exchange`` out, then hand the raw one to listeners."""
        exchange.test = exchange.test or self.current_test
        for learn in list(self.learners):
            learn(exchange, self.redactor)
        redacted = _cap_bodies(self.redactor.exchange(exchange.to_dict()))
        line = json.dumps(redacted, ensure_ascii=False).encode("utf-8") + b"\n"
        with self._lock:
            handle = self._spill()
            handle.seek(self._end)
            handle.write(line)
            slot = self._find(exchange.id)
            if slot is None:  # a re-recorded id replaces its form and keeps its place
                self._remember(exchange.id, len(self._offsets))
                self._offsets.append(self._end)
                self._lengths.append(len(line))
            else:
                self._offsets[slot], self._lengths[slot] = self._end, len(line)
            self._end += len(line)
        self._local.last = exchange
        for listener in list(self.listeners):
            listener(exchange)

    @staticmethod
    def _number(exchange_id: str) -> tuple[str, int] | None:
        """(prefix, number) of an id shaped like :meth:`new_id`'s, else None."""
        prefix, sep, digits = exchange_id.rpartition("-")
        if not sep or not digits.isdigit() or not digits.isascii():
            return None
        number = int(digits)
        return (prefix, number) if f"{number:06d}" == digits else None

    def _find(self, exchange_id: str) -> int | None:
        """The slot of ``exchange_id`` (the caller holds the lock), or None."""
        numbered = self._number(exchange_id)
        if numbered is not None:
            slots = self._numbered.get(numbered[0])
            if slots is not None and numbered[1] < len(slots) and slots[numbered[1]]:
                return slots[numbered[1]] - 1
        return self._slot.get(exchange_id)

    def _remember(self, exchange_id: str, slot: int) -> None:
        """Index a new ``exchange_id`` at ``slot`` (the caller holds the lock)."""
        numbered = self._number(exchange_id)
        if numbered is not None:
            prefix, number = numbered
            slots = self._numbered.setdefault(prefix, array("q"))
            if number < len(slots) + 4096:  # ids come in order: no sparse array for odd ones
                if number >= len(slots):
                    slots.frombytes(bytes(8 * (number + 1 - len(slots))))
                slots[number] = slot + 1
                return
        self._slot[exchange_id] = slot

    def _spill(self) -> IO[bytes]:
        """The spill file, opened on first use (in ``spill_dir`` when it is writable)."""
        if self._file is None:
            if self.spill_dir is not None:
                with suppress(OSError):
                    self.spill_dir.mkdir(parents=True, exist_ok=True)
                    self._file = tempfile.TemporaryFile(  # noqa: SIM115 - open for the run
                        prefix=".apicert-exchanges-", dir=self.spill_dir
                    )
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="apicert-exchanges-")  # noqa: SIM115
        return self._file

    def _read(self, slot: int) -> dict[str, Any]:
        """The form at ``slot`` (the caller holds the lock)."""
        assert self._file is not None
        self._file.seek(self._offsets[slot])
        data: dict[str, Any] = json.loads(self._file.read(self._lengths[slot]))
        return data

    def last_added(self) -> Exchange | None:
        """Return the raw exchange most recently recorded by this thread."""
        return getattr(self._local, "last", None)

    def get(self, exchange_id: str) -> dict[str, Any] | None:
        """Return the redacted form of one exchange (a fresh copy read back), or None."""
        with self._lock:
            slot = self._find(exchange_id)
            return None if slot is None else self._read(slot)

    def iter(self) -> Iterator[dict[str, Any]]:
        """Yield every redacted exchange in the order recorded, one at a time from the file
        (exchanges recorded meanwhile are included up to the count when iteration started)."""
        with self._lock:
            count = len(self._offsets)
        for slot in range(count):
            with self._lock:
                form = self._read(slot)
            yield form

    def all(self) -> list[dict[str, Any]]:
        """Return every redacted exchange in the order recorded, as one list (this holds them
        all in memory: for tests and small runs; reports stream with :meth:`iter`)."""
        return list(self.iter())

    def __len__(self) -> int:
        with self._lock:
            return len(self._offsets)

    def close(self) -> None:
        """Delete the spill file; the recorder is empty afterwards (new exchanges start a new
        file)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
            self._file = None
            self._end = 0
            self._slot.clear()
            self._numbered.clear()
            self._offsets = array("q")
            self._lengths = array("q")


# The stored (redacted) copy keeps at most this much of each body: a run against a target that
# answers 2 MB bodies must not hold gigabytes. Checks see the whole body (up to the read cap).
STORED_BODY_CHARS = 64 * 1024


def _cap_bodies(doc: dict[str, Any]) -> dict[str, Any]:
    """Cut request and response bodies of a redacted exchange to ``STORED_BODY_CHARS``."""
    for side in ("request", "response"):
        part = doc.get(side)
        body = part.get("body") if isinstance(part, dict) else None
        if isinstance(part, dict) and isinstance(body, str) and len(body) > STORED_BODY_CHARS:
            more = len(body) - STORED_BODY_CHARS
            note = f"\n[apicert: {more} more characters not kept]"
            part["body"] = body[:STORED_BODY_CHARS] + note
    return doc


def parse_retry_after(value: str | None) -> float | None:
    """Parse a ``Retry-After`` value (RFC 9110 10.2.3: seconds or HTTP-date) into seconds."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Pacer:
    """Spaces request start times at least ``interval`` seconds apart, across threads."""

    def __init__(self, per_second: float | None) -> None:
        self.interval = 1.0 / per_second if per_second else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            if not self.interval and self._next <= time.monotonic():
                return
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        delay = slot - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._next = max(self._next, time.monotonic() + seconds)


class RecordingSession(requests.Session):
    """A requests session that paces, bounds and records every request it sends."""

    def __init__(self, recorder: Recorder, limits: ClientLimits, pacer: Pacer) -> None:
        super().__init__()
        self.recorder = recorder
        self.limits = limits
        self.pacer = pacer
        self.backoff = True
        # Why the target is given up on (a stall, or broken answers in a row): nothing more is
        # sent to it, so a run against a broken target ends in bounded time.
        self.stalled: str | None = None
        self._broken_in_a_row = 0
        self.max_redirects = limits.max_redirects
        self.trust_env = False
        adapter = HTTPAdapter(max_retries=0, pool_maxsize=32)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send ``request`` with bounds, record it, and back off on 429 for idempotent methods."""
        method = (request.method or "GET").upper()
        attempts = 0
        while True:
            response = self._send_once(request, **kwargs)
            if (
                response.status_code != 429
                or not self.backoff
                or method not in IDEMPOTENT_METHODS
                or attempts >= self.limits.max_429_retries
            ):
                return response
            attempts += 1
            delay = parse_retry_after(response.headers.get("Retry-After"))
            if delay is None:
                delay = 0.25 * 2**attempts
            delay = min(delay, self.limits.max_retry_after)
            self.pacer.hold(delay)

    def _note_failure(self, exchange: Exchange) -> None:
        """Stop sending after a stall, or after ``BROKEN_IN_A_ROW`` broken answers in a row."""
        if not exchange.error:
            if not (exchange.status and 300 <= exchange.status < 400):  # a hop proves nothing
                self._broken_in_a_row = 0
            return
        self._broken_in_a_row += 1
        where = f"{exchange.method} {exchange.path}: {exchange.error}"
        if _is_stall(exchange.error):
            self.stalled = where
        elif self._broken_in_a_row >= BROKEN_IN_A_ROW:
            self.stalled = f"{BROKEN_IN_A_ROW} broken answers in a row, the last {where}"

    def _send_once(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        limits = self.limits
        kwargs["stream"] = True
        timeout = kwargs.get("timeout")
        if timeout is None or not isinstance(timeout, tuple):
            kwargs["timeout"] = (limits.connect_timeout, limits.read_timeout)
        self.pacer.wait()
        body = request.body
        if isinstance(body, bytes):
            request_body: str | None = body.decode("utf-8", errors="replace")
        else:
            request_body = body
        exchange = Exchange(
            id=self.recorder.new_id(),
            method=(request.method or "GET").upper(),
            url=request.url or "",
            request_headers={k: str(v) for k, v in request.headers.items()},
            request_body=_summarise_request_body(request, request_body),
            started_at=time.time(),
        )
        if self.stalled is not None:
            exchange.error = (
                f"not sent: apicert gave up on this target earlier ({self.stalled}); "
                "fix the target and run again"
            )
            self.recorder.add(exchange)
            raise requests.ConnectionError(exchange.error)
        start = time.monotonic()
        try:
            response = super().send(request, **kwargs)
        except requests.RequestException as exc:
            exchange.elapsed = time.monotonic() - start
            exchange.error = _describe_error(exc, limits)
            self._note_failure(exchange)
            self.recorder.add(exchange)
            raise
        content, truncated, error = _read_bounded(response, start, limits)
        exchange.elapsed = time.monotonic() - start
        exchange.status = response.status_code
        exchange.response_headers = dict(response.headers)
        exchange.truncated = truncated
        exchange.error = error
        response._content = content
        response._content_consumed = True  # type: ignore[attr-defined]
        exchange.response_body, exchange.decode_error = _decode(response, content)
        self._note_failure(exchange)
        self.recorder.add(exchange)
        response.apicert_exchange = exchange  # type: ignore[attr-defined]
        return response


def _summarise_request_body(request: requests.PreparedRequest, body: str | None) -> str | None:
    content_type = request.headers.get("Content-Type", "")
    if body and content_type.startswith("multipart/") and len(body) > 2048:
        return body[:2048] + "\n[multipart body truncated]"
    return body


def _decode(response: requests.Response, content: bytes) -> tuple[str, str | None]:
    """The body as text, and what was wrong with its encoding (None when nothing was)."""
    encoding = response.encoding or "utf-8"
    try:
        return content.decode(encoding), None
    except LookupError:
        problem = f"unknown charset {encoding!r}; decoded as UTF-8"
    except UnicodeDecodeError as exc:
        bad = content[exc.start : exc.start + 1].hex()
        problem = f"body is not valid {encoding} (byte 0x{bad} at offset {exc.start})"
    return content.decode("utf-8", errors="replace"), problem


_STALLS = ("timeout", "not complete after")
# A transient reset is retried by the suite's next request; three broken answers in a row (reset,
# oversized, unreadable) mean the target is broken, and further requests would only add noise.
BROKEN_IN_A_ROW = 3


def _is_stall(error: str) -> bool:
    """True for errors that cost the whole timeout (as opposed to a fast, broken answer)."""
    return not error.startswith("not sent:") and any(word in error for word in _STALLS)


def _read_bounded(
    response: requests.Response, start: float, limits: ClientLimits
) -> tuple[bytes, bool, str | None]:
    """Read at most ``max_body_bytes`` of decoded body before ``total_timeout`` runs out."""
    chunks: list[bytes] = []
    size = 0
    deadline = start + limits.total_timeout
    error: str | None = None
    truncated = False
    try:
        for chunk in response.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > limits.max_body_bytes:
                chunks.append(chunk[: limits.max_body_bytes - (size - len(chunk))])
                truncated = True
                error = f"response body larger than {limits.max_body_bytes} bytes; read stopped"
                break
            chunks.append(chunk)
            if time.monotonic() > deadline:
                truncated = True
                error = f"response not complete after {limits.total_timeout:g} s; read stopped"
                break
    except requests.RequestException as exc:
        truncated = True
        error = _describe_error(exc, limits)
    except Exception as exc:  # urllib3 decoding errors surface as various types
        truncated = True
        error = f"response body unreadable: {exc.__class__.__name__}: {exc}"[:300]
    finally:
        response.close()
    return b"".join(chunks), truncated, error


def _describe_error(exc: BaseException, limits: ClientLimits) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return f"connect timeout after {limits.connect_timeout:g} s"
    if isinstance(exc, requests.ReadTimeout):
        return f"no response within the read timeout of {limits.read_timeout:g} s"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return f"connection broken mid-response ({_innermost(exc)})"
    if isinstance(exc, requests.TooManyRedirects):
        return f"more than {limits.max_redirects} redirects (redirect loop?)"
    if isinstance(exc, requests.ConnectionError):
        text = str(exc)
        if "Connection refused" in text or "Errno 111" in text:
            return "connection refused"
        if "more than 100 headers" in text or "line too long" in text.lower():
            return "response headers too large (more than 100 lines or a line over 64 KiB)"
        if "reset" in text.lower() or "IncompleteRead" in text or "ProtocolError" in text:
            return "connection broken mid-response"
        return f"connection error: {text[:200]}"
    return f"{exc.__class__.__name__}: {str(exc)[:200]}"


def _innermost(exc: BaseException) -> str:
    """What a broken body read reports, shortened (urllib3's ``IncompleteRead(...)`` if any)."""
    text = str(exc)
    match = re.search(r"IncompleteRead\([^)]*\)", text)
    return match.group(0) if match else text[:150]


def exchange_of(response: requests.Response) -> Exchange:
    """Return the recorded :class:`Exchange` behind a response sent by a :class:`Client`."""
    exchange = getattr(response, "apicert_exchange", None)
    if not isinstance(exchange, Exchange):
        raise ValueError("response was not sent through an apicert Client")
    return exchange


AuthApplier = Callable[["Client", dict[str, str]], None]


class Client:
    """A vendor client bound to one base URL. Every request goes through the recording session."""

    def __init__(
        self,
        base_url: str,
        *,
        recorder: Recorder,
        rate_limit: float | None = None,
        limits: ClientLimits | None = None,
        auth: AuthApplier | None = None,
        default_headers: dict[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.recorder = recorder
        self.limits = limits or ClientLimits()
        # Pace at 80 % of the documented limit so functional suites never trip it.
        self.pacer = Pacer(rate_limit * 0.8 if rate_limit else None)
        self.session = RecordingSession(recorder, self.limits, self.pacer)
        self.auth = auth
        self.default_headers = dict(default_headers or {})
        self.last: Exchange | None = None

    @property
    def redactor(self) -> Redactor:
        """The run's redactor (register secrets on it)."""
        return self.recorder.redactor

    def url(self, path: str) -> str:
        """Return the absolute URL of ``path`` under the base URL."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def request(
        self,
        method: str,
        path: str,
        *,
        auth: bool = True,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Exchange:
        """Send one request and return its recorded :class:`Exchange`; never raises on the network.

        ``auth=False`` sends it with no credentials added. When no complete response arrives,
        the exchange has ``status`` None and ``error`` naming the problem.
        """
        merged = dict(self.default_headers)
        if auth and self.auth is not None:
            self.auth(self, merged)
        merged.update(headers or {})
        before = len(self.recorder)
        try:
            response = self.session.request(method, self.url(path), headers=merged, **kwargs)
            exchange = exchange_of(response)
        except requests.RequestException:
            failed = self.recorder.last_added()
            if failed is None or len(self.recorder) == before:
                raise
            exchange = failed
        self.last = exchange
        return exchange

    def get(self, path: str, **kwargs: Any) -> Exchange:
        """GET ``path``."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Exchange:
        """POST ``path`` (never retried by the client)."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Exchange:
        """PUT ``path``."""
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Exchange:
        """DELETE ``path``."""
        return self.request("DELETE", path, **kwargs)

    @contextmanager
    def no_backoff(self) -> Iterator[None]:
        """Within the block, 429 answers are returned as they are (for load probes)."""
        previous = self.session.backoff
        self.session.backoff = False
        try:
            yield
        finally:
            self.session.backoff = previous
