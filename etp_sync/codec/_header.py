"""The vocabulary of a frame's header, shared by encoding and decoding: its flag bits, its record
classes and the number of the protocol whose bodies go through the array codec.

Its own module so that the encoder and the decoder take these from one place without importing
each other or the package (which imports them: a cycle).
"""

from __future__ import annotations

from typing import Final

from ..schema import datatypes

__all__ = ["ARRAY_PROTOCOL", "MessageFlags", "MessageHeader", "MessageHeaderExtension"]

MessageHeader = datatypes.MessageHeader
MessageHeaderExtension = datatypes.MessageHeaderExtension
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
