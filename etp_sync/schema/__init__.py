"""ETP 1.2 types and messages as Python classes, with look-up by number and by full name.

Every record of ETP 1.2 (and of the OSDU extension protocols) is a class derived from
:class:`Record`; every enum an :class:`ETPEnum`. Classes are reachable three ways::

    from etp_sync.schema import messages, datatypes, message_class, get_type
    messages.Store.GetDataObjects            # by protocol name
    message_class(4, 1)                      # by (protocol, message type)
    get_type("Energistics.Etp.v12.Protocol.Store.GetDataObjects")
    datatypes.Object.Resource, datatypes.DataValue

``messages`` and ``datatypes`` are typed by generated stubs (``messages.pyi``,
``datatypes.pyi``): type checkers check every constructor call and field access.
"""

from __future__ import annotations

import uuid

from ..errors import ETPDecodeError, ETPInvalidArgument
from . import datatypes, messages
from ._model import ETPEnum, Float32, Int32, Record, snake_case
from ._parse import NamedType, ProtocolDef, SchemaModel
from ._registry import model, registry

__all__ = [
    "PROTOCOLS",
    "ETPEnum",
    "Float32",
    "Int32",
    "NamedType",
    "Record",
    "SchemaModel",
    "datatypes",
    "get_type",
    "message_class",
    "messages",
    "model",
    "protocol_number",
    "registry",
    "snake_case",
]

PROTOCOLS: dict[int, ProtocolDef] = model.protocols
_BY_NUMBER: dict[tuple[int, int], type[Record]] = {
    (p.number, mt): registry.classes[t.full_name]
    for p in model.protocols.values()
    for mt, t in p.messages.items()
}
_PROTOCOL_BY_NAME = {p.name: p.number for p in model.protocols.values()}


def message_class(protocol: int, message_type: int) -> type[Record]:
    """The message class for a header's ``(protocol, messageType)``.

    ProtocolException (1000) and Acknowledge (1001) are valid under every protocol number.
    Raises :class:`~etp_sync.errors.ETPDecodeError` for unknown pairs.
    """
    cls = _BY_NUMBER.get((protocol, message_type))
    if cls is None and message_type in (1000, 1001):
        cls = _BY_NUMBER[(0, message_type)]
    if cls is None:
        if protocol not in model.protocols:
            raise ETPDecodeError(f"unknown ETP protocol {protocol}", code=4)
        raise ETPDecodeError(f"unknown message type {message_type} in protocol {protocol}", code=3)
    return cls


def get_type(full_name: str) -> type[Record] | type[ETPEnum] | type[uuid.UUID]:
    """A class (record, enum, or ``uuid.UUID`` for the fixed ``Uuid``) by its Avro full name.

    For example ``get_type("Energistics.Etp.v12.Datatypes.Object.Resource")``; an unknown name
    raises :class:`~etp_sync.errors.ETPInvalidArgument`.
    """
    try:
        return registry.classes[full_name]
    except KeyError:
        raise ETPInvalidArgument(f"no ETP type named {full_name!r}") from None


def protocol_number(name_or_number: str | int) -> int:
    """Protocol number from its name (``"Store"``) or number (unknown names are invalid)."""
    if isinstance(name_or_number, int):
        return name_or_number
    try:
        return _PROTOCOL_BY_NAME[name_or_number]
    except KeyError:
        raise ETPInvalidArgument(f"no ETP protocol named {name_or_number!r}") from None
