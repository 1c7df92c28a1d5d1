"""The parts of ETP URIs, checked one by one: quoting, dataspace paths, object versions, uuids
and qualified types (:class:`QualifiedType`, with its memoised parser). :mod:`etp_sync.uri`
builds its dataspace and data object URIs of them and re-exports the public names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final
from uuid import UUID, SafeUUID

from etp_sync.errors import InvalidURIError

__all__ = [
    "DATA_OBJECT_FAMILIES",
    "QualifiedType",
    "validate_qualified_type",
]

DATA_OBJECT_FAMILIES: Final = frozenset({"eml", "prodml", "resqml", "witsml"})
"""Data object families (``domain``) a qualified type or data object URI may name."""

_UUID_RE: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_DOMAIN_VERSION_RE: Final = re.compile(r"[1-9][0-9]")
_OBJECT_TYPE_RE: Final = re.compile(r"[A-Za-z0-9_]+")
_FAMILY_PREFIX_RE: Final = re.compile(r"([A-Za-z]*)(.*)", re.DOTALL)
_MAX_SHOWN: Final = 200


def _show(value: object) -> str:
    """``repr`` of a bad input for an error message, shortened so huge inputs stay readable."""
    text = repr(value)
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 3] + "..."
    return text


def _fail(value: object, what: str) -> InvalidURIError:
    return InvalidURIError(f"invalid ETP URI {_show(value)}: {what}", value)


def _quote(text: str) -> str:
    """ETP quoted string: ``'`` around, an inner ``'`` doubled."""
    return "'" + text.replace("'", "''") + "'"


def _read_quoted(text: str, start: int, source: str, what: str) -> tuple[str, int]:
    """Read a quoted string whose opening quote is at ``text[start]``; return (value, end index)."""
    if start >= len(text) or text[start] != "'":
        raise _fail(source, f"{what} must be in single quotes")
    parts: list[str] = []
    pos = start + 1
    while True:
        close = text.find("'", pos)
        if close < 0:
            raise _fail(source, f"unbalanced quote in {what} (no closing ')")
        parts.append(text[pos:close])
        if text.startswith("''", close):
            parts.append("'")
            pos = close + 2
        else:
            return "".join(parts), close + 1


def _double_quoted(text: str) -> str:
    """``"text"`` with backslash and double quote escaped, for reprs."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_MEMO_MAX_CHARS: Final = 512
"""The longest text the parse memos keep: they hold at most so many entries of at most so
many characters each, so their memory stays bounded whatever URIs a peer sends."""


def _check_str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidURIError(
            f"{what} must be a str, got {type(value).__name__}: {_show(value)}", value
        )
    return value


def _check_path(path: object) -> str:
    """Validate a (non-default) dataspace path and return it."""
    path = _check_str(path, "dataspace path")
    if path == "":
        raise InvalidURIError(
            "invalid dataspace path '': empty; use None or 'eml:///' for the default dataspace",
            path,
        )
    if path.startswith("eml:"):
        raise InvalidURIError(
            f"invalid dataspace path {_show(path)}: looks like a URI, not a path "
            "(use DataspaceURI.parse or as_dataspace_uri)",
            path,
        )
    return path


def _check_version(version: object) -> str | None:
    """An object version: None, or a non-empty str."""
    if version is None:
        return None
    version = _check_str(version, "version")
    if version == "":
        raise InvalidURIError("invalid object version '': empty; use None for no version", version)
    return version


_new_object = object.__new__
_set_attribute = object.__setattr__
_UNKNOWN_SAFETY: Final = SafeUUID.unknown  # an enum member read once: reading it costs


def _built_uuid(text: str) -> UUID:
    """``UUID(text)`` of a text :data:`_UUID_RE` matched, built as ``UUID.__init__`` builds it
    (its ``int`` and ``is_safe``) without its checks of forms such a text cannot take: a third
    of the cost, and a put or get parses a URI (so a uuid) per object."""
    value = _new_object(UUID)
    _set_attribute(value, "int", int(text.replace("-", ""), 16))
    _set_attribute(value, "is_safe", _UNKNOWN_SAFETY)
    return value


_SAMPLE_UUID: Final = "0123abcd-4567-89ef-ABCD-0123456789ab"
_uuid_from_checked: Callable[[str], UUID] = (
    _built_uuid
    if getattr(UUID, "__slots__", ()) == ("int", "is_safe", "__weakref__")
    and _built_uuid(_SAMPLE_UUID) == UUID(_SAMPLE_UUID)
    else UUID  # a Python whose UUID is built otherwise: its constructor
)


def _check_uuid(value: object) -> UUID:
    """Accept a UUID or its strict 8-4-4-4-12 hex text (any case)."""
    if isinstance(value, UUID):
        return value
    text = _check_str(value, "uuid")
    if not _UUID_RE.fullmatch(text):
        raise InvalidURIError(
            f"invalid uuid {_show(text)}: expected 8-4-4-4-12 hexadecimal digits", text
        )
    return _uuid_from_checked(text)


def _check_domain(domain: object, source: object) -> str:
    domain = _check_str(domain, "domain")
    if domain not in DATA_OBJECT_FAMILIES:
        hint = " (families are lower-case)" if domain.lower() in DATA_OBJECT_FAMILIES else ""
        raise InvalidURIError(
            f"invalid qualified type {_show(source)}: unknown data object family {domain!r}"
            f"{hint}; expected one of {', '.join(sorted(DATA_OBJECT_FAMILIES))}",
            source,
        )
    return domain


def _check_domain_version(version: object, source: object) -> str:
    version = _check_str(version, "domain_version")
    if not _DOMAIN_VERSION_RE.fullmatch(version):
        raise InvalidURIError(
            f"invalid qualified type {_show(source)}: family version {version!r} must be two "
            "digits, the first not 0 (e.g. '20' for 2.0)",
            source,
        )
    return version


def _check_object_type(object_type: object, source: object, allow_wildcard: bool) -> str:
    object_type = _check_str(object_type, "object_type")
    if object_type == "*":
        if allow_wildcard:
            return object_type
        raise InvalidURIError(
            f"invalid qualified type {_show(source)}: a wildcard type is not allowed here", source
        )
    if not _OBJECT_TYPE_RE.fullmatch(object_type):
        raise InvalidURIError(
            f"invalid qualified type {_show(source)}: object type {object_type!r} must be "
            "non-empty ASCII letters, digits or '_'",
            source,
        )
    return object_type


@dataclass(frozen=True, slots=True, init=False, repr=False)
class QualifiedType:
    """A qualified data object type ``<family><2 digits>.<type>``, e.g. ``resqml20.obj_Grid2d...``.

    ``object_type`` ``"*"`` is the wildcard for every type of a family version (``resqml20.*``).
    """

    domain: str
    domain_version: str
    object_type: str

    def __init__(self, domain: str, domain_version: str, object_type: str) -> None:
        source = f"{domain}{domain_version}.{object_type}"
        object.__setattr__(self, "domain", _check_domain(domain, source))
        object.__setattr__(self, "domain_version", _check_domain_version(domain_version, source))
        object.__setattr__(self, "object_type", _check_object_type(object_type, source, True))

    @classmethod
    def parse(cls, text: str, *, allow_wildcard: bool = True) -> QualifiedType:
        """Parse ``resqml20.obj_X`` (or ``resqml20.*`` when ``allow_wildcard``)."""
        text = _check_str(text, "qualified type")
        if cls is QualifiedType and len(text) <= _MEMO_MAX_CHARS:
            return _parse_qualified_type(text, allow_wildcard)
        return cls._parse(text, allow_wildcard)

    @classmethod
    def _parse(cls, text: str, allow_wildcard: bool) -> QualifiedType:
        prefix, dot, object_type = text.partition(".")
        if not dot:
            raise InvalidURIError(
                f"invalid qualified type {_show(text)}: expected <family><2 digits>.<type>, "
                "e.g. 'resqml20.obj_Grid2dRepresentation'",
                text,
            )
        match = _FAMILY_PREFIX_RE.fullmatch(prefix)
        assert match is not None  # the pattern matches any string
        domain = _check_domain(match.group(1), text)
        version = _check_domain_version(match.group(2), text)
        object_type = _check_object_type(object_type, text, allow_wildcard)
        return cls(domain, version, object_type)

    @property
    def is_wildcard(self) -> bool:
        """True for ``<family><version>.*``."""
        return self.object_type == "*"

    def matches(self, other: QualifiedType | str) -> bool:
        """Whether ``other`` is this type or, if this is a wildcard, one of its family version."""
        if not isinstance(other, QualifiedType):
            other = QualifiedType.parse(other)
        if (self.domain, self.domain_version) != (other.domain, other.domain_version):
            return False
        return self.is_wildcard or self.object_type == other.object_type

    def __str__(self) -> str:
        return f"{self.domain}{self.domain_version}.{self.object_type}"

    def __repr__(self) -> str:
        return f"QualifiedType({_double_quoted(str(self))})"


# Defined here since uri.py was split, still public as etp_sync.uri.QualifiedType: pickles and
# help name that module, as they did before the split (and older versions can read them).
QualifiedType.__module__ = "etp_sync.uri"


@lru_cache(maxsize=1024)
def _parse_qualified_type(text: str, allow_wildcard: bool) -> QualifiedType:
    """:meth:`QualifiedType.parse`, memoised: a store names few types, many times (the values
    are immutable; refusals raise and are not remembered; texts longer than
    :data:`_MEMO_MAX_CHARS` are not kept)."""
    return QualifiedType._parse(text, allow_wildcard)


def validate_qualified_type(text: str | QualifiedType, *, allow_wildcard: bool = True) -> str:
    """Check a qualified type (as sent in ``dataObjectTypes`` lists) and return it as text."""
    if isinstance(text, QualifiedType):
        if text.is_wildcard and not allow_wildcard:
            raise InvalidURIError(
                f"invalid qualified type {_show(str(text))}: a wildcard type is not allowed here",
                str(text),
            )
        return str(text)
    return str(QualifiedType.parse(text, allow_wildcard=allow_wildcard))
