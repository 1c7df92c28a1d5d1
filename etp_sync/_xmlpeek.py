"""A data object's URI and Resource fields without building its tree (the put path's parser).

A put needs an object's qualified type and uuid (its URI) and its citation's title and times
(Resource fields): all in the root element and its ``Citation`` child. :func:`peek_data_object`
lets expat run over the whole document (so what it accepts is what
:func:`~etp_sync.xmlinfo.parse_data_object` accepts) but calls Python only for the root, its
children up to the end of the first ``Citation``, that citation's children, and the text of the
ones :func:`~etp_sync.xmlinfo.identify_root` reads; the fields are the very ones
``parse_data_object`` gives. References are not looked for (``references``, ``links`` and
``hdf_datasets`` are empty).
"""

from __future__ import annotations

from typing import Any
from xml.parsers import expat

from .xmlinfo import (
    CITATION_FIELDS,
    ENCODING_ERRORS,
    ObjectInfo,
    identify_root,
    parse_data_object,
)

__all__ = ["peek_data_object"]

_CITATION = "Citation"


def _tag(name: str) -> str:
    """expat's ``namespace local`` (separator ``" "``) spelt as ElementTree does: ``{ns}local``."""
    ns, _, local = name.rpartition(" ")
    return f"{{{ns}}}{local}" if ns else local


def _local(name: str) -> str:
    return name.rpartition(" ")[2]


class _Skeleton:
    """expat handlers keeping the root's tag and attributes, the prefixes it declares, and the
    leading text (what ElementTree calls ``text``) of the first child of each name in
    CITATION_FIELDS of the root's first Citation child. Character data is asked for only
    while such a text is being read."""

    def __init__(self, parser: Any) -> None:
        self.parser = parser
        self.root_ns: dict[str, str] = {}
        self.tag: str | None = None
        self.attributes: dict[str, str] = {}
        self.citation: dict[str, str] | None = None  # texts, once the Citation has started
        self.in_citation = False
        self.depth = 0
        self.field = ""  # the citation child whose leading text is being read
        self.text: list[str] | None = None

    def start_ns(self, prefix: str | None, uri: str | None) -> None:
        if self.tag is None:
            self.root_ns[prefix or ""] = uri or ""

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if self.text is not None:
            self._keep_text()  # a child element ends the leading text
        self.depth += 1
        depth = self.depth
        if depth == 1:
            self.tag = _tag(name)
            self.attributes = {_tag(k): v for k, v in attrs.items()}
        elif depth == 2:
            if self.citation is None and _local(name) == _CITATION:
                self.citation = {}
                self.in_citation = True
        elif depth == 3 and self.in_citation:
            local = _local(name)
            assert self.citation is not None
            if local in CITATION_FIELDS and local not in self.citation:
                self.citation[local] = ""
                self.field = local
                self.text = []
                self.parser.CharacterDataHandler = self.text.append

    def _keep_text(self) -> None:
        assert self.citation is not None and self.text is not None
        self.citation[self.field] = "".join(self.text)
        self.text = None
        self.parser.CharacterDataHandler = None

    def end(self, name: str) -> None:
        if self.text is not None:
            self._keep_text()
        if self.depth == 2 and self.in_citation:
            # The citation is read: the rest of the document only needs checking by expat.
            self.in_citation = False
            self.parser.StartElementHandler = None
            self.parser.EndElementHandler = None
            self.parser.StartNamespaceDeclHandler = None
        self.depth -= 1


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
    except (expat.ExpatError, *ENCODING_ERRORS):
        return parse_data_object(xml)  # raises the error parse_data_object gives
    if skeleton.tag is None:  # pragma: no cover - expat rejects empty documents first
        return parse_data_object(xml)
    return identify_root(
        skeleton.tag, skeleton.attributes, skeleton.root_ns, skeleton.citation or {}
    )
