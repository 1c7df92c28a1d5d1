"""How the store calls cut a long list into requests: the message budget, runs of items within
it, and the ramp of batch sizes that starts a pipeline small. No I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

# Bytes of a message around its map entries (header, map block counts, flags), generously.
MESSAGE_OVERHEAD = 64


def message_budget(limit: int) -> int:
    """The most bytes a request built here may take: the limit minus a safety margin."""
    return int(limit) - min(4096, int(limit) // 8)


def ramp(first: int, most: int) -> Iterator[int]:
    """``first``, doubling up to ``most``, then ``most`` for ever: batch limits that start the
    other side early and then keep the per-request costs small."""
    n = max(1, first)
    while True:
        yield min(n, most)
        n *= 2


def batches(
    items: Sequence[Any],
    size: Callable[[Any], int],
    budget: int,
    counts: Iterator[int] | None = None,
) -> Iterator[list[Any]]:
    """Split ``items`` into runs whose summed ``size(item)`` stays within ``budget``; with
    ``counts``, each run also holds at most ``next(counts)`` items."""
    batch: list[Any] = []
    used = MESSAGE_OVERHEAD
    most = next(counts) if counts is not None else len(items)
    for item in items:
        cost = size(item)
        if batch and (used + cost > budget or len(batch) >= most):
            yield batch
            batch, used = [], MESSAGE_OVERHEAD
            most = next(counts) if counts is not None else most
        batch.append(item)
        used += cost
    if batch:
        yield batch


def key_size(key: str) -> int:
    """Bytes of a URI's entry in a request map keyed and valued by URIs, generously."""
    return 2 * len(key) + 12


def keys_size(keys: Sequence[str]) -> int:
    """The summed :func:`key_size` of ``keys``, worked out at once."""
    return 2 * sum(map(len, keys)) + 12 * len(keys)


def key_batches(
    keys: list[str], budget: int, counts: Iterator[int] | None = None
) -> Iterator[list[str]]:
    """The runs ``batches(keys, key_size, budget, counts)`` makes, each taken as one slice when
    all its keys fit the budget (the usual case: a few hundred URIs in a message of
    megabytes), by the per-key loop of :func:`batches` only when they do not."""
    start = 0
    while start < len(keys):
        most = max(1, next(counts)) if counts is not None else len(keys)
        run = keys[start : start + most]
        if MESSAGE_OVERHEAD + keys_size(run) > budget:
            run = next(batches(run, key_size, budget))  # the longest first part that fits
        yield run
        start += len(run)
