"""What apicert itself holds per exchange stays small and bounded (issue 8): the recorder's id
index holds no string per exchange, the step log's link index is bounded and packs each entry in
one int (the connectFi requestId ledger: tests/test_hypothesis_memory.py)."""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import Callable

from apicert import steps as steps_module
from apicert.http import Recorder
from apicert.model import Exchange
from apicert.redact import Redactor
from apicert.steps import StepLog


def _answer(eid: str, i: int, status: int | None = 200) -> Exchange:
    return Exchange(
        id=eid,
        method="POST",
        url=f"http://h:1/customer/init/{i}",
        request_headers={"Content-Type": "application/json"},
        request_body=json.dumps({"ref": f"r{i:08d}"}),
        status=status,
        response_headers={"Content-Type": "application/json", "X-Request-Id": f"hdr-{i:012d}"},
        response_body=json.dumps(
            {"requestId": f"req-{i:032d}", "data": {"customerId": f"cus{i:020d}", "ok": True}}
        ),
        test="t::one",
    )


def _held_per_call(call: Callable[[int], object], warm: int, count: int) -> float:
    """Bytes still allocated per call over calls ``warm`` to ``warm + count`` (each one's
    exchange is freed). Tracing starts before the first call, so what a later call frees (a
    forgotten link value) is counted too."""
    gc.collect()
    tracemalloc.start()
    try:
        for i in range(warm):
            call(i)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(warm, warm + count):
            call(i)
        gc.collect()
        return (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()


def test_the_recorder_index_holds_no_string_per_exchange() -> None:
    recorder = Recorder(Redactor())
    recorder.add(_answer(recorder.new_id(), 0))  # the spill file is open before measuring
    held = _held_per_call(lambda i: recorder.add(_answer(recorder.new_id(), i)), 10, 3000)
    # offsets + lengths + one array slot: ~25 bytes; a dict of id strings measured ~120.
    assert held < 60, held
    recorder.close()


def test_the_recorder_finds_every_id_and_a_re_recorded_id_replaces_its_form() -> None:
    recorder = Recorder(Redactor())
    ids = [recorder.new_id() for _ in range(3)]
    odd = [
        "x1",
        "ex-7",
        "ex-99999999",
        "ex-1-000002",
        "ex-" + "\u0660" * 6,
    ]  # not counter-shaped/in order
    for n, eid in enumerate([*ids, *odd]):
        recorder.add(_answer(eid, n))
    recorder.add(_answer(ids[1], 50, status=201))  # recorded again: replaces, keeps its place
    assert len(recorder) == 8
    assert [f["id"] for f in recorder.iter()] == [*ids, *odd]
    assert (recorder.get(ids[1]) or {})["response"]["status"] == 201
    for n, eid in enumerate(odd, start=3):
        assert f"/customer/init/{n}" in (recorder.get(eid) or {})["request"]["url"]
    assert recorder.get("ex-000009") is None and recorder.get("ex-000000") is None
    recorder.prefix = "ex-s1"  # a shard's ids live beside the others
    shard = recorder.new_id()
    recorder.add(_answer(shard, 60))
    assert shard == "ex-s1-000004" and (recorder.get(shard) or {})["id"] == shard
    recorder.close()
    assert recorder.get(ids[0]) is None and len(recorder) == 0


def test_the_step_log_stops_growing_per_answer_once_its_link_index_is_full() -> None:
    log = StepLog(Redactor(), lambda ex: "v", lambda v: [], lambda: "t::one", lambda v: "h")
    # Three linkable values per answer: the index fills after MAX_LINK_VALUES / 3 answers.
    warm = steps_module.MAX_LINK_VALUES // 3 + 200
    held = _held_per_call(lambda i: log.on_exchange(_answer(f"ex-{i:06d}", i)), warm, 2000)
    assert all(type(v) is int for v in log._index["v"].values())  # no tuple/list per entry
    # Per step only its id, run-order slot, vendor/test/time slots: ~200 bytes. An index that
    # keeps growing (3 values, ~170 bytes each) would add ~500.
    assert held < 400, held
    assert len(log._index["v"]) == steps_module.MAX_LINK_VALUES
    # Links still resolve to the first answer that showed a value, by header name or path.
    log.on_exchange(_use(f"cus{warm + 1999:020d}"))
    step = log.step("ex-use")
    assert step is not None and step["path"] == "/customers/{{apicert:L1}}"
    assert step["links"]["L1"] == {
        "step": f"ex-{warm + 1999:06d}",
        "from": "body",
        "path": ["data", "customerId"],
    }
    log.on_exchange(_use(f"hdr-{warm + 1998:012d}", "ex-use2"))
    step = log.step("ex-use2")
    assert step is not None and step["links"]["L1"] == {
        "step": f"ex-{warm + 1998:06d}",
        "from": "header",
        "name": "X-Request-Id",
    }
    log.on_exchange(_use(f"cus{0:020d}", "ex-use3"))  # forgotten long ago: a literal
    step = log.step("ex-use3")
    assert step is not None and not step["links"]
    log.close()


def _use(value: str, eid: str = "ex-use") -> Exchange:
    return Exchange(
        id=eid,
        method="GET",
        url=f"http://h:1/customers/{value}",
        request_headers={},
        request_body=None,
        status=200,
        response_headers={},
        response_body="{}",
        test="t::two",
    )
