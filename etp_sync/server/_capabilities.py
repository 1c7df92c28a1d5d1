"""``GET /.well-known/etp-server-capabilities``: what the server offers, without a session.

``?GetVersions=true`` → JSON list of subprotocols; ``?GetVersion=etp12.energistics.org`` →
``ServerCapabilities`` as Avro-JSON, or Avro binary with ``&$format=binary``.
"""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import fastavro

from etp_sync._version import __version__
from etp_sync.protocol.negotiation import DEFAULT_DATA_OBJECTS, ETP_VERSION, MAX_MESSAGE_SIZE_KEY
from etp_sync.schema import converters, datatypes, fastavro_schemas
from etp_sync.transport._websocket import ETP_SUBPROTOCOL

from ._http import Response, error_response, response

__all__ = ["WELL_KNOWN_PATH", "capabilities_response"]

WELL_KNOWN_PATH = "/.well-known/etp-server-capabilities"


def _record(application_name: str, protocols: tuple[int, ...], max_size: int) -> Any:
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
                protocol=p, protocol_version=dict(ETP_VERSION), role="store"
            )
            for p in protocols
        ],
        endpoint_capabilities={MAX_MESSAGE_SIZE_KEY: datatypes.DataValue(item=int(max_size))},
    )


def _json(application_name: str, protocols: tuple[int, ...], max_size: int) -> dict[str, Any]:
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
                "protocolCapabilities": {},
            }
            for p in protocols
        ],
        "endpointCapabilities": {MAX_MESSAGE_SIZE_KEY: {"item": {"long": int(max_size)}}},
    }


def capabilities_response(
    target: str, application_name: str, protocols: tuple[int, ...], max_size: int
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
        record = _record(application_name, protocols, max_size)
        name = record.etp_full_name
        buf = io.BytesIO()
        fastavro.schemaless_writer(
            buf, fastavro_schemas().parsed(name), converters.to_avro(name)(record)
        )
        return response(200, buf.getvalue(), "application/octet-stream")
    body = json.dumps(_json(application_name, protocols, max_size)).encode()
    return response(200, body, "application/json")
