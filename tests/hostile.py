"""A hostile HTTP server for the self-tests: every way a vendor sandbox can answer badly.

The first path segment picks the behaviour, so ``http://127.0.0.1:PORT/<mode>`` is a whole
target that misbehaves on every request (``/stall/auth/get-token`` stalls, and so on). It speaks
raw HTTP over a socket, because a well-behaved framework cannot send a broken response.

This is test code: it exists so ``tests/test_hostile.py`` can show that a run against each
behaviour ends with a clear finding, writes its report and takes bounded time.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["MODES", "HostileServer", "hostile_server"]

JSON_OK = b'{"code": "SUCCESS", "data": {"token": "hostile", "status": "ok"}, "requestId": "r-1"}'
STALL_SECONDS = 30.0
HUGE_BYTES = 50 * 1024 * 1024
BOMB_BYTES = 1024 * 1024 * 1024


def _head(status: str, headers: dict[str, str]) -> bytes:
    # One request per connection: the client must not reuse a poisoned connection.
    headers = {"Connection": "close", **headers}
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def _send_all(conn: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):  # the client gave up, as it should
        conn.sendall(data)


def _malformed_json(conn: socket.socket, path: str, stop: threading.Event) -> None:
    body = b'{"code": "SUCCESS", "data": {"token": "hostile", '
    _send_all(conn, _head("200 OK", _json_headers(len(body))) + body)


def _wrong_content_type(conn: socket.socket, path: str, stop: threading.Event) -> None:
    headers = {"Content-Type": "text/plain", "Content-Length": str(len(JSON_OK))}
    _send_all(conn, _head("200 OK", headers) + JSON_OK)


def _invalid_utf8(conn: socket.socket, path: str, stop: threading.Event) -> None:
    body = b'{"code": "SUCCESS", "data": {"token": "\xff\xfe\xc3\x28"}, "requestId": "r-1"}'
    _send_all(conn, _head("200 OK", _json_headers(len(body))) + body)


def _huge_body(conn: socket.socket, path: str, stop: threading.Event) -> None:
    _send_all(conn, _head("200 OK", _json_headers(HUGE_BYTES)) + b'{"data": "')
    chunk = b"A" * 65536
    sent = 0
    try:
        while sent < HUGE_BYTES and not stop.is_set():
            conn.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass


def _endless_chunked(conn: socket.socket, path: str, stop: threading.Event) -> None:
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    _send_all(conn, _head("200 OK", headers))
    try:
        conn.sendall(b"1\r\n[\r\n")
        while not stop.wait(0.05):
            conn.sendall(b"2\r\n1,\r\n")
    except OSError:
        pass


def _stall(conn: socket.socket, path: str, stop: threading.Event) -> None:
    stop.wait(STALL_SECONDS)


def _reset_mid_body(conn: socket.socket, path: str, stop: threading.Event) -> None:
    _send_all(conn, _head("200 OK", _json_headers(1000)) + JSON_OK[:40])
    time.sleep(0.05)
    # SO_LINGER with a zero timeout turns close() into a TCP reset.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _redirect_loop(conn: socket.socket, path: str, stop: threading.Event) -> None:
    headers = {"Location": path, "Content-Length": "0"}
    _send_all(conn, _head("302 Found", headers))


def _html_error_200(conn: socket.socket, path: str, stop: threading.Event) -> None:
    body = b"<html><body><h1>502 Bad Gateway</h1><p>upstream error</p></body></html>"
    headers = {"Content-Type": "text/html", "Content-Length": str(len(body))}
    _send_all(conn, _head("200 OK", headers) + body)


_BOMB: list[bytes] = []


def _bomb() -> bytes:
    """1 GiB of zeros as about 1 MiB of gzip: one 16 MiB member, repeated (members concatenate)."""
    if not _BOMB:
        member = gzip.compress(bytes(16 * 1024 * 1024), compresslevel=9)
        _BOMB.append(member * (BOMB_BYTES // (16 * 1024 * 1024)))
    return _BOMB[0]


def _gzip_bomb(conn: socket.socket, path: str, stop: threading.Event) -> None:
    body = _bomb()
    headers = _json_headers(len(body)) | {"Content-Encoding": "gzip"}
    _send_all(conn, _head("200 OK", headers) + body)


def _no_content_204(conn: socket.socket, path: str, stop: threading.Event) -> None:
    _send_all(conn, _head("204 No Content", {}))


def _huge_headers(conn: socket.socket, path: str, stop: threading.Event) -> None:
    headers = _json_headers(len(JSON_OK)) | {f"X-Filler-{i}": "x" * 200 for i in range(400)}
    _send_all(conn, _head("200 OK", headers) + JSON_OK)


def _json_headers(length: int) -> dict[str, str]:
    return {"Content-Type": "application/json", "Content-Length": str(length)}


Handler = Callable[[socket.socket, str, threading.Event], None]

MODES: dict[str, Handler] = {
    "malformed-json": _malformed_json,
    "wrong-content-type": _wrong_content_type,
    "invalid-utf8": _invalid_utf8,
    "huge-body": _huge_body,
    "endless-chunked": _endless_chunked,
    "stall": _stall,
    "reset-mid-body": _reset_mid_body,
    "redirect-loop": _redirect_loop,
    "html-error-200": _html_error_200,
    "gzip-bomb": _gzip_bomb,
    "no-content-204": _no_content_204,
    "huge-headers": _huge_headers,
}


def _read_request(conn: socket.socket) -> str | None:
    """Read one request (head and Content-Length body); return its path, None on EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > 1024 * 1024:
            return None
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip() or 0)
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    parts = lines[0].split(" ")
    return parts[1] if len(parts) > 1 else "/"


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.settimeout(STALL_SECONDS + 5)
        try:
            path = _read_request(conn)
        except (OSError, ValueError):
            return
        if path is None:
            return
        mode = path.lstrip("/").split("/", 1)[0].split("?", 1)[0]
        handler = MODES.get(mode)
        if handler is None:
            body = b'{"error": "unknown hostile mode"}'
            _send_all(conn, _head("404 Not Found", _json_headers(len(body))) + body)
            return
        self.server.hits[mode] = self.server.hits.get(mode, 0) + 1
        handler(conn, path, self.server.stopping)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.stopping = threading.Event()
        self.hits: dict[str, int] = {}


class HostileServer:
    """The hostile server on an ephemeral loopback port, served from a thread."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (append ``/<mode>`` for a target)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def hits(self) -> dict[str, int]:
        """Requests received per mode."""
        return dict(self._server.hits)

    def start(self) -> HostileServer:
        """Start serving; return self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release every stalled handler and stop serving."""
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def hostile_server() -> Iterator[HostileServer]:
    """A started :class:`HostileServer`, stopped on exit."""
    server = HostileServer().start()
    try:
        yield server
    finally:
        server.stop()


if __name__ == "__main__":  # pragma: no cover - manual exploration
    with hostile_server() as srv:
        print(f"hostile server on {srv.base_url}; modes: {', '.join(MODES)}", flush=True)
        threading.Event().wait()
