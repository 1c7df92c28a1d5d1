"""Small, valid RESQML 2.0.1 and WITSML 2.1 documents for tests, demos and examples.

Users testing their own code against :class:`~etp_sync.server.EmbeddedServer` need realistic
data objects; this module builds a depth surface model the way RESQML 2.0.1 stores one — a
LocalDepth3dCrs, an EpcExternalPartReference (the "HDF proxy" that owns the arrays) and a
Grid2dRepresentation referencing both, whose z values live in a data array::

    model = surface_model("demo/model", shape=(200, 300))
    session.put_data_objects(model.objects)
    session.put_data_array(model.epc_uri, model.array_path, model.z_values)
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.sax.saxutils import escape

import numpy as np

from .uri import DataObjectURI, DataspaceURI, as_dataspace_uri

RESQML_NS = "http://www.energistics.org/energyml/data/resqmlv2"
EML_NS = "http://www.energistics.org/energyml/data/commonv2"
WITSML_NS = "http://www.energistics.org/energyml/data/witsmlv2"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


def _citation(title: str, when: datetime | None, last_update: datetime | None = None) -> str:
    """An ``eml:Citation``: ``when`` (default now) written in UTC; ``last_update``, when given,
    written with its own UTC offset (xs:dateTime allows any; stores must honour it)."""
    when = (when or datetime.now(UTC)).astimezone(UTC)
    fraction = f".{when.microsecond:06d}".rstrip("0") if when.microsecond else ""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"
    updated = (
        f"    <eml:LastUpdate>{last_update.isoformat()}</eml:LastUpdate>\n" if last_update else ""
    )
    return (
        "  <eml:Citation>\n"
        f"    <eml:Title>{escape(title)}</eml:Title>\n"
        "    <eml:Originator>etp_sync</eml:Originator>\n"
        f"    <eml:Creation>{stamp}</eml:Creation>\n"
        "    <eml:Format>etp_sync</eml:Format>\n"
        f"{updated}"
        "  </eml:Citation>\n"
    )


def _reference(tag: str, content_type: str, title: str, ref: uuid.UUID) -> str:
    return (
        f"<{tag}>\n"
        f"  <eml:ContentType>{content_type}</eml:ContentType>\n"
        f"  <eml:Title>{escape(title)}</eml:Title>\n"
        f"  <eml:UUID>{ref}</eml:UUID>\n"
        f"</{tag}>"
    )


def local_depth_crs(
    ref: uuid.UUID,
    title: str = "Local depth CRS",
    epsg: int = 23031,
    *,
    created: datetime | None = None,
) -> bytes:
    """A RESQML 2.0.1 ``obj_LocalDepth3dCrs`` (``created`` defaults to now)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<resqml2:obj_LocalDepth3dCrs xmlns:resqml2="{RESQML_NS}" xmlns:eml="{EML_NS}" '
        f'xmlns:xsi="{XSI_NS}" schemaVersion="2.0" uuid="{ref}">\n'
        + _citation(title, created)
        + "  <resqml2:YOffset>0.0</resqml2:YOffset>\n"
        "  <resqml2:ZOffset>0.0</resqml2:ZOffset>\n"
        '  <resqml2:ArealRotation uom="rad">0.0</resqml2:ArealRotation>\n'
        "  <resqml2:ProjectedAxisOrder>easting northing</resqml2:ProjectedAxisOrder>\n"
        "  <resqml2:ProjectedUom>m</resqml2:ProjectedUom>\n"
        "  <resqml2:VerticalUom>m</resqml2:VerticalUom>\n"
        "  <resqml2:XOffset>0.0</resqml2:XOffset>\n"
        "  <resqml2:ZIncreasingDownward>true</resqml2:ZIncreasingDownward>\n"
        '  <resqml2:VerticalCrs xsi:type="eml:VerticalUnknownCrs">'
        "<eml:Unknown>unknown</eml:Unknown></resqml2:VerticalCrs>\n"
        '  <resqml2:ProjectedCrs xsi:type="eml:ProjectedCrsEpsgCode">'
        f"<eml:EpsgCode>{epsg}</eml:EpsgCode></resqml2:ProjectedCrs>\n"
        "</resqml2:obj_LocalDepth3dCrs>\n"
    ).encode()


def crs_documents(
    dataspace: str | DataspaceURI, count: int, title: str = "CRS", *, size: int = 0
) -> dict[str, bytes]:
    """``count`` small :func:`local_depth_crs` documents of fresh uuids, keyed by their URI
    text in ``dataspace`` (titles ``"<title> 0"``, ``"<title> 1"``, ...): what a put of many
    objects takes. ``size`` > 0 pads each with :func:`padded`."""
    space = as_dataspace_uri(dataspace)
    docs = {}
    for k in range(count):
        ref = uuid.uuid4()
        uri = DataObjectURI.from_type(space, "resqml20.obj_LocalDepth3dCrs", ref)
        docs[str(uri)] = padded(local_depth_crs(ref, f"{title} {k}"), size)
    return docs


def epc_external_part_reference(
    ref: uuid.UUID, title: str = "Hdf Proxy", *, created: datetime | None = None
) -> bytes:
    """An EML 2.0 ``obj_EpcExternalPartReference``: the owner of RESQML 2.0.1 data arrays."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<eml:obj_EpcExternalPartReference xmlns:eml="{EML_NS}" schemaVersion="2.0" '
        f'uuid="{ref}">\n'
        + _citation(title, created)
        + "  <eml:MimeType>application/x-hdf5</eml:MimeType>\n"
        "</eml:obj_EpcExternalPartReference>\n"
    ).encode()


def padded(xml: bytes, size: int) -> bytes:
    """``xml`` with an XML comment of ``size`` filler characters before its closing root tag:
    the same object made as large as a test or demo needs (chunked transfers, size limits).
    The filler is hexadecimal digits of a fixed pseudo-random sequence, so it does not
    compress away. ``size`` 0 returns ``xml`` unchanged."""
    if size <= 0:
        return xml
    filler = random.Random(size).randbytes((size + 1) // 2).hex()[:size]
    end = xml.rstrip().rfind(b"</")
    return xml[:end] + b"<!-- " + filler.encode() + b" -->\n" + xml[end:]


def resqml_object(
    type_name: str,
    ref: uuid.UUID,
    title: str,
    references: Sequence[tuple[str, uuid.UUID]] = (),
    *,
    created: datetime | None = None,
) -> bytes:
    """A minimal RESQML 2.0.1 object of any type (``type_name`` such as
    ``"obj_HorizonInterpretation"``): a citation and one ``resqml2:Reference`` per
    ``(type_name, uuid)`` in ``references``, and nothing else.

    It carries what a store indexes (type, uuid, title, times, links) but not the type's
    required content, so it is for exercising stores and graphs (Discovery walks, deletes
    that prune), not a schema-valid document; use the builders above for those."""
    links = "".join(
        _reference(
            "resqml2:Reference",
            f"application/x-resqml+xml;version=2.0;type={target_type}",
            target_type,
            target,
        )
        + "\n"
        for target_type, target in references
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<resqml2:{type_name} xmlns:resqml2="{RESQML_NS}" xmlns:eml="{EML_NS}" '
        f'schemaVersion="2.0" uuid="{ref}">\n'
        + _citation(title, created)
        + links
        + f"</resqml2:{type_name}>\n"
    ).encode()


def _lattice_offset(direction: tuple[float, float], spacing: float, count: int) -> str:
    """One ``Offset`` of a ``Point3dLatticeArray``: a unit direction, ``count`` steps."""
    return (
        "          <resqml2:Offset>\n"
        "            <resqml2:Offset>"
        f"<resqml2:Coordinate1>{direction[0]}</resqml2:Coordinate1>"
        f"<resqml2:Coordinate2>{direction[1]}</resqml2:Coordinate2>"
        "<resqml2:Coordinate3>0.0</resqml2:Coordinate3></resqml2:Offset>\n"
        '            <resqml2:Spacing xsi:type="resqml2:DoubleConstantArray">'
        f"<resqml2:Value>{spacing}</resqml2:Value>"
        f"<resqml2:Count>{count}</resqml2:Count></resqml2:Spacing>\n"
        "          </resqml2:Offset>\n"
    )


def grid2d_representation(
    ref: uuid.UUID,
    *,
    crs: uuid.UUID,
    epc: uuid.UUID,
    shape: tuple[int, int],
    array_path: str,
    title: str = "Surface",
    origin: tuple[float, float] = (0.0, 0.0),
    spacing: tuple[float, float] = (25.0, 25.0),
    created: datetime | None = None,
    last_update: datetime | None = None,
    object_version: str | None = None,
) -> bytes:
    """A RESQML 2.0.1 ``obj_Grid2dRepresentation`` whose z values are the array ``array_path``
    of the EpcExternalPartReference ``epc``, on a regular lattice in the CRS ``crs``.

    ``shape`` is (slowest, fastest) axis counts; ``spacing`` is (dx, dy): x runs along the
    fastest axis, y along the slowest. ``last_update`` and ``object_version`` add the citation's
    LastUpdate and the root's objectVersion (a store takes them as the object's change time and
    version)."""
    slow, fast = shape
    crs_ref = _reference(
        "resqml2:LocalCrs",
        "application/x-resqml+xml;version=2.0;type=obj_LocalDepth3dCrs",
        "Local depth CRS",
        crs,
    )
    epc_ref = _reference(
        "eml:HdfProxy",
        "application/x-eml+xml;version=2.0;type=obj_EpcExternalPartReference",
        "Hdf Proxy",
        epc,
    )
    version = f' objectVersion="{escape(object_version)}"' if object_version else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<resqml2:obj_Grid2dRepresentation xmlns:resqml2="{RESQML_NS}" xmlns:eml="{EML_NS}" '
        f'xmlns:xsi="{XSI_NS}" schemaVersion="2.0" uuid="{ref}"{version}>\n'
        + _citation(title, created, last_update)
        + "  <resqml2:SurfaceRole>map</resqml2:SurfaceRole>\n"
        "  <resqml2:Grid2dPatch>\n"
        "    <resqml2:PatchIndex>0</resqml2:PatchIndex>\n"
        f"    <resqml2:FastestAxisCount>{fast}</resqml2:FastestAxisCount>\n"
        f"    <resqml2:SlowestAxisCount>{slow}</resqml2:SlowestAxisCount>\n"
        "    <resqml2:Geometry>\n"
        f"{crs_ref}\n"
        '      <resqml2:Points xsi:type="resqml2:Point3dZValueArray">\n'
        '        <resqml2:SupportingGeometry xsi:type="resqml2:Point3dLatticeArray">\n'
        "          <resqml2:Origin>"
        f"<resqml2:Coordinate1>{origin[0]}</resqml2:Coordinate1>"
        f"<resqml2:Coordinate2>{origin[1]}</resqml2:Coordinate2>"
        "<resqml2:Coordinate3>0.0</resqml2:Coordinate3></resqml2:Origin>\n"
        + _lattice_offset((0.0, 1.0), spacing[1], slow - 1)
        + _lattice_offset((1.0, 0.0), spacing[0], fast - 1)
        + "        </resqml2:SupportingGeometry>\n"
        '        <resqml2:ZValues xsi:type="resqml2:DoubleHdf5Array">\n'
        "          <resqml2:Values>\n"
        f"            <eml:PathInHdfFile>{escape(array_path)}</eml:PathInHdfFile>\n"
        f"{epc_ref}\n"
        "          </resqml2:Values>\n"
        "        </resqml2:ZValues>\n"
        "      </resqml2:Points>\n"
        "    </resqml2:Geometry>\n"
        "  </resqml2:Grid2dPatch>\n"
        "</resqml2:obj_Grid2dRepresentation>\n"
    ).encode()


@dataclass
class SurfaceModel:
    """A depth surface: three objects keyed by URI, plus the z values array and where it goes."""

    dataspace: DataspaceURI
    crs_uri: DataObjectURI
    epc_uri: DataObjectURI
    grid_uri: DataObjectURI
    array_path: str
    z_values: np.ndarray
    objects: dict[DataObjectURI, bytes] = field(default_factory=dict)


def surface_model(
    dataspace: str | DataspaceURI,
    shape: tuple[int, int] = (50, 80),
    *,
    title: str = "Top reservoir",
    seed: int = 0,
) -> SurfaceModel:
    """Build a depth surface model with smooth random z values of the given shape."""
    ds = as_dataspace_uri(dataspace)
    crs, epc, grid = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    path = f"/RESQML/{grid}/zvalues"
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    z = 2000.0 + 30.0 * np.sin(x / 17.0) * np.cos(y / 23.0) + rng.normal(0, 0.5, shape)
    model = SurfaceModel(
        dataspace=ds,
        crs_uri=DataObjectURI.from_type(ds, "resqml20.obj_LocalDepth3dCrs", crs),
        epc_uri=DataObjectURI.from_type(ds, "eml20.obj_EpcExternalPartReference", epc),
        grid_uri=DataObjectURI.from_type(ds, "resqml20.obj_Grid2dRepresentation", grid),
        array_path=path,
        z_values=z,
    )
    model.objects = {
        model.crs_uri: local_depth_crs(crs),
        model.epc_uri: epc_external_part_reference(epc),
        model.grid_uri: grid2d_representation(
            grid, crs=crs, epc=epc, shape=shape, array_path=path, title=title
        ),
    }
    return model


def witsml_well(ref: uuid.UUID, name: str = "Well 1", *, created: datetime | None = None) -> bytes:
    """A WITSML 2.1 ``Well`` (``created`` defaults to now)."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<witsml:Well xmlns:witsml="{WITSML_NS}" xmlns:eml="{EML_NS}" uuid="{ref}" '
        'schemaVersion="2.1">\n' + _citation(name, created) + "</witsml:Well>\n"
    ).encode()


def witsml_wellbore(
    ref: uuid.UUID, well: uuid.UUID, name: str = "Wellbore 1", *, created: datetime | None = None
) -> bytes:
    """A WITSML 2.1 ``Wellbore`` referencing its ``Well`` (``created`` defaults to now)."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<witsml:Wellbore xmlns:witsml="{WITSML_NS}" xmlns:eml="{EML_NS}" uuid="{ref}" '
        'schemaVersion="2.1">\n' + _citation(name, created) + "  <witsml:Well>\n"
        "    <eml:QualifiedType>witsml21.Well</eml:QualifiedType>\n"
        "    <eml:Title>Well</eml:Title>\n"
        f"    <eml:Uuid>{well}</eml:Uuid>\n"
        "  </witsml:Well>\n"
        "</witsml:Wellbore>\n"
    ).encode()
