"""Evidence is written out, not held (issue 8): the recorder and the step log spill what they
record to nameless temporary files and keep only small indexes; the link index is bounded."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from apicert import steps as steps_module
from apicert.http import Recorder
from apicert.model import Exchange
from apicert.redact import Redactor
from apicert.steps import StepLog

SECRET = "sk-live-abcdefghijklmnop123"


def _exchange(eid: str, path: str, answer: object, body: object = None) -> Exchange:
    return Exchange(
        id=eid,
        method="POST" if body is not None else "GET",
        url=f"http://h:1{path}",
        request_headers={"Content-Type": "application/json", "Authorization": SECRET},
        request_body=None if body is None else json.dumps(body),
        status=200,
        response_headers={"Content-Type": "application/json"},
        response_body=json.dumps(answer),
        test="t::one",
    )


def test_recorder_spills_redacted_forms_and_streams_them_back(tmp_path: Path) -> None:
    recorder = Recorder(Redactor([SECRET]), spill_dir=tmp_path / "report")

    def record(thread: int) -> None:
        for i in range(50):
            recorder.add(_exchange(f"ex-{thread}-{i:03d}", f"/a/{i}", {"echo": SECRET, "i": i}))

    threads = [threading.Thread(target=record, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(recorder) == 200
    assert not hasattr(recorder, "_log")  # no dict of forms held in memory
    # The spill file has no name: nothing is left in the report directory, and it is redacted.
    assert os.listdir(tmp_path / "report") == []
    forms = list(recorder.iter())
    assert len(forms) == 200 and len({f["id"] for f in forms}) == 200
    assert SECRET not in json.dumps(forms)
    for number in range(4):  # each thread's exchanges come back in the order it recorded them
        mine = [f["response"]["body"] for f in forms if f["id"].startswith(f"ex-{number}-")]
        assert [json.loads(b)["i"] for b in mine] == list(range(50))
    one = recorder.get("ex-2-007")
    assert one is not None and json.loads(one["response"]["body"])["i"] == 7
    one["response"]["status"] = 999  # a copy: the stored evidence cannot be changed by a reader
    assert (recorder.get("ex-2-007") or {})["response"]["status"] == 200
    assert recorder.get("ex-missing") is None
    recorder.close()
    assert len(recorder) == 0 and recorder.get("ex-2-007") is None


def test_steplog_spills_templates_and_keeps_links_to_values_still_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(steps_module, "MAX_LINK_VALUES", 5)
    log = StepLog(
        Redactor([SECRET]), lambda ex: "v", lambda v: [], lambda: "t::one", lambda v: "http://h:1"
    )
    log.on_exchange(_exchange("ex-0", "/customers", {"id": "cus_keep_000001"}, body={}))
    for i in range(1, 30):
        log.on_exchange(_exchange(f"ex-{i}", "/x", {"id": f"other_{i:08d}"}, body={}))
        if i % 4 == 0:  # the first customer keeps being used, so its source is not forgotten
            log.on_exchange(_exchange(f"ex-{i}-use", "/customers/cus_keep_000001", {}))
    log.on_exchange(_exchange("ex-last", "/customers/cus_keep_000001", {}))
    log.on_exchange(_exchange("ex-old", "/x/other_00000001", {}))  # long forgotten: a literal
    assert not hasattr(log, "steps")  # templates are on disk, not in a dict
    assert len(log._index["v"]) <= 5
    last, old = log.step("ex-last"), log.step("ex-old")
    assert last is not None and last["path"] == "/customers/{{apicert:L1}}"
    assert last["links"]["L1"] == {"step": "ex-0", "from": "body", "path": ["id"]}
    assert old is not None and old["path"] == "/x/other_00000001" and not old["links"]
    assert log.sequence(["ex-last"])[0][0] == "ex-0"  # the replay still pulls the source in
    section = log.section(["ex-last"])
    assert SECRET not in json.dumps(section)
    assert list(section["steps"]) == ["ex-last"]
    assert log.vendor_steps("v")[:2] == ["ex-0", "ex-1"]
