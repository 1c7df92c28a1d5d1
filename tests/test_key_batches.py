"""key_batches cuts a list of URI keys as batches(keys, key_size, ...) does, a run at a time."""

from __future__ import annotations

import random

from etp_sync.calls._batching import MESSAGE_OVERHEAD, batches, key_batches, key_size, ramp


def test_key_batches_are_the_runs_of_batches() -> None:
    rng = random.Random(5)
    for _ in range(300):
        keys = ["k" * rng.randint(1, 120) for _ in range(rng.randint(0, 300))]
        budget = MESSAGE_OVERHEAD + rng.choice([1, 50, 300, 2_000, 10_000, 1 << 20])
        assert list(key_batches(keys, budget)) == list(batches(keys, key_size, budget))
        first, most = rng.randint(1, 40), rng.randint(1, 130)
        assert list(key_batches(keys, budget, ramp(first, most))) == list(
            batches(keys, key_size, budget, ramp(first, most))
        )


def test_a_key_larger_than_the_budget_is_a_run_of_its_own() -> None:
    keys = ["a", "b" * 500, "c"]
    assert list(key_batches(keys, MESSAGE_OVERHEAD + 100)) == [["a"], ["b" * 500], ["c"]]
