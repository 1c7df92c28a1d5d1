"""The DataArray protocol's codec: the generated codec of :mod:`._compiled`, with value paths
that leave an array's bytes where they are.

Those bodies carry millions of values, which must not become one Python object each nor be
copied more than once on the way in or out. Records, unions, strings, enums and varints are the
generated code's own (one implementation of each for every message); only the payloads differ:

* encoders write into :class:`Pieces`, a ``bytearray`` into which a big payload (a numeric
  ``ArrayOf*`` record's values, ``bytes``) is not copied but cut in as a reference to the
  caller's memory, so the transport copies it once, into its send buffer; a :class:`Pieces`
  that only counts sizes a body without encoding its arrays
  (:func:`~._numeric.avro_array_numeric_size`);
* decoders read a memoryview of the frame, and numeric values come out as numpy arrays
  (:func:`~._numeric.decode_numeric_block`: floats as zero-copy views of the frame, varints
  decoded by the kernels of :mod:`._varint_arrays`).

Values received straight into their place (:mod:`._placement`) are found by this generator too
(:func:`locate_values`: a decoder that stops where the values start, from a frame's first bytes),
and decoded by this codec from the frame's bytes around them.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from .._value_casts import fitted_values
from ..errors import ETPDecodeError, ETPEncodeError
from ._compiled import NUMERIC_KIND, CompiledCodec, ValuePaths
from ._numeric import (
    avro_array_numeric_size,
    decode_numeric_block,
    encode_avro_array_numeric,
)

CUT_BYTES = 4096
"""Payloads at least this big are cut in as references; smaller ones are copied (cheaper than
another buffer for the transport to walk)."""


class Pieces(bytearray):
    """The output of a DataArray encoder: the body's bytes, with big payloads held as references.

    Encoders append to it as to any ``bytearray``; :meth:`add` takes a payload. A counting one
    (``counting=True``) only sizes payloads: :attr:`total` is then the body's size.
    """

    __slots__ = ("_extra", "_parts")

    def __init__(self, *, counting: bool = False) -> None:
        super().__init__()
        self._parts: list[Any] | None = None if counting else []
        self._extra = 0

    @property
    def counting(self) -> bool:
        """Whether payloads are only sized, not written: :attr:`total` is what counts."""
        return self._parts is None

    def add(self, payload: bytes | memoryview) -> None:
        """Append ``payload``: copied when small, else kept as a reference (which must stay
        unchanged until the parts are sent); only counted when counting."""
        n = payload.nbytes if type(payload) is memoryview else len(payload)
        if self._parts is None:
            self._extra += n
        elif n < CUT_BYTES:
            self += payload
        else:
            self._parts.append(bytes(self))
            self._parts.append(payload)
            del self[:]

    def size_payload(self, nbytes: int) -> None:
        """Count ``nbytes`` of a payload left unwritten (counting only: see :attr:`counting`)."""
        self._extra += nbytes

    @property
    def total(self) -> int:
        """Bytes of the body so far, payloads only sized included."""
        return len(self) + self._extra + sum(memoryview(p).nbytes for p in self._parts or ())

    def parts(self) -> list[Any]:
        """The body as buffers to send one after the other (the bytes since the last payload
        copied out)."""
        if self._parts is None:
            raise ValueError("a counting Pieces holds no parts")
        return [*self._parts, bytes(self)] if self else list(self._parts)


def _encode_numeric(values: Any, out: Pieces, dtype: np.dtype[Any], kind: str) -> None:
    arr = fitted_values(values, dtype, ETPEncodeError)
    if out.counting:
        out.size_payload(avro_array_numeric_size(arr, kind))
        return
    for piece in encode_avro_array_numeric(arr, kind):
        out.add(piece)


ARRAY_PATHS = ValuePaths(
    encode_numeric=_encode_numeric,
    decode_numeric=decode_numeric_block,
    in_place=True,
)
ARRAY_CODEC = CompiledCodec(ARRAY_PATHS)
"""Encoders take a :class:`Pieces`; decoders a memoryview (format ``B``) of the frame, of which
the float values they return may be views."""


class _ValuesFound(Exception):
    """Raised by a locating decoder at the first array values or ``bytes`` it meets."""

    def __init__(self, kind: str, at: int) -> None:
        super().__init__(kind, at)
        self.kind = kind
        self.at = at


def _found_numeric(
    _buf: Any, block_at: int, _pos: int, _count: int, _size: int | None, kind: str
) -> tuple[Any, int]:
    raise _ValuesFound(kind, block_at)


def _found_bytes(_buf: Any, pos: int) -> tuple[Any, int]:
    raise _ValuesFound("bytes", pos)


_LOCATE_CODEC = CompiledCodec(
    ValuePaths(
        encode_numeric=_encode_numeric,
        decode_numeric=_found_numeric,
        decode_bytes=_found_bytes,
        in_place=True,
    )
)


def locate_values(buf: memoryview, pos: int, full_name: str) -> tuple[str, int] | None:
    """Where the first numeric ``ArrayOf*`` values or ``bytes`` of a ``full_name`` record
    starting at ``pos`` lie: their Avro item kind (``"double"``, ``"long"``, ...; ``"bytes"``)
    and the offset of their count or length. None when the record has none.

    The record is read as by :data:`ARRAY_CODEC`, with every check, up to there: ``buf`` (a
    format ``B`` memoryview) may end right after that offset. ETPDecodeError when it ends before
    or its bytes are not such a record.
    """
    try:
        _LOCATE_CODEC.decoder(full_name)(buf, pos)
    except _ValuesFound as found:
        return found.kind, found.at
    except ETPDecodeError:
        raise
    except (IndexError, struct.error, ValueError, TypeError, OverflowError) as exc:
        raise ETPDecodeError(f"no {full_name.rsplit('.', 1)[1]} values located: {exc}") from None
    return None


_ARRAY_OF = {kind: f"Energistics.Etp.v12.Datatypes.{name}" for name, kind in NUMERIC_KIND.items()}


def decode_numeric_array(buf: memoryview, pos: int, kind: str) -> tuple[np.ndarray, int]:
    """The values of an Avro ``array<kind>`` at ``pos`` of ``buf`` (a format ``B`` memoryview),
    read as :data:`ARRAY_CODEC` reads an ``ArrayOf*`` record's, and the offset after them
    (ETPDecodeError when they are truncated or garbled)."""
    try:
        record, end = ARRAY_CODEC.decoder(_ARRAY_OF[kind])(buf, pos)
    except (IndexError, struct.error):
        raise ETPDecodeError(f"truncated array<{kind}> at offset {pos}") from None
    return record.values, end
