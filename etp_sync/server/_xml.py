"""The store's view of data object XML: :mod:`etp_sync.xmlinfo`, raising :class:`StoreError`.

The parsing lives in the neutral module :mod:`etp_sync.xmlinfo` (the client derives URIs from XML
with it too); here its errors become the store's own error type.
"""

from __future__ import annotations

from etp_sync import xmlinfo
from etp_sync.errors import ErrorCode, ETPError, StoreError
from etp_sync.xmlinfo import ObjectInfo, qualified_type_from_content_type

__all__ = ["ObjectInfo", "parse_data_object", "qualified_type_from_content_type"]


def parse_data_object(xml: bytes) -> ObjectInfo:
    """:func:`etp_sync.xmlinfo.parse_data_object`, failing with StoreError(EINVALID_OBJECT)."""
    try:
        return xmlinfo.parse_data_object(xml)
    except ETPError as exc:
        raise StoreError(exc.code or ErrorCode.EINVALID_OBJECT, exc.message) from None
