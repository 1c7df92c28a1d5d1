"""Decoding frames: bytes to ``(header, extension, body)``, with the header alone readable for
routing (:func:`peek_header`).

:func:`decode_frame` reads the usual frame by a short path and hands every other one (gzipped,
with a header extension, DataArray bodies, unusual header values, bad bytes) to
:func:`_decode_frame`, which also words what is wrong with a bad frame.
"""

from __future__ import annotations

import struct
from typing import Any

from ..errors import ErrorCode, ETPDecodeError
from ..schema import Record, message_class
from ._arraycodec import ARRAY_CODEC
from ._compiled import COMPILED_CODEC, CompiledCodec
from ._compression import _gunzip, is_compressible
from ._header import ARRAY_PROTOCOL, MessageFlags, MessageHeader, MessageHeaderExtension
from ._numeric import read_header, read_varint

__all__ = ["DEFAULT_MAX_SIZE", "decode_frame", "decode_message", "peek_header"]

_HEADER = "Energistics.Etp.v12.Datatypes.MessageHeader"
_EXTENSION = "Energistics.Etp.v12.Datatypes.MessageHeaderExtension"
DEFAULT_MAX_SIZE = 1 << 31  # 2 GiB: the most a single websocket message may sensibly carry
_COMPRESSED = MessageFlags.COMPRESSED
_HEADER_EXTENSION = MessageFlags.HEADER_EXTENSION


def peek_header(frame: bytes | bytearray | memoryview) -> tuple[int, int, int, int, int] | None:
    """``(protocol, messageType, correlationId, messageId, flags)`` of a frame; None if unreadable.

    Reads only the five header varints, so a reply that cannot be decoded can still be routed to
    the request it answers (or refused with the right correlation id).
    """
    try:
        return read_header(frame)[0]
    except (ETPDecodeError, IndexError, ValueError):
        return None


def decode_frame(
    frame: bytes | bytearray | memoryview, *, max_size: int = DEFAULT_MAX_SIZE
) -> tuple[MessageHeader, MessageHeaderExtension | None, Record]:
    """Decode a frame into ``(header, extension or None, body)``.

    Numeric arrays of DataArray messages may be zero-copy views into ``frame``; keep ``frame``
    unchanged while they are in use (the connection hands over a fresh buffer per message).

    The usual frame (``bytes`` or ``bytearray``; protocol, message type and flags one byte
    each, flags FIN or Acknowledge only; not a DataArray body) is read here, without the
    general path's header copy and per-frame lookups; :func:`_decode_frame` reads every
    other frame and words the errors of bad ones.
    """
    if (frame.__class__ is bytearray or frame.__class__ is bytes) and 0 < len(frame) <= max_size:
        p = t = f = 0x80
        try:
            p, t = frame[0], frame[1]
            # The ids, one or two bytes each inline (ids under 8192), else read_varint.
            b = frame[2]
            if b < 0x80:
                correlation_id, pos = (b >> 1) ^ -(b & 1), 3
            elif (c := frame[3]) < 0x80:
                z = (b & 0x7F) | (c << 7)
                correlation_id, pos = (z >> 1) ^ -(z & 1), 4
            else:
                correlation_id, pos = read_varint(frame, 2)
            b = frame[pos]
            if b < 0x80:
                message_id, pos = (b >> 1) ^ -(b & 1), pos + 1
            elif (c := frame[pos + 1]) < 0x80:
                z = (b & 0x7F) | (c << 7)
                message_id, pos = (z >> 1) ^ -(z & 1), pos + 2
            else:
                message_id, pos = read_varint(frame, pos)
            f = frame[pos]
        except (IndexError, ETPDecodeError):
            f = 0x80  # not a usual frame
        if f < 0x80 and p < 0x80 and t < 0x80 and not f & 1 and not (f >> 1) & ~_PLAIN_FLAGS:
            protocol, message_type = (p >> 1) ^ -(p & 1), (t >> 1) ^ -(t & 1)
            decode = _INCOMING.get((protocol, message_type))
            if decode is None:
                decode = _incoming(protocol, message_type)
            if decode:
                header = _NEW(MessageHeader)
                header.protocol = protocol
                header.message_type = message_type
                header.correlation_id = correlation_id
                header.message_id = message_id
                header.message_flags = f >> 1
                data = frame if frame.__class__ is bytes else bytes(frame)
                try:
                    body, end = decode(data, pos + 1)
                except (*_DECODE_ERRORS, MemoryError):
                    end = -1  # the general path words the error
                if end == len(data):
                    return header, None, body
    return _decode_frame(frame, max_size)


_INCOMING: dict[tuple[int, int], Any] = {}
_NEW = object.__new__
_PLAIN_FLAGS = MessageFlags.FIN | MessageFlags.ACKNOWLEDGE
# What the generated decoders raise for bad bytes besides ETPDecodeError (see _decode_record).
_DECODE_ERRORS = (IndexError, struct.error, ValueError, KeyError, TypeError, OverflowError)


def _incoming(protocol: int, message_type: int) -> Any:
    """The decoder of the body class of a header's numbers, remembered; False for DataArray
    bodies (decoded in place by :func:`_decode_frame`). Raises like
    :func:`~etp_sync.schema.message_class` for unknown numbers."""
    cls = message_class(protocol, message_type)
    array = protocol == ARRAY_PROTOCOL and cls.etp_protocol == ARRAY_PROTOCOL
    found = False if array else COMPILED_CODEC.decoder(cls.etp_full_name)
    _INCOMING[(protocol, message_type)] = found
    return found


def _decode_frame(
    frame: bytes | bytearray | memoryview, max_size: int
) -> tuple[MessageHeader, MessageHeaderExtension | None, Record]:
    """:func:`decode_frame` for any frame (compressed, with a header extension, DataArray
    bodies, any header values), with the checks that word what is wrong with a bad one."""
    buf = memoryview(frame).cast("B")
    if len(buf) > max_size:
        raise ETPDecodeError(
            f"frame of {len(buf)} bytes exceeds the maximum of {max_size}",
            code=ErrorCode.EMAXSIZE_EXCEEDED,
        )
    if len(buf) == 0:
        raise ETPDecodeError("empty frame")
    # Five varints of at most 10 bytes each: decoded from a copy of the frame's first 50 bytes.
    header, pos = _decode_record(bytes(buf[:50]), _HEADER, 0, whole=False)
    protocol, message_type, flags = header.protocol, header.message_type, header.message_flags
    cls = message_class(protocol, message_type)
    array = protocol == ARRAY_PROTOCOL and cls.etp_protocol == ARRAY_PROTOCOL
    data: Any = buf
    if flags & _COMPRESSED:
        if not is_compressible(protocol, message_type):
            raise ETPDecodeError(
                f"compressed {cls.etp_name}: ETP forbids compressing it",
                code=ErrorCode.ECOMPRESSION_NOTSUPPORTED,
            )
        data, pos = _gunzip(buf[pos:], max_size), 0
        if array:
            data = memoryview(data)
    elif not array:  # the generated decoders read bytes (a copy costs less than a view's use)
        data = frame if type(frame) is bytes else bytes(buf)
    # DataArray bodies are read from a view of the frame: their arrays are not copied.
    codec = ARRAY_CODEC if array else COMPILED_CODEC
    extension = None
    if flags & _HEADER_EXTENSION:
        extension, pos = _decode_record(data, _EXTENSION, pos, whole=False, codec=codec)
    body, _ = _decode_record(data, cls.etp_full_name, pos, whole=True, codec=codec)
    return header, extension, body


def _decode_record(
    data: Any, full_name: str, pos: int, *, whole: bool, codec: CompiledCodec = COMPILED_CODEC
) -> tuple[Any, int]:
    """A record of type ``full_name`` read by ``codec`` from ``data`` at ``pos``, and the offset
    after it (which must be the end of ``data`` when ``whole``)."""
    try:
        value, end = codec.decoder(full_name)(data, pos)
    except ETPDecodeError:
        raise
    except (IndexError, struct.error):
        raise ETPDecodeError(f"truncated {_short(full_name)}") from None
    except (*_DECODE_ERRORS, MemoryError) as exc:
        raise ETPDecodeError(
            f"cannot decode {_short(full_name)}: {type(exc).__name__}: {exc}"
        ) from None
    if whole and end != len(data):
        raise ETPDecodeError(f"{len(data) - end} trailing bytes after {_short(full_name)}")
    return value, end


def _short(full_name: str) -> str:
    return full_name.rsplit(".", 1)[1]


def decode_message(
    frame: bytes | bytearray | memoryview, *, max_size: int = DEFAULT_MAX_SIZE
) -> tuple[MessageHeader, Record]:
    """Decode one websocket message into ``(MessageHeader, message)``.

    Raises :class:`~etp_sync.errors.ETPDecodeError` for anything that is not a valid ETP 1.2
    frame: truncated or garbled bytes, unknown protocol or message type, bad union or enum index,
    lengths past the end, trailing bytes, or (compressed) bodies larger than ``max_size``.
    """
    header, _extension, body = decode_frame(frame, max_size=max_size)
    return header, body
