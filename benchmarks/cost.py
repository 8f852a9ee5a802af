"""What apicert costs: four measurements side by side in one run, printed as one table.

1. **whole run**: ``apicert run`` (every vendor, default example counts) serially and with
   ``-n 2`` (when the CLI accepts it): wall time, CPU time of the process tree, peak memory of
   the process tree, requests sent (counted by a listener on the run's recorder) per second;
2. **harness overhead per generated case**: the connectFi contract operations through ``apicert run
   --vendor connectfi -k contract``, through the plain ``schemathesis run`` CLI and, as a reference,
   through Schemathesis's own pytest integration without apicert, each against its own fresh
   ``apicert sandbox serve connectfi`` with the same document, phases, example budget and seed;
   every side counts the cases Schemathesis sent with the same ``after_call`` hook (goal: marginal
   ratio apicert / CLI <= 1.10);
3. **sandbox throughput**: requests/second of each sandbox's cheapest and most expensive endpoint
   next to a bare Starlette app with one JSON route, served the same way (``server.py``'s socket
   and uvicorn settings), loaded by the same client (processes x threads of keep-alive
   ``requests.Session``, loopback, fixed duration); goals: >= 0.7 x bare and >= 500/s;
4. **memory**: peak RSS of a connectFi contract run of about 1,000 / 3,000 / 10,000 cases, and the
   slope (MB per 1,000 cases; goal: flat, <= 1 MB per 1,000 cases).

The machine may be shared, so absolute numbers are noisy: each goal compares figures measured in
this run (a ratio), and every figure is the median of ``--repeat`` runs. Exit 0 when every goal
holds, 1 otherwise.

    python benchmarks/cost.py            # about 13 minutes on 2 cores
    python benchmarks/cost.py --quick    # smoke, ~3 minutes; too few cases to judge rows 2 and 4
    python benchmarks/cost.py --only throughput,overhead

This module is also the counting plug-in of the runs it measures: ``apicert run ... -- -p cost``
loads it into pytest and ``SCHEMATHESIS_HOOKS=cost`` into the Schemathesis CLI (with this folder
on ``PYTHONPATH``); with ``APICERT_COST_COUNT`` set it appends one JSON line of counts to that file.
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import multiprocessing
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from served import sandbox_command, served

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
COUNT_ENV = "APICERT_COST_COUNT"
BIN = Path(sys.executable).parent
APICERT = str(BIN / "apicert")
SCHEMATHESIS = str(BIN / "schemathesis")
CONNECTFI_LOGIN, CONNECTFI_PASSWORD = "apicert_sandbox", "sandbox-password"
DIGITZS_KEY, DIGITZS_APP = "sandbox-api-key-0123456789", "fade5009-d8ad-4ea3-bfe7-ebdaa3f6bf9e"
DIGIFI_KEY = "sandbox-api-key"
# The connectFi contract suite accepts 400 for schema-valid data (business refusals); so does the
# plain CLI here, on top of Schemathesis's default list, so both sides judge alike.
CLI_CONFIG = """[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]
"""
PHASES = "examples,coverage,fuzzing"  # what schema.parametrize() runs (stateful is CLI-only)

# --- the counting plug-in (pytest plugin and Schemathesis hooks module) ---------------------------

_counts = {"st_calls": 0, "exchanges": 0}


def _emit(record: dict[str, Any]) -> None:
    path = os.environ.get(COUNT_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")


if os.environ.get(COUNT_ENV) and __name__ != "__main__":
    import schemathesis

    @schemathesis.hook
    def after_call(context: Any, case: Any, response: Any) -> None:
        """Count every case Schemathesis sends (CLI and pytest integration alike)."""
        _counts["st_calls"] += 1

    atexit.register(lambda: _emit({"kind": "exit", "pid": os.getpid(), **_counts}))


def pytest_sessionstart(session: Any) -> None:
    """Count every exchange the run's recorder sees (requests apicert sent)."""
    from apicert.plugin import RUN_KEY

    run = session.config.stash.get(RUN_KEY, None)
    if run is not None:

        def listener(exchange: Any) -> None:
            _counts["exchanges"] += 1

        run.recorder.listeners.append(listener)


def pytest_sessionfinish(session: Any) -> None:
    """Write this process's counts (a controller and each xdist worker write one line)."""
    worker = hasattr(session.config, "workerinput")
    _emit({"kind": "pytest", "worker": worker, "pid": os.getpid(), **_counts})


# --- measuring a process tree --------------------------------------------------------------------

PAGE = os.sysconf("SC_PAGE_SIZE")


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, rss bytes) of every process we can read."""
    table: dict[int, tuple[int, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(name)] = (int(fields[1]), int(fields[21]) * PAGE)
    return table


def tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and all its descendants, now."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += table.get(pid, (0, 0))[1]
        todo.extend(children.get(pid, []))
    return total


@dataclass
class Measured:
    """One process run: wall and CPU seconds, peak memory, exit code, output."""

    wall: float
    cpu: float
    peak_tree: int  # bytes, the largest sum over the tree seen by polling
    peak_single: int  # bytes, ru_maxrss of the largest single process (exact)
    code: int
    out: str
    counts: list[dict[str, Any]] = field(default_factory=list)


def measure(
    cmd: list[str], env: dict[str, str], timeout: float, cwd: Path | None = None
) -> Measured:
    """Run ``cmd``; poll the tree's RSS every 0.1 s; CPU time and max RSS from ``wait4``."""
    with tempfile.TemporaryDirectory(prefix="apicert-cost-") as tmp:
        count_file = Path(tmp) / "counts.jsonl"
        out_file = Path(tmp) / "out.txt"
        env = {**env, COUNT_ENV: str(count_file)}
        with out_file.open("wb") as out:
            start = time.monotonic()
            proc = subprocess.Popen(
                cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
            peak = [0]
            done = threading.Event()

            def poll() -> None:
                while not done.wait(0.1):
                    peak[0] = max(peak[0], tree_rss(proc.pid))
                    if time.monotonic() - start > timeout:
                        os.killpg(proc.pid, signal.SIGKILL)

            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.monotonic() - start
            done.set()
            poller.join()
            proc.returncode = os.waitstatus_to_exitcode(status)
        counts = []
        if count_file.exists():
            counts = [json.loads(line) for line in count_file.read_text().splitlines() if line]
        return Measured(
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,
            peak_tree=max(peak[0], usage.ru_maxrss * 1024),
            peak_single=usage.ru_maxrss * 1024,
            code=proc.returncode,
            out=out_file.read_text(errors="replace"),
            counts=counts,
        )


def base_env(**extra: str) -> dict[str, str]:
    """The environment without APICERT_/PYTEST_ settings of the caller, this folder importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APICERT_", "PYTEST_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(BENCH), env.get("PYTHONPATH", "")]).strip(os.pathsep)
    env.update(extra)
    return env


def run_counts(m: Measured) -> dict[str, int]:
    """Exchanges and Schemathesis calls of a pytest run: the workers' sum, else the controller."""
    records = [c for c in m.counts if c.get("kind") == "pytest"]
    workers = [c for c in records if c.get("worker")]
    chosen = workers or records
    return {
        "exchanges": sum(int(c["exchanges"]) for c in chosen),
        "st_calls": sum(int(c["st_calls"]) for c in chosen),
    }


def exit_calls(m: Measured) -> int:
    """Schemathesis calls counted by the hook in a CLI run."""
    return sum(int(c["st_calls"]) for c in m.counts if c.get("kind") == "exit")


def med(values: list[float]) -> float:
    """The median (0.0 of nothing)."""
    return statistics.median(values) if values else 0.0


MB = 1024 * 1024

# --- servers -------------------------------------------------------------------------------------


def serve_bare(catch_all: bool = False) -> None:
    """A bare Starlette app, bound and served like a sandbox (server.py): one JSON route,
    ``GET /ping``; or, with ``catch_all``, any path and method, reading the body first (so a
    sandbox endpoint's very requests can be sent to it)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from apicert.sandbox.server import _bind, _uvicorn_config

    async def ping(request: Any) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def any_(request: Any) -> JSONResponse:
        await request.body()
        return JSONResponse({"ok": True})

    route = (
        Route("/{path:path}", any_, methods=["GET", "POST", "PUT", "DELETE"])
        if catch_all
        else Route("/ping", ping, methods=["GET"])
    )
    app = Starlette(routes=[route])
    sock = _bind(0)
    print(f"bare app on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    uvicorn.Server(_uvicorn_config(app)).run(sockets=[sock])


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (its threads included), in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- row 1: the whole default run ----------------------------------------------------------------


def xdist_supported() -> bool:
    """True when ``apicert run`` accepts ``-n`` (pytest-xdist wired into the CLI)."""
    text = subprocess.run(
        [APICERT, "run", "--help"], capture_output=True, text=True, env=base_env()
    ).stdout
    return bool(re.search(r"(^|\s)(-n|--numprocesses|--workers)[\s,]", text))


def whole_run(tmp: Path, repeat: int, workers: int | None) -> list[Measured]:
    """``apicert run`` of every vendor, ``repeat`` times (``-n workers`` when given)."""
    runs = []
    for i in range(repeat):
        report = tmp / f"whole-{workers or 1}-{i}"
        cmd = [APICERT, "run", "--report-dir", str(report)]
        if workers:
            cmd += ["-n", str(workers)]
        m = measure([*cmd, "--", "-p", "cost"], base_env(), timeout=300)
        results = report / "results.json"
        doc = json.loads(results.read_text()) if results.exists() else {}
        m.counts.append(
            {"kind": "verdicts", **{v: s["verdict"] for v, s in doc.get("summary", {}).items()}}
        )
        runs.append(m)
    return runs


def verdicts(m: Measured) -> str:
    """``exit N, a/b conformant`` of a whole run."""
    found = next((c for c in m.counts if c.get("kind") == "verdicts"), {})
    vs = [v for k, v in found.items() if k != "kind"]
    good = sum(v == "conformant" for v in vs)
    return f"exit {m.code}, {good}/{len(vs)} conformant"


# --- row 2: harness overhead per generated case --------------------------------------------------

# The reference side that shows where a per-case cost comes from: the same operations, document,
# budget, seed and sandbox through Schemathesis's own pytest integration, with no apicert loaded.
PLAIN_TEST = """
import os

import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

N = int(os.environ["COST_EXAMPLES"])
schema = schemathesis.openapi.from_path(os.environ["COST_DOCUMENT"])
schema.config.update(base_url=os.environ["COST_URL"])
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=N, database="none"
)
schema.config.seed = int(os.environ["COST_SEED"])
acceptance = schema.config.checks.positive_data_acceptance
acceptance.expected_statuses = [*acceptance.expected_statuses, "400"]
session = requests.Session()


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=N, database=None)
def test_operation(case):
    headers = {}
    if case.operation.path != "/auth/get-token":
        headers["x-connectfi-token"] = os.environ["COST_TOKEN"]
    response = case.call(session=session, headers=headers)
    try:
        case.validate_response(response)
    except Exception:  # counted, not judged: apicert records findings, so this side judges too
        pass
"""

SIDES = ("apicert", "plain", "cli")
DOCUMENT = ROOT / "schemas" / "connectfi" / "openapi.yaml"


def plain_command(
    tmp: Path, examples: int, url: str, seed: int, token: str
) -> tuple[list[str], dict[str, str]]:
    """The command and environment of the reference side: PLAIN_TEST (written into ``tmp``) run
    by pytest with the counting plug-in, against the sandbox at ``url``."""
    test = tmp / "test_plain_schemathesis.py"
    test.write_text(PLAIN_TEST)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "cost", str(test)]
    env = base_env(
        COST_EXAMPLES=str(examples), COST_DOCUMENT=str(DOCUMENT), COST_URL=url,
        COST_SEED=str(seed), COST_TOKEN=token,
    )  # fmt: skip
    return cmd, env


@dataclass
class Trio:
    """One side-by-side measurement at one example count: apicert, Schemathesis's pytest
    integration without apicert ("plain"), and the plain ``schemathesis run`` CLI."""

    examples: int
    runs: dict[str, Measured]
    cases: dict[str, int]

    def per_case(self, side: str) -> float:
        """Wall milliseconds per case sent, start-up and reports included."""
        return self.runs[side].wall / self.cases[side] * 1000 if self.cases[side] else math.nan


def connectfi_token(base_url: str) -> str:
    """A token from the standalone sandbox's get-token (for the plain CLI's -H)."""
    import requests

    answer = requests.post(
        f"{base_url}/auth/get-token",
        json={"user": {"login": CONNECTFI_LOGIN, "password": CONNECTFI_PASSWORD}},
        timeout=10,
    )
    return str(answer.json()["data"]["token"])


def overhead_trio(tmp: Path, index: int, examples: int, seed: int) -> Trio:
    """The connectFi contract operations through apicert, plain pytest and ``schemathesis run``,
    one standalone sandbox per side (a fresh state file each), in a rotating order."""
    config = tmp / "schemathesis.toml"
    config.write_text(CLI_CONFIG)
    report = tmp / f"ov-{index}"

    def command(side: str, url: str, token: str) -> tuple[list[str], dict[str, str]]:
        if side == "apicert":
            return [
                APICERT, "run", "--vendor", "connectfi", "--target", f"connectfi={url}",
                "-k", "contract", "--report-dir", str(report), "--seed", str(seed),
                "--", "-p", "cost",
            ], base_env(
                APICERT_MAX_EXAMPLES=str(examples),
                APICERT_CONNECTFI_LOGIN=CONNECTFI_LOGIN,
                APICERT_CONNECTFI_PASSWORD=CONNECTFI_PASSWORD,
            )  # fmt: skip
        if side == "plain":
            return plain_command(tmp, examples, url, seed, token)
        return [
            SCHEMATHESIS, "--config-file", str(config), "run", str(DOCUMENT), "-u", url,
            "-H", f"x-connectfi-token: {token}", "--phases", PHASES, "--mode", "all",
            "-n", str(examples), "-w", "1", "--generation-database", "none",
            "--seed", str(seed), "--no-color",
        ], base_env(SCHEMATHESIS_HOOKS="cost")  # fmt: skip

    runs: dict[str, Measured] = {}
    # Rotate the order, so no side always runs first (or last) on a busy machine.
    order = SIDES[index % 3 :] + SIDES[: index % 3]
    for side in order:
        state = tmp / f"ov-{index}-{side}.sqlite"
        with served(sandbox_command("connectfi", state=state), base_env()) as (url, _):
            cmd, env = command(side, url, connectfi_token(url))
            runs[side] = measure(cmd, env, timeout=600, cwd=tmp)
    cases = {
        "apicert": run_counts(runs["apicert"])["st_calls"],
        "plain": run_counts(runs["plain"])["st_calls"],
        "cli": exit_calls(runs["cli"]),
    }
    return Trio(examples=examples, runs=runs, cases=cases)


# --- row 3: throughput ---------------------------------------------------------------------------

RequestMaker = Callable[[int], tuple[str, str, dict[str, str], bytes | None]]


def _raw_request(
    base: str, method: str, path: str, headers: dict[str, str], body: bytes | None
) -> bytes:
    """The bytes of one HTTP/1.1 keep-alive request."""
    host = base.split("://", 1)[1]
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body or b'')}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


class RawConnection:
    """A minimal keep-alive HTTP/1.1 client (Content-Length answers only): the load generator
    must cost the client far less than the server, or it measures itself."""

    def __init__(self, base: str) -> None:
        host, port = base.split("://", 1)[1].split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data: bytes) -> int:
        """Send one request and read its answer; return the status code."""
        self.sock.sendall(data)
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        found = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        if found is None:
            raise ConnectionError("no content-length")
        length = int(found.group(1))
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            rest += chunk
        self.buf = rest[length:]
        return int(head[9:12])


def _load_worker(
    base: str, make: RequestMaker, tag: int, threads: int, start_at: float, seconds: float,
    cap: int, queue: Any,
) -> None:  # fmt: skip
    """One client process: ``threads`` keep-alive connections sending until the window closes."""
    totals = {"ok": 0, "other": 0, "error": 0}
    lock = threading.Lock()

    def loop(thread: int) -> None:
        ok = other = error = 0
        conn = RawConnection(base)
        first = tag * 1_000_000 + thread * 100_000
        # Requests are built before the window opens: the window measures sending only.
        prepared = [_raw_request(base, *make(first + i)) for i in range(cap)]
        while time.time() < start_at:
            time.sleep(0.001)
        end = start_at + seconds
        for data in prepared:
            if time.time() >= end:
                break
            try:
                status = conn.send(data)
            except OSError:
                error += 1
                conn = RawConnection(base)
                continue
            if 200 <= status < 300:
                ok += 1
            else:
                other += 1
        with lock:
            totals["ok"] += ok
            totals["other"] += other
            totals["error"] += error

    pool = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    queue.put(totals)


def load(
    base: str, pid: int, make: RequestMaker, procs: int, threads: int, seconds: float
) -> dict[str, float]:
    """Send from ``procs`` x ``threads`` sessions for ``seconds``; answers/second and server CPU."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    cap = int(seconds * 4000)  # per connection: far above what one loopback server answers
    start_at = time.time() + 0.5 + cap / 50_000
    workers = [
        ctx.Process(
            target=_load_worker,
            args=(base, make, p + 1, threads, start_at, seconds, cap, queue),
        )
        for p in range(procs)
    ]
    for w in workers:
        w.start()
    while time.time() < start_at:
        time.sleep(0.001)
    cpu0 = cpu_seconds(pid)
    time.sleep(seconds)
    cpu1 = cpu_seconds(pid)
    results = [queue.get(timeout=seconds + 30) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    ok = sum(r["ok"] for r in results)
    return {
        "rps": ok / seconds,
        "bad": sum(r["other"] + r["error"] for r in results),
        "cpu": (cpu1 - cpu0) / seconds,
    }


def _json(body: Any) -> bytes:
    return json.dumps(body).encode()


def _endpoints(vendor: str, base: str) -> list[tuple[str, RequestMaker]]:
    """(label, request maker) of the cheapest and the most expensive endpoint of ``vendor``."""
    import requests

    json_type = {"Content-Type": "application/json"}
    if vendor == "bare":
        return [("GET /ping", lambda i: ("GET", "/ping", {}, None))]
    if vendor == "connectfi":
        token = connectfi_token(base)
        auth = {"x-connectfi-token": token, **json_type}

        def customer(i: int) -> tuple[str, str, dict[str, str], bytes | None]:
            body = {
                "customer": {
                    "reference": f"cost_{i}",
                    "type": "individual",
                    "individual": {
                        "firstName": "Ada", "lastName": "Lovelace", "dob": "1985-12-10",
                        "ssn": f"{100 + i % 799:03d}{1 + i % 98:02d}{1 + i % 9998:04d}",
                        "email": "ada@example.com", "phone": "+15555550100",
                    },
                    "address": {
                        "line1": "1 Main Street", "city": "Springfield", "state": "IL",
                        "zip": "62701", "country": "US",
                    },
                }
            }  # fmt: skip
            return "POST", "/customer/init", auth, _json(body)

        return [
            ("GET /health", lambda i: ("GET", "/health", auth, None)),
            ("POST /customer/init", customer),
        ]
    if vendor == "digitzs":
        sys.path.insert(0, str(ROOT))
        from suites.digitzs import payloads

        key = {"x-api-key": DIGITZS_KEY, **json_type}
        attrs = {"appId": DIGITZS_APP}
        app_key = requests.post(
            f"{base}/auth/key", headers=key, json={"data": {"type": "auth", "attributes": attrs}},
            timeout=10,
        ).json()["data"]["attributes"]["appKey"]  # fmt: skip
        body = {"data": {"type": "auth", "id": DIGITZS_KEY, "attributes": {"appKey": app_key}}}
        token = requests.post(f"{base}/auth/token", headers=key, json=body, timeout=10).json()[
            "data"
        ]["attributes"]["appToken"]
        bearer = {**key, "appId": DIGITZS_APP, "Authorization": f"Bearer {token}"}
        merchant = requests.post(
            f"{base}/merchants", headers=bearer, json=payloads.merchant(), timeout=10
        ).json()["data"]["id"]
        template = _json(payloads.card_payment(merchant, 1000))

        def payment(i: int) -> tuple[str, str, dict[str, str], bytes | None]:
            return "POST", "/payments", bearer, template

        return [
            ("GET /auth", lambda i: ("GET", "/auth", key, None)),
            ("POST /payments (card)", payment),
        ]
    if vendor == "digifi":
        key = {"api-key": DIGIFI_KEY, **json_type}

        def application(i: int) -> tuple[str, str, dict[str, str], bytes | None]:
            body = {
                "productId": "prd_personal_loan",
                "borrower": {
                    "type": "person",
                    "variables": {"borrower_first_name": "Ada", "borrower_last_name": f"C{i}"},
                },
            }
            headers = {**key, "idempotency-key": f"cost-{os.getpid()}-{i}"}
            return "POST", "/api/applications", headers, _json(body)

        return [
            ("GET /api/products", lambda i: ("GET", "/api/products", key, None)),
            ("POST /api/applications (idem.)", application),
        ]
    raise KeyError(vendor)


# The same bare app with one catch-all JSON route that reads the body (served like a sandbox):
# each sandbox endpoint is also measured against it with the very same requests, which tells the
# sandbox's own cost from what uvicorn spends on a POST, its headers and its body.
BARE = [sys.executable, str(Path(__file__).resolve()), "--serve-bare"]
BARE_ANY = [*BARE, "--catch-all"]
SAME_SHAPE = "bare, same requests"


def throughput(
    tmp: Path, repeat: int, seconds: float, procs: int, threads: int
) -> dict[tuple[str, str], list[dict[str, float]]]:
    """Per (server, endpoint): ``repeat`` load results, servers measured in turn per round; per
    sandbox endpoint also (SAME_SHAPE, "VENDOR LABEL"): its requests sent to the bare app."""
    out: dict[tuple[str, str], list[dict[str, float]]] = {}
    for round_ in range(repeat):
        # A fresh state file per round: creations stay unique (no referenceExists refusals).
        state = tmp / f"tp-{round_}"
        state.mkdir()
        servers: list[tuple[str, list[str]]] = [
            ("bare", BARE),
            ("connectfi", sandbox_command("connectfi", state=state / "connectfi.sqlite")),
            ("digitzs", sandbox_command("digitzs", state=state / "digitzs.sqlite")),
            # The documented 100/s limit is switched off so the sandbox itself is measured.
            (
                "digifi",
                sandbox_command(
                    "digifi", state=state / "digifi.sqlite", options={"rate_limit": "1000000"}
                ),
            ),
        ]
        with served(BARE_ANY, base_env()) as (any_url, any_pid):
            for name, cmd in servers:
                with served(cmd, base_env()) as (url, pid):
                    for label, make in _endpoints(name, url):
                        result = load(url, pid, make, procs, threads, seconds)
                        out.setdefault((name, label), []).append(result)
                        if name != "bare":
                            same = load(any_url, any_pid, make, procs, threads, seconds)
                            out.setdefault((SAME_SHAPE, f"{name} {label}"), []).append(same)
    return out


# --- row 4: memory -------------------------------------------------------------------------------


def memory_run(tmp: Path, examples: int, seed: int) -> tuple[int, Measured]:
    """A connectFi contract run (embedded sandbox) with ``examples`` per operation; its cases."""
    report = tmp / f"mem-{examples}"
    cmd = [
        APICERT, "run", "--vendor", "connectfi", "-k", "contract", "--report-dir", str(report),
        "--seed", str(seed), "--", "-p", "cost",
    ]  # fmt: skip
    m = measure(cmd, base_env(APICERT_MAX_EXAMPLES=str(examples)), timeout=600)
    return run_counts(m)["st_calls"], m


def memory_plain_run(tmp: Path, examples: int, seed: int) -> tuple[int, Measured]:
    """The reference: the same operations, budget and seed through Schemathesis's own pytest
    integration (no apicert), against a standalone sandbox; its cases and measurement."""
    state = tmp / f"mem-plain-{examples}.sqlite"
    with served(sandbox_command("connectfi", state=state), base_env()) as (url, _):
        cmd, env = plain_command(tmp, examples, url, seed, connectfi_token(url))
        m = measure(cmd, env, timeout=600, cwd=tmp)
    return run_counts(m)["st_calls"], m


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    if len(points) < 2:
        return 0.0
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else 0.0


# --- the table -----------------------------------------------------------------------------------


class Table:
    """Rows of (measurement, value, goal, verdict), printed as one aligned table."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []
        self.failed = False

    def add(self, what: str, value: str, goal: str = "", ok: bool | None = None) -> None:
        """Add a row; ``ok`` False marks a missed goal."""
        verdict = "" if ok is None else ("PASS" if ok else "MISS")
        self.failed = self.failed or ok is False
        self.rows.append((what, value, goal, verdict))
        print(f"  .. {what}: {value} {verdict}", file=sys.stderr, flush=True)

    def print(self) -> None:
        """Print the table to stdout."""
        w = [max(len(r[i]) for r in self.rows) for i in range(3)]
        print(f"{'measurement':<{w[0]}}  {'value':<{w[1]}}  {'goal':<{w[2]}}  result")
        print("-" * (sum(w) + 14))
        for what, value, goal, verdict in self.rows:
            print(f"{what:<{w[0]}}  {value:<{w[1]}}  {goal:<{w[2]}}  {verdict}")


def row_whole(table: Table, tmp: Path, repeat: int) -> None:
    """Row 1: serial against ``-n 2``."""
    modes: list[tuple[str, int | None]] = [("serial", None)]
    xdist = xdist_supported()
    if xdist:
        modes.append(("-n 2", 2))
    for label, workers in modes:
        runs = whole_run(tmp, repeat, workers)
        reqs = [float(run_counts(m)["exchanges"]) for m in runs]
        rates = [r / m.wall for r, m in zip(reqs, runs, strict=True)]
        table.add(
            f"1 whole run, {label}",
            f"wall {med([m.wall for m in runs]):.1f} s, cpu {med([m.cpu for m in runs]):.1f} s, "
            f"peak {med([m.peak_tree / MB for m in runs]):.0f} MB, "
            f"{med(reqs):.0f} req, {med(rates):.0f} req/s",
            "; ".join(sorted({verdicts(m) for m in runs})),
        )
    if not xdist:
        table.add("1 whole run, -n 2", "n/a (xdist not available)")


def row_overhead(
    table: Table, tmp: Path, repeat: int, examples: tuple[int, int], seed: int, judge: bool = True
) -> None:
    """Row 2: apicert against the plain Schemathesis CLI (the goal) and against Schemathesis's
    own pytest integration (where a difference comes from), per case sent: whole processes at
    the larger example count, and the marginal cost between the two counts, where start-up and
    reports cancel out; that marginal ratio is the goal's figure."""
    small, large = examples
    rounds: list[tuple[Trio, Trio]] = []
    for i in range(repeat):
        pair = (
            overhead_trio(tmp, 2 * i, small, seed + i),
            overhead_trio(tmp, 2 * i + 1, large, seed + i),
        )
        for trio in pair:
            bad = [
                f"{side} exit {trio.runs[side].code}, {trio.cases[side]} cases"
                for side in SIDES
                if trio.runs[side].code != 0 or not trio.cases[side]
            ]
            if bad:
                table.add("2 overhead run", "; ".join(bad), "every side exits 0 with cases", False)
                for side in SIDES:
                    print(trio.runs[side].out[-3000:], file=sys.stderr)
                return
        rounds.append(pair)
    bigs = [b for _, b in rounds]
    table.add(
        "2 cases sent (connectFi, 9 ops)",
        "; ".join(
            f"-n {n}: " + ", ".join(
                f"{side} {med([float(t.cases[side]) for t in trios]):.0f}" for side in SIDES
            )
            for n, trios in ((small, [a for a, _ in rounds]), (large, bigs))
        ),
        f"phases {PHASES}",
    )  # fmt: skip
    whole = {side: med([b.per_case(side) for b in bigs]) for side in SIDES}
    table.add(
        f"2 per case, whole process, -n {large}",
        ", ".join(f"{side} {whole[side]:.2f} ms" for side in SIDES)
        + f"; apicert/cli {med([b.per_case('apicert') / b.per_case('cli') for b in bigs]):.2f}",
        "(start-up and reports included)",
    )

    def marginal(a: Trio, b: Trio, side: str) -> float:
        cases = b.cases[side] - a.cases[side]
        return (b.runs[side].wall - a.runs[side].wall) / cases * 1000 if cases > 0 else math.nan

    per = {side: [marginal(a, b, side) for a, b in rounds] for side in SIDES}
    for other, goal in (("cli", "ratio <= 1.10"), ("plain", "")):
        ratios = [x / y for x, y in zip(per["apicert"], per[other], strict=True) if y > 0]
        ratio = med(ratios)
        table.add(
            f"2 per case, marginal -n {small} -> {large}, apicert / {other}",
            f"apicert {med(per['apicert']):.2f} ms, {other} {med(per[other]):.2f} ms; "
            f"ratio {ratio:.2f} (rounds {', '.join(f'{r:.2f}' for r in ratios)})",
            (goal if judge else "(judged in a full run)")
            if goal
            else "(reference: Schemathesis's pytest integration, no apicert)",
            ratio <= 1.10 if goal and judge else None,
        )


def row_throughput(table: Table, tmp: Path, repeat: int, seconds: float) -> None:
    """Row 3: each sandbox's cheapest and dearest endpoint against the bare app."""
    procs, threads = 2, 2
    results = throughput(tmp, repeat, seconds, procs, threads)
    bare = med([r["rps"] for r in results[("bare", "GET /ping")]])
    bare_cpu = med([r["cpu"] for r in results[("bare", "GET /ping")]])
    per_cpu = med([r["rps"] / r["cpu"] for r in results[("bare", "GET /ping")] if r["cpu"]])
    table.add(
        "3 bare Starlette GET /ping",
        f"{bare:.0f} req/s (server cpu {bare_cpu:.0%}; {per_cpu:.0f} per cpu-s)",
        f"{procs} procs x {threads} threads, {seconds:g} s",
    )
    for (name, label), runs in results.items():
        if name in ("bare", SAME_SHAPE):
            continue
        rps = med([r["rps"] for r in runs])
        bad = sum(r["bad"] for r in runs)
        cpu = med([r["cpu"] for r in runs])
        # Requests per second of server CPU: less sensitive to a busy machine than req/s.
        eff = med([r["rps"] / r["cpu"] for r in runs if r["cpu"]]) / per_cpu if per_cpu else 0.0
        # The bare app answering these very requests (same method, headers and body): how much
        # of the gap is the sandbox's own work rather than uvicorn reading a POST.
        same = results.get((SAME_SHAPE, f"{name} {label}"), [])
        same_rps = med([r["rps"] for r in same])
        same_eff = (
            med([r["rps"] / r["cpu"] for r in same if r["cpu"]]) / per_cpu if per_cpu else 0.0
        )
        ok = rps >= 0.7 * bare and rps >= 500 and bad == 0
        table.add(
            f"3 {name} {label}",
            f"{rps:.0f} req/s = {rps / bare:.2f} x bare (cpu {cpu:.0%}; per cpu-s {eff:.2f} x)"
            + (f", {bad} non-2xx" if bad else "")
            + (
                f"; bare app, same requests: {same_rps / bare:.2f} x ({same_eff:.2f} x per cpu-s)"
                f" -> sandbox {rps / same_rps:.2f} x that"
                if same_rps
                else ""
            ),
            ">= 0.7 x bare, >= 500/s",
            ok,
        )


def row_memory(table: Table, tmp: Path, examples: list[int], seed: int, judge: bool = True) -> None:
    """Row 4: peak RSS as the case count grows.

    The run is one process (the sandbox is a thread of it), so its peak is ``ru_maxrss`` (exact).
    The polled sum over the process tree is shown too but not used: when the run starts a child
    (``git rev-parse`` for results.json), a poll that lands between fork and exec counts every
    page the child shares with its parent twice (seen: 274 MB for a 137 MB run)."""
    points = []
    for n in examples:
        cases, m = memory_run(tmp, n, seed)
        points.append((cases / 1000, m.peak_single / MB))
        table.add(
            f"4 memory, -n {n} per op",
            f"{cases} cases, peak {m.peak_single / MB:.0f} MB (tree poll "
            f"{m.peak_tree / MB:.0f} MB), wall {m.wall:.0f} s (exit {m.code})",
        )
    s = slope(points)
    # The reference, at the smallest and largest count: what Schemathesis and Hypothesis
    # themselves add per case (their runner state) in the same configuration, with no apicert.
    plain = [memory_plain_run(tmp, n, seed) for n in (examples[0], examples[-1])]
    reference = slope([(cases / 1000, m.peak_single / MB) for cases, m in plain])
    table.add(
        "4 memory slope",
        f"{s:.2f} MB per 1,000 cases (Schemathesis's pytest integration alone: "
        + ", ".join(f"{m.peak_single / MB:.0f} MB at {cases}" for cases, m in plain)
        + f" cases, {reference:.2f} MB per 1,000)",
        "<= 1 MB per 1,000 cases" if judge else "(judged in a full run)",
        s <= 1.0 if judge else None,
    )


# Examples per operation (connectFi contract suite, 9 operations) for about 1k / 3k / 10k cases.
MEMORY_EXAMPLES = [38, 260, 1040]
QUICK_MEMORY_EXAMPLES = [5, 15, 40]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short run of everything")
    parser.add_argument("--repeat", type=int, help="runs per figure (default 3; quick 1)")
    parser.add_argument("--only", default="whole,overhead,throughput,memory")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--catch-all", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(catch_all=args.catch_all)
        return 0
    repeat = args.repeat or (1 if args.quick else 3)
    only = set(args.only.split(","))
    table = Table()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="apicert-cost-") as name:
        tmp = Path(name)
        if "whole" in only:
            row_whole(table, tmp, repeat)
        if "overhead" in only:
            # --quick's few hundred cases are a smoke test: too few to judge a per-case goal.
            small_large = (5, 40) if args.quick else (10, 200)
            row_overhead(table, tmp, repeat, small_large, args.seed, judge=not args.quick)
        if "throughput" in only:
            row_throughput(table, tmp, repeat, 1.0 if args.quick else 2.0)
        if "memory" in only:
            counts = QUICK_MEMORY_EXAMPLES if args.quick else MEMORY_EXAMPLES
            row_memory(table, tmp, counts, args.seed, judge=not args.quick)
    print()
    table.print()
    elapsed = time.monotonic() - started
    print(
        f"\n{repeat} run(s) per figure, medians; {elapsed:.0f} s in all. The machine may be "
        "shared: compare the ratios (measured in this run), not absolute numbers across runs."
    )
    return 1 if table.failed else 0


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.exit(main())
