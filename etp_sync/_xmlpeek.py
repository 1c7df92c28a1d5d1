"""A data object's URI and Resource fields without building its tree (the put path's parser).

A put needs an object's qualified type and uuid (its URI) and its citation's title and times
(Resource fields): all in the root element and its ``Citation`` child. :func:`peek_data_object`
lets expat run over the whole document (so what it accepts is what
:func:`~etp_sync.xmlinfo.parse_data_object` accepts) but calls Python only for the root, its
children and the first ``Citation``'s children; from them it builds the skeleton
:func:`~etp_sync.xmlinfo.identify` reads, so the fields are the very ones ``parse_data_object``
gives. References are not looked for (``references``, ``links`` and ``hdf_datasets`` are empty).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from xml.parsers import expat

from .xmlinfo import ObjectInfo, identify, parse_data_object

__all__ = ["peek_data_object"]

_CITATION = "Citation"
# The citation children identify() reads (the first of each name counts).
_FIELDS = frozenset(("Title", "Creation", "LastUpdate", "Originator"))


def _tag(name: str) -> str:
    """expat's ``namespace local`` (separator ``" "``) spelt as ElementTree does: ``{ns}local``."""
    ns, _, local = name.rpartition(" ")
    return f"{{{ns}}}{local}" if ns else local


class _Skeleton:
    """expat handlers keeping the root, its first Citation child and the leading text (what
    ElementTree calls ``text``) of the first of that citation's children of each name
    identify() reads."""

    def __init__(self, parser: Any) -> None:
        self.parser = parser
        self.root_ns: dict[str, str] = {}
        self.root: ET.Element | None = None
        self.citation: ET.Element | None = None
        self.depth = 0
        self.text: list[str] | None = None  # leading text of the citation child being read
        self.seen: set[str] = set()  # citation children kept

    def start_ns(self, prefix: str | None, uri: str | None) -> None:
        if self.root is None:
            self.root_ns[prefix or ""] = uri or ""

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self._keep_text()  # a child element ends the leading text
        self.depth += 1
        if self.depth == 1:
            self.root = ET.Element(_tag(name), {_tag(k): v for k, v in attrs.items()})
        elif self.depth == 2 and self.citation is None and _local(name) == _CITATION:
            assert self.root is not None
            self.citation = ET.SubElement(self.root, _tag(name))
            self.parser.CharacterDataHandler = self.chars
        elif self.depth == 3 and self.citation is not None and self.citation_open:
            local = _local(name)
            if local in _FIELDS and local not in self.seen:
                self.seen.add(local)
                ET.SubElement(self.citation, _tag(name))
                self.text = []

    @property
    def citation_open(self) -> bool:
        return self.parser.CharacterDataHandler is not None

    def chars(self, data: str) -> None:
        if self.text is not None:
            self.text.append(data)

    def _keep_text(self) -> None:
        if self.text is not None and self.citation is not None:
            self.citation[-1].text = "".join(self.text)
        self.text = None

    def end(self, name: str) -> None:
        self._keep_text()
        if self.depth == 2 and self.citation_open:
            # The citation is read: the rest of the document only needs checking by expat.
            self.parser.CharacterDataHandler = None
            self.parser.StartElementHandler = None
            self.parser.EndElementHandler = None
            self.parser.StartNamespaceDeclHandler = None
        self.depth -= 1


def _local(name: str) -> str:
    return name.rpartition(" ")[2]


def peek_data_object(xml: bytes) -> ObjectInfo:
    """The identity and citation fields of :func:`~etp_sync.xmlinfo.parse_data_object` (same
    values, same errors), without its references, at a fraction of the cost."""
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    skeleton = _Skeleton(parser)
    parser.StartNamespaceDeclHandler = skeleton.start_ns
    parser.StartElementHandler = skeleton.start
    parser.EndElementHandler = skeleton.end
    try:
        parser.Parse(bytes(xml), True)
    except expat.ExpatError:
        return parse_data_object(xml)  # raises the error parse_data_object gives
    if skeleton.root is None:  # pragma: no cover - expat rejects empty documents first
        return parse_data_object(xml)
    return identify(skeleton.root, skeleton.root_ns)
