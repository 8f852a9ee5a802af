"""Sharding: ``apicert run --shard K/N`` runs a stable K-th of N of the selected suites.

The unit of sharding is a test module (a class inside a module goes with its module): tests that
share a module share its fixtures and helpers, so they stay together. Modules are dealt out by a
deterministic partition of what was collected: largest module first (by test count, then by
node id) to the shard with the fewest tests so far (lowest number on a tie). Every shard of the
same selection computes the same partition, so every test is in exactly one shard; node ids are
relative to the suites directory, so the partition is the same on every machine.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

__all__ = ["Shard", "module_of", "parse_shard", "partition", "select"]

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``total``."""

    index: int
    total: int

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"


def parse_shard(text: str) -> Shard:
    """Parse ``K/N`` (1 <= K <= N); raise ValueError with a one-line reason otherwise."""
    match = _SPEC.match(text or "")
    if not match:
        raise ValueError(f"--shard {text!r} is not K/N (e.g. 2/4)")
    index, total = int(match.group(1)), int(match.group(2))
    if total < 1 or not 1 <= index <= total:
        raise ValueError(f"--shard {text!r}: K must be between 1 and N, and N at least 1")
    return Shard(index, total)


def module_of(nodeid: str) -> str:
    """The module part of a node id (``connectfi/test_auth.py::T::test[x]`` → its file)."""
    return nodeid.split("::", 1)[0]


def partition(nodeids: Sequence[str], total: int) -> list[list[str]]:
    """Split ``nodeids`` into ``total`` lists (shard 1 first), whole modules at a time, each node
    id in exactly one list and in its original order; the same input gives the same split."""
    modules: dict[str, list[str]] = {}
    for nodeid in nodeids:
        modules.setdefault(module_of(nodeid), []).append(nodeid)
    load = [0] * total
    home: dict[str, int] = {}
    for name in sorted(modules, key=lambda m: (-len(modules[m]), m)):
        shard = min(range(total), key=lambda i: (load[i], i))
        home[name] = shard
        load[shard] += len(modules[name])
    out: list[list[str]] = [[] for _ in range(total)]
    for nodeid in nodeids:
        out[home[module_of(nodeid)]].append(nodeid)
    return out


class _HasNodeId(Protocol):
    @property
    def nodeid(self) -> str: ...


Item = TypeVar("Item", bound=_HasNodeId)


def select(items: Sequence[Item], shard: Shard) -> tuple[list[Item], list[Item]]:
    """Split collected ``items`` into (this shard's, the others'), keeping their order."""
    mine = set(partition([item.nodeid for item in items], shard.total)[shard.index - 1])
    keep = [item for item in items if item.nodeid in mine]
    return keep, [item for item in items if item.nodeid not in mine]
