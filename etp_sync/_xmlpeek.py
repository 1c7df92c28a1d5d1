"""A data object's URI and Resource fields without building its tree (the put path's parser).

A put needs an object's qualified type and uuid (its URI) and its citation's title and times
(Resource fields): all in the root element and its ``Citation`` child. :func:`peek_data_object`
lets expat run once over the whole document (so what it accepts is what
:func:`~etp_sync.xmlinfo.parse_data_object` accepts, and its errors are worded alike) but calls
Python only for the root and its children up to the first ``Citation``. A plain citation (see
:data:`_PLAIN_CITATION`, the usual form) is then read off the document's bytes by a pattern;
any other is followed through expat's events: its elements, and the text of the ones
:func:`~etp_sync.xmlinfo.identify_root` reads. The fields are the very ones
``parse_data_object`` gives. References are not looked for (``references``, ``links`` and
``hdf_datasets`` are empty).

:func:`peek_head` is cheaper still for the usual document (the root's start tag, then a plain
citation as its first child): it reads those fields off the first bytes by patterns and leaves
the rest of the document unread. A client's put uses it (the store checks every document it is
sent); the store itself uses :func:`peek_data_object`, which checks the whole document.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, NamedTuple
from xml.parsers import expat

from ._native import load_native
from .xmlinfo import (
    CITATION_FIELDS,
    ENCODING_ERRORS,
    NS_SEPARATOR,
    USUAL_DECLARATIONS,
    XSI_NS,
    ObjectInfo,
    citation_times,
    identify_root,
    norm_uuid,
    parse_data_object,
    refused,
    root_namespaces,
)

__all__ = [
    "HEAD",
    "SCAN",
    "HeadFields",
    "head_fields",
    "peek_data_object",
    "peek_head",
    "scan_data_object",
]

_CITATION = "Citation"
_XSI_TYPE = f"{XSI_NS}{NS_SEPARATOR}type"  # expat's spelling of the xsi:type attribute's name

# A plain citation, from its start tag to its end tag: no attributes; children that are empty or
# hold text only (no elements, comments, processing instructions or CDATA sections, no character
# references, no carriage return, which XML would normalise; the five predefined entities are
# fine); nothing but whitespace between them. expat checks that the document is well-formed (so
# a name is whatever runs up to white space, '/' or '>', and an end tag up to its '>'); the
# pattern only decides whether the citation may be read off the bytes (possessive quantifiers:
# a citation that is not plain fails fast).
_NAME = rb"[^\s/>:!?<]++"  # '!' and '?' start comments, CDATA sections and instructions
_TEXT = rb"[^<&\r]*+(?:&(?:amp|lt|gt|quot|apos);[^<&\r]*+)*+"
_PLAIN_CITATION = re.compile(
    rb"<" + _NAME + rb"(?::" + _NAME + rb")?+\s*+>"
    rb"((?:\s*+<" + _NAME + rb"(?::" + _NAME + rb")?+\s*+(?:/>|>" + _TEXT + rb"</[^>]++>))*+)"
    rb"\s*+</[^>]++>"
)
# The children of a plain citation's content that CITATION_FIELDS names: (local name, text).
_FIELD_CHILD = re.compile(
    rb"<(?:" + _NAME + rb":)?+(" + b"|".join(f.encode() for f in sorted(CITATION_FIELDS)) + rb")"
    rb"\s*+(?:/>|>(" + _TEXT + rb")</)"
)
_FIELDS = {field.encode(): field for field in CITATION_FIELDS}
_DECLARATION = re.compile(rb"(?:\xef\xbb\xbf)?+<\?xml[^>]*+>")
_ENCODING = re.compile(rb"encoding\s*+=\s*+[\"']([^\"']*+)")
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&amp;", "&"))


def _local(name: str) -> str:
    """The local part of expat's ``namespace}local``."""
    return name[name.rfind(NS_SEPARATOR) + 1 :]


def _in_utf8(data: bytes) -> bool:
    """Whether a document is in UTF-8: it declares UTF-8 or no encoding (UTF-16 documents never
    match :data:`_PLAIN_CITATION`: their bytes interleave zeros)."""
    declaration = _DECLARATION.match(data)
    if declaration is None:
        return True
    encoding = _ENCODING.search(declaration.group())
    return encoding is None or encoding.group(1).lower() == b"utf-8"


def _plain_citation(data: bytes, start: int) -> dict[str, str] | None:
    """The texts of the first child of each name in CITATION_FIELDS of the citation whose
    start tag is at byte ``start``, when that citation is plain; None otherwise, and when a text
    is not ASCII in a document not in UTF-8 (its bytes mean what the declared encoding says).
    Called while expat parses, it must raise nothing: bytes that are no UTF-8 are replaced (and
    expat refuses the document)."""
    match = _PLAIN_CITATION.match(data, start)
    if match is None:
        return None
    texts: dict[str, str] = {}
    for name, raw in _FIELD_CHILD.findall(data, match.start(1), match.end(1)):
        field = _FIELDS[name]
        if field not in texts:
            if not raw.isascii() and not _in_utf8(data):
                return None
            text = raw.decode("utf-8", "replace")
            if "&" in text:
                for entity, char in _ENTITIES:
                    text = text.replace(entity, char)
            texts[field] = text
    return texts


class _EntityNotRead(Exception):
    """Raised by the handlers of :func:`peek_data_object` at a reference to an entity expat
    does not expand (an external one, or one undeclared in a document with an external DTD
    subset): expat would skip it, ElementTree refuses the document."""

    __slots__ = ()


def _external_entity(context: Any, base: Any, system_id: Any, public_id: Any) -> int:
    raise _EntityNotRead


def _skipped_entity(name: str, is_parameter_entity: bool) -> None:
    if not is_parameter_entity:  # a skipped parameter entity is no reference in content
        raise _EntityNotRead


class _Peek:
    """expat handlers keeping the root's name and attributes, and the leading text (what
    ElementTree calls ``text``) of the first child of each name in CITATION_FIELDS of the
    root's first Citation child: off the bytes of a plain citation, else from the events
    of its elements. Element events are asked for up to that citation (or its end),
    character data only while such a text is being read."""

    __slots__ = (
        "attributes",
        "citation",
        "data",
        "depth",
        "field",
        "name",
        "parser",
        "plain",
        "text",
    )

    def __init__(self, parser: Any, data: bytes) -> None:
        self.parser = parser
        self.data = data
        self.name = ""
        self.attributes: dict[str, str] = {}
        self.plain: dict[str, str] | None = None  # the texts of a plain citation
        self.citation: dict[str, str] = {}
        self.depth = 1
        self.field = ""  # the citation child whose leading text is being read
        self.text: list[str] | None = None
        parser.StartElementHandler = self.root

    def root(self, name: str, attrs: dict[str, str]) -> None:
        self.name = name
        self.attributes = attrs
        self.parser.StartElementHandler = self.seek
        self.parser.EndElementHandler = self.seek_end

    def seek(self, name: str, attrs: dict[str, str]) -> None:
        """An element before the citation: the citation when it is the root's child."""
        self.depth += 1
        if self.depth == 2 and _local(name) == _CITATION:
            parser = self.parser
            self.plain = _plain_citation(self.data, parser.CurrentByteIndex)
            if self.plain is None:
                parser.StartElementHandler = self.start
                parser.EndElementHandler = self.end
            else:  # read: the rest of the document only needs checking by expat
                parser.StartElementHandler = None
                parser.EndElementHandler = None

    def seek_end(self, name: str) -> None:
        self.depth -= 1

    def start(self, name: str, attrs: dict[str, str]) -> None:
        """An element inside the citation."""
        if self.text is not None:
            self._keep_text()  # a child element ends the leading text
        self.depth += 1
        if self.depth == 3:
            local = _local(name)
            if local in CITATION_FIELDS and local not in self.citation:
                self.citation[local] = ""
                self.field = local
                self.text = []
                self.parser.CharacterDataHandler = self.text.append

    def _keep_text(self) -> None:
        assert self.text is not None
        self.citation[self.field] = "".join(self.text)
        self.text = None
        self.parser.CharacterDataHandler = None

    def end(self, name: str) -> None:
        if self.text is not None:
            self._keep_text()
        self.depth -= 1
        if self.depth == 1:
            # The citation is read: the rest of the document only needs checking by expat.
            self.parser.StartElementHandler = None
            self.parser.EndElementHandler = None


# The head of a document in the form :func:`peek_head` reads: an optional byte order mark and
# XML declaration, white space, the root's start tag, white space, and the start of its first
# child. Attribute values hold no '<' or '&' (references, which expat would expand) and no tab,
# CR or LF (which XML normalises to spaces), so their bytes are their values.
_ATTR_NAME = rb"[^\s/>:!?<=\"']++"
_QNAME = _ATTR_NAME + rb"(?::" + _ATTR_NAME + rb")?+"
_ATTR_VALUE = rb"(?:\"[^\"<&\t\r\n]*+\"|'[^'<&\t\r\n]*+')"
_HEAD = re.compile(
    rb"(?:\xef\xbb\xbf)?+(<\?xml\s[^>]*+>)?+\s*+<(" + _QNAME + rb")"
    rb"((?:\s++" + _QNAME + rb"\s*+=\s*+" + _ATTR_VALUE + rb")*+)\s*+>\s*+"
    rb"(?=<(?:" + _ATTR_NAME + rb":)?+" + _CITATION.encode() + rb"[\s/>])"
)
# An attribute of a start tag _HEAD matched: (name, value in double quotes, in single quotes),
# taken in order and whole (a value holding ``uuid="..."`` is no attribute). Bytes, so ASCII
# white space only, as in _HEAD: with Unicode's, a name _HEAD read whole would be split, and
# findall would start again at each of its characters (quadratic time).
_ATTRIBUTE = re.compile(b"(" + _QNAME + rb")\s*+=\s*+(?:\"([^\"]*+)\"|'([^']*+)')")


class HeadFields(NamedTuple):
    """What a put sends of a document besides its bytes: its uuid (lower case, to check the
    URI's), its citation's title (Resource ``name``) and last update (µs; the creation when it
    has no LastUpdate, 0 without either: Resource ``lastChanged``). The values of
    :class:`~etp_sync.xmlinfo.ObjectInfo`'s fields of those names."""

    uuid: str
    title: str
    last_update_us: int


def head_fields(info: ObjectInfo) -> HeadFields:
    """:class:`HeadFields` of a document :func:`peek_data_object` read."""
    return HeadFields(info.uuid, info.title, info.last_update_us)


def _root_uuid(attribute_text: bytes) -> str | None:
    """The root's ``uuid`` attribute (unprefixed; lower case) from the bytes of the attributes
    of a start tag :data:`_HEAD` matched; None when it has none, names it twice, or it is no
    uuid (the parser then says why)."""
    raw = None
    for name, double, single in _ATTRIBUTE.findall(attribute_text):
        if name == b"uuid":
            if raw is not None:
                return None
            raw = double or single
    return None if raw is None else norm_uuid(raw.decode("ascii", "replace"))


def peek_head(xml: bytes) -> HeadFields | None:
    """The :class:`HeadFields` of a document in the usual form, read off its first bytes
    without running a parser over the rest: a UTF-8 document whose root's start tag has a
    ``uuid`` attribute and whose first child is a plain citation (see
    :data:`_PLAIN_CITATION`). None for any other document: ask :func:`peek_data_object`.

    For a well-formed document the fields are the very ones :func:`peek_data_object` gives;
    the rest of the document is not checked, so a document that is not well-formed may be
    given fields too (a put sends it, and the store refuses it). A client needs no more: the
    store checks every document it is sent, and a pipelined put is one transaction. The
    root's name and namespace are not read: a put keyed by URI needs the document's uuid, not
    its type (the store checks both against the URI).

    Where the compiled scan is built, its head reader (``_xmlscan_c.head``: the same form, or
    a narrower one, read byte by byte) goes first."""
    if HEAD is not None and type(xml) is bytes:
        read = HEAD(xml, _SCAN_FIELDS)
        if read is not None:
            raw_uuid, citation = read
            return _head_fields(norm_uuid(raw_uuid), citation)
    head = _HEAD.match(xml)
    if head is None or b"\x00" in xml[: head.end()]:
        return None
    declaration, _tag, attribute_text = head.groups()
    if (
        declaration is not None
        and declaration not in USUAL_DECLARATIONS
        and b"encoding" in declaration
        and not _in_utf8(xml)
    ):
        return None
    obj_uuid = _root_uuid(attribute_text)
    if obj_uuid is None:
        return None
    citation = _plain_citation(xml, head.end())
    return None if citation is None else _head_fields(obj_uuid, citation)


def _head_fields(obj_uuid: str | None, citation: dict[str, str]) -> HeadFields | None:
    """The :class:`HeadFields` of a root's uuid (None: no uuid) and its citation's texts."""
    if obj_uuid is None:
        return None
    _created_us, last_update_us = citation_times(citation)
    return HeadFields(obj_uuid, citation.get("Title", "").strip(), last_update_us)


def peek_data_object(xml: bytes) -> ObjectInfo:
    """The identity and citation fields of :func:`~etp_sync.xmlinfo.parse_data_object` (same
    values, same errors), without its references, at a fraction of the cost."""
    data = bytes(xml)
    parser = expat.ParserCreate(namespace_separator=NS_SEPARATOR)
    parser.buffer_text = True
    peek = _Peek(parser, data)
    parser.ExternalEntityRefHandler = _external_entity
    parser.SkippedEntityHandler = _skipped_entity
    try:
        parser.Parse(data, True)
    except (expat.ExpatError, *ENCODING_ERRORS) as exc:
        raise refused(exc) from None
    except _EntityNotRead:  # rare (a DTD naming entities): ElementTree's verdict and wording
        return replace(parse_data_object(data), references=(), hdf_datasets=(), links=())
    citation = peek.citation if peek.plain is None else peek.plain
    return _identified(data, peek.name, peek.attributes, citation)


def _identified(
    data: bytes, name: str, attributes: dict[str, str], citation: dict[str, str]
) -> ObjectInfo:
    """The :class:`ObjectInfo` of a document whose root has expat's ``name`` and
    ``attributes`` and whose citation has the texts ``citation``."""
    ns, _, local = name.rpartition(NS_SEPARATOR)
    xsi_type = attributes.get(_XSI_TYPE)
    # The root's prefixes matter only to resolve an xsi:type on it (see root_namespaces).
    root_ns = root_namespaces(data) if xsi_type else {}
    return identify_root(ns, local, attributes, xsi_type, root_ns, citation)


_SCANNER = load_native("etp_sync._xmlscan_c", "the expat handlers of peek_data_object")
SCAN = None if _SCANNER is None else _SCANNER.scan
"""The compiled scan of ``_xmlscan_c`` (None: not built, or turned off); tests set it."""
HEAD = None if _SCANNER is None else _SCANNER.head
"""The compiled head reader of ``_xmlscan_c`` (None: not built, or turned off); tests set it."""
_SCAN_FIELDS = tuple(sorted(CITATION_FIELDS))


def scan_data_object(xml: bytes) -> ObjectInfo | None:
    """:func:`peek_data_object` of a document with none of the bytes ``UUID``, ``Uuid``,
    ``PathIn``, ``<!DOCTYPE`` and NUL (the marks of a document that may hold a reference, see
    :mod:`etp_sync.server._xml`), read by the compiled scan: expat with handlers in C (a third
    fewer instructions than the Python handlers). None when the scan is not in use or the
    document is not such a one, has an error, or is in an encoding expat does not read itself:
    ask the Python code, which also words every error."""
    if SCAN is None:
        return None
    data = bytes(xml)
    scanned = SCAN(data, _SCAN_FIELDS)
    return None if scanned is None else _identified(data, *scanned)
