"""Codec benchmark: encode and decode a 64 MB DataArray ``PutDataArrays`` message.

What is measured, side by side in one process run, for three payloads of ``--size-mb`` MiB
(default 64 MiB = 8,388,608 values each, random, fixed seed):

* ``float64``        -- ``ArrayOfDouble`` of uniform random doubles;
* ``int64 full``     -- ``ArrayOfLong`` of random int64 over the whole range (9-10 byte varints);
* ``int64 0..1000``  -- ``ArrayOfLong`` of random values in 0..1000 (1-2 byte varints).

Each payload is a ``PutDataArrays`` body (protocol 9, message type 4) holding one array, encoded
and decoded by:

1. ``etp_sync``: ``etp_sync.codec.encode_message(header, body)`` and ``decode_message(frame)``
   (header + body frame; decode ends with the numpy array in hand);
2. ``fastavro``: ``fastavro.schemaless_writer`` / ``schemaless_reader`` of the same body as plain
   dicts holding a Python list, with the official schema from ``shared/reference/etp12.avpr``
   (body only, no header). The ``ndarray.tolist()`` before writing and the ``np.array(list)``
   after reading count as part of the path; they are also shown separately;
3. ``pyetp``: ``energistics.avro_handler.encode_message`` / ``decode_message`` of PyPI
   ``pyetp==0.0.58`` with its pydantic models (header + body frame). Skipped, with a message,
   when ``--skip-pyetp`` is given or pyetp is not importable;
4. ``memcpy``: the reference -- ``np.copyto`` of the array into a preallocated array, and
   ``bytes(bytearray)`` (a copy into freshly allocated memory, like building a new frame).

Messages bodies and models are built before timing. Every time is the best of ``--reps``
repetitions (``--slow-reps`` for the fastavro and pyetp paths), with the garbage collector off
during each repetition. Every decoded array is checked against the input, and the wire bytes of
the three codecs against each other, outside the timed region. "peak MiB" is the growth of the
process's peak resident set during the first repetition (Linux: ``/proc/self/clear_refs`` resets
the peak, ``VmHWM`` reads it), blank where that is not available.

The table and the verdict on the targets (float64 encode and decode within 2x of memcpy and at
least 20x faster than pyetp; int64 at least 10x faster than pyetp) are printed, and the
"codec" section of ``bench/RESULTS.md`` is rewritten (other sections are kept) unless
``--no-write`` is given.

Run from the repository root (needs numpy, fastavro, etp_sync and optionally pyetp==0.0.58)::

    /work/venv-bench/bin/python bench/codec.py [--size-mb 64] [--reps 5] [--slow-reps 2]
                                               [--skip-pyetp] [--no-write]
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _results import machine_note, reset_peak, status_bytes, write_section

REPO = Path(__file__).resolve().parents[1]
AVPR = Path(__file__).resolve().parents[2] / "shared" / "reference" / "etp12.avpr"

MIB = 1 << 20
URI = f"eml:///dataspace('a/b')/eml20.obj_EpcExternalPartReference({uuid.UUID(int=42)})"
PATH_IN_RESOURCE = "/RESQML/x"
PUT_DATA_ARRAYS = "Energistics.Etp.v12.Protocol.DataArray.PutDataArrays"
NS = "Energistics.Etp.v12.Datatypes"

# Targets: (payload prefix, reference path, "max" ratio ours/reference or "min" speed-up).
FLOAT_MEMCPY_MAX = 2.0
FLOAT_PYETP_MIN = 20.0
INT_PYETP_MIN = 10.0

Stage = tuple[str, Callable[[Any], Any]]

NOTES = (
    "Notes:",
    "",
    "- memcpy `np.copyto` writes into an already-faulted array; `bytes()` copies into freshly "
    "allocated memory, which for 64 MiB means mmap and ~16k page faults. `encode_message` must "
    "return a new `bytes` frame, so its floor is the `bytes()` copy, not `np.copyto`. The "
    "transport sends with `encode_message_parts`, which passes float arrays by reference.",
    "- float64 decode: `decode_message` returns a zero-copy view of the frame (unaligned here: "
    "the payload sits at an odd offset; numpy reads it correctly, `np.require(a, "
    "requirements='A')` makes an aligned copy when a consumer needs one), so its time does not "
    "grow with the array.",
    "- int64: the kernels are in `codec/_varint_encode.py`, `_varint_decode.py` and "
    "`_varint_words.py`. The encoder builds one 8-byte word "
    "per value with shifts and masks (bytes 9-10 from the top byte) and writes the fixed-size "
    "records at their running offsets into a pooled buffer; the decoder finds varint ends 8 "
    "bytes at a time and writes the values into their destination (a get's result, a store "
    "block); long varints (9-10 bytes) are decoded from the words that scan loads. "
    "Values that all fit in 1-2 bytes (0..1000 after zig-zag) take a 16-bit path. "
    "`encode_message` adds the join into a fresh frame to `parts`. Full-range values take "
    "9-10 bytes each, 0..1000 take 1-2.",
    "- fastavro and pyetp spend their time creating and reading one Python object per value "
    "(`tolist`, the writer/reader loops, `np.array(list)`); pyetp adds pydantic dumping.",
)


@dataclass
class Case:
    """One payload: a label, the values and the ETP ``ArrayOf*`` record that carries them."""

    label: str
    values: np.ndarray
    array_of: str  # "ArrayOfDouble" or "ArrayOfLong"

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes)


@dataclass
class Timing:
    """Best total time of an operation, its stage split and the peak RSS growth."""

    total: float
    stages: list[tuple[str, float]]
    peak_mib: float | None


@dataclass
class Row:
    """One line of the result table: a codec on a payload."""

    case: str
    path: str
    encode: Timing | None = None
    decode: Timing | None = None
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# measurement helpers


class PeakRss:
    """Peak resident-set growth of this process around an operation (Linux only)."""

    def __init__(self) -> None:
        self.available = reset_peak() and status_bytes("VmHWM") is not None

    def start(self) -> int | None:
        if not self.available or not reset_peak():
            return None
        return status_bytes("VmRSS")

    def stop(self, base: int | None) -> float | None:
        if base is None:
            return None
        peak = status_bytes("VmHWM")
        return None if peak is None else max(0, peak - base) / MIB


PEAK = PeakRss()


def run_stages(stages: Sequence[Stage], value: Any, reps: int) -> tuple[Timing, Any]:
    """Run ``stages`` in sequence on ``value``, ``reps`` times; keep the fastest repetition."""
    best: Timing | None = None
    result: Any = None
    for rep in range(reps):
        result = None
        gc.collect()
        base = PEAK.start() if rep == 0 else None
        splits: list[tuple[str, float]] = []
        gc.disable()
        try:
            current = value
            for name, fn in stages:
                t0 = time.perf_counter()
                current = fn(current)
                splits.append((name, time.perf_counter() - t0))
        finally:
            gc.enable()
        peak = PEAK.stop(base) if rep == 0 else None
        total = sum(t for _, t in splits)
        if best is None or total < best.total:
            best = Timing(total, splits, best.peak_mib if best else None)
        if peak is not None:
            best.peak_mib = peak
        result = current
    assert best is not None
    return best, result


def check_equal(decoded: Any, case: Case, path: str) -> None:
    """Fail loudly if a codec did not give back the input array."""
    arr = np.asarray(decoded)
    if arr.dtype != case.values.dtype or not np.array_equal(arr, case.values):
        raise SystemExit(f"{path} decode of {case.label} does not give back the input array")


# ---------------------------------------------------------------------------------------------
# the codecs


def etp_sync_rows(case: Case, reps: int) -> tuple[list[Row], bytes]:
    """Our codec: header + body frame; decode ends with the numpy array.

    A second row times ``encode_message_parts``, the list of buffers the websocket transport
    writes out (array payloads by reference), which is what sending really costs.
    """
    from etp_sync import codec
    from etp_sync.schema import datatypes, messages

    dt = datatypes.DataArrayTypes
    array = getattr(datatypes, case.array_of)(values=case.values)
    body = messages.DataArray.PutDataArrays(
        data_arrays={
            "0": dt.PutDataArraysType(
                uid=dt.DataArrayIdentifier(uri=URI, path_in_resource=PATH_IN_RESOURCE),
                array=dt.DataArray(
                    dimensions=[case.values.size], data=datatypes.AnyArray(item=array)
                ),
            )
        }
    )
    header = codec.MessageHeader(
        protocol=9, message_type=4, correlation_id=0, message_id=2, message_flags=2
    )
    enc, frame = run_stages(
        [("encode_message", lambda b: codec.encode_message(header, b))], body, reps
    )

    def decode(f: bytes) -> Any:
        message: Any = codec.decode_message(f)[1]
        return message.data_arrays["0"].array.data.item.values

    dec, values = run_stages([("decode_message", decode)], frame, reps)
    check_equal(values, case, "etp_sync")
    parts_enc, parts = run_stages(
        [("encode_message_parts", lambda b: codec.encode_message_parts(header, b))], body, reps
    )
    if b"".join(parts) != frame:
        raise SystemExit(f"encode_message_parts of {case.label} differs from encode_message")
    del parts
    note = "encode_message_parts (buffers for the transport, no join); no decode"
    return [
        Row(case.label, "etp_sync", enc, dec),
        Row(case.label, "etp_sync parts", parts_enc, None, note=note),
    ], frame


def load_avpr_schemas(path: Path) -> dict[str, Any]:
    """Parse every type of the official ETP 1.2 protocol file with fastavro, dependencies first."""
    import fastavro

    types = {f"{t['namespace']}.{t['name']}": t for t in json.loads(path.read_text())["types"]}
    named: dict[str, Any] = {}
    parsed: dict[str, Any] = {}

    def parse(name: str) -> None:
        if name in parsed:
            return
        for dep in types[name].get("depends", []):
            parse(dep)
        parsed[name] = fastavro.parse_schema(types[name], named)

    for name in types:
        parse(name)
    return parsed


def fastavro_row(case: Case, reps: int, schema: Any) -> tuple[Row, bytes]:
    """fastavro with plain dicts and Python lists; list conversions are stages of their own."""
    import fastavro

    branch = f"{NS}.{case.array_of}"
    dtype = case.values.dtype

    def to_record(values: list[Any]) -> dict[str, Any]:
        return {
            "dataArrays": {
                "0": {
                    "uid": {"uri": URI, "pathInResource": PATH_IN_RESOURCE},
                    "array": {
                        "dimensions": [len(values)],
                        "data": {"item": (branch, {"values": values})},
                    },
                    "customData": {},
                }
            }
        }

    def write(values: list[Any]) -> bytes:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema, to_record(values))
        return buf.getvalue()

    def read(data: bytes) -> list[Any]:
        rec: Any = fastavro.schemaless_reader(
            io.BytesIO(data), schema, None, return_record_name=True
        )
        name, item = rec["dataArrays"]["0"]["array"]["data"]["item"]
        assert name == branch
        return item["values"]

    enc, body = run_stages(
        [("tolist", np.ndarray.tolist), ("schemaless_writer", write)], case.values, reps
    )
    dec, values = run_stages(
        [("schemaless_reader", read), ("np.array", lambda v: np.array(v, dtype=dtype))], body, reps
    )
    check_equal(values, case, "fastavro")
    return Row(case.label, "fastavro", enc, dec, note="body only"), body


def pyetp_available() -> str | None:
    """None if pyetp's codec imports, else the reason it does not."""
    try:
        import energistics.avro_handler  # noqa: F401
        import pyetp  # noqa: F401
    except Exception as exc:  # any import failure means: skip
        return f"{type(exc).__name__}: {exc}"
    return None


def pyetp_row(case: Case, reps: int) -> tuple[Row, bytes]:
    """pyetp 0.0.58's codec (``energistics.avro_handler``) with its pydantic models."""
    from energistics.avro_handler import decode_message, encode_message
    from energistics.etp.v12.datatypes import any_array, array_of_double, array_of_long
    from energistics.etp.v12.datatypes.data_array_types import (
        DataArray,
        PutDataArraysType,
    )
    from energistics.etp.v12.datatypes.data_array_types import (
        DataArrayIdentifier as _DataArrayIdentifier,
    )
    from energistics.etp.v12.datatypes.message_header import MessageHeader, MessageHeaderFlags
    from energistics.etp.v12.protocol.data_array import PutDataArrays as _PutDataArrays

    # pydantic models built with snake_case field names (accepted at runtime, populate_by_name);
    # their stubs know only the camelCase aliases, hence Any for mypy.
    DataArrayIdentifier: Any = _DataArrayIdentifier
    PutDataArrays: Any = _PutDataArrays

    array_cls = {
        "ArrayOfDouble": array_of_double.ArrayOfDouble,
        "ArrayOfLong": array_of_long.ArrayOfLong,
    }[case.array_of]
    body = PutDataArrays(
        data_arrays={
            "0": PutDataArraysType(
                uid=DataArrayIdentifier(uri=URI, path_in_resource=PATH_IN_RESOURCE),
                array=DataArray(
                    dimensions=[case.values.size],
                    data=any_array.AnyArray(item=array_cls(values=case.values)),
                ),
            )
        }
    )
    header = MessageHeader.from_etp_protocol_body(
        body, message_id=2, message_flags=MessageHeaderFlags.FIN
    )
    enc, frame = run_stages([("encode_message", lambda b: encode_message(header, b))], body, reps)

    def decode(f: bytes) -> Any:
        message: Any = decode_message(f)[1]
        return message.data_arrays["0"].array.data.item.values

    dec, values = run_stages([("decode_message", decode)], frame, reps)
    check_equal(values, case, "pyetp")
    return Row(case.label, "pyetp", enc, dec), frame


def memcpy_row(case: Case, reps: int) -> Row:
    """Reference copies of the payload's bytes."""
    src = case.values
    dst = np.empty_like(src)
    dst[...] = 0  # fault the pages in: np.copyto then measures the copy alone
    enc, _ = run_stages([("np.copyto", lambda s: np.copyto(dst, s))], src, reps)
    raw = bytearray(src.data)
    dec, copied = run_stages([("bytes()", bytes)], raw, reps)
    assert len(copied) == src.nbytes
    del copied, raw
    row = Row(case.label, "memcpy", note="encode = np.copyto (preallocated), decode = bytes()")
    row.encode, row.decode = enc, dec
    return row


# ---------------------------------------------------------------------------------------------
# report


def ms(t: Timing | None) -> str:
    return "-" if t is None else f"{t.total * 1000:,.1f}"


def mibs(t: Timing | None, nbytes: int) -> str:
    return "-" if t is None or t.total <= 0 else f"{nbytes / MIB / t.total:,.0f}"


def peak(t: Timing | None) -> str:
    return "" if t is None or t.peak_mib is None else f"{t.peak_mib:,.0f}"


def split(t: Timing | None) -> str:
    if t is None or len(t.stages) < 2:
        return ""
    return " + ".join(f"{name} {s * 1000:,.0f}" for name, s in t.stages)


def table(rows: list[Row], cases: dict[str, Case]) -> str:
    head = (
        "| payload | codec | encode ms | decode ms | encode MiB/s | decode MiB/s "
        "| peak MiB enc / dec | stages (ms) |\n"
        "|---|---|--:|--:|--:|--:|--:|---|\n"
    )
    lines = []
    for r in rows:
        n = cases[r.case].nbytes
        stages = "; ".join(s for s in (split(r.encode), split(r.decode), r.note) if s)
        lines.append(
            f"| {r.case} | {r.path} | {ms(r.encode)} | {ms(r.decode)} | {mibs(r.encode, n)} "
            f"| {mibs(r.decode, n)} | {peak(r.encode)} / {peak(r.decode)} | {stages} |"
        )
    return head + "\n".join(lines) + "\n"


def verdicts(rows: list[Row], pyetp_note: str | None) -> list[str]:
    """One line per target: the measured ratio and MET / NOT MET."""
    by = {(r.case, r.path): r for r in rows}
    out: list[str] = []

    def line(text: str, ratio: float | None, ok: bool | None) -> None:
        if ratio is None or ok is None:
            out.append(f"- {text}: not measured ({pyetp_note or 'missing'})")
        else:
            out.append(f"- {text}: **{ratio:.2f}x** -> {'MET' if ok else 'NOT MET'}")

    def get(case: str, path: str, op: str) -> float | None:
        r = by.get((case, path))
        t = getattr(r, op) if r else None
        return None if t is None else t.total

    copyto, fresh = get("float64", "memcpy", "encode"), get("float64", "memcpy", "decode")
    for path, op in (("etp_sync", "encode"), ("etp_sync parts", "encode"), ("etp_sync", "decode")):
        ours = get("float64", path, op)
        if ours is None or copyto is None or fresh is None:
            continue
        what = {"etp_sync parts": "encode_message_parts", "etp_sync": f"{op}_message"}[path]
        for ref_name, ref in (("np.copyto", copyto), ("bytes() copy", fresh)):
            r = ours / ref
            line(
                f"float64 {what} time / memcpy ({ref_name}) time, target <= {FLOAT_MEMCPY_MAX:g}",
                r,
                r <= FLOAT_MEMCPY_MAX,
            )
    for case, target in (
        ("float64", FLOAT_PYETP_MIN),
        ("int64 full", INT_PYETP_MIN),
        ("int64 0..1000", INT_PYETP_MIN),
    ):
        for op in ("encode", "decode"):
            ours, theirs = get(case, "etp_sync", op), get(case, "pyetp", op)
            speedup = None if ours is None or theirs is None else theirs / ours
            line(
                f"{case} {op}: pyetp time / etp_sync time, target >= {target:g}",
                speedup,
                None if speedup is None else speedup >= target,
            )
    return out


# ---------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-mb", type=int, default=64, help="payload size in MiB (64)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions, fast paths (5)")
    parser.add_argument("--slow-reps", type=int, default=2, help="repetitions, fastavro/pyetp (2)")
    parser.add_argument("--skip-pyetp", action="store_true", help="do not run pyetp's codec")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO))
    n = args.size_mb * MIB // 8
    rng = np.random.default_rng(20240612)
    info = np.iinfo(np.int64)
    cases = {
        c.label: c
        for c in (
            Case("float64", rng.random(n), "ArrayOfDouble"),
            Case("int64 full", rng.integers(info.min, info.max, n, endpoint=True), "ArrayOfLong"),
            Case("int64 0..1000", rng.integers(0, 1000, n, endpoint=True), "ArrayOfLong"),
        )
    }
    pyetp_note = "skipped: --skip-pyetp" if args.skip_pyetp else None
    if pyetp_note is None and (why := pyetp_available()) is not None:
        pyetp_note = f"skipped: pyetp not importable ({why})"
    if pyetp_note:
        print(f"pyetp {pyetp_note}", flush=True)
    schema = load_avpr_schemas(AVPR)[PUT_DATA_ARRAYS]

    rows: list[Row] = []
    wire: list[str] = []
    for case in cases.values():
        print(f"{case.label}: {n:,} values, {case.nbytes / MIB:g} MiB", flush=True)
        rows.append(memcpy_row(case, args.reps))
        ours, frame = etp_sync_rows(case, args.reps)
        rows.extend(ours)
        row, body = fastavro_row(case, args.slow_reps, schema)
        rows.append(row)
        same = frame.endswith(body) and len(frame) - len(body) < 16
        wire.append(f"{case.label}: frame {len(frame):,} bytes; fastavro body identical: {same}")
        del body
        if pyetp_note is None:
            row, pframe = pyetp_row(case, args.slow_reps)
            rows.append(row)
            wire[-1] += f"; pyetp frame identical: {pframe == frame}"
            del pframe
        del frame

    command = f"{sys.executable} bench/codec.py"
    if argv := sys.argv[1:] if argv is None else list(argv):
        command += " " + " ".join(argv)
    lines = [
        "## Codec: 64 MB PutDataArrays (bench/codec.py)"
        if args.size_mb == 64
        else f"## Codec: {args.size_mb} MiB PutDataArrays (bench/codec.py)",
        "",
        f"Command: `{command}` (from the repository root)",
        "",
        f"Machine: {machine_note(('fastavro', 'pyetp'))}. Best of {args.reps} repetitions "
        f"({args.slow_reps} for fastavro and pyetp); {n:,} values per payload "
        f"({args.size_mb} MiB as int64/float64). MiB/s are of the raw array bytes. "
        "peak = growth of the process's peak RSS during one run of the operation.",
        "",
        table(rows, cases),
        "Wire check: " + "; ".join(wire) + ".",
        "",
        "Targets:",
        "",
        *verdicts(rows, pyetp_note),
        "",
        *NOTES,
        "",
    ]
    if pyetp_note:
        lines.append(f"pyetp: {pyetp_note}.")
        lines.append("")
    section = "\n".join(lines)
    print()
    print(section)
    if not args.no_write:
        path = write_section("codec", section)
        print(f"wrote the codec section of {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
