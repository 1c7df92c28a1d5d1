"""The store's reading of ETP URIs: :mod:`etp_sync.uri` parses, failures become StoreError.

The store keys dataspaces by path (``""`` is the default dataspace ``eml:///``) and objects by
lower-case uuid, so it needs a URI's parts rather than the URI objects. Beyond what
:func:`etp_sync.uri.parse_uri` accepts, Discovery and subscription contexts may name a type
collection, ``<dataspace URI>/<qualified type>`` (every object of that type in the dataspace).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from functools import lru_cache

from etp_sync.errors import ErrorCode, ETPError, StoreError
from etp_sync.uri import _MEMO_MAX_CHARS, DataObjectURI, DataspaceURI, QualifiedType, parse_uri

__all__ = [
    "UriParts",
    "canonical_split",
    "dataspace_path",
    "dataspace_uri",
    "object_parts",
    "object_uri",
    "parse_context",
]


@dataclass(frozen=True, slots=True)
class UriParts:
    """What a URI names: a dataspace, a type collection in it, or an object (uuid lower-case)."""

    space: str  # dataspace path; "" = default dataspace
    qualified_type: str | None = None
    uuid: str | None = None
    version: str | None = None
    text: str | None = field(default=None, compare=False)  # the canonical URI of an object


_new = object.__new__
_set_space, _set_type, _set_uuid, _set_version, _set_text = (
    UriParts.__dict__[f.name].__set__ for f in fields(UriParts)
)


def _canonical_parts(space: str, qualified_type: str, uuid: str, text: str) -> UriParts:
    """``UriParts(space, qualified_type, uuid, None, text)``, made field by field: a put of
    new objects reads each one's URI once (the memo cannot help), and a frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__``, about twice the time."""
    parts = _new(UriParts)
    _set_space(parts, space)
    _set_type(parts, qualified_type)
    _set_uuid(parts, uuid)
    _set_version(parts, None)
    _set_text(parts, text)
    return parts


def _type_collection(text: object) -> UriParts | None:
    """``<dataspace URI>/<qualified type>`` as parts, None if ``text`` is not one."""
    if not isinstance(text, str):
        return None
    head, sep, tail = text.rpartition("/")
    if not sep:
        return None
    try:
        space = DataspaceURI.parse(head + "/" if head == "eml://" else head)
        qualified_type = QualifiedType.parse(tail, allow_wildcard=False)
    except ETPError:
        return None
    return UriParts(space.path or "", str(qualified_type))


def parse_context(uri: str) -> UriParts:
    """Parts of a dataspace, type-collection or object URI (EINVALID_URI otherwise)."""
    if not isinstance(uri, str) or len(uri) > _MEMO_MAX_CHARS:
        # Refused below, or not hashable; or a long text (a peer's?): not kept by the memo,
        # whose memory stays bounded by its size times the longest text it keeps.
        return _parse_context(uri)
    return _memo_parse_context(uri)


@lru_cache(maxsize=4096)
def _memo_parse_context(uri: str) -> UriParts:
    """:func:`parse_context` of a short str, memoised (bounded): requests name the same objects
    again and again (the parts are immutable; refusals raise and are not kept)."""
    return _parse_context(uri)


_ZERO_IDENTITY = "(00000000-0000-0000-0000-000000000000)"
_IDENTITY_CHARS = len(_ZERO_IDENTITY)  # ``(<uuid>)``
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@lru_cache(maxsize=256)
def _canonical_prefix(prefix: str) -> tuple[str, str] | None:
    """(dataspace path, qualified type) of the object URIs ``<prefix>(<uuid>)`` when they are
    canonical for a lower-case uuid (the prefix is its object URIs' canonical dataspace and
    type); None otherwise. Read with a zero uuid: a uuid's characters cannot change how the
    prefix reads (:func:`etp_sync.uri.parse_uri` reads object URIs so too)."""
    text = prefix + _ZERO_IDENTITY
    try:
        parsed = parse_uri(text)
    except ETPError:
        return None
    if not isinstance(parsed, DataObjectURI) or parsed.version is not None or str(parsed) != text:
        return None
    return parsed.dataspace.path or "", parsed.qualified_type


def canonical_split(uri: object) -> tuple[str, str, str] | None:
    """``(dataspace path, qualified type, uuid text)`` of ``uri`` when it is
    ``<prefix>(<uuid text>)`` with a prefix of canonical object URIs (see
    :func:`_canonical_prefix`); None otherwise. The uuid text is *not* checked: when it is a
    canonical uuid (lower case), ``uri`` is that object's canonical URI and these are the parts
    :func:`parse_context` gives. A caller comparing it with a uuid it knows to be canonical
    (the XML's, a key of the store's objects) so reads a URI with no parse."""
    if not isinstance(uri, str):
        return None
    end = len(uri) - _IDENTITY_CHARS  # of the prefix
    if 0 < end <= _MEMO_MAX_CHARS - _IDENTITY_CHARS and uri[end] == "(" and uri[-1] == ")":
        known = _canonical_prefix(uri[:end])
        if known is not None:
            return known[0], known[1], uri[end + 1 : -1]
    return None


def _parse_context(uri: str) -> UriParts:
    # A canonical object URI of a known prefix (a store's objects share a few) is read by its
    # uuid alone, with no URI object built: the parts parse_uri's would give.
    split = canonical_split(uri)
    if split is not None and _CANONICAL_UUID.fullmatch(split[2]):
        return _canonical_parts(split[0], split[1], split[2], uri)
    return _read_parts(uri)


def _read_parts(uri: str) -> UriParts:
    """:func:`parse_context` by way of the URI objects (any URI)."""
    try:
        parsed = parse_uri(uri)
    except ETPError as exc:
        collection = _type_collection(uri)
        if collection is None:
            raise StoreError(ErrorCode.EINVALID_URI, exc.message) from None
        return collection
    if isinstance(parsed, DataspaceURI):
        return UriParts(parsed.path or "")
    return UriParts(
        parsed.dataspace.path or "",
        parsed.qualified_type,
        str(parsed.uuid),
        parsed.version,
        str(parsed),
    )


def dataspace_path(uri: str) -> str:
    """Path of a dataspace URI (``""`` for ``eml:///``); EINVALID_URI for anything else."""
    parts = parse_context(uri)
    if parts.qualified_type is not None:
        raise StoreError(ErrorCode.EINVALID_URI, f"{uri!r} is not a dataspace URI")
    return parts.space


def object_parts(uri: str) -> UriParts:
    """Parts of a data object URI; EINVALID_URI for anything else."""
    parts = parse_context(uri)
    if parts.uuid is None:
        raise StoreError(ErrorCode.EINVALID_URI, f"{uri!r} is not a data object URI")
    return parts


def dataspace_uri(space: str) -> str:
    """Canonical URI of the dataspace with this path (``""`` = ``eml:///``)."""
    return str(DataspaceURI(space or None))


def object_uri(space: str, qualified_type: str, uuid: str) -> str:
    """Canonical URI of an object; EINVALID_OBJECT when its type or uuid cannot form one."""
    try:
        return str(DataObjectURI.from_type(space or None, qualified_type, uuid))
    except ETPError as exc:
        raise StoreError(ErrorCode.EINVALID_OBJECT, exc.message) from None
