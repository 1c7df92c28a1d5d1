"""Provenance objects open-etp-server adds to every import (its ``open-etp-server`` profile).

pyetp's recorded output and tests against open-etp-server show that a write of data objects gets
a ``resqml20.obj_Activity`` titled ``Scenario_automated_import_<UTC time, ms>`` (creator: the
user, ``osdu_user`` on a server without authentication) whose ``Parameter/DataObject`` links to
the imported grid(s) (edge path ``rsq:Parameter/rsq:DataObject``) and whose ``ActivityDescriptor``
links to a ``resqml20.obj_ActivityTemplate`` that stays in the dataspace when everything else is
deleted. Which imported objects the activity names is not published: the recordings fit "the
imported objects that link to other objects" (the grids, not their CRS nor the
EpcExternalPartReference), which is the rule used here.
"""

from __future__ import annotations

import uuid as uuid_mod
from collections.abc import Iterable
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from etp_sync.xmlinfo import ObjectInfo

__all__ = [
    "ACTIVITY_TEMPLATE_TITLE",
    "ACTIVITY_TEMPLATE_TYPE",
    "ACTIVITY_TYPE",
    "activity_template_xml",
    "activity_xml",
    "imported_by_activity",
]

ACTIVITY_TYPE = "resqml20.obj_Activity"
ACTIVITY_TEMPLATE_TYPE = "resqml20.obj_ActivityTemplate"
ACTIVITY_TEMPLATE_TITLE = "Scenario_automated_import"
_RESQML = "http://www.energistics.org/energyml/data/resqmlv2"
_EML = "http://www.energistics.org/energyml/data/commonv2"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"


def _stamp(when_us: int) -> str:
    """``2026-02-25T14:20:53.917Z`` (UTC, milliseconds, as open-etp-server titles imports)."""
    when = datetime.fromtimestamp(when_us / 1e6, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _document(root: str, ref: uuid_mod.UUID, title: str, creator: str, when_us: int) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<resqml2:{root} xmlns:resqml2="{_RESQML}" xmlns:eml="{_EML}" xmlns:xsi="{_XSI}" '
        f'xsi:type="resqml2:obj_{root}" schemaVersion="2.0.1" uuid="{ref}">\n'
        "  <eml:Citation>\n"
        f"    <eml:Title>{escape(title)}</eml:Title>\n"
        f"    <eml:Originator>{escape(creator)}</eml:Originator>\n"
        f"    <eml:Creation>{_stamp(when_us)}</eml:Creation>\n"
        "    <eml:Format>etp_sync embedded server (open-etp-server profile)</eml:Format>\n"
        "  </eml:Citation>\n"
    )


def _reference(tag: str, qualified_type: str, title: str, ref: str) -> str:
    family, _, type_name = qualified_type.partition(".")
    kind = "eml" if family.startswith("eml") else "resqml"
    return (
        f"  <{tag}>\n"
        f"    <eml:ContentType>application/x-{kind}+xml;version=2.0;type={type_name}"
        "</eml:ContentType>\n"
        f"    <eml:Title>{escape(title)}</eml:Title>\n"
        f"    <eml:UUID>{ref}</eml:UUID>\n"
        f"  </{tag}>\n"
    )


def activity_template_xml(ref: uuid_mod.UUID, creator: str, when_us: int) -> bytes:
    """The ActivityTemplate every import activity of a dataspace points at."""
    return (
        _document("ActivityTemplate", ref, ACTIVITY_TEMPLATE_TITLE, creator, when_us)
        + "  <resqml2:Parameter>\n"
        "    <resqml2:Title>DataObject</resqml2:Title>\n"
        "    <resqml2:IsInput>false</resqml2:IsInput>\n"
        "    <resqml2:AllowedKind>dataObject</resqml2:AllowedKind>\n"
        "    <resqml2:IsOutput>true</resqml2:IsOutput>\n"
        "    <resqml2:MinOccurs>0</resqml2:MinOccurs>\n"
        "    <resqml2:MaxOccurs>-1</resqml2:MaxOccurs>\n"
        "  </resqml2:Parameter>\n"
        "</resqml2:ActivityTemplate>\n"
    ).encode()


def activity_xml(
    ref: uuid_mod.UUID,
    template: uuid_mod.UUID,
    imported: Iterable[ObjectInfo],
    creator: str,
    when_us: int,
) -> bytes:
    """The Activity recording one import: one DataObject parameter per imported object."""
    title = f"{ACTIVITY_TEMPLATE_TITLE}_{_stamp(when_us)}"
    parameters = "".join(
        '  <resqml2:Parameter xsi:type="resqml2:DataObjectParameter">\n'
        "    <resqml2:Title>DataObject</resqml2:Title>\n"
        + _reference("resqml2:DataObject", info.qualified_type, info.title, info.uuid)
        + "  </resqml2:Parameter>\n"
        for info in imported
    )
    return (
        _document("Activity", ref, title, creator, when_us)
        + _reference(
            "resqml2:ActivityDescriptor",
            ACTIVITY_TEMPLATE_TYPE,
            ACTIVITY_TEMPLATE_TITLE,
            str(template),
        )
        + parameters
        + "</resqml2:Activity>\n"
    ).encode()


def imported_by_activity(infos: Iterable[ObjectInfo]) -> list[ObjectInfo]:
    """The imported objects an import activity names: those linking to other objects."""
    return [
        i
        for i in infos
        if i.links and i.qualified_type not in (ACTIVITY_TYPE, ACTIVITY_TEMPLATE_TYPE)
    ]
