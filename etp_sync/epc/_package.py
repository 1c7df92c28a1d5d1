"""The EPC container (Open Packaging Conventions zip): read the data object parts of a package,
write a package that RESQML tools open. No HDF5 here: arrays live in :mod:`._hdf5`.

An EPC holds ``[Content_Types].xml`` (the content type of every part), ``_rels/.rels`` (the
package's relationship to ``docProps/core.xml``), one XML part per data object (named
``obj_Type_uuid.xml`` for RESQML 2.0.1, ``Type_uuid.xml`` later) and, per part,
``_rels/<part>.rels`` listing the objects it refers to (``destinationObject``), the objects
referring to it (``sourceObject``) and the HDF proxies (EpcExternalPartReference) that own its
arrays; a proxy's own relationships name the HDF5 file (``externalResource``, external target).
"""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse
from xml.sax.saxutils import quoteattr

from .._version import __version__
from ..errors import EPCError, ETPError
from ..xmlinfo import ObjectInfo, parse_data_object, qualified_type_from_content_type

__all__ = [
    "EpcPart",
    "EpcReader",
    "EpcWriter",
    "content_type",
    "is_hdf_proxy",
    "part_name",
]

CONTENT_TYPES_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
RELS_CONTENT_TYPE = "application/vnd.openxmlformats-package.relationships+xml"
CORE_CONTENT_TYPE = "application/vnd.openxmlformats-package.core-properties+xml"
CORE_REL = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties"
_ENERGISTICS_REL = "http://schemas.energistics.org/package/2012/relationships/"
DESTINATION = _ENERGISTICS_REL + "destinationObject"
SOURCE = _ENERGISTICS_REL + "sourceObject"
TO_PROXY = _ENERGISTICS_REL + "mlToExternalPartProxy"
FROM_PROXY = _ENERGISTICS_REL + "externalPartProxyToMl"
EXTERNAL_RESOURCE = _ENERGISTICS_REL + "externalResource"
CORE_PART = "docProps/core.xml"
_QUALIFIED_RE = re.compile(r"^(?P<family>[a-z]+)(?P<major>\d)(?P<minor>\d)\.(?P<type>\w+)$")


def is_hdf_proxy(qualified_type: str) -> bool:
    """True for the EpcExternalPartReference types (the owners of a document's arrays)."""
    return qualified_type.rpartition(".")[2].removeprefix("obj_") == "EpcExternalPartReference"


def content_type(qualified_type: str) -> str:
    """``resqml20.obj_X`` → ``application/x-resqml+xml;version=2.0;type=obj_X``."""
    m = _QUALIFIED_RE.match(qualified_type)
    if m is None:
        raise EPCError(f"not a qualified data object type: {qualified_type!r}")
    version = f"{m.group('major')}.{m.group('minor')}"
    return f"application/x-{m.group('family')}+xml;version={version};type={m.group('type')}"


def part_name(qualified_type: str, uuid: str) -> str:
    """The conventional part name of a data object: ``obj_X_<uuid>.xml`` (type without its
    family prefix), the name resqpy and fesapi give it; also used for ``objects get -o``."""
    return f"{qualified_type.rpartition('.')[2]}_{uuid}.xml"


@dataclass(frozen=True)
class EpcPart:
    """A data object part of a package: its name, document and what :func:`parse_data_object`
    found in it."""

    name: str
    xml: bytes
    info: ObjectInfo


def _rels_name(part: str) -> str:
    folder, base = posixpath.split(part)
    return posixpath.join(folder, "_rels", base + ".rels")


def _parse(data: bytes, what: str) -> ET.Element:
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise EPCError(f"{what} is not well-formed XML: {exc}") from None


class EpcReader:
    """The data objects of an ``.epc`` file and the HDF5 files its proxies name.

    ``with EpcReader(path) as epc: for part in epc.parts(): ...``. Every failure (not a zip,
    missing part, bad XML) is an :class:`~etp_sync.errors.EPCError`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise EPCError(f"cannot open EPC {str(self.path)!r}: {exc}") from None
        self._names = set(self._zip.namelist())
        self._types = self._content_types()

    def __enter__(self) -> EpcReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def _read(self, name: str) -> bytes:
        try:
            return self._zip.read(name)
        except (KeyError, OSError, zipfile.BadZipFile) as exc:
            raise EPCError(f"{self.path.name}: cannot read part {name!r}: {exc}") from None

    def _content_types(self) -> dict[str, str]:
        if "[Content_Types].xml" not in self._names:
            raise EPCError(f"{self.path.name} has no [Content_Types].xml: not an EPC package")
        root = _parse(self._read("[Content_Types].xml"), "[Content_Types].xml")
        types: dict[str, str] = {}
        for elem in root:
            if elem.tag == f"{{{CONTENT_TYPES_NS}}}Override":
                types[elem.get("PartName", "").lstrip("/")] = elem.get("ContentType", "")
        return types

    def part_names(self) -> list[str]:
        """Names of the parts whose content type is an Energistics data object type."""
        return [
            name
            for name, ctype in self._types.items()
            if qualified_type_from_content_type(ctype) is not None
        ]

    def parts(self) -> Iterator[EpcPart]:
        """Every data object part, parsed (EPCError for a document that cannot be)."""
        for name in self.part_names():
            xml = self._read(unquote(name))
            try:
                info = parse_data_object(xml)
            except ETPError as exc:
                raise EPCError(f"{self.path.name}: part {name!r}: {exc.message}") from None
            yield EpcPart(name, xml, info)

    def external_file(self, proxy_part: str) -> Path:
        """The HDF5 file an EpcExternalPartReference part names (its ``externalResource``
        relationship, relative to the EPC's folder), or ``<epc stem>.h5`` when it names none."""
        rels = _rels_name(proxy_part)
        if rels in self._names:
            root = _parse(self._read(rels), rels)
            for rel in root:
                if rel.get("Type") == EXTERNAL_RESOURCE and rel.get("Target"):
                    return self._resolve(rel.get("Target", ""))
        return self.path.with_suffix(".h5")

    def _resolve(self, target: str) -> Path:
        parsed = urlparse(target)
        text = unquote(parsed.path) if parsed.scheme == "file" else target
        path = Path(text)
        return path if path.is_absolute() else self.path.parent / path


def _relationships(rels: Iterable[tuple[str, str, str, bool]]) -> bytes:
    lines = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
        f'<Relationships xmlns="{RELS_NS}">',
    ]
    for rel_id, rel_type, target, external in rels:
        mode = ' TargetMode="External"' if external else ""
        lines.append(
            f"  <Relationship Id={quoteattr(rel_id)} Type={quoteattr(rel_type)} "
            f"Target={quoteattr(target)}{mode}/>"
        )
    lines.append("</Relationships>")
    return ("\n".join(lines) + "\n").encode()


def _core_properties(creator: str) -> bytes:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
        'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        f'  <dcterms:created xsi:type="dcterms:W3CDTF">{stamp}</dcterms:created>\n'
        f"  <dc:creator>{creator}</dc:creator>\n"
        "  <cp:version>1.0</cp:version>\n"
        "</cp:coreProperties>\n"
    ).encode()


class EpcWriter:
    """Writes an ``.epc``: add documents with :meth:`add`, name the HDF5 file of each proxy with
    :meth:`set_external_file`, then :meth:`close` writes content types and relationships.

    Documents go into the zip as they are added (only their :class:`ObjectInfo` is kept), so a
    large model never sits in memory. The file is written under a temporary name and renamed
    when complete; :meth:`abort` removes it.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._tmp = self.path.with_name(self.path.name + ".part")
        try:
            self._zip = zipfile.ZipFile(self._tmp, "w", zipfile.ZIP_DEFLATED)
        except OSError as exc:
            raise EPCError(f"cannot write {str(self.path)!r}: {exc.strerror or exc}") from None
        self._parts: dict[str, tuple[str, ObjectInfo]] = {}  # uuid -> (part name, info)
        self._external: dict[str, str] = {}  # proxy uuid -> HDF5 file name

    def __enter__(self) -> EpcWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    @property
    def infos(self) -> list[ObjectInfo]:
        """What was added so far."""
        return [info for _name, info in self._parts.values()]

    def __contains__(self, uuid: str) -> bool:
        return uuid in self._parts

    def add(self, xml: bytes) -> ObjectInfo:
        """Write one data object document as a part; returns what was parsed from it."""
        try:
            info = parse_data_object(xml)
        except ETPError as exc:
            raise EPCError(f"cannot put a document into an EPC: {exc.message}") from None
        if info.uuid in self._parts:
            return self._parts[info.uuid][1]
        name = part_name(info.qualified_type, info.uuid)
        self._write(name, xml)
        self._parts[info.uuid] = (name, info)
        return info

    def set_external_file(self, proxy_uuid: str, file_name: str) -> None:
        """Name the HDF5 file (relative to the EPC) of the proxy ``proxy_uuid``."""
        self._external[proxy_uuid] = file_name

    def _write(self, name: str, data: bytes) -> None:
        try:
            self._zip.writestr(name, data)
        except OSError as exc:
            raise EPCError(f"cannot write {str(self.path)!r}: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Write ``[Content_Types].xml``, the relationships and core properties; finish."""
        self._write("[Content_Types].xml", self._content_types())
        self._write("_rels/.rels", _relationships([("CoreProperties", CORE_REL, CORE_PART, False)]))
        self._write(CORE_PART, _core_properties(f"etp_sync {__version__}"))
        for name, rels in self._part_relationships().items():
            self._write(_rels_name(name), _relationships(rels))
        try:
            self._zip.close()
            self._tmp.replace(self.path)
        except OSError as exc:
            raise EPCError(f"cannot write {str(self.path)!r}: {exc.strerror or exc}") from None

    def abort(self) -> None:
        """Drop the half-written package."""
        self._zip.close()
        self._tmp.unlink(missing_ok=True)

    def _content_types(self) -> bytes:
        lines = [
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
            f'<Types xmlns="{CONTENT_TYPES_NS}">',
            f'  <Default Extension="rels" ContentType="{RELS_CONTENT_TYPE}"/>',
            f'  <Override PartName="/{CORE_PART}" ContentType="{CORE_CONTENT_TYPE}"/>',
        ]
        for name, info in self._parts.values():
            lines.append(
                f'  <Override PartName="/{name}" '
                f"ContentType={quoteattr(content_type(info.qualified_type))}/>"
            )
        lines.append("</Types>")
        return ("\n".join(lines) + "\n").encode()

    def _part_relationships(self) -> dict[str, list[tuple[str, str, str, bool]]]:
        rels: dict[str, dict[str, tuple[str, str, str, bool]]] = {
            name: {} for name, _info in self._parts.values()
        }
        for name, info in self._parts.values():
            for _qt, ref in info.references:
                if ref not in self._parts:
                    continue  # a reference outside the package: nothing to point at
                target, target_info = self._parts[ref]
                proxy = is_hdf_proxy(target_info.qualified_type)
                rels[name][ref] = (f"_{ref}", TO_PROXY if proxy else DESTINATION, target, False)
                rels[target].setdefault(
                    info.uuid, (f"_{info.uuid}", FROM_PROXY if proxy else SOURCE, name, False)
                )
        for uuid, file_name in self._external.items():
            if uuid in self._parts:
                name = self._parts[uuid][0]
                rels[name]["Hdf5File"] = ("Hdf5File", EXTERNAL_RESOURCE, file_name, True)
        return {name: list(r.values()) for name, r in rels.items() if r}
