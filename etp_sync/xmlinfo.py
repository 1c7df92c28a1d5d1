"""Just enough Energistics XML parsing to identify a data object, for client and server alike.

The client derives an object's URI (qualified type and uuid) and its Resource fields (citation title
and time) from the XML it puts; the embedded store also needs the objects and HDF5 datasets a
document points at, for Discovery and DataArray bookkeeping. Nothing here validates a document
against its schema.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from xml.parsers import expat

from etp_sync._frozen import frozen_record
from etp_sync.errors import ErrorCode, ETPError

__all__ = [
    "CITATION_FIELDS",
    "ENCODING_ERRORS",
    "NS_SEPARATOR",
    "USUAL_DECLARATIONS",
    "XSI_NS",
    "ObjectInfo",
    "citation_times",
    "identify",
    "identify_root",
    "norm_uuid",
    "parse_data_object",
    "qualified_type_from_content_type",
    "refused",
    "root_namespaces",
]

_NS_FAMILY = {
    "http://www.energistics.org/energyml/data/resqmlv2": "resqml",
    "http://www.energistics.org/energyml/data/commonv2": "eml",
    "http://www.energistics.org/energyml/data/witsmlv2": "witsml",
    "http://www.energistics.org/energyml/data/prodmlv2": "prodml",
}
# Version digits used when a document has no usable schemaVersion (the attribute is required by
# every 2.x schema, so this only matters for sloppy documents).
_DEFAULT_VERSION = {"resqml": "20", "eml": "20", "witsml": "20", "prodml": "21"}
# Prefixes of element paths in link paths, as open-etp-server writes them (whatever the document's).
_NS_PREFIX = {
    "http://www.energistics.org/energyml/data/resqmlv2": "rsq",
    "http://www.energistics.org/energyml/data/commonv2": "eml",
    "http://www.energistics.org/energyml/data/witsmlv2": "witsml",
    "http://www.energistics.org/energyml/data/prodmlv2": "prodml",
}
# Families whose 2.0.x types (RESQML 2.0.1, EML 2.0) always carry the obj_ prefix in URIs.
_OBJ_PREFIXED = ("resqml", "eml")
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_XSI_TYPE = f"{{{XSI_NS}}}type"
# The citation children the identity reads (the first of each name counts).
CITATION_FIELDS = frozenset(("Title", "Creation", "LastUpdate", "Originator"))
_UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_VERSION_RE = re.compile(r"^\s*(\d+)\.(\d+)")
_CONTENT_TYPE_RE = re.compile(
    r"application/x-(?P<family>resqml|eml|witsml|prodml)\+xml\s*;"
    r"(?=.*\bversion=(?P<version>\d+\.\d+))(?=.*\btype=(?P<type>[\w.]+))",
    re.IGNORECASE,
)
_QUALIFIED_TYPE_RE = re.compile(r"^(?:resqml|eml|witsml|prodml)\d\d\.\w+$")


@dataclass(frozen=True)
class ObjectInfo:
    """What the store knows about a data object from its XML.

    ``references`` holds ``(qualified_type, uuid)`` of every object reference found in the document
    (``qualified_type`` is ``""`` when the reference does not say); ``links`` holds
    ``(qualified_type, uuid, path)`` of the references that link objects (Discovery edges), with the
    element path from the root as open-etp-server spells it (``rsq:Grid2dPatch/rsq:Geometry/
    rsq:LocalCrs``): every reference except the part reference of an external dataset (the
    ``HdfProxy`` of an ``Hdf5Dataset``), which names where array values live, not a link.
    ``hdf_datasets`` holds ``(path_in_file, epc_external_part_reference_uuid)`` (uuid ``""`` when
    the document does not reference the part by uuid). ``created_us`` is the citation's Creation
    time (0 if absent or unparseable) and ``originator`` its Originator.
    """

    uuid: str
    qualified_type: str
    title: str = ""
    last_update_us: int = 0
    object_version: str | None = None
    schema_version: str = ""
    references: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    hdf_datasets: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    links: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)
    created_us: int = 0
    originator: str = ""


_NO_REFERENCES: dict[str, tuple[Any, ...]] = {"references": (), "hdf_datasets": (), "links": ()}


def _object_info(fields: dict[str, Any]) -> ObjectInfo:
    """An :class:`ObjectInfo` of the fields :func:`_identity` worked out, and the references
    when given (a put identifies every object it sends: see :mod:`etp_sync._frozen`)."""
    return frozen_record(ObjectInfo, fields, _NO_REFERENCES)


USUAL_DECLARATIONS = (
    b'<?xml version="1.0" encoding="UTF-8"?>',
    b'<?xml version="1.0" encoding="utf-8"?>',
)
"""The XML declarations most documents open with: UTF-8, read without looking for the
encoding's name (by the store's reference scan and the put's head reader)."""

NS_SEPARATOR = "}"
"""The namespace separator expat is created with here, ElementTree's: expat refuses a namespace
URI holding the separator, so parsers with another one would accept other documents (a URI
may hold a space, once its attribute value is normalised, but no ``}``)."""

# What expat raises for a document whose XML declaration names an encoding it cannot read:
# LookupError for unknown names and non-text codecs, ValueError for multi-byte encodings (and
# UnicodeError, a ValueError, for codecs that refuse to decode).
ENCODING_ERRORS = (LookupError, ValueError)
_MAX_DETAIL = 200  # characters of a parser's message quoted in an error (it may hold the name)


def _error(message: str) -> ETPError:
    return ETPError(message, ErrorCode.EINVALID_OBJECT)


def refused(exc: BaseException) -> ETPError:
    """The EINVALID_OBJECT error of a document the XML parser refused: ``exc`` is what the
    parser (ElementTree's or expat's, which word errors alike) raised, a syntax error or one of
    :data:`ENCODING_ERRORS` for an encoding it cannot read."""
    if isinstance(exc, ENCODING_ERRORS):
        detail = str(exc)
        if len(detail) > _MAX_DETAIL:
            detail = detail[:_MAX_DETAIL] + "..."
        return _error(f"data object declares an encoding the XML parser cannot read: {detail}")
    return _error(f"data object is not well-formed XML: {exc}")


_MEMO_MAX_CHARS = 256
"""The longest tag the memos below keep: they hold at most 4,096 tags of at most so many
characters each, so their memory stays bounded whatever documents a peer sends."""


def _split(tag: str) -> tuple[str, str]:
    """``{ns}local`` → ``(ns, local)``."""
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


# Memoised: documents repeat a few tags many times.
_memo_split = lru_cache(maxsize=4096)(_split)


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""
    return (_memo_split(tag) if len(tag) <= _MEMO_MAX_CHARS else _split(tag))[1]


def _child(elem: ET.Element, name: str) -> ET.Element | None:
    for c in elem:
        if _local(c.tag) == name:
            return c
    return None


_LOCAL_NAMES: dict[object, str] = {}
"""Local names of the tags met, by tag (a plain dict is cheaper than a memoised call per
child); bounded: past 4,096 tags, new ones (and long ones) are split and not kept."""


def _children_by_name(elem: ET.Element) -> dict[str, ET.Element]:
    """The first child of each local name (one pass, instead of one scan per name looked for)."""
    first: dict[str, ET.Element] = {}
    names = _LOCAL_NAMES
    for c in elem:
        tag = c.tag
        local = names.get(tag)
        if local is None:
            local = _local(tag)
            if len(names) < 4096 and isinstance(tag, str) and len(tag) <= _MEMO_MAX_CHARS:
                names[tag] = local
        if local not in first:
            first[local] = c
    return first


def _text(elem: ET.Element | None) -> str:
    return "" if elem is None or elem.text is None else elem.text.strip()


def _version_digits(schema_version: str) -> str | None:
    m = _VERSION_RE.match(schema_version)
    return f"{m.group(1)}{m.group(2)}" if m else None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _parse_time_us(text: str) -> int:
    """xsd:dateTime → microseconds since the epoch (naive times are UTC); 0 if unparseable."""
    if not text:
        return 0
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return 0
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def citation_times(citation: Mapping[str, str]) -> tuple[int, int]:
    """``(created_us, last_update_us)`` of a citation's texts by field name: its Creation, and
    its LastUpdate or else its Creation (µs; 0 when absent or unreadable)."""
    created_us = _parse_time_us(citation.get("Creation", "").strip())
    return created_us, _parse_time_us(citation.get("LastUpdate", "").strip()) or created_us


def norm_uuid(text: str) -> str | None:
    """A uuid's text in lower case (white space around it dropped); None if it is none."""
    text = text.strip()
    return text.lower() if _UUID_RE.match(text) else None


def qualified_type_from_content_type(content_type: str) -> str | None:
    """``application/x-resqml+xml;version=2.0;type=obj_X`` → ``resqml20.obj_X``, else None."""
    m = _CONTENT_TYPE_RE.search(content_type)
    if m is None:
        return None
    digits = _version_digits(m.group("version")) or ""
    type_name = m.group("type").rpartition(".")[2]
    return f"{m.group('family').lower()}{digits}.{type_name}"


def _step(tag: object) -> str:
    """One step of a link path: ``rsq:LocalCrs`` (unknown namespaces keep no prefix)."""
    if not isinstance(tag, str):
        return ""
    return _tag_step(tag) if len(tag) <= _MEMO_MAX_CHARS else _tag_step.__wrapped__(tag)


@lru_cache(maxsize=4096)
def _tag_step(tag: str) -> str:
    ns, local = _split(tag)
    prefix = _NS_PREFIX.get(ns)
    return f"{prefix}:{local}" if prefix else local


def _reference_type(children: dict[str, ET.Element]) -> str:
    """The type a reference names (its children by name), ``""`` when it does not say."""
    qt = _text(children.get("QualifiedType"))
    if _QUALIFIED_TYPE_RE.match(qt):
        return qt
    ct = _text(children.get("ContentType"))
    return (qualified_type_from_content_type(ct) or "") if ct else ""


def _reference_uuid(children: dict[str, ET.Element]) -> str | None:
    """The uuid a reference names (its children by name): its first ``UUID`` child, else its
    first ``Uuid`` child; None when it has neither or the text is no uuid."""
    c = children.get("UUID")
    if c is None:
        c = children.get("Uuid")
    return None if c is None else norm_uuid(_text(c))


def _root_type(
    ns: str, local: str, xsi_type: str | None, root_ns: Mapping[str, str]
) -> tuple[str, str] | None:
    """(family, type name) of the root, from xsi:type when it names a known type, else the tag."""
    if xsi_type:
        prefix, _, name = xsi_type.rpartition(":")
        xsi_ns = root_ns.get(prefix)
        if xsi_ns in _NS_FAMILY and name:
            ns, local = xsi_ns, name
    family = _NS_FAMILY.get(ns)
    if family is None:
        return None
    return family, local


def identify(root: ET.Element, root_ns: Mapping[str, str]) -> ObjectInfo:
    """What the root element (tag, attributes, ``Citation`` child) says about a data object:
    everything but its references. ``root_ns`` maps the prefixes declared on the root."""
    ns, local = _split(root.tag)
    return identify_root(
        ns, local, root.attrib, root.attrib.get(_XSI_TYPE), root_ns, _citation_texts(root)
    )


def identify_root(
    ns: str,
    local: str,
    attributes: Mapping[str, str],
    xsi_type: str | None,
    root_ns: Mapping[str, str],
    citation: Mapping[str, str],
) -> ObjectInfo:
    """:func:`identify` from the parts a parser that builds no tree keeps: the root's namespace
    and local name, its attributes (``schemaVersion``, ``uuid`` and ``objectVersion`` are read
    by those unprefixed names), its ``xsi:type`` (None without one), the prefixes it declares,
    and ``citation``: the leading text of the first child of each name in
    :data:`CITATION_FIELDS` of its first ``Citation`` child."""
    return _object_info(_identity(ns, local, attributes, xsi_type, root_ns, citation))


def _citation_texts(root: ET.Element) -> dict[str, str]:
    """What :func:`identify_root` takes as ``citation``, from a tree."""
    citation = _child(root, "Citation")
    if citation is None:
        return {}
    children = _children_by_name(citation)
    return {name: c.text or "" for name, c in children.items() if name in CITATION_FIELDS}


def _identity(
    ns: str,
    local: str,
    attributes: Mapping[str, str],
    xsi_type: str | None,
    root_ns: Mapping[str, str],
    citation: Mapping[str, str],
) -> dict[str, Any]:
    """The :class:`ObjectInfo` fields :func:`identify_root` fills, by name."""
    schema_version = (attributes.get("schemaVersion") or "").strip()
    if xsi_type or len(ns) + len(local) + len(schema_version) > _MEMO_MAX_CHARS:
        qualified_type = _qualified_type(ns, local, xsi_type, root_ns, schema_version)
    else:  # the usual root: its type is one of a few, worked out once
        qualified_type = _root_qualified_type(ns, local, schema_version)

    raw_uuid = attributes.get("uuid")
    if raw_uuid is None:
        raise _error(f"{qualified_type} has no uuid attribute")
    obj_uuid = norm_uuid(raw_uuid)
    if obj_uuid is None:
        raise _error(f"{qualified_type} has an invalid uuid {raw_uuid!r}")

    created_us, last_update_us = citation_times(citation)
    return {
        "uuid": obj_uuid,
        "qualified_type": qualified_type,
        "title": citation.get("Title", "").strip(),
        "last_update_us": last_update_us,
        "object_version": attributes.get("objectVersion"),
        "schema_version": schema_version,
        "created_us": created_us,
        "originator": citation.get("Originator", "").strip(),
    }


def _qualified_type(
    ns: str, local: str, xsi_type: str | None, root_ns: Mapping[str, str], schema_version: str
) -> str:
    """The qualified type :func:`_identity` gives a root (``schema_version`` stripped)."""
    family_type = _root_type(ns, local, xsi_type, root_ns)
    if family_type is None:
        tag = f"{{{ns}}}{local}" if ns else local
        raise _error(f"root element {tag!r} is not in an Energistics 2.x namespace")
    family, type_name = family_type
    if type_name.startswith("obj_") and family in _OBJ_PREFIXED:
        digits = "20"
    else:
        digits = _version_digits(schema_version) or _DEFAULT_VERSION[family]
    if family in _OBJ_PREFIXED and digits == "20" and not type_name.startswith("obj_"):
        # RESQML 2.0.1 / EML 2.0 types are obj_-prefixed in URIs whatever the root element
        # (the XSD's own element name, e.g. <resqml2:LocalDepth3dCrs>, has no prefix).
        type_name = f"obj_{type_name}"
    return f"{family}{digits}.{type_name}"


@lru_cache(maxsize=256)
def _root_qualified_type(ns: str, local: str, schema_version: str) -> str:
    """:func:`_qualified_type` of a root without ``xsi:type``, memoised: a put or a store's
    documents have a few types, many times (a refusal raises and is not kept; the caller
    keeps no root whose names are longer than :data:`_MEMO_MAX_CHARS` together)."""
    return _qualified_type(ns, local, None, {}, schema_version)


class _RootStarted(Exception):
    """Raised by :func:`root_namespaces`'s handler to stop expat at the root's start tag."""

    __slots__ = ()


def _stop_at_root(name: str, attributes: dict[str, str]) -> None:
    raise _RootStarted


def root_namespaces(xml: bytes) -> dict[str, str]:
    """The prefixes the root element of a document (already parsed whole) declares: expat
    reads it again up to the root's start tag only (the prolog and that tag).

    Only an ``xsi:type`` on the root needs them, so the parsers ask for them afterwards, for
    such roots alone: collecting them while parsing would cost every document more (ElementTree
    would report an event per element; expat a Python call per declaration)."""
    root_ns: dict[str | None, str | None] = {}  # expat: None for the default namespace
    parser = expat.ParserCreate(namespace_separator=NS_SEPARATOR)
    parser.StartNamespaceDeclHandler = root_ns.__setitem__
    parser.StartElementHandler = _stop_at_root
    try:
        parser.Parse(xml, True)
    except _RootStarted:
        pass  # the root's declarations are all in
    except (expat.ExpatError, *ENCODING_ERRORS) as exc:  # a document that was never parsed
        raise refused(exc) from None
    return {prefix or "": uri or "" for prefix, uri in root_ns.items()}


def parse_data_object(xml: bytes) -> ObjectInfo:
    """Parse an Energistics 2.x data object; ETPError(EINVALID_OBJECT) if it cannot be used
    (not well-formed, in an encoding the parser cannot read, not an Energistics object).

    Family and version come from the root namespace and ``schemaVersion`` (RESQML 2.0.1 / EML 2.0
    types keep their ``obj_`` prefix and are always version 20).
    """
    # The whole document goes to expat in one feed: fed in pieces (as iterparse does), expat
    # before 2.6 rescans a token that spans pieces from its start on every piece, which makes
    # one huge comment, text or attribute value cost quadratic time.
    data = bytes(xml)
    parser = ET.XMLParser()
    try:
        parser.feed(data)
        root = parser.close()
    except (ET.ParseError, *ENCODING_ERRORS) as exc:
        raise refused(exc) from None
    ns, local = _split(root.tag)
    xsi_type = root.attrib.get(_XSI_TYPE)
    # The root's prefixes matter only to resolve an xsi:type on it. ElementTree keeps no
    # prefixes, and asking it for namespace events would cost every document more than
    # re-reading the start tag of the few with an xsi:type root costs them.
    root_ns = root_namespaces(data) if xsi_type else {}
    identity = _identity(ns, local, root.attrib, xsi_type, root_ns, _citation_texts(root))
    obj_uuid = identity["uuid"]

    references: dict[tuple[str, str], None] = {}
    links: dict[tuple[str, str], str] = {}
    datasets: dict[tuple[str, str], None] = {}
    # Depth-first in document order, with the path of each element and whether its parent
    # describes a dataset. Only elements with children are visited: a reference is an element
    # with a UUID child and a dataset one with a path child.
    stack: list[tuple[ET.Element, str, bool]] = [(root, "", False)]
    while stack:
        elem, path, in_dataset = stack.pop()
        children = _children_by_name(elem)
        if elem is not root:
            ref_uuid = _reference_uuid(children)
            if ref_uuid is not None and ref_uuid != obj_uuid:
                ref = (_reference_type(children), ref_uuid)
                references[ref] = None
                if not in_dataset:
                    links.setdefault(ref, path)
        # An element naming a path in an external file describes a dataset: its reference to
        # the part (HdfProxy) is no link.
        path_elem = children.get("PathInHdfFile")
        if path_elem is None:
            path_elem = children.get("PathInExternalFile")
        describes = path_elem is not None
        for c in reversed(elem):
            if len(c):
                step = _step(c.tag)
                stack.append((c, f"{path}/{step}" if path else step, describes))
        if path_elem is None or not _text(path_elem):
            continue
        part_uuid = ""
        for sibling in elem:
            sib_uuid = _reference_uuid(_children_by_name(sibling)) if len(sibling) else None
            if sib_uuid is not None:
                part_uuid = sib_uuid
                break
        datasets[(_text(path_elem), part_uuid)] = None

    identity["references"] = tuple(references)
    identity["hdf_datasets"] = tuple(datasets)
    identity["links"] = tuple((qt, ref, path) for (qt, ref), path in links.items())
    return _object_info(identity)
