"""Referential integrity and import provenance, checked when a stage is applied.

As open-etp-server does: an object may not be deleted while an object left in its dataspace
links to it (the commit fails), and, under the open-etp-server profile, every write of linking
objects adds an import ``obj_Activity`` (and the dataspace's ``obj_ActivityTemplate`` once).
"""

from __future__ import annotations

import uuid as uuid_mod
from typing import TYPE_CHECKING

from etp_sync.errors import ErrorCode, StoreError

from .._xml import parse_data_object
from ._provenance import (
    ACTIVITY_TEMPLATE_TITLE,
    ACTIVITY_TEMPLATE_TYPE,
    activity_template_xml,
    activity_xml,
    imported_by_activity,
)
from ._records import Space, Stage, StoredObject
from ._uris import object_uri

if TYPE_CHECKING:
    from ._core import StoreCore

__all__ = ["add_import_activities", "check_references", "dangling"]


def dangling(core: StoreCore, sp: Space, stage: Stage) -> dict[str, list[str]]:
    """Objects the stage deletes that objects left in ``sp`` still link to: the URI of each
    deleted object → the URIs of the objects that link to it."""
    staged = stage.objects.get(sp.path, {})
    gone = {uid for uid, obj in staged.items() if obj is None and uid in sp.objects}
    if not gone:
        return {}
    found: dict[str, list[str]] = {}
    for obj in sorted(core._objects(sp, stage).values(), key=lambda o: o.uri):
        for _qt, ref, _path in obj.info.links:
            if ref in gone and obj.uri not in found.setdefault(sp.objects[ref].uri, []):
                found[sp.objects[ref].uri].append(obj.uri)
    return {uri: sources for uri, sources in found.items() if sources}


def add_import_activities(core: StoreCore, stage: Stage) -> None:
    """Stage one import Activity per dataspace the stage puts linking objects into (and the
    dataspace's ActivityTemplate, when it has none), as open-etp-server does."""
    for path, objects in list(stage.objects.items()):
        imported = imported_by_activity(o.info for o in objects.values() if o is not None)
        if not imported:
            continue
        sp = core._spaces[path]
        now = core._now()
        template = next(
            (
                o
                for o in core._iter_objects(sp, stage)  # no copy of the dataspace's objects
                if o.info.qualified_type == ACTIVITY_TEMPLATE_TYPE
                and o.info.title == ACTIVITY_TEMPLATE_TITLE
            ),
            None,
        )
        documents = []
        if template is None:
            template_uuid = uuid_mod.uuid4()
            documents.append(activity_template_xml(template_uuid, core.activity_creator, now))
        else:
            template_uuid = uuid_mod.UUID(template.info.uuid)
        documents.append(
            activity_xml(uuid_mod.uuid4(), template_uuid, imported, core.activity_creator, now)
        )
        for xml in documents:
            info = parse_data_object(xml)
            obj = StoredObject(
                object_uri(path, info.qualified_type, info.uuid), info, xml, "xml", now, now
            )
            core._stage_object(stage, path, info.uuid, obj)


def check_references(core: StoreCore, stage: Stage) -> None:
    """Referential integrity, checked when a stage is applied (at commit, as open-etp-server
    does): no object may be deleted while an object left in its dataspace links to it."""
    for path in stage.objects:
        sp = core._spaces.get(path)
        found = dangling(core, sp, stage) if sp is not None else {}
        if found:
            uri, sources = next(iter(found.items()))
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            raise StoreError(
                ErrorCode.EINVALID_OPERATION,
                f"cannot delete {uri}{more}: still referenced by {', '.join(sources)}",
            )
