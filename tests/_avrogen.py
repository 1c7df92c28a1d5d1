"""Deterministic random Avro values for the official schema, reaching every union branch.

Values are produced in fastavro's plain form (dicts with wire field names, bytes for fixed,
symbols for enums, tuples ``(name, value)`` for named union branches) so that fastavro writes
them with the official schema.
"""

from __future__ import annotations

import random
import string
from collections import defaultdict
from typing import Any


class AvroGen:
    def __init__(self, avpr: dict[str, Any], seed: int = 1234) -> None:
        self.types = {t["fullName"]: t for t in avpr["types"]}
        self.rng = random.Random(seed)
        self.union_counter: dict[int, int] = defaultdict(int)
        self.depth = 0

    def value(self, t: Any) -> Any:
        rng = self.rng
        if isinstance(t, list):
            key = id(t)
            i = self.union_counter[key] % len(t)
            self.union_counter[key] += 1
            branch = t[i]
            v = self.value(branch)
            if isinstance(branch, str) and self.types.get(branch, {}).get("type") == "record":
                return (branch, v)
            return v
        if isinstance(t, dict):
            kind = t["type"]
            n = 0 if self.depth > 3 else rng.randint(0, 3)
            self.depth += 1
            try:
                if kind == "array":
                    return [self.value(t["items"]) for _ in range(n)]
                if kind == "map":
                    return {self._text(): self.value(t["values"]) for _ in range(n)}
            finally:
                self.depth -= 1
            raise ValueError(t)
        if t in self.types:
            return self.named(t)
        return self._primitive(t)

    def named(self, name: str) -> Any:
        t = self.types[name]
        if t["type"] == "fixed":
            return bytes(self.rng.getrandbits(8) for _ in range(t["size"]))
        if t["type"] == "enum":
            return self.rng.choice(t["symbols"])
        return {f["name"]: self.value(f["type"]) for f in t["fields"]}

    def _text(self) -> str:
        alphabet = string.ascii_letters + "é中/:'()"
        return "".join(self.rng.choice(alphabet) for _ in range(self.rng.randint(0, 12)))

    def _primitive(self, t: str) -> Any:
        rng = self.rng
        if t == "null":
            return None
        if t == "boolean":
            return rng.random() < 0.5
        if t == "int":
            return rng.choice([0, -1, 1, 2**31 - 1, -(2**31), rng.randint(-(2**31), 2**31 - 1)])
        if t == "long":
            return rng.choice([0, -1, 2**63 - 1, -(2**63), rng.randint(-(2**63), 2**63 - 1)])
        if t in ("float", "double"):
            return rng.uniform(-1e6, 1e6)
        if t == "bytes":
            return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 20)))
        if t == "string":
            return self._text()
        raise ValueError(t)
