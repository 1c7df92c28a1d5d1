"""ETP 1.2 types and messages as Python classes, with look-up by number and by full name.

Every record of ETP 1.2 (and of the OSDU extension protocols) is a class derived from
:class:`Record`; every enum an :class:`ETPEnum`. Classes are reachable three ways::

    from etp_sync.schema import messages, datatypes, message_class, get_type
    messages.Store.GetDataObjects            # by protocol name
    message_class(4, 1)                      # by (protocol, message type)
    get_type("Energistics.Etp.v12.Protocol.Store.GetDataObjects")
    datatypes.Object.Resource, datatypes.DataValue
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from ..errors import ETPDecodeError
from ._avro import AvroConverters, FastavroSchemas
from ._etp12 import DECLARATIONS
from ._model import ETPEnum, Float32, Int32, Record, TypeRegistry, snake_case
from ._parse import (
    DATATYPES,
    PROTOCOL_NS,
    ROOT,
    NamedType,
    ProtocolDef,
    SchemaModel,
    parse_declarations,
)

__all__ = [
    "PROTOCOLS",
    "ETPEnum",
    "Float32",
    "Int32",
    "Record",
    "datatypes",
    "get_type",
    "message_class",
    "messages",
    "model",
    "protocol_number",
    "snake_case",
]

model: SchemaModel = parse_declarations(DECLARATIONS)
registry = TypeRegistry(model)
registry.finish()
converters = AvroConverters(model, registry)

_fastavro: FastavroSchemas | None = None


def fastavro_schemas() -> FastavroSchemas:
    """The fastavro wire schemas, parsed on first use (keeps ``import etp_sync`` fast)."""
    global _fastavro
    if _fastavro is None:
        _fastavro = FastavroSchemas(model)
    return _fastavro


PROTOCOLS: dict[int, ProtocolDef] = model.protocols
_BY_NUMBER: dict[tuple[int, int], Any] = {
    (p.number, mt): registry.classes[t.full_name]
    for p in model.protocols.values()
    for mt, t in p.messages.items()
}
_PROTOCOL_BY_NAME = {p.name: p.number for p in model.protocols.values()}


def message_class(protocol: int, message_type: int) -> Any:
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


def get_type(full_name: str) -> Any:
    """A class (record or enum) by its Avro full name.

    For example ``get_type("Energistics.Etp.v12.Datatypes.Object.Resource")``.
    """
    try:
        return registry.classes[full_name]
    except KeyError:
        raise KeyError(f"no ETP type named {full_name!r}") from None


def protocol_number(name_or_number: str | int) -> int:
    """Protocol number from its name (``"Store"``) or number."""
    if isinstance(name_or_number, int):
        return name_or_number
    return _PROTOCOL_BY_NAME[name_or_number]


def _namespace(prefix: str) -> SimpleNamespace:
    root = SimpleNamespace()
    for full, cls in registry.classes.items():
        if not full.startswith(prefix + "."):
            continue
        node = root
        *path, name = full[len(prefix) + 1 :].split(".")
        for part in path:
            if not hasattr(node, part):
                setattr(node, part, SimpleNamespace())
            node = getattr(node, part)
        setattr(node, name, cls)
    return root


messages: Any = _namespace(PROTOCOL_NS)
for _name, _cls in vars(_namespace(f"{ROOT}.PrivateProtocols")).items():
    setattr(messages, _name, _cls)
datatypes: Any = _namespace(DATATYPES)

# Re-exported so other layers need one import only.
NamedType = NamedType
