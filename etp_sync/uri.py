"""ETP 1.2 URIs: dataspaces, data objects and qualified type names.

Every place in etp_sync that takes a URI goes through this module, so a malformed URI is refused
locally with :class:`InvalidURIError` (ETP code ``EINVALID_URI``) instead of as a round trip to the
server. The canonical forms are::

    eml:///                                              default dataspace
    eml:///dataspace('project/scenario')                 named dataspace ('' doubles a quote)
    eml:///dataspace('p/s')/resqml20.obj_X(<uuid>)       data object
    eml:///dataspace('p/s')/resqml20.obj_X(uuid=<uuid>,version='<v>')
    eml:///resqml20.obj_X(<uuid>)                        data object in the default dataspace

Parsing is strict (no whitespace trimming, no URL decoding, lower-case families); printing always
gives the canonical form with a lower-case UUID, so ``str(a) == str(b)`` exactly when ``a == b``.
URI objects also compare and hash equal to their canonical string, so a result keyed by URI
objects answers ``uri_str in result`` and ``result[uri_str]``.
Query URIs (type collections, ``?$filter=``) are not modelled here and are refused.

Choices beyond the spec, made to catch accidents:

* an empty dataspace path is refused everywhere (the default dataspace is ``eml:///`` / ``None``);
* a dataspace path must not start with ``eml:`` (that is a URI passed where a path was meant);
* an empty object version is refused (no version is ``None``).

The parts of a URI are checked by :mod:`etp_sync._uri_fields`, whose :class:`QualifiedType` and
:func:`validate_qualified_type` are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final
from uuid import UUID

from etp_sync._uri_fields import (
    _MEMO_MAX_CHARS,
    _UUID_RE,
    DATA_OBJECT_FAMILIES,
    QualifiedType,
    _check_domain,
    _check_domain_version,
    _check_object_type,
    _check_path,
    _check_str,
    _check_uuid,
    _check_version,
    _double_quoted,
    _fail,
    _parse_qualified_type,
    _quote,
    _read_quoted,
    _show,
    _uuid_from_checked,
    validate_qualified_type,
)
from etp_sync.errors import InvalidURIError

__all__ = [
    "DATA_OBJECT_FAMILIES",
    "DEFAULT_DATASPACE",
    "DataObjectURI",
    "DataspaceURI",
    "InvalidURIError",
    "QualifiedType",
    "as_dataspace_uri",
    "as_object_uri",
    "dataspace_of",
    "parse_uri",
    "validate_osdu_dataspace",
    "validate_qualified_type",
]

_ROOT: Final = "eml:///"
_DATASPACE_OPEN: Final = "dataspace("


class _URIText:
    """Equality and hash of a URI object: those of its canonical text (worked out once, when
    the object is made), so that a URI object and its string find each other in sets and
    dicts."""

    __slots__ = ()
    _text: str

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _URIText):
            return self._text == other._text
        if isinstance(other, str):
            return self._text == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._text)

    def __str__(self) -> str:
        return self._text


@dataclass(frozen=True, slots=True, init=False, repr=False, eq=False)
class DataspaceURI(_URIText):
    """A dataspace URI; ``path`` ``None`` is the default dataspace ``eml:///``."""

    path: str | None
    _text: str = field(init=False, repr=False, compare=False)

    def __init__(self, path: str | None = None) -> None:
        path = None if path is None else _check_path(path)
        object.__setattr__(self, "path", path)
        object.__setattr__(
            self, "_text", _ROOT if path is None else f"{_ROOT}{_DATASPACE_OPEN}{_quote(path)})"
        )

    @classmethod
    def from_path(cls, path: str) -> DataspaceURI:
        """The dataspace with this (non-empty) path, e.g. ``"project/scenario"``."""
        return cls(_check_path(path))

    @classmethod
    def parse(cls, text: str) -> DataspaceURI:
        """Parse ``eml:///`` or ``eml:///dataspace('<path>')``."""
        uri = parse_uri(text)
        if not isinstance(uri, DataspaceURI):
            raise _fail(text, "is a data object URI, not a dataspace URI")
        return uri

    @property
    def is_default(self) -> bool:
        """True for the default dataspace ``eml:///``."""
        return self.path is None

    def __repr__(self) -> str:
        return f"DataspaceURI({_double_quoted(str(self))})"


DEFAULT_DATASPACE: Final = DataspaceURI()
"""The default dataspace, ``eml:///``."""


def _space_of(dataspace: DataspaceURI | str | None) -> DataspaceURI:
    """A dataspace given as a URI object, a path or URI string, or None (the default)."""
    if dataspace is None:
        return DEFAULT_DATASPACE
    if isinstance(dataspace, DataspaceURI):
        return dataspace
    return as_dataspace_uri(dataspace)


@dataclass(frozen=True, slots=True, init=False, repr=False, eq=False)
class DataObjectURI(_URIText):
    """A data object URI: dataspace, qualified type, UUID and optional version.

    The UUID is stored as :class:`uuid.UUID`, so equality and hashing ignore the case it was
    written in; ``str()`` prints it lower-case.
    """

    dataspace: DataspaceURI
    domain: str
    domain_version: str
    object_type: str
    uuid: UUID
    version: str | None
    _text: str = field(init=False, repr=False, compare=False)

    def __init__(
        self,
        dataspace: DataspaceURI | str | None,
        domain: str,
        domain_version: str,
        object_type: str,
        uuid: UUID | str,
        version: str | None = None,
    ) -> None:
        """Build from parts; ``dataspace`` may be a path or URI string, ``None`` is the default."""
        source = f"{domain}{domain_version}.{object_type}"
        dataspace = _space_of(dataspace)
        version = _check_version(version)
        self._set(
            dataspace,
            _check_domain(domain, source),
            _check_domain_version(domain_version, source),
            _check_object_type(object_type, source, False),
            _check_uuid(uuid),
            version,
        )

    @classmethod
    def _checked(
        cls,
        dataspace: DataspaceURI,
        qualified_type: QualifiedType,
        uuid: UUID,
        version: str | None,
        text: str | None = None,
    ) -> DataObjectURI:
        """An object URI from parts already checked (the parser's and :meth:`from_type`'s);
        ``text``: its canonical text when the caller has it (the parser, given a canonical
        URI), else worked out here."""
        self = object.__new__(cls)
        self._set(
            dataspace,
            qualified_type.domain,
            qualified_type.domain_version,
            qualified_type.object_type,
            uuid,
            version,
            text,
        )
        return self

    def _set(
        self,
        dataspace: DataspaceURI,
        domain: str,
        domain_version: str,
        object_type: str,
        uuid: UUID,
        version: str | None,
        text: str | None = None,
    ) -> None:
        """Set the fields and the canonical text (``text`` when given)."""
        setattr_ = object.__setattr__
        setattr_(self, "dataspace", dataspace)
        setattr_(self, "domain", domain)
        setattr_(self, "domain_version", domain_version)
        setattr_(self, "object_type", object_type)
        setattr_(self, "uuid", uuid)
        setattr_(self, "version", version)
        if text is None:
            space = dataspace._text if dataspace.path is None else f"{dataspace._text}/"
            ident = str(uuid) if version is None else f"uuid={uuid},version={_quote(version)}"
            text = f"{space}{domain}{domain_version}.{object_type}({ident})"
        setattr_(self, "_text", text)

    @classmethod
    def from_type(
        cls,
        dataspace: DataspaceURI | str | None,
        qualified_type: QualifiedType | str,
        uuid: UUID | str,
        version: str | None = None,
    ) -> DataObjectURI:
        """Build from a qualified type such as ``"resqml20.obj_Grid2dRepresentation"``."""
        if not isinstance(qualified_type, QualifiedType):
            qualified_type = QualifiedType.parse(qualified_type, allow_wildcard=False)
        elif qualified_type.is_wildcard:
            raise InvalidURIError(
                f"invalid qualified type {_show(str(qualified_type))}: a data object URI needs "
                "a concrete type, not a wildcard",
                str(qualified_type),
            )
        return cls._checked(
            _space_of(dataspace), qualified_type, _check_uuid(uuid), _check_version(version)
        )

    @classmethod
    def parse(cls, text: str) -> DataObjectURI:
        """Parse ``eml:///[dataspace('<path>')/]<family><vv>.<type>(<uuid>)`` (or versioned)."""
        uri = parse_uri(text)
        if not isinstance(uri, DataObjectURI):
            raise _fail(text, "is a dataspace URI, not a data object URI")
        return uri

    @property
    def qualified_type(self) -> str:
        """``<family><version>.<type>``, e.g. ``resqml20.obj_Grid2dRepresentation``."""
        return f"{self.domain}{self.domain_version}.{self.object_type}"

    def with_version(self, version: str | None) -> DataObjectURI:
        """The same object with another version (``None`` drops it)."""
        return DataObjectURI(
            self.dataspace, self.domain, self.domain_version, self.object_type, self.uuid, version
        )

    def with_dataspace(self, dataspace: DataspaceURI | str | None) -> DataObjectURI:
        """The same object (type, UUID, version) addressed in another dataspace."""
        return DataObjectURI(
            dataspace, self.domain, self.domain_version, self.object_type, self.uuid, self.version
        )

    def __repr__(self) -> str:
        return f"DataObjectURI({_double_quoted(str(self))})"


def parse_uri(text: str) -> DataspaceURI | DataObjectURI:
    """Parse a dataspace or data object URI; anything else raises :class:`InvalidURIError`."""
    text = _check_str(text, "URI")
    if len(text) > _MEMO_MAX_CHARS:
        return _parse_uri.__wrapped__(text)  # a long text (a peer's?) is not kept
    return _parse_uri(text)


_IDENTITY_CHARS: Final = 38
"""Characters of the identity of an object URI without version: ``(<uuid>)``."""
_ZERO_IDENTITY: Final = "(00000000-0000-0000-0000-000000000000)"


@lru_cache(maxsize=4096)
def _parse_uri(text: str) -> DataspaceURI | DataObjectURI:
    """:func:`parse_uri` of a str, memoised: the same URIs come back again and again (put then
    get, metadata then values); URI objects are immutable, refusals raise and are not kept.

    A text ``<prefix>(<uuid>)`` whose prefix (dataspace and qualified type) is already known
    is read by its uuid alone: a store's objects share a few prefixes."""
    parts = _known_object_parts(text)
    if parts is not None:
        known, uuid_text = parts
        canonical = text if uuid_text == uuid_text.lower() else None
        return DataObjectURI._checked(*known, _uuid_from_checked(uuid_text), None, canonical)
    return _parse_text(text)


def _known_object_parts(text: str) -> tuple[tuple[DataspaceURI, QualifiedType], str] | None:
    """``((dataspace, qualified type), uuid text)`` of a text ``<prefix>(<uuid>)`` whose prefix
    reads as an object URI's (:func:`_object_prefix`, memoised) and whose uuid is valid; None
    when only the full parse can tell."""
    if len(text) > _IDENTITY_CHARS and text[-1] == ")" and text[-_IDENTITY_CHARS] == "(":
        prefix = text[:-_IDENTITY_CHARS]
        known = _object_prefix(prefix) if len(prefix) <= _MEMO_MAX_CHARS else None
        uuid_text = text[1 - _IDENTITY_CHARS : -1]
        if known is not None and _UUID_RE.fullmatch(uuid_text):
            return known, uuid_text
    return None


def canonical_object_dataspace(text: object) -> DataspaceURI | None:
    """The dataspace of the data object URI whose canonical text (no version, uuid in lower
    case) ``text`` is, read without building the URI (a put names thousands: the URIs are
    built later, while the server stores what went before); None when ``text`` is not such a
    text or only :func:`parse_uri` can tell. The parser reads canonical texts only, so such a
    text is the ``str()`` of the URI it names."""
    if type(text) is not str:
        return None
    parts = _known_object_parts(text)
    if parts is None or parts[1] != parts[1].lower():
        return None
    return parts[0][0]


@lru_cache(maxsize=256)
def _object_prefix(prefix: str) -> tuple[DataspaceURI, QualifiedType] | None:
    """The dataspace and qualified type of the object URIs ``<prefix>(<uuid>)``; None when
    such texts are no object URIs. Parsed (strictly, as any URI) with a zero uuid: the uuid's
    characters cannot change how the prefix reads."""
    try:
        uri = _parse_text(prefix + _ZERO_IDENTITY)
    except InvalidURIError:
        return None
    assert isinstance(uri, DataObjectURI)  # a text ending in (<uuid>) is one when it parses
    qualified_type = _parse_qualified_type(uri.qualified_type, False)
    return uri.dataspace, qualified_type


def _parse_text(text: str) -> DataspaceURI | DataObjectURI:
    """Parse a URI from its first character to its last (see :func:`parse_uri`)."""
    if not text.startswith(_ROOT):
        raise _fail(text, f"must start with {_ROOT!r}")
    pos = len(_ROOT)
    dataspace = DEFAULT_DATASPACE
    if text.startswith(_DATASPACE_OPEN, pos):
        path, pos = _read_quoted(text, pos + len(_DATASPACE_OPEN), text, "dataspace path")
        if not text.startswith(")", pos):
            raise _fail(
                text,
                f"expected ')' after the dataspace path at position {pos} "
                "(a quote inside the path must be doubled)",
            )
        pos += 1
        if path == "":
            raise _fail(text, "empty dataspace path; the default dataspace is 'eml:///'")
        try:
            dataspace = _dataspace(path) if len(path) <= _MEMO_MAX_CHARS else DataspaceURI(path)
        except InvalidURIError as exc:
            raise _fail(text, exc.message) from None
        if pos == len(text):
            return dataspace
        if text[pos] != "/":
            raise _fail(text, f"unexpected {text[pos:]!r} after the dataspace")
        pos += 1
        if pos == len(text):
            raise _fail(text, "missing data object after '/'")
    elif text.startswith("dataspace", pos):
        raise _fail(text, "expected dataspace('<path>')")
    elif pos == len(text):
        return dataspace
    return _parse_object(text, pos, dataspace)


@lru_cache(maxsize=256)
def _dataspace(path: str) -> DataspaceURI:
    """``DataspaceURI(path)``, memoised: a URI's dataspace is one of a few."""
    return DataspaceURI(path)


def _parse_object(text: str, pos: int, dataspace: DataspaceURI) -> DataObjectURI:
    """Parse ``<qualified type>(<identity>)`` starting at ``text[pos]``."""
    open_paren = text.find("(", pos)
    if open_paren < 0:
        try:
            QualifiedType.parse(text[pos:])
        except InvalidURIError:
            raise _fail(
                text, f"unexpected trailing {text[pos:]!r}; expected dataspace(...) or an object"
            ) from None
        raise _fail(
            text,
            "missing '(<uuid>)' after the object type (query URIs are not supported here)",
        )
    try:
        qtype = QualifiedType.parse(text[pos:open_paren], allow_wildcard=False)
    except InvalidURIError as exc:
        raise _fail(text, exc.message) from None
    pos = open_paren + 1
    version: str | None = None
    if text.startswith("uuid=", pos):
        pos += len("uuid=")
        comma = text.find(",", pos)
        if comma < 0:
            raise _fail(text, "expected (uuid=<uuid>,version='<version>')")
        uuid_text = text[pos:comma]
        pos = comma + 1
        if not text.startswith("version=", pos):
            raise _fail(text, f"expected version='<version>' at position {pos}")
        version, pos = _read_quoted(text, pos + len("version="), text, "version")
        if version == "":
            raise _fail(text, "empty version; leave out uuid=/version= for no version")
    else:
        close = text.find(")", pos)
        if close < 0:
            raise _fail(text, "missing ')' after the uuid")
        uuid_text = text[pos:close]
        pos = close
    if not _UUID_RE.fullmatch(uuid_text):
        raise _fail(text, f"uuid {uuid_text!r} is not 8-4-4-4-12 hexadecimal digits")
    if not text.startswith(")", pos):
        raise _fail(text, f"expected ')' at position {pos}")
    pos += 1
    if pos != len(text):
        raise _fail(text, f"unexpected trailing {text[pos:]!r} after the data object")
    # The parser takes only canonical spellings, but for the case of the uuid's hex digits:
    # a text with a lower-case uuid is the canonical text itself.
    canonical = text if uuid_text == uuid_text.lower() else None
    uuid = _uuid_from_checked(uuid_text)
    return DataObjectURI._checked(dataspace, qtype, uuid, version, canonical)


def validate_osdu_dataspace(path: str | DataspaceURI | None) -> str:
    """Check the open-etp-server rule: exactly ``project/scenario``, both non-empty; return path.

    open-etp-server has no default dataspace, so ``None`` and ``eml:///`` are refused.
    """
    if isinstance(path, DataspaceURI):
        path = path.path
    if path is None:
        raise InvalidURIError(
            "invalid dataspace for open-etp-server: the default dataspace 'eml:///' is not "
            "supported; use 'project/scenario'",
            path,
        )
    path = _check_str(path, "dataspace path")
    parts = path.split("/")
    if len(parts) != 2 or not all(parts):
        raise InvalidURIError(
            f"invalid dataspace path {_show(path)} for open-etp-server: expected exactly two "
            "non-empty levels 'project/scenario'",
            path,
        )
    return path


def as_dataspace_uri(value: str | DataspaceURI, *, osdu: bool = False) -> DataspaceURI:
    """Accept a :class:`DataspaceURI`, an ``eml:///...`` string or a bare path ``"proj/scen"``.

    A string starting with ``eml:`` is parsed as a URI, any other string is a path. ``""`` is
    refused (pass ``"eml:///"`` or ``None`` elsewhere for the default dataspace) so that an empty
    variable cannot silently select the default dataspace. ``osdu=True`` also applies
    :func:`validate_osdu_dataspace`.
    """
    if isinstance(value, DataspaceURI):
        result = value
    elif isinstance(value, str) and value.startswith("eml:"):
        result = DataspaceURI.parse(value)
    elif isinstance(value, str) and len(value) <= _MEMO_MAX_CHARS:
        result = _dataspace(value)
    else:
        result = DataspaceURI.from_path(value)
    if osdu:
        validate_osdu_dataspace(result)
    return result


def as_object_uri(value: str | DataObjectURI) -> DataObjectURI:
    """Accept a :class:`DataObjectURI` or its ``eml:///...`` text."""
    if isinstance(value, DataObjectURI):
        return value
    if type(value) is str and len(value) <= _MEMO_MAX_CHARS:  # DataObjectURI.parse, inlined:
        uri = _parse_uri(value)  # a put or get takes a URI per object
        if isinstance(uri, DataObjectURI):
            return uri
    return DataObjectURI.parse(value)


def _keyed_object_uris(values: Iterable[str | DataObjectURI]) -> dict[str, DataObjectURI]:
    """Data object URIs (each accepted as :func:`as_object_uri` accepts it) by their canonical
    text, in order; of equal URIs the first is kept. One loop for the many URIs of a get or a
    delete."""
    keyed: dict[str, DataObjectURI] = {}
    for value in values:
        # as_object_uri's way with the usual value, a short str, inlined: from the memo
        uri = _parse_uri(value) if type(value) is str and len(value) <= _MEMO_MAX_CHARS else None
        if not isinstance(uri, DataObjectURI):
            uri = as_object_uri(value)
        keyed.setdefault(uri._text, uri)
    return keyed


def dataspace_of(uri: str | DataspaceURI | DataObjectURI) -> DataspaceURI:
    """The dataspace a URI is in (a dataspace URI is its own dataspace)."""
    if isinstance(uri, str):
        uri = parse_uri(uri)
    if isinstance(uri, DataObjectURI):
        return uri.dataspace
    if isinstance(uri, DataspaceURI):
        return uri
    raise InvalidURIError(
        f"expected a URI string, DataspaceURI or DataObjectURI, got {type(uri).__name__}", uri
    )
