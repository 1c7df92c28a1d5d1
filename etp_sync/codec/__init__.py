"""ETP 1.2 frames: bytes to ``(MessageHeader, message)`` and back. No I/O.

A frame is the Avro binary ``MessageHeader``, an optional ``MessageHeaderExtension`` (flag 0x20),
then the body record named by ``(protocol, messageType)``; everything after the header may be
gzip-compressed (flag 0x08). Bodies go through the encoders and decoders generated per record
type in :mod:`._compiled`: ordinary ones copied in and out of ``bytes``, the DataArray protocol's
(:mod:`._arraycodec`) with their arrays left in place as numpy buffers. A sender that must know
a body's size before sending it (to split a reply) encodes it once (:func:`encode_body`,
:func:`encode_within`) and frames those bytes with a header later (:func:`frame_parts`).

The package is this face; the work is in :mod:`._encode` (frames out), :mod:`._decode` (frames
in), :mod:`._compression` (which bodies are gzipped, and gzip itself) and :mod:`._header` (flag
bits and header records, shared by both directions).
"""

from __future__ import annotations

from ._compression import _gzip as _gzip
from ._compression import _gzip_if_worth as _gzip_if_worth
from ._compression import is_compressible, worth_compressing
from ._decode import DEFAULT_MAX_SIZE, decode_frame, decode_message, peek_header
from ._encode import (
    EncodedBody,
    MessageFramer,
    encode_body,
    encode_message,
    encode_message_parts,
    encode_within,
    encoded_body_size,
    frame_parts,
)
from ._header import ARRAY_PROTOCOL as ARRAY_PROTOCOL
from ._header import MessageFlags, MessageHeader
from ._header import MessageHeaderExtension as MessageHeaderExtension
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
