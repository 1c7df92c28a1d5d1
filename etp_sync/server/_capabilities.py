"""What the server advertises: capabilities for OpenSession and the well-known endpoint.

:func:`advertised` is the one list of the server's limits as ETP capabilities (endpoint ones, and
per protocol), sent in OpenSession and in ``GET /.well-known/etp-server-capabilities``:
``?GetVersions=true`` → JSON list of subprotocols; ``?GetVersion=etp12.energistics.org`` →
``ServerCapabilities`` as Avro-JSON, or Avro binary with ``&$format=binary``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from etp_sync._version import __version__
from etp_sync.codec import encode_body
from etp_sync.protocol.negotiation import DEFAULT_DATA_OBJECTS, ETP_VERSION, MAX_MESSAGE_SIZE_KEY
from etp_sync.schema import datatypes
from etp_sync.transport._websocket import ETP_SUBPROTOCOL

from ._http import Response, error_response, response
from .store import Store

__all__ = ["WELL_KNOWN_PATH", "Advertised", "advertised", "capabilities_response"]

WELL_KNOWN_PATH = "/.well-known/etp-server-capabilities"


@dataclass(frozen=True)
class Advertised:
    """Capabilities with integer values: endpoint ones, and those of each protocol."""

    endpoint: dict[str, int]
    protocols: dict[int, dict[str, int]] = field(default_factory=dict)

    def endpoint_values(self) -> dict[str, Any]:
        """The endpoint capabilities as ETP ``DataValue`` records."""
        return {k: datatypes.DataValue(item=v) for k, v in self.endpoint.items()}

    def protocol_values(self, protocol: int) -> dict[str, Any]:
        """One protocol's capabilities as ETP ``DataValue`` records."""
        return {k: datatypes.DataValue(item=v) for k, v in self.protocols.get(protocol, {}).items()}


def _seconds(value: float) -> int:
    """A period in whole seconds, as ETP's ...Period capabilities count (at least 1)."""
    return max(1, round(value))


def advertised(
    store: Store, max_message_size: int, *, max_subscriptions: int | None = None
) -> Advertised:
    """The store's and the server's limits as ETP capabilities (unlimited ones are left out).

    Endpoint: MaxWebSocketMessagePayloadSize, MaxDataObjectSize, ChangeRetentionPeriod
    (seconds); StoreNotification (5): MaxSubscriptionSessionCount; DataArray (9):
    MaxDataArraySize; Transaction (18): TransactionTimeoutPeriod (seconds).
    """
    endpoint = {MAX_MESSAGE_SIZE_KEY: int(max_message_size)}
    if store.max_object_bytes is not None:
        endpoint["MaxDataObjectSize"] = int(store.max_object_bytes)
    if store.change_retention_period is not None:
        endpoint["ChangeRetentionPeriod"] = _seconds(store.change_retention_period)
    protocols: dict[int, dict[str, int]] = {}
    if max_subscriptions is not None:
        protocols[5] = {"MaxSubscriptionSessionCount": int(max_subscriptions)}
    if store.max_array_bytes is not None:
        protocols[9] = {"MaxDataArraySize": int(store.max_array_bytes)}
    if store.transaction_timeout is not None:
        protocols[18] = {"TransactionTimeoutPeriod": _seconds(store.transaction_timeout)}
    return Advertised(endpoint, protocols)


def _record(application_name: str, protocols: tuple[int, ...], caps: Advertised) -> Any:
    return datatypes.ServerCapabilities(
        application_name=application_name,
        application_version=__version__,
        contact_information=datatypes.Contact(),
        supported_compression=["gzip"],
        supported_encodings=["binary"],
        supported_formats=["xml"],
        supported_data_objects=[
            datatypes.SupportedDataObject(qualified_type=q) for q in DEFAULT_DATA_OBJECTS
        ],
        supported_protocols=[
            datatypes.SupportedProtocol(
                protocol=p,
                protocol_version=dict(ETP_VERSION),
                role="store",
                protocol_capabilities=caps.protocol_values(p),
            )
            for p in protocols
        ],
        endpoint_capabilities=caps.endpoint_values(),
    )


def _json_values(values: dict[str, int]) -> dict[str, Any]:
    return {k: {"item": {"long": v}} for k, v in values.items()}


def _json(application_name: str, protocols: tuple[int, ...], caps: Advertised) -> dict[str, Any]:
    return {
        "applicationName": application_name,
        "applicationVersion": __version__,
        "contactInformation": {
            "organizationName": "",
            "contactName": "",
            "contactPhone": "",
            "contactEmail": "",
        },
        "supportedCompression": ["gzip"],
        "supportedEncodings": ["binary"],
        "supportedFormats": ["xml"],
        "supportedDataObjects": [
            {"qualifiedType": q, "dataObjectCapabilities": {}} for q in DEFAULT_DATA_OBJECTS
        ],
        "supportedProtocols": [
            {
                "protocol": p,
                "protocolVersion": dict(ETP_VERSION),
                "role": "store",
                "protocolCapabilities": _json_values(caps.protocols.get(p, {})),
            }
            for p in protocols
        ],
        "endpointCapabilities": _json_values(caps.endpoint),
    }


def capabilities_response(
    target: str, application_name: str, protocols: tuple[int, ...], caps: Advertised
) -> Response | None:
    """The HTTP response for a well-known capabilities request target, None for other paths."""
    url = urlsplit(target)
    if url.path.rstrip("/") != WELL_KNOWN_PATH:
        return None
    query = dict(parse_qsl(url.query))
    if query.get("GetVersions", "").lower() == "true":
        return response(200, json.dumps([ETP_SUBPROTOCOL]).encode(), "application/json")
    if query.get("GetVersion") != ETP_SUBPROTOCOL:
        return error_response(404, f"only GetVersion={ETP_SUBPROTOCOL} is served")
    if query.get("$format") == "binary":
        body = encode_body(_record(application_name, protocols, caps)).to_bytes()
        return response(200, body, "application/octet-stream")
    body = json.dumps(_json(application_name, protocols, caps)).encode()
    return response(200, body, "application/json")
