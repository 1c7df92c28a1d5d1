"""Encoding messages: a body to its Avro binary buffers, and a header and body to a frame.

A body is encoded by the encoder generated for its type (:mod:`._compiled`), a DataArray one by
:mod:`._arraycodec` with its arrays left as references. :class:`EncodedBody` (from
:func:`encode_body`, :func:`encode_within`) lets a sender size a body before framing it with
:func:`frame_parts`; :class:`MessageFramer` frames the many small requests of one class with the
per-class work done once.
"""

from __future__ import annotations

import struct
from typing import Any

from ..errors import ETPEncodeError, ETPError
from ..schema import Record
from ._arraycodec import ARRAY_CODEC, Pieces
from ._compiled import COMPILED_CODEC
from ._compression import _gzip, _gzip_if_worth, _size, is_compressible
from ._fit import first_unfit
from ._header import ARRAY_PROTOCOL, MessageFlags, MessageHeader
from ._numeric import _SMALL_VARINTS, write_varint

__all__ = [
    "EncodedBody",
    "MessageFramer",
    "encode_body",
    "encode_message",
    "encode_message_parts",
    "encode_within",
    "encoded_body_size",
    "frame_parts",
]


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
    except ETPEncodeError as exc:
        raise encode_error(body, exc) from exc.__cause__
    except ETPError:
        raise
    except _ENCODE_ERRORS as exc:
        raise encode_error(body, exc) from exc
    return out


def encode_error(body: Record, exc: Exception) -> ETPEncodeError:
    """The ETPEncodeError for an encoder's failure on ``body``: naming the field whose value
    does not fit its type when one can be found (:func:`~etp_sync.codec._fit.first_unfit`),
    else in the encoder's own words (an ETPEncodeError of the encoder's is kept as it is)."""
    unfit = first_unfit(body)
    if unfit is not None:
        return ETPEncodeError(f"cannot encode {body.etp_name}: {unfit}")
    if isinstance(exc, ETPEncodeError):
        return exc
    return ETPEncodeError(f"cannot encode {body.etp_name}: {exc}")


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

    def __init__(self, body: Record, parts: list[Any], size: int | None = None) -> None:
        self.body = body
        self.parts = parts
        self.size = _size(parts) if size is None else size

    def to_bytes(self) -> bytes:
        """The encoded body as one ``bytes`` (Avro binary of the record alone, no header)."""
        return b"".join(self.parts)


def encode_body(body: Record) -> EncodedBody:
    """Encode a record (a message body, or any ETP datatype) once, without a header."""
    encoded = _encode_into(body, bytearray())
    if type(encoded) is Pieces:
        return EncodedBody(body, encoded.parts())
    return EncodedBody(body, [encoded], len(encoded))


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
        encode = self._encode
        if encode is None:
            body_parts: list[Any] = []
            _encode_body(body, body_parts)
            size = _size(body_parts)
        else:
            out = bytearray()
            try:
                encode(body, out)
            except ETPEncodeError as exc:
                raise encode_error(body, exc) from exc.__cause__
            except ETPError:
                raise
            except _ENCODE_ERRORS as exc:
                raise encode_error(body, exc) from exc
            body_parts = [out]
            size = len(out)
        return self.frame(body_parts, size, correlation_id, message_id, flags, compress)

    def frame(
        self,
        body_parts: list[Any],
        size: int,
        correlation_id: int,
        message_id: int,
        flags: int,
        compress: bool | None = False,
    ) -> tuple[list[Any], int]:
        """:meth:`parts` for a body encoded already: ``body_parts`` and ``size`` are an
        :class:`EncodedBody`'s (of an instance of :attr:`message_class`), framed as they are."""
        if flags & _HEADER_EXTENSION:
            raise ETPEncodeError("sending a MessageHeaderExtension is not supported")
        flags &= ~_COMPRESSED
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
