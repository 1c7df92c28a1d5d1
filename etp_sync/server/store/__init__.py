"""The thread-safe in-memory model behind the embedded ETP 1.2 store server.

No sockets and no ETP messages here: the protocol handlers translate requests into calls on
:class:`Store` and its results (or :class:`~etp_sync.errors.StoreError`) back into messages. The
model follows open-etp-server where ETP leaves room (two-level dataspace paths, no default
dataspace, an existing dataspace cannot be re-created, one write transaction per dataspace), each
switchable.

Identity: dataspaces are keyed by path (``""`` is the default dataspace ``eml:///``); inside a
dataspace objects are keyed by uuid (a uuid names one object, whatever type a URI spells) and arrays
by ``(uuid of the owning object, pathInResource)``; the owning object need not exist. References
between objects are resolved by uuid within the same dataspace.

Transactions: a write transaction stages object puts/deletes and array writes; reads that pass the
same ``tx`` see them, everybody else sees the committed state until
:meth:`Store.commit_transaction` applies them atomically, stamped with one commit time. Writes
without ``tx`` are applied at once (unless ``require_transactions``) and are refused while another
transaction write-locks the dataspace. A transaction idle past ``transaction_timeout`` is rolled
back.

Limits (see :class:`~._core.StoreCore`): ``max_store_bytes`` (memory of objects and written array
blocks), ``max_object_bytes``, ``max_array_bytes``, ``transaction_timeout`` and
``change_retention_period`` (deleted-object records).

One module per concern: :mod:`._dataspaces`, :mod:`._objects`, :mod:`._graph` (links and
Discovery), :mod:`._arrays`, :mod:`._transactions`, over the shared state of :mod:`._core` and the
records of :mod:`._records`; URIs are read by :mod:`etp_sync.uri` through :mod:`._uris`.
"""

from __future__ import annotations

from etp_sync.errors import StoreError

from ._arrays import ArrayStore, default_array_types
from ._core import (
    DEFAULT_CHANGE_RETENTION_PERIOD,
    DEFAULT_MAX_ARRAY_BYTES,
    DEFAULT_MAX_OBJECT_BYTES,
    DEFAULT_MAX_STORE_BYTES,
    DEFAULT_TRANSACTION_TIMEOUT,
    type_matcher,
)
from ._dataspaces import DataspaceStore
from ._graph import GraphStore
from ._objects import ObjectStore
from ._records import (
    ArrayMeta,
    ChangeEvent,
    ChangeListener,
    DataspaceRecord,
    DeletedResource,
    EdgeInfo,
    ObjectPut,
    PutResult,
    ResourceInfo,
    Scope,
    StoredObject,
    object_put,
    resource_custom_data,
)
from ._transactions import TransactionStore
from ._uris import UriParts, parse_context

__all__ = [
    "DEFAULT_CHANGE_RETENTION_PERIOD",
    "DEFAULT_MAX_ARRAY_BYTES",
    "DEFAULT_MAX_OBJECT_BYTES",
    "DEFAULT_MAX_STORE_BYTES",
    "DEFAULT_TRANSACTION_TIMEOUT",
    "ArrayMeta",
    "ChangeEvent",
    "ChangeListener",
    "DataspaceRecord",
    "DeletedResource",
    "EdgeInfo",
    "ObjectPut",
    "PutResult",
    "ResourceInfo",
    "Scope",
    "Store",
    "StoreError",
    "StoredObject",
    "UriParts",
    "default_array_types",
    "object_put",
    "parse_context",
    "resource_custom_data",
    "type_matcher",
]


class Store(DataspaceStore, ObjectStore, GraphStore, ArrayStore, TransactionStore):
    """Dataspaces, data objects, arrays and transactions of one embedded server; thread-safe.

    Each base holds the calls of one concern; all of them share the state and options of
    :class:`~._core.StoreCore` (see there for the options).
    """
