"""Session negotiation: what a client asks for in RequestSession and what OpenSession grants.

Both sides of the handshake live here so that the client and the embedded server agree on one
reading of ETP 1.2: protocols and roles are intersected, one compression algorithm is chosen,
formats intersected, and the effective message size is the smaller of the two endpoints' limits.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ErrorCode, ETPProtocolError
from ..schema import datatypes, messages

ETP_VERSION = {"major": 1, "minor": 2, "revision": 0, "patch": 0}
MAX_MESSAGE_SIZE_KEY = "MaxWebSocketMessagePayloadSize"
# The smallest MaxWebSocketMessagePayloadSize an endpoint may use: a server configured with less
# is refused, and so is a RequestSession announcing less (a sender must not exceed the smaller of
# the two limits, so raising a client's value is not an option; below this, replies would be
# cut into messages that are mostly headers).
MIN_MESSAGE_SIZE = 4096

# The store-side protocols a customer asks for (role wanted from the server = "store").
STORE_PROTOCOLS: tuple[int, ...] = (3, 4, 5, 9, 13, 14, 18, 24, 25)
DEFAULT_DATA_OBJECTS: tuple[str, ...] = (
    "resqml20.*",
    "eml20.*",
    "resqml22.*",
    "eml23.*",
    "witsml20.*",
    "witsml21.*",
    "prodml21.*",
    "prodml22.*",
)


def now_us() -> int:
    """Current time in microseconds since the Unix epoch (ETP's time unit)."""
    return time.time_ns() // 1000


def data_value(value: Any) -> Any:
    """Wrap a Python value as a ``DataValue`` (ints travel as long, floats as double)."""
    return datatypes.DataValue(item=value)


def capability_value(capabilities: Mapping[str, Any], key: str) -> Any:
    """The plain value of a capability map entry (``DataValue`` unwrapped), or ``None``."""
    dv = capabilities.get(key)
    if dv is None:
        return None
    return getattr(dv, "item", dv)


@dataclass(frozen=True)
class ProtocolGrant:
    """One protocol granted for the session, with the role the server plays in it."""

    protocol: int
    role: str
    capabilities: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ServerInfo:
    """What OpenSession granted: exposed as ``session.server``."""

    application_name: str
    application_version: str
    server_instance_id: uuid.UUID
    session_id: uuid.UUID
    protocols: dict[int, ProtocolGrant]
    supported_data_objects: tuple[str, ...]
    compression: str
    formats: tuple[str, ...]
    endpoint_capabilities: dict[str, Any]
    max_message_size: int
    # Since when (µs since the epoch) the server can answer change queries (0: not said).
    earliest_retained_change_time: int = 0

    def supports(self, protocol: int) -> bool:
        return protocol == 0 or protocol in self.protocols


def build_request_session(
    *,
    application_name: str,
    application_version: str,
    protocols: Iterable[int] = STORE_PROTOCOLS,
    role: str = "store",
    data_objects: Sequence[str] = DEFAULT_DATA_OBJECTS,
    compression: bool = True,
    max_message_size: int,
    client_instance_id: uuid.UUID | None = None,
) -> Any:
    """The RequestSession a customer sends (role = the role wanted from the server)."""
    supports = {
        "SupportsGet": data_value(True),
        "SupportsPut": data_value(True),
        "SupportsDelete": data_value(True),
    }
    return messages.Core.RequestSession(
        application_name=application_name,
        application_version=application_version,
        client_instance_id=client_instance_id or uuid.uuid4(),
        requested_protocols=[
            datatypes.SupportedProtocol(
                protocol=p, protocol_version=dict(ETP_VERSION), role=role, protocol_capabilities={}
            )
            for p in protocols
        ],
        supported_data_objects=[
            datatypes.SupportedDataObject(qualified_type=q, data_object_capabilities=supports)
            for q in data_objects
        ],
        supported_compression=["gzip"] if compression else [],
        supported_formats=["xml"],
        current_date_time=now_us(),
        earliest_retained_change_time=0,
        server_authorization_required=False,
        endpoint_capabilities={MAX_MESSAGE_SIZE_KEY: data_value(int(max_message_size))},
    )


def read_open_session(open_session: Any, *, client_max_message_size: int) -> ServerInfo:
    """Turn OpenSession into :class:`ServerInfo`, computing the effective message size."""
    server_max = capability_value(open_session.endpoint_capabilities, MAX_MESSAGE_SIZE_KEY)
    effective = int(client_max_message_size)
    if isinstance(server_max, int) and not isinstance(server_max, bool) and server_max > 0:
        effective = min(effective, int(server_max))
    return ServerInfo(
        application_name=open_session.application_name,
        application_version=open_session.application_version,
        server_instance_id=open_session.server_instance_id,
        session_id=open_session.session_id,
        protocols={
            p.protocol: ProtocolGrant(p.protocol, p.role, dict(p.protocol_capabilities))
            for p in open_session.supported_protocols
        },
        supported_data_objects=tuple(d.qualified_type for d in open_session.supported_data_objects),
        compression=open_session.supported_compression,
        formats=tuple(open_session.supported_formats),
        endpoint_capabilities={
            k: capability_value(open_session.endpoint_capabilities, k)
            for k in open_session.endpoint_capabilities
        },
        max_message_size=effective,
        earliest_retained_change_time=int(open_session.earliest_retained_change_time),
    )


OBJECT_SIZE_CEILING = 64 << 20
"""The most of a server's ``MaxDataObjectSize`` that :func:`object_room` makes room for: the
default reply bound is what a client may hold of one reply (a pipelined get has several in
flight), and a server may claim any size. 64 MiB: the embedded server's default object size,
and what the default bound held before with 16 MiB messages; a larger object is read with a
``max_response_size`` of its own."""
_MAX_OBJECT_KEY = "MaxDataObjectSize"
STORE_PROTOCOL = 4


def object_room(server: ServerInfo) -> int:
    """Bytes a reply carrying the largest data object ``server`` takes amounts to at most: its
    ``MaxDataObjectSize`` (endpoint capability, else the Store protocol's; up to
    :data:`OBJECT_SIZE_CEILING`), plus its Chunk messages' framing and two messages more; 0 when
    the server names no such size. A default reply bound of at least this reads back every
    object the server accepts, whatever its message size (a server with 16 KiB messages and
    64 MiB objects: a get of one object is 4,000 Chunks)."""
    largest = server.endpoint_capabilities.get(_MAX_OBJECT_KEY)
    store = server.protocols.get(STORE_PROTOCOL)
    if largest is None and store is not None:
        largest = capability_value(store.capabilities, _MAX_OBJECT_KEY)
    if not isinstance(largest, int) or isinstance(largest, bool) or largest <= 0:
        return 0
    largest = min(largest, OBJECT_SIZE_CEILING)
    # A Chunk's framing (header, blob id, lengths) is a few dozen bytes, and a part counts at
    # least 512 (see Correlator): 1/64 covers chunks of 4 KiB and more.
    return largest + largest // 64 + 2 * server.max_message_size


def _type_matches(pattern: str, qualified_type: str) -> bool:
    if pattern == qualified_type or pattern == "*":
        return True
    if pattern.endswith(".*"):
        return qualified_type.split(".", 1)[0] == pattern[:-2]
    return False


def intersect_data_objects(requested: Sequence[str], offered: Sequence[str]) -> list[str]:
    """Qualified types (with ``family.*`` wildcards) both sides support."""
    out: list[str] = []
    for r in requested:
        for o in offered:
            if _type_matches(o, r):
                out.append(r)
                break
            if _type_matches(r, o):
                out.append(o)
                break
    return list(dict.fromkeys(out))


@dataclass
class ServerOffer:
    """What a server implements: ``protocols`` maps number to the role it plays.

    ``endpoint_capabilities`` and ``protocol_capabilities`` (by protocol number) are advertised
    in OpenSession as they are (``DataValue`` records), besides MaxWebSocketMessagePayloadSize.
    ``earliest_retained_change_time`` (µs since the epoch) is the earliest time from which the
    server can answer change queries (what its store still knows of deletions and writes).
    """

    application_name: str
    application_version: str
    protocols: dict[int, str]
    data_objects: Sequence[str] = DEFAULT_DATA_OBJECTS
    compression: Sequence[str] = ("gzip",)
    formats: Sequence[str] = ("xml",)
    max_message_size: int = 16 * 1024 * 1024
    server_instance_id: uuid.UUID = field(default_factory=uuid.uuid4)
    endpoint_capabilities: Mapping[str, Any] = field(default_factory=dict)
    protocol_capabilities: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    earliest_retained_change_time: int = 0


def negotiate(request: Any, offer: ServerOffer) -> tuple[Any, int]:
    """Server side: answer RequestSession with OpenSession, or raise with the ETP error code.

    Returns ``(OpenSession, effective_max_message_size)``. A client announcing a
    MaxWebSocketMessagePayloadSize below :data:`MIN_MESSAGE_SIZE` is refused (EINVALID_ARGUMENT).
    """
    granted = []
    role_mismatch = False
    for p in request.requested_protocols:
        if p.protocol == 0:
            continue
        role = offer.protocols.get(p.protocol)
        if role is None:
            continue
        if p.role != role:
            role_mismatch = True
            continue
        if (p.protocol_version.major, p.protocol_version.minor) != (1, 2):
            continue
        granted.append(
            datatypes.SupportedProtocol(
                protocol=p.protocol,
                protocol_version=dict(ETP_VERSION),
                role=role,
                protocol_capabilities=dict(offer.protocol_capabilities.get(p.protocol, {})),
            )
        )
    if not granted:
        if role_mismatch:
            raise ETPProtocolError("no requested protocol in a role this server plays", 1)
        raise ETPProtocolError("none of the requested protocols is supported", 2)
    formats = [f for f in request.supported_formats if f in offer.formats]
    if not formats:
        raise ETPProtocolError("no common format", ErrorCode.ENOSUPPORTEDFORMATS)
    requested_types = [d.qualified_type for d in request.supported_data_objects]
    types = (
        intersect_data_objects(requested_types, offer.data_objects)
        if requested_types
        else list(offer.data_objects)
    )
    compression = next((c for c in request.supported_compression if c in offer.compression), "")
    client_max = capability_value(request.endpoint_capabilities, MAX_MESSAGE_SIZE_KEY)
    effective = offer.max_message_size
    if isinstance(client_max, int) and not isinstance(client_max, bool) and client_max > 0:
        if client_max < MIN_MESSAGE_SIZE:
            raise ETPProtocolError(
                f"{MAX_MESSAGE_SIZE_KEY} {client_max} is below the {MIN_MESSAGE_SIZE} bytes "
                "this server needs to send its replies",
                ErrorCode.EINVALID_ARGUMENT,
            )
        effective = min(effective, int(client_max))
    open_session = messages.Core.OpenSession(
        application_name=offer.application_name,
        application_version=offer.application_version,
        server_instance_id=offer.server_instance_id,
        supported_protocols=granted,
        supported_data_objects=[
            datatypes.SupportedDataObject(qualified_type=t, data_object_capabilities={})
            for t in types
        ],
        supported_compression=compression,
        supported_formats=formats,
        current_date_time=now_us(),
        earliest_retained_change_time=int(offer.earliest_retained_change_time),
        session_id=uuid.uuid4(),
        endpoint_capabilities={
            **offer.endpoint_capabilities,
            MAX_MESSAGE_SIZE_KEY: data_value(int(offer.max_message_size)),
        },
    )
    return open_session, effective
