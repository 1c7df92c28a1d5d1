"""The store's view of data object XML: :mod:`etp_sync.xmlinfo`, raising :class:`StoreError`.

The parsing lives in the neutral modules :mod:`etp_sync.xmlinfo` (the client derives URIs from
XML with it too) and :mod:`etp_sync._xmlpeek`; here their errors become the store's own error
type.

A put of many small objects spends most of the server's time parsing them, and a tree parse and
its walk for references cost about twice the peek the client's put path uses. Most small
objects (CRSs, features, interpretations' citations) reference nothing: when a document's bytes
show that it cannot hold a reference or an external dataset (:func:`_holds_no_references`), the
peek gives its :class:`ObjectInfo`, the very one the full parse would (same fields, empty
references, same errors); any other document gets the full parse. Where the compiled scan is
built, :func:`~etp_sync._xmlpeek.scan_data_object` gives the peek's result first, for such a
document that is well-formed (it checks the same marks).
"""

from __future__ import annotations

import re

from etp_sync import xmlinfo
from etp_sync._xmlpeek import peek_data_object, scan_data_object
from etp_sync.errors import ErrorCode, ETPError, StoreError
from etp_sync.xmlinfo import USUAL_DECLARATIONS, ObjectInfo, qualified_type_from_content_type

__all__ = ["ObjectInfo", "parse_data_object", "qualified_type_from_content_type"]

# The full parse finds a reference by a child named UUID or Uuid, and a dataset by a child named
# PathInHdfFile or PathInExternalFile (local names; XML names are case-sensitive and written out
# in an element's tags). A document type declaration may declare entities whose replacement text
# is markup (its names spelt with character references), and a NUL byte is part of every ASCII
# character in UTF-16 or UTF-32: either sends the document to the full parse.
_MARKS = (b"UUID", b"Uuid", b"PathIn", b"<!DOCTYPE", b"\x00")
# Encodings expat reads itself in which an ASCII character is its own byte: there a name spelt
# in ASCII is in the bytes as such. Any other declared encoding goes to the full parse.
_ASCII_BASED = frozenset((b"utf-8", b"us-ascii", b"iso-8859-1"))
_BOM = b"\xef\xbb\xbf"
_ENCODING = re.compile(rb"\sencoding\s*=\s*([\"'])([^\"'>]*)\1")


def _ascii_based(data: bytes) -> bool:
    """Whether expat reads the document (holding no NUL byte) in an encoding of
    :data:`_ASCII_BASED`: no XML declaration, or one declaring no encoding (UTF-8, or UTF-16
    by its byte order mark, which holds NULs) or such an encoding."""
    if data.startswith(USUAL_DECLARATIONS):
        return True  # what the lines below conclude for them, read without a search
    head = data[3:] if data.startswith(_BOM) else data
    if not head.startswith(b"<?xml"):
        return True  # no declaration (a later one is an error either parser reports)
    end = head.find(b">")
    if end < 0:
        return False
    declaration = head[:end]
    if b"encoding" not in declaration:
        return True
    match = _ENCODING.search(declaration)
    return match is not None and match.group(2).lower() in _ASCII_BASED


def _holds_no_references(data: bytes) -> bool:
    """Whether the bytes prove that the full parse would find no reference and no dataset: no
    name it looks for, no document type declaration, an encoding in which those names would
    show in the bytes. False says nothing."""
    for mark in _MARKS:
        if mark in data:
            return False
    return _ascii_based(data)


def parse_data_object(xml: bytes) -> ObjectInfo:
    """:func:`etp_sync.xmlinfo.parse_data_object`, failing with StoreError(EINVALID_OBJECT)."""
    data = bytes(xml)
    try:
        info = scan_data_object(data)
        if info is not None:
            return info
        if _holds_no_references(data):
            return peek_data_object(data)
        return xmlinfo.parse_data_object(data)
    except ETPError as exc:
        raise StoreError(exc.code or ErrorCode.EINVALID_OBJECT, exc.message) from None
