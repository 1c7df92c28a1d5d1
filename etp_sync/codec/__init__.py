"""ETP 1.2 frames: bytes to ``(MessageHeader, message)`` and back. No I/O.

A frame is the Avro binary ``MessageHeader``, an optional ``MessageHeaderExtension`` (flag 0x20),
then the body record named by ``(protocol, messageType)``; everything after the header may be
gzip-compressed (flag 0x08). Bodies go through the encoders and decoders generated per record
type in :mod:`._compiled`: ordinary ones copied in and out of ``bytes``, the DataArray protocol's
(:mod:`._arraycodec`) with their arrays left in place as numpy buffers. A sender that must know
a body's size before sending it (to split a reply) encodes it once (:func:`encode_body`,
:func:`encode_within`) and frames those bytes with a header later (:func:`frame_parts`).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import Any, Final

from ..errors import ErrorCode, ETPDecodeError, ETPEncodeError, ETPError
from ..schema import Record, datatypes, message_class
from ._arraycodec import ARRAY_CODEC, Pieces
from ._compiled import COMPILED_CODEC, CompiledCodec
from ._numeric import _SMALL_VARINTS, read_header, read_varint, write_varint
from ._varint_arrays import compiled as compiled_varints

__all__ = [
    "DEFAULT_MAX_SIZE",
    "EncodedBody",
    "MessageFlags",
    "MessageFramer",
    "MessageHeader",
    "compiled_varints",
    "decode_frame",
    "decode_message",
    "encode_body",
    "encode_message",
    "encode_message_parts",
    "encode_within",
    "encoded_body_size",
    "frame_parts",
    "is_compressible",
    "peek_header",
    "worth_compressing",
]

MessageHeader = datatypes.MessageHeader
MessageHeaderExtension = datatypes.MessageHeaderExtension
_HEADER = "Energistics.Etp.v12.Datatypes.MessageHeader"
_EXTENSION = "Energistics.Etp.v12.Datatypes.MessageHeaderExtension"
DEFAULT_MAX_SIZE = 1 << 31  # 2 GiB: the most a single websocket message may sensibly carry
ARRAY_PROTOCOL = 9


class MessageFlags:
    """``MessageHeader.messageFlags`` bits of ETP 1.2 (0x01 and 0x04 are ETP 1.1 only).

    Plain ``int`` constants, not an ``IntFlag``: every message tests a flag or two, and an
    IntFlag operation costs a microsecond where an int operation costs nanoseconds.
    """

    NONE: Final = 0
    FIN: Final = 0x02
    COMPRESSED: Final = 0x08
    ACKNOWLEDGE: Final = 0x10
    HEADER_EXTENSION: Final = 0x20


def is_compressible(protocol: int, message_type: int) -> bool:
    """ETP forbids compressing Core (0) messages, ProtocolException and Acknowledge."""
    return protocol != 0 and message_type not in (1000, 1001)


_BYTE_STRINGS = (bytes, bytearray)


def worth_compressing(parts: Sequence[Any], *, sample: int = 1 << 14, ratio: float = 0.75) -> bool:
    """Guess cheaply whether gzip pays: compress a sample of the body and look at the ratio.

    gzip level 1 costs ~1-1.6 s per 64 MB here. Random floats shrink by ~5% and noisy surfaces
    by ~13%: not worth it. Only bodies whose sample shrinks by at least 25% (smooth or
    repetitive arrays, XML, lists of URIs) are compressed. A 16 KiB sample gives the same
    verdicts as 64 KiB on random, noisy, smooth, integer and XML bodies at a tenth of the cost
    (~0.1 ms), which matters when every 1 MiB message is sampled.
    """
    if _size(parts) < 1024:
        return False
    taken = bytearray()
    for p in parts:
        view = memoryview(p).cast("B")
        taken += view[: sample - len(taken)]
        if len(taken) >= sample:
            break
    return len(zlib.compress(bytes(taken), 1)) < ratio * len(taken)


def _size(parts: Sequence[Any]) -> int:
    """Total bytes of a list of buffers."""
    return sum(len(p) if type(p) in _BYTE_STRINGS else memoryview(p).nbytes for p in parts)


def _gzip(data: bytes | bytearray | memoryview) -> bytes:
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)  # wbits 31 = gzip container, level 1
    return comp.compress(data) + comp.flush()


# worth_compressing's defaults; and what gzip's container (10-byte header, 8-byte trailer) adds
# over zlib's (2 + 4): the deflate stream of the same bytes at the same level is the same in both.
_SAMPLE = 1 << 14
_RATIO = 0.75
_GZIP_OVER_ZLIB = 12


def _gzip_if_worth(parts: Sequence[Any], size: int) -> bytes | None:
    """The body (``size`` bytes in ``parts``) gzipped when :func:`worth_compressing` says it
    pays, else None. A body no bigger than the sample is its own sample: it is compressed once,
    and the verdict read off that gzip (the same as the sample's), not compressed twice."""
    if size < 1024:
        return None
    if size > _SAMPLE:
        if not worth_compressing(parts):
            return None
        return _gzip(parts[0] if len(parts) == 1 else b"".join(parts))
    gzipped = _gzip(parts[0] if len(parts) == 1 else b"".join(parts))
    return gzipped if len(gzipped) - _GZIP_OVER_ZLIB < _RATIO * size else None


def _gunzip(data: memoryview, max_size: int) -> bytes:
    """Inflate a gzip body, streamed: never more than ``max_size`` + 1 bytes are produced, so a
    small bomb costs at most the limit (EMAXSIZE_EXCEEDED), not what it would expand to."""
    dec = zlib.decompressobj(31)
    try:
        out = dec.decompress(data, max_size + 1)
        if len(out) <= max_size and not dec.unconsumed_tail:
            out += dec.flush()
    except zlib.error as exc:
        raise ETPDecodeError(f"corrupt gzip body: {exc}") from None
    if len(out) > max_size or dec.unconsumed_tail:
        raise ETPDecodeError(
            f"compressed body expands past the maximum message size of {max_size} bytes",
            code=ErrorCode.EMAXSIZE_EXCEEDED,
        )
    if not dec.eof:
        raise ETPDecodeError("truncated gzip body")
    return out


def _encode_header(header: MessageHeader, flags: int) -> bytes:
    protocol, message_type = header.protocol, header.message_type
    if -64 <= protocol < 64 and -64 <= message_type < 64 and 0 <= flags < 64:  # the usual case
        return (
            _SMALL_VARINTS[protocol + 64]
            + _SMALL_VARINTS[message_type + 64]
            + write_varint(header.correlation_id)
            + write_varint(header.message_id)
            + _SMALL_VARINTS[flags + 64]
        )
    return (
        write_varint(protocol)
        + write_varint(message_type)
        + write_varint(header.correlation_id)
        + write_varint(header.message_id)
        + write_varint(flags)
    )


# What a field value of the wrong type or range makes the encoders raise.
_ENCODE_ERRORS = (TypeError, ValueError, AttributeError, KeyError, OverflowError, struct.error)
_COMPRESSED = MessageFlags.COMPRESSED
_HEADER_EXTENSION = MessageFlags.HEADER_EXTENSION


def _encode_into(body: Record, out: bytearray, *, counting: bool = False) -> bytearray:
    """Encode ``body`` into ``out`` (a fresh :class:`Pieces` for a DataArray body, which is
    returned); unusable field values raise ETPEncodeError.

    ``counting``: a DataArray body's arrays are only sized, not encoded.
    """
    if not isinstance(body, Record):
        raise ETPEncodeError(f"not an ETP record: {type(body).__name__}")
    try:
        if body.etp_protocol == ARRAY_PROTOCOL:
            out = Pieces(counting=counting)
            ARRAY_CODEC.encoder(body.etp_full_name)(body, out)
        else:
            COMPILED_CODEC.encoder(body.etp_full_name)(body, out)
    except ETPError:
        raise
    except _ENCODE_ERRORS as exc:
        raise ETPEncodeError(f"cannot encode {body.etp_name}: {exc}") from exc
    return out


def _encode_body(body: Record, out: list[Any]) -> None:
    """Append the encoded ``body`` to ``out`` as buffers whose concatenation is its Avro binary
    (a DataArray body's big payloads are references to its arrays)."""
    encoded = _encode_into(body, bytearray())
    if type(encoded) is Pieces:
        out += encoded.parts()
    else:
        out.append(encoded)


class EncodedBody:
    """A message body encoded once: the record, its buffers and their total size in bytes.

    A sender that must know a reply's size (to split it under the negotiated maximum) encodes it
    with :func:`encode_body` or :func:`encode_within`, then frames the same buffers with a header
    by :func:`frame_parts`: the body is encoded once. Array payloads stay references to the
    record's arrays, as with :func:`encode_message_parts`.
    """

    __slots__ = ("body", "parts", "size")

    def __init__(self, body: Record, parts: list[Any]) -> None:
        self.body = body
        self.parts = parts
        self.size = _size(parts)

    def to_bytes(self) -> bytes:
        """The encoded body as one ``bytes`` (Avro binary of the record alone, no header)."""
        return b"".join(self.parts)


def encode_body(body: Record) -> EncodedBody:
    """Encode a record (a message body, or any ETP datatype) once, without a header."""
    parts: list[Any] = []
    _encode_body(body, parts)
    return EncodedBody(body, parts)


def encode_within(body: Record, limit: int) -> EncodedBody | None:
    """``body`` encoded, or None when its encoding takes more than ``limit`` bytes.

    A DataArray body is sized first (without encoding its arrays), so one too big is never
    encoded; other bodies are encoded and their size looked at.
    """
    if isinstance(body, Record) and body.etp_protocol == ARRAY_PROTOCOL:
        return encode_body(body) if encoded_body_size(body) <= limit else None
    encoded = encode_body(body)
    return encoded if encoded.size <= limit else None


def _check_message(header: MessageHeader, body: Record) -> None:
    """Raise ETPEncodeError unless ``header`` can carry ``body`` (and names its type)."""
    if not isinstance(body, Record) or body.etp_protocol is None:
        raise ETPEncodeError(f"not an ETP message: {type(body).__name__}")
    if (header.protocol, header.message_type) != (body.etp_protocol, body.etp_message_type) and (
        body.etp_message_type not in (1000, 1001) or header.message_type != body.etp_message_type
    ):
        raise ETPEncodeError(
            f"header names ({header.protocol}, {header.message_type}) but the body is "
            f"{body.etp_name} ({body.etp_protocol}, {body.etp_message_type})"
        )


def _frame(header: MessageHeader, body_parts: list[Any], compress: bool | None) -> list[Any]:
    """The header's bytes followed by the body's buffers, gzipped when asked and allowed."""
    flags = int(header.message_flags) & ~_COMPRESSED
    if flags & _HEADER_EXTENSION:
        raise ETPEncodeError("sending a MessageHeaderExtension is not supported")
    if not is_compressible(header.protocol, header.message_type):
        pass
    elif compress is None:
        gzipped = _gzip_if_worth(body_parts, _size(body_parts))
        if gzipped is not None:
            flags |= _COMPRESSED
            body_parts = [gzipped]
    elif compress:
        flags |= _COMPRESSED
        body_parts = [_gzip(body_parts[0] if len(body_parts) == 1 else b"".join(body_parts))]
    return [_encode_header(header, flags), *body_parts]


def encode_message_parts(
    header: MessageHeader, body: Record, compress: bool | None = False
) -> list[Any]:
    """Encode a message as a list of buffers whose concatenation is the frame.

    ``compress``: True always gzips the body (level 1), False never does, None gzips it only when
    :func:`worth_compressing` says it pays.

    Large array payloads stay references to the caller's memory, so a transport can write (and
    mask) them straight into its send buffer: an array's bytes are copied once on the way out.
    ``header.message_flags`` is used as given, except that the COMPRESSED bit is set only when
    the body is actually compressed and never for messages where ETP forbids it.
    """
    _check_message(header, body)
    body_parts: list[Any] = []
    _encode_body(body, body_parts)
    return _frame(header, body_parts, compress)


def _id_varint(n: int) -> bytes:
    """:func:`write_varint` of a message or correlation id: ids are all different, so the
    common ones (under 2**20) are built directly instead of through the recent-values cache."""
    if 0 <= n < 0x100000:
        z = n << 1
        if z < 0x80:
            return _SMALL_VARINTS[n + 64]
        if z < 0x4000:
            return bytes((z & 0x7F | 0x80, z >> 7))
        return bytes((z & 0x7F | 0x80, (z >> 7) & 0x7F | 0x80, z >> 14))
    return write_varint(n)


_ZERO = _SMALL_VARINTS[64]


class MessageFramer:
    """Frames messages of one message class: what :func:`encode_message_parts` does, with the
    per-class work done once (the header's first two varints, the body's encoder, whether the
    body may be compressed) and no ``MessageHeader`` record built per message.

    A session sends many small requests of a few classes; for each it keeps one framer. The
    header it writes names ``protocol`` (the class's own unless given: ProtocolException and
    Acknowledge belong to any protocol) and the class's message type, so it always matches the
    body (which :func:`encode_message_parts` checks per message).
    """

    __slots__ = ("_array", "_compressible", "_encode", "_name", "_prefix", "message_class")

    def __init__(self, cls: type[Record], protocol: int | None = None) -> None:
        if not (isinstance(cls, type) and issubclass(cls, Record)) or cls.etp_protocol is None:
            raise ETPEncodeError(f"not an ETP message class: {cls!r}")
        message_type = cls.etp_message_type
        assert message_type is not None
        if protocol is None:
            protocol = cls.etp_protocol
        elif protocol != cls.etp_protocol and message_type not in (1000, 1001):
            raise ETPEncodeError(
                f"{cls.etp_name} ({cls.etp_protocol}, {message_type}) cannot be sent under "
                f"protocol {protocol}"
            )
        self.message_class = cls
        self._name = cls.etp_name
        self._prefix = write_varint(protocol) + write_varint(message_type)
        self._compressible = is_compressible(protocol, message_type)
        self._array = cls.etp_protocol == ARRAY_PROTOCOL
        self._encode = None if self._array else COMPILED_CODEC.encoder(cls.etp_full_name)

    def parts(
        self,
        body: Record,
        correlation_id: int,
        message_id: int,
        flags: int,
        compress: bool | None = False,
    ) -> tuple[list[Any], int]:
        """The frame of ``body`` (an instance of :attr:`message_class`) as a list of buffers,
        and their total size: the same bytes as :func:`encode_message_parts` with a header of
        these values (``compress`` and ``flags`` as there)."""
        if body.__class__ is not self.message_class:
            raise ETPEncodeError(
                f"a {self._name} framer was given {type(body).__name__}, not {self._name}"
            )
        if flags & _HEADER_EXTENSION:
            raise ETPEncodeError("sending a MessageHeaderExtension is not supported")
        flags &= ~_COMPRESSED
        encode = self._encode
        if encode is None:
            body_parts: list[Any] = []
            _encode_body(body, body_parts)
            size = _size(body_parts)
        else:
            out = bytearray()
            try:
                encode(body, out)
            except ETPError:
                raise
            except _ENCODE_ERRORS as exc:
                raise ETPEncodeError(f"cannot encode {self._name}: {exc}") from exc
            body_parts = [out]
            size = len(out)
        if not self._compressible:
            pass
        elif compress is None:
            gzipped = _gzip_if_worth(body_parts, size)
            if gzipped is not None:
                flags |= _COMPRESSED
                body_parts, size = [gzipped], len(gzipped)
        elif compress:
            flags |= _COMPRESSED
            body_parts = [_gzip(body_parts[0] if len(body_parts) == 1 else b"".join(body_parts))]
            size = len(body_parts[0])
        header = (
            self._prefix
            + (_id_varint(correlation_id) if correlation_id else _ZERO)  # requests: 0
            + _id_varint(message_id)
            + (_SMALL_VARINTS[flags + 64] if 0 <= flags < 64 else write_varint(flags))
        )
        return [header, *body_parts], len(header) + size


def frame_parts(
    header: MessageHeader, encoded: EncodedBody, compress: bool | None = False
) -> list[Any]:
    """What :func:`encode_message_parts` returns for ``encoded.body``, from its encoded buffers
    (the same bytes; the body is not encoded again)."""
    _check_message(header, encoded.body)
    return _frame(header, encoded.parts, compress)


def encoded_body_size(body: Record) -> int:
    """Bytes of ``body`` on the wire (uncompressed, without the header).

    DataArray bodies are sized without encoding their numeric arrays, so a sender can check a
    message against a size limit and then encode it once.
    """
    out = _encode_into(body, bytearray(), counting=True)
    return out.total if type(out) is Pieces else len(out)


def encode_message(header: MessageHeader, body: Record, compress: bool = False) -> bytes:
    """Encode one ETP message (header and body) into the bytes of one websocket message."""
    return b"".join(encode_message_parts(header, body, compress))


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
            b = frame[2]
            if b < 0x80:
                correlation_id, pos = (b >> 1) ^ -(b & 1), 3
            else:
                correlation_id, pos = read_varint(frame, 2)
            b = frame[pos]
            if b < 0x80:
                message_id, pos = (b >> 1) ^ -(b & 1), pos + 1
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
