"""A bound on what Hypothesis holds while one test runs, so a run's peak memory does not grow with
its example budget.

Why this touches a Hypothesis internal: Hypothesis's engine (``ConjectureRunner``) keeps a cache
of the result of every test case it ran, up to ``hypothesis.internal.conjecture.engine
.CACHE_SIZE`` = 10,000 entries, for the life of one test. A Schemathesis contract case holds
~15-40 KB there (every choice node of a generated JSON body), so one operation run with 1,040
examples holds ~20-40 MB until it ends, against ~1 MB with 38: measured with tracemalloc on
``apicert run --vendor connectfi -k contract`` (hypothesis/internal/conjecture/data.py was the
largest growth inside an operation and all of it was freed when the operation ended). Hypothesis
has no setting for this cache (issues #869 and #1567 discuss its O(max_examples) memory; its own
tests bound it by setting this module constant), and Schemathesis builds the Hypothesis test of
each operation itself, so apicert cannot split a budget into several runs without re-running
the fixed phases. The constant is read once per test, when the runner is created, so lowering
it before tests run is enough; nothing else is patched.

What the bound costs: a case evicted from the cache and met again (a mutation or shrink that
lands on an already-run choice sequence) is sent again instead of answered from the cache; a
stateful target that answers it differently the second time (passed, now fails) makes Hypothesis
report the test as flaky, where it would have reused the first answer. The
engine's record of which sequences it has seen (DataTree) is untouched, so generation still
avoids duplicates; interesting (failing) cases are pinned in the cache and never evicted.

If a future Hypothesis renames or removes the constant, :func:`bound_example_cache` does nothing
and says so (returns False): memory is then as Hypothesis has it, and runs are otherwise unchanged.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXAMPLE_CACHE_SIZE", "bound_example_cache", "example_cache_size"]

# Results kept per running test. Hypothesis pins the simplest case and one case per distinct
# failure (an exception type and place) of the test, far fewer than this; the rest is recently
# and often used results. Small enough that 1,000 examples of an operation peak like ~60: measured
# on the connectFi contract run (seed 1), as many cases are sent with the bound as without it
# (1,004 / 3,002 / 10,022), and the peak is 120/129/149 MB against 121/138/202 MB.
EXAMPLE_CACHE_SIZE = 64

_ENGINE = "hypothesis.internal.conjecture.engine"
_NAME = "CACHE_SIZE"


def _engine() -> ModuleType | None:
    try:
        return importlib.import_module(_ENGINE)
    except ImportError:
        return None


def example_cache_size() -> int | None:
    """The number of results Hypothesis's engine caches per test now, or None when this
    Hypothesis has no such constant."""
    engine = _engine()
    value = getattr(engine, _NAME, None) if engine is not None else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def bound_example_cache(size: int = EXAMPLE_CACHE_SIZE) -> bool:
    """Make every Hypothesis test started from now on cache at most ``size`` results (never
    raises the bound a user or Hypothesis set lower). True when the bound is in force; False when
    this Hypothesis has no such constant (nothing is changed then)."""
    if size < 1:
        raise ValueError("the example cache needs at least one entry")
    current = example_cache_size()
    engine = _engine()
    if current is None or engine is None:
        return False
    if current > size:
        setattr(engine, _NAME, size)
    return True
