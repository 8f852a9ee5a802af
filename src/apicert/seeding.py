"""One seed per run, and per-test streams of generated data derived from it.

Promises:

* every run has a seed: ``--seed N`` (``--apicert-seed``), else ``--hypothesis-seed``, else one
  picked at random; it is printed ("seed: N") and recorded in ``results.json`` (``run.seed``);
* every value a suite generates (references, markers, idempotency keys, names, card and identity
  numbers) comes from :func:`rng`: a ``random.Random`` seeded with ``"{seed}:{key}"``, where the
  key is the test's node id (or, for a fixture wider than a test, its scope and name), so
  selecting tests with ``-k`` does not shift the data of the others;
* Hypothesis draws from a per-test seed derived the same way (:func:`hypothesis_seed_for`),
  applied so that its example database under the report directory still keeps and replays failures;
* values that must be unique at the target (references, markers, idempotency keys) come from
  :func:`unique_hex`: derived from the seed alone when every target is an embedded sandbox
  (fresh state each run), and mixed with a per-run random salt when a target keeps state between
  runs (a URL), so repeating a seed there never collides with the earlier run's resources.

Embedded sandboxes' credentials stay random: they are secrets, not generated data.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "SEED_LIMIT",
    "choose_seed",
    "configure",
    "current_key",
    "derive",
    "hypothesis_seed_for",
    "hypothesis_seeded",
    "randbelow",
    "rng",
    "run_seed",
    "salted",
    "scope",
    "token_hex",
    "unique_hex",
    "uuid4",
]

SEED_LIMIT = 2**32  # printed seeds stay short enough to type
SESSION = "session"

_lock = threading.RLock()
_seed: int | None = None
_salt = ""
_keys: list[str] = []
_streams: dict[str, random.Random] = {}


def choose_seed() -> int:
    """A fresh random seed in ``[0, SEED_LIMIT)``."""
    return secrets.randbelow(SEED_LIMIT)


def configure(seed: int, *, salt: str = "") -> None:
    """Start a run with ``seed`` (streams restart); ``salt`` (non-empty for targets that keep
    state between runs) is mixed into :func:`unique_hex` only."""
    global _seed, _salt
    with _lock:
        _seed, _salt = int(seed), salt
        _keys.clear()
        _streams.clear()


def run_seed() -> int:
    """The run's seed (one is picked on first use when no run configured it)."""
    with _lock:
        if _seed is None:
            configure(choose_seed())
        assert _seed is not None
        return _seed


def salted() -> bool:
    """True when unique values carry a per-run salt (a target keeps state between runs)."""
    return bool(_salt)


def current_key() -> str:
    """The key of the stream in use: the innermost :func:`scope`, else the session's."""
    with _lock:
        return _keys[-1] if _keys else SESSION


@contextmanager
def scope(key: str) -> Iterator[None]:
    """Draw from the stream of ``key`` (a test's node id, a fixture's scope) inside the block."""
    with _lock:
        _keys.append(key)
    try:
        yield
    finally:
        with _lock:
            if _keys and _keys[-1] == key:
                _keys.pop()
            elif key in _keys:
                _keys.remove(key)


def derive(*parts: object) -> int:
    """A 64-bit integer that depends only on the run's seed and ``parts`` (stable across
    processes, unlike the salted built-in ``hash``)."""
    text = ":".join(str(p) for p in (run_seed(), *parts))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def rng(stream: str = "data") -> random.Random:
    """The ``random.Random`` of the current key (and ``stream``): same seed, same values."""
    key = f"{current_key()}#{stream}"
    with _lock:
        found = _streams.get(key)
        if found is None:
            found = _streams[key] = random.Random(f"{run_seed()}:{key}")
        return found


def randbelow(n: int) -> int:
    """A seeded integer in ``[0, n)``."""
    return rng().randrange(n)


def token_hex(nbytes: int) -> str:
    """``2 * nbytes`` seeded hex digits (like ``secrets.token_hex``, but repeatable)."""
    return rng().randbytes(nbytes).hex()


def unique_hex(nbytes: int) -> str:
    """Hex digits for a value the target must never have seen (a reference, a marker, an
    idempotency key): seeded, and salted per run when a target keeps state between runs."""
    raw = rng("unique").randbytes(nbytes)
    if _salt:
        raw = hashlib.blake2b(raw + _salt.encode(), digest_size=nbytes).digest()
    return raw.hex()


def uuid4() -> uuid.UUID:
    """A version-4 UUID from :func:`unique_hex` (an idempotency key)."""
    return uuid.UUID(bytes=bytes.fromhex(unique_hex(16)), version=4)


def hypothesis_seed_for(nodeid: str) -> int:
    """The Hypothesis seed of the test ``nodeid`` in this run."""
    return derive("hypothesis", nodeid)


@contextmanager
def hypothesis_seeded(function: Any, nodeid: str) -> Iterator[None]:
    """Seed Hypothesis for one test call.

    A ``@given`` test gets its seed on the test object (what ``hypothesis.seed`` sets, without
    that decorator's switching off of the example database), so failures are still saved and
    shrunk examples replayed from ``<report dir>/hypothesis``. Anything else that runs Hypothesis
    inside the test (state machines) draws from the global seed for the call, restored after.
    A seed the user forced with ``--hypothesis-seed`` is left alone.
    """
    from hypothesis import core, is_hypothesis_test

    target = getattr(function, "__func__", function)
    value = hypothesis_seed_for(nodeid)
    if core.global_force_seed is not None:
        yield
    elif is_hypothesis_test(target):
        target._hypothesis_internal_use_seed = value
        yield
    else:
        core.global_force_seed = value  # type: ignore[assignment]  # declared None, read as a seed
        try:
            yield
        finally:
            core.global_force_seed = None
