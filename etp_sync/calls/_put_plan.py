"""What a put of data objects sends: the documents read into items (URI, bytes, Resource
fields), the batches of a pipelined put built as they are sent, and the Chunk messages of an
object too large for one message. No I/O: :mod:`.store` sends what this builds."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from operator import attrgetter
from typing import Any

from .._xmlpeek import HeadFields, head_fields, peek_data_object, peek_head
from ..errors import ETPError, ETPInvalidArgument
from ..protocol.negotiation import now_us
from ..schema import datatypes, messages
from ..schema._object_records import new_data_object, new_resource
from ..uri import (
    DataObjectURI,
    DataspaceURI,
    as_dataspace_uri,
    as_object_uri,
    canonical_object_dataspace,
)
from ..xmlinfo import ObjectInfo
from ._batching import MESSAGE_OVERHEAD, ramp
from ._core import one_or_many

ObjectURI = str | DataObjectURI
Document = bytes | bytearray | memoryview | str
# Mapping is invariant in its key type: spell out the key types a caller's dict may have.
ObjectMap = Mapping[str, Document] | Mapping[DataObjectURI, Document] | Mapping[ObjectURI, Document]

# Bytes of one DataObject entry around its strings and data (varints, longs, enums, blob id).
ENTRY_OVERHEAD = 128
# Bytes of a Chunk message around its payload (header, blob id, length, final flag).
CHUNK_OVERHEAD = 64
# A pipelined put's batch n holds up to min(PUT_FIRST_BATCH_BYTES << n, PUT_BATCH_BYTES) bytes.
PUT_FIRST_BATCH_BYTES = 32 * 1024
PUT_BATCH_BYTES = 128 * 1024


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _document_bytes(doc: Any, where: object) -> bytes:
    if type(doc) is bytes:
        return doc
    if isinstance(doc, str):
        return doc.encode("utf-8")
    if isinstance(doc, bytes | bytearray | memoryview):
        return bytes(doc)
    raise ETPInvalidArgument(f"{where}: a data object must be XML bytes or str, got {type(doc)}")


def _derive_uri(info: ObjectInfo, dataspace: DataspaceURI) -> DataObjectURI:
    try:
        return DataObjectURI.from_type(dataspace, info.qualified_type, info.uuid)
    except ETPError as exc:
        raise ETPInvalidArgument(f"cannot derive a URI from the document: {exc}") from None


class _PutItem:
    """One object to put: its URI, bytes and Resource fields."""

    __slots__ = ("data", "key", "last_changed", "size", "title", "uri")

    def __init__(self, uri: DataObjectURI, data: bytes, info: HeadFields | None) -> None:
        self.uri = uri
        self.key = str(uri)
        self.data = data
        self.title = info.title if info is not None else ""
        self.last_changed = info.last_update_us if info is not None and info.last_update_us else 0
        self.size = len(data) + 2 * len(self.key) + _utf8_len(self.title) + ENTRY_OVERHEAD

    def record(self, now: int, blob_id: uuid.UUID | None = None) -> Any:
        """The DataObject record of a PutDataObjects (``now``: the store times; with
        ``blob_id``, that of a chunked put, whose data goes in Chunks)."""
        # Field by field (schema/_object_records.py): a put makes one per object.
        resource = new_resource(
            self.key, self.title, self.last_changed or now, now, now, _ACTIVE, {}
        )
        data = b"" if blob_id is not None else self.data
        return new_data_object(resource, data, "xml", blob_id)


_ACTIVE = datatypes.Object.ActiveStatusKind.Active


def _uuid_text(uri: DataObjectURI, text: str) -> str:
    """The uuid of an object URI as ``str(uri.uuid)`` gives it, from ``text``, the URI's
    canonical text, which ends with ``(<uuid>)`` when the URI has no version (cheaper than
    formatting the UUID: a put checks an object's uuid against its document's)."""
    return text[-37:-1] if uri.version is None else str(uri.uuid)


_ITEM_SIZE = attrgetter("size")  # an item's bytes in a PutDataObjects, generously


def _put_items(
    objects: ObjectMap | Iterable[Document] | Document,
    dataspace: str | DataspaceURI | None,
) -> list[_PutItem]:
    """Validate the objects given to put_data_objects and work out their URIs (one item per
    URI: the last document given for it, in the place of the first)."""
    if isinstance(objects, Mapping):
        return [_mapped_item(uri, doc) for uri, doc in _mapped_entries(objects, dataspace)]
    space = None if dataspace is None else as_dataspace_uri(dataspace)
    items: dict[str, _PutItem] = {}
    documents = one_or_many(
        objects,
        (str, bytes, bytearray, memoryview),
        "objects",
        "XML documents or a mapping of them by URI",
    )
    for i, doc in enumerate(documents):
        data = _document_bytes(doc, f"object {i}")
        try:
            info = peek_data_object(data)
        except ETPError as exc:
            raise ETPInvalidArgument(
                f"object {i}: cannot derive its URI from the XML: {exc.message}"
            ) from None
        uri = _derive_uri(info, space if space is not None else DataspaceURI())
        item = _PutItem(uri, data, head_fields(info))
        items[item.key] = item
    return list(items.values())


class _Key:
    """The URI of an entry of a ``{uri: document}`` put, checked: its canonical text and its
    dataspace, and the URI itself, built when first asked for. A put keyed by canonical URI
    texts (see :func:`~etp_sync.uri.canonical_object_dataspace`) builds each URI with its
    batch, while the server stores the batches before it, not all of them before anything
    is sent; other keys are parsed at once, so every refusal comes before anything is sent."""

    __slots__ = ("_uri", "dataspace", "text")

    def __init__(self, key: Any) -> None:
        named = canonical_object_dataspace(key)
        if named is not None:  # the key is the URI's own text
            self.text: str = key
            self.dataspace = named
            self._uri: DataObjectURI | None = None
        else:
            uri = as_object_uri(key)
            self.text, self.dataspace, self._uri = str(uri), uri.dataspace, uri

    def uri(self) -> DataObjectURI:
        if self._uri is None:
            self._uri = as_object_uri(self.text)
        return self._uri


Entry = tuple[_Key, Any]
"""A checked URI and the document given for it."""


def _mapped_entries(objects: ObjectMap, dataspace: str | DataspaceURI | None) -> list[Entry]:
    """The URIs and documents of a ``{uri: xml}`` put, URIs checked (one entry per URI: the
    last document given for it, in the place of the first); documents are read later
    (:func:`_mapped_item`), and so are the URIs of keys that are canonical URI texts."""
    space = None if dataspace is None else as_dataspace_uri(dataspace)
    entries: dict[str, Entry] = {}
    for key, doc in objects.items():
        checked = _Key(key)
        if space is not None and checked.dataspace != space:
            raise ETPInvalidArgument(
                f"{checked.text} is not in dataspace {space} given as dataspace=; leave it out "
                "when the objects are keyed by URI"
            )
        entries[checked.text] = (checked, doc)
    return list(entries.values())


def _mapped_item(checked: _Key, doc: Any) -> _PutItem:
    """The item of a document put as ``checked``: its bytes, Resource fields and a uuid
    check."""
    uri = checked.uri()
    data = _document_bytes(doc, uri)
    key = str(uri)
    info = peek_head(data)
    if info is None or info.uuid != _uuid_text(uri, key):
        # Only a document the parser reads whole is refused here: one that is not well-formed
        # is not ours to judge (the store says it is invalid), whatever its head says.
        try:
            info = head_fields(peek_data_object(data))
        except ETPError:
            info = None
    item = _PutItem(uri, data, info)
    if info is not None and info.uuid != _uuid_text(uri, key):
        raise ETPInvalidArgument(f"the document put as {uri} has uuid {info.uuid} in its XML")
    return item


def _doc_size(doc: Any) -> int:
    """A document's bytes, about (a str counted by characters; anything else: 0, refused
    later)."""
    return len(doc) if isinstance(doc, str | bytes | bytearray | memoryview) else 0


class _PutPlan:
    """The batches of a pipelined put, built on demand and kept: the documents of each batch
    are read (:func:`_mapped_item`) just before its request is built, so the server stores
    one batch while the next is prepared, and a write sent again after a drop goes over the
    same batches. A batch holds objects of one dataspace and at most the byte limit of its
    place (:func:`~._batching.ramp`) and ``budget``; objects too large for a message of their
    own are set aside in :attr:`large`, to be sent in chunks once the batches are done."""

    def __init__(
        self,
        entries: Sequence[Entry | _PutItem],
        budget: int,
        prune: bool,
    ) -> None:
        self.budget = budget
        self.prune = prune
        groups: dict[DataspaceURI, list[Entry | _PutItem]] = {}
        for entry in entries:
            space = entry.uri.dataspace if isinstance(entry, _PutItem) else entry[0].dataspace
            groups.setdefault(space, []).append(entry)
        self.dataspaces = list(groups)
        self._items = (
            entry if isinstance(entry, _PutItem) else _mapped_item(*entry)
            for group in groups.values()
            for entry in group
        )
        self._ahead: _PutItem | None = None
        self._limits = ramp(PUT_FIRST_BATCH_BYTES, PUT_BATCH_BYTES)
        self._built: list[list[_PutItem]] = []
        self._complete = False
        self.large: list[_PutItem] = []

    def __iter__(self) -> Iterator[list[_PutItem]]:
        """The batches: those built already, then the rest, each built when asked for."""
        n = 0
        while True:
            if n == len(self._built):
                if self._complete:
                    return
                batch = self._build()
                if batch is None:
                    return
                self._built.append(batch)
            yield self._built[n]
            n += 1

    def _build(self) -> list[_PutItem] | None:
        limit = min(next(self._limits), self.budget)
        batch: list[_PutItem] = []
        used = MESSAGE_OVERHEAD
        while True:
            item = self._ahead if self._ahead is not None else next(self._items, None)
            self._ahead = None
            if item is None:
                self._complete = True
                break
            if MESSAGE_OVERHEAD + item.size > self.budget:
                self.large.append(item)
                continue
            if batch and (used + item.size > limit or item.uri.dataspace != batch[0].uri.dataspace):
                self._ahead = item
                break
            batch.append(item)
            used += item.size
        return batch or None

    def request(self, batch: list[_PutItem]) -> Any:
        """The PutDataObjects of a batch."""
        now = now_us()
        return messages.Store.PutDataObjects(
            data_objects={i.key: i.record(now) for i in batch},
            prune_contained_objects=self.prune,
        )


def _chunked_put(item: _PutItem, budget: int, prune: bool) -> list[Any]:
    """PutDataObjects with a blob id and empty data, then the Chunks carrying the bytes."""
    blob_id = uuid.uuid4()
    head = messages.Store.PutDataObjects(
        data_objects={item.key: item.record(now_us(), blob_id)},
        prune_contained_objects=prune,
    )
    size = max(1, budget - CHUNK_OVERHEAD)
    view = memoryview(item.data)
    starts = range(0, max(len(view), 1), size)
    chunks = [
        messages.Store.Chunk(
            blob_id=blob_id, data=bytes(view[s : s + size]), final=s + size >= len(view)
        )
        for s in starts
    ]
    return [head, *chunks]
