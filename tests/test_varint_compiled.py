"""The compiled varint loops (codec/_varint_c.c) against the plain reference codec and the numpy
kernels: every varint length, edge values, int32 outputs, and hostile bytes, where the outcome
(values and end offset, or the error raised) must be exactly the numpy kernels'."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from _helpers import can_build_extension, printed_without_compiled
from _varint_ref import ref_encode

from etp_sync.codec import _varint_arrays, compiled_varints
from etp_sync.errors import ETPDecodeError

I64 = np.iinfo(np.int64)
I32 = np.iinfo(np.int32)


def test_the_compiled_loops_are_built_where_they_can_be() -> None:
    """An install that could build the loops has them (a broken build must not fall back to
    the numpy kernels unnoticed)."""
    if os.environ.get("ETP_SYNC_NO_COMPILED"):
        pytest.skip("ETP_SYNC_NO_COMPILED is set")
    if not can_build_extension():
        pytest.skip("no C compiler or Python headers: the numpy kernels serve alone")
    assert compiled_varints(), "etp_sync.codec._varint_c is not importable"


def test_the_environment_can_keep_the_loops_off() -> None:
    code = "import etp_sync.codec as c; print(c.compiled_varints())"
    assert printed_without_compiled(code) == "False"


@pytest.fixture()
def kernel() -> ModuleType:
    if _varint_arrays.KERNEL is None:
        pytest.skip("the compiled loops are not built here")
    return _varint_arrays.KERNEL


def _every_length(rng: np.random.Generator, n: int) -> np.ndarray:
    """Values whose varints take every length from 1 to 10 bytes, in random order."""
    bits = rng.integers(0, 64, n)
    mags = rng.integers(0, I64.max, n, dtype=np.int64, endpoint=True) >> (63 - bits).astype(
        np.int64
    )
    signs = rng.integers(0, 2, n).astype(bool)
    return np.where(signs, -mags - 1, mags).astype(np.int64)


EDGES = np.array(
    [0, -1, 1, 63, -64, 64, -65, 8191, -8192, 8192, I32.max, I32.min, I64.max, I64.min],
    dtype=np.int64,
)


def _cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    return {
        "edges": EDGES,
        "every length": _every_length(rng, 50_000),
        "full range": rng.integers(I64.min, I64.max, 50_000, dtype=np.int64, endpoint=True),
        "0..1000": rng.integers(0, 1000, 50_000, dtype=np.int64, endpoint=True),
        "one": np.array([-3], dtype=np.int64),
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_round_trip_matches_the_reference(kernel: ModuleType, name: str) -> None:
    values = _cases()[name]
    expected = ref_encode(values)
    assert _varint_arrays.varint_array_size(values) == len(expected)
    encoded = _varint_arrays.encode_varints(values)
    assert encoded.tobytes() == expected
    data = np.frombuffer(expected, np.uint8)
    back, end = _varint_arrays.decode_varints(data, 0, values.size, np.dtype(np.int64), 10)
    assert end == len(expected)
    np.testing.assert_array_equal(back, values)


@pytest.mark.parametrize("name", list(_cases()))
def test_views_of_any_layout_are_encoded_by_value(kernel: ModuleType, name: str) -> None:
    """Strided, reversed and 2-D views (the compiled loops take contiguous memory only)."""
    values = _cases()[name]
    for view in (values[::2], values[::-1], values[: values.size // 2 * 2].reshape(2, -1).T):
        expected = ref_encode(view.reshape(-1))
        assert _varint_arrays.encode_varints(view).tobytes() == expected
        assert _varint_arrays.varint_array_size(view) == len(expected)


def test_every_value_near_the_end_of_the_buffer(kernel: ModuleType) -> None:
    """The last ten bytes are read one by one: each length there, at every offset."""
    for value in [*EDGES.tolist(), 2**62, -(2**62), 300, -300]:
        for pad in range(12):
            body = ref_encode([5] * pad + [value])
            data = np.frombuffer(body, np.uint8)
            back, end = _varint_arrays.decode_varints(data, 0, pad + 1, np.dtype(np.int64), 10)
            assert end == len(body) and back.tolist() == [5] * pad + [value]


def test_int32_outputs_and_avro_ints(kernel: ModuleType) -> None:
    rng = np.random.default_rng(5)
    values = rng.integers(I32.min, I32.max, 20_000, dtype=np.int64, endpoint=True)
    values[:4] = [I32.min, I32.max, 0, -1]
    data = np.frombuffer(ref_encode(values), np.uint8)
    back, end = _varint_arrays.decode_varints(data, 0, values.size, np.dtype(np.int32), 5)
    assert back.dtype == np.int32 and end == data.size
    np.testing.assert_array_equal(back, values)
    out = np.empty(values.size, np.int64)  # an Avro int array into int64 memory
    _varint_arrays.decode_varints(data, 0, values.size, np.dtype(np.int64), 5, out)
    np.testing.assert_array_equal(out, values)


def _outcome(decode: Callable[[], tuple[np.ndarray, int]]) -> tuple[Any, ...]:
    try:
        values, end = decode()
    except ETPDecodeError as exc:
        return ("error", str(exc))
    return ("ok", values.tolist(), end)


def _mutations(rng: np.random.Generator) -> list[tuple[bytes, int, int, str]]:
    """Hostile inputs: (bytes, count, max_bytes, dtype)."""
    out: list[tuple[bytes, int, int, str]] = []
    for _ in range(400):
        values = _every_length(rng, int(rng.integers(1, 40)))
        body = bytearray(ref_encode(values))
        kind = rng.integers(0, 5)
        if kind == 0:  # random bytes set anywhere
            for at in rng.integers(0, len(body), int(rng.integers(1, 4))):
                body[at] = int(rng.integers(0, 256))
        elif kind == 1:  # truncated
            body = body[: int(rng.integers(0, len(body)))]
        elif kind == 2:  # a run of continued bytes
            at = int(rng.integers(0, len(body) + 1))
            body[at:at] = b"\xff" * int(rng.integers(1, 14))
        elif kind == 3:  # a 10th byte beyond 64 bits
            body += b"\xff" * 9 + bytes([int(rng.integers(2, 128))])
            values = np.append(values, 0)
        else:  # pure noise
            body = bytearray(rng.integers(0, 256, int(rng.integers(1, 60)), dtype=np.uint8))
        count = values.size + int(rng.integers(-1, 2))
        max_bytes, dtype = (10, "int64") if rng.integers(0, 3) else (5, "int32")
        out.append((bytes(body), max(count, 0), max_bytes, dtype))
    return out


def test_hostile_bytes_end_as_the_numpy_kernels_say(
    kernel: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the bytes, the compiled loops give the numpy kernels' outcome: the same values
    and end offset, or the same error (which the numpy decoder words)."""
    rng = np.random.default_rng(2024)
    errors = 0
    for body, count, max_bytes, dtype in _mutations(rng):
        data = np.frombuffer(body, np.uint8)
        count = min(count, data.size)  # callers check this before decoding

        decode = functools.partial(
            _varint_arrays.decode_varints, data, 0, count, np.dtype(dtype), max_bytes
        )
        fast = _outcome(decode)
        monkeypatch.setattr(_varint_arrays, "KERNEL", None)
        slow = _outcome(decode)
        monkeypatch.setattr(_varint_arrays, "KERNEL", kernel)
        assert fast == slow, (body.hex(), count, max_bytes, dtype)
        errors += slow[0] == "error"
    assert errors > 100  # the cases do reach the error paths


def test_offsets_inside_a_buffer(kernel: ModuleType) -> None:
    values = _every_length(np.random.default_rng(9), 1000)
    body = b"\x80\x80junk" + ref_encode(values) + b"\xfftrailing"
    data = np.frombuffer(body, np.uint8)
    back, end = _varint_arrays.decode_varints(data, 6, values.size, np.dtype(np.int64), 10)
    np.testing.assert_array_equal(back, values)
    assert body[end:] == b"\xfftrailing"


def test_the_loops_check_their_own_bounds(kernel: ModuleType) -> None:
    """Called directly with wrong sizes, the loops refuse rather than write out of bounds."""
    values = np.array([I64.max, 1, 2], dtype=np.int64)
    out = np.full(12, 0xAB, np.uint8)
    with pytest.raises(ValueError, match="too small"):
        kernel.encode(values, out[:11])
    assert out[11] == 0xAB
    assert kernel.encode(values, out) == 12
    with pytest.raises(ValueError, match="output buffer"):
        kernel.decode(out, 0, 3, np.empty(2, np.int64), 10)
    with pytest.raises(ValueError, match="max_bytes"):
        kernel.decode(out, 0, 3, np.empty(3, np.int64), 11)
    with pytest.raises(ValueError, match="offset"):
        kernel.decode(out, 13, 0, np.empty(3, np.int64), 10)
    for wrong in (np.int32, np.uint64, np.float64, ">i8"):
        with pytest.raises(TypeError, match="native int64"):
            kernel.size(np.zeros(3, wrong))
        with pytest.raises(TypeError, match="native int64"):
            kernel.encode(np.zeros(3, wrong), out)
    for wrong in (np.uint32, np.float64, np.int16, ">i4"):
        with pytest.raises(TypeError, match="native int64 or int32"):
            kernel.decode(out, 0, 3, np.empty(3, wrong), 10)
    with pytest.raises(ValueError, match="not C-contiguous"):
        kernel.size(np.zeros(6, np.int64)[::2])
