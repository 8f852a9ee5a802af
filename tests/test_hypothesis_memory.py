"""Peak memory does not grow with the example budget (issue 8): Hypothesis's per-test result cache
is bounded (apicert.hypothesis_memory), and the run-wide requestId ledger keeps a small tuple per
answer, not an Exchange."""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.internal.conjecture import engine

from apicert import hypothesis_memory
from apicert.checks.connectfi import RequestIdLedger
from apicert.model import Exchange


@pytest.fixture
def engine_cache_size() -> Iterator[None]:
    """Restore Hypothesis's constant after a test that changes it."""
    saved = engine.CACHE_SIZE
    yield
    engine.CACHE_SIZE = saved


def test_the_apicert_plugin_bounds_the_cache_of_every_hypothesis_test() -> None:
    # The apicert plugin (loaded for this session through its pytest11 entry point) applied it.
    assert hypothesis_memory.example_cache_size() == hypothesis_memory.EXAMPLE_CACHE_SIZE
    assert engine.CACHE_SIZE <= 1000


def _peak_bytes(examples: int) -> int:
    """tracemalloc's peak while one Hypothesis test runs ``examples`` examples of a wide
    strategy (about 60 choices per example, like a generated JSON body)."""
    record = st.fixed_dictionaries(
        {"name": st.text(max_size=8), "n": st.integers(), "tags": st.lists(st.booleans())}
    )

    @settings(
        max_examples=examples,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(record, min_size=8, max_size=12))
    def wide(value: list[dict[str, object]]) -> None:
        assert len(value) >= 8

    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        wide()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.mark.usefixtures("engine_cache_size")
def test_a_four_times_larger_budget_does_not_raise_the_peak_fourfold() -> None:
    hypothesis_memory.bound_example_cache(64)
    small, large = _peak_bytes(100), _peak_bytes(400)
    # Without the bound the cache holds every result (measured 2.8x the peak); with it only the
    # engine's record of the choices it has seen grows (measured 1.4x).
    assert large < 2.0 * small, (small, large)


@pytest.mark.usefixtures("engine_cache_size")
def test_the_bound_never_raises_a_lower_size_and_rejects_nonsense() -> None:
    engine.CACHE_SIZE = 10
    assert hypothesis_memory.bound_example_cache(256) is True
    assert engine.CACHE_SIZE == 10
    with pytest.raises(ValueError):
        hypothesis_memory.bound_example_cache(0)


def test_a_hypothesis_without_the_constant_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(engine, "CACHE_SIZE")
    assert hypothesis_memory.example_cache_size() is None
    assert hypothesis_memory.bound_example_cache() is False
    assert not hasattr(engine, "CACHE_SIZE")
    monkeypatch.setattr(engine, "CACHE_SIZE", "10000", raising=False)  # not an int: untouched
    assert hypothesis_memory.bound_example_cache() is False
    assert engine.CACHE_SIZE == "10000"


def _answer(i: int) -> Exchange:
    return Exchange(
        id=f"ex-{i:06d}",
        method="POST",
        url="http://127.0.0.1:1/customer/init",
        request_headers={"Content-Type": "application/json"},
        request_body="{}",
        status=200,
        response_headers={"Content-Type": "application/json"},
        response_body=json.dumps({"requestId": f"req-{i:032d}", "data": {"ok": True}}),
    )


def test_the_request_id_ledger_holds_little_per_answer_and_still_finds_repeats() -> None:
    ledger = RequestIdLedger()
    answers = [_answer(i) for i in range(3000)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for a in answers:
            assert ledger.observe(a) == []
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # requestId key + dict slot + a 4-tuple (id and url are the exchange's own strings); an
    # Exchange per answer (the old ledger) measured ~450 bytes here, the tuple ~190.
    assert held / len(answers) < 350, held / len(answers)
    repeat = _answer(5)
    repeat.id = "ex-999999"
    (finding,) = ledger.observe(repeat)
    assert finding.requirement == "CONNECTFI-ENV-04"
    assert "POST /customer/init -> 200" in finding.message
    assert finding.evidence == ["ex-000005", "ex-999999"]
