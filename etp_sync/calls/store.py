"""Store protocol (4): get, put and delete data objects, with chunking both ways.

Size rules. No message may exceed the negotiated ``session.server.max_message_size``:

* requests listing many URIs or objects are split into several requests, each safely below the
  limit (``limit - min(4 KiB, limit / 8)``);
* an object too large for a PutDataObjects of its own goes as one multipart request:
  PutDataObjects with a fresh ``blobId`` and empty ``data``, then Chunk messages carrying the
  bytes, ``final`` on the last (one object per such request);
* on reads, a GetDataObjectsResponse entry with a ``blobId`` and empty ``data`` is followed by
  Chunk messages with that blob id; they are reassembled transparently (open-etp-server's extra
  empty GetDataObjectsResponse after chunked objects is harmless).

Writes go through the session's :class:`~etp_sync.calls.transactions.TransactionManager`: a
write that takes several requests (batches, chunked objects, several dataspaces) runs inside one
transaction when the server offers the Transaction protocol, so it is all-or-nothing.

Pipelining. Requests are serial on both sides (the client builds and encodes a request, then the
server decodes and stores it), so a put of many objects in one request keeps one side idle while
the other works. When the server offers transactions, a put of many objects is sent as
PutDataObjects batches inside its one transaction, several in flight, each batch built (its
documents read, its records made) just before it is sent: the client works on batch k+1 while
the server stores batch k. The first batches are small so that the server starts early. A get
of many URIs likewise goes as several GetDataObjects in flight (reads need no transaction).
Without the Transaction protocol a put keeps to as few requests as fit (one request is
atomic; several batches outside a transaction would not be). Map keys
of every request are the canonical URI strings, so ``ETPPartialFailure.errors`` is keyed by URI
text while ``successes`` holds the typed results of the items that worked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from .._display import ResultDict
from .._progress import Progress, ProgressArg, resolve_progress
from ..errors import (
    ETPInvalidArgument,
    ETPRemoteError,
    ETPResponseTooLarge,
)
from ..protocol.correlation import Response
from ..protocol.negotiation import now_us
from ..schema import messages
from ..uri import DataObjectURI, DataspaceURI, _keyed_object_uris, as_object_uri
from ._batching import MESSAGE_OVERHEAD, batches, key_batches, message_budget
from ._core import Deadline, SessionAPI, one_or_many
from ._object_get import GET_IN_FLIGHT, ObjectGet
from ._pipeline import run_pipeline
from ._put_plan import (
    _ITEM_SIZE,
    Document,
    Entry,
    ObjectMap,
    _chunked_put,
    _doc_size,
    _mapped_entries,
    _mapped_item,
    _put_items,
    _PutItem,
    _PutPlan,
)
from ._store_replies import (
    _collect_deleted,
    _collect_put,
    _Failures,
    _keys,
    _WholeRefusal,
)
from .results import DataObject, PutResult

__all__ = ["StoreCalls", "message_budget"]

log = logging.getLogger("etp_sync.store")

ObjectURI = str | DataObjectURI
T = TypeVar("T")
R = TypeVar("R")


# Pipelined puts (see the module docstring): taken for more than PIPELINE_MIN_OBJECTS objects or
# more than PIPELINE_MIN_BYTES of documents (objects too large for a message of their own not
# counted); batch n holds up to min(PUT_FIRST_BATCH_BYTES << n, PUT_BATCH_BYTES) bytes, and up to
# PUT_IN_FLIGHT batches await their answers at once.
PIPELINE_MIN_OBJECTS = 128
PIPELINE_MIN_BYTES = 256 * 1024
PUT_IN_FLIGHT = 4


def _keyed_uris(uris: ObjectURI | Iterable[ObjectURI]) -> dict[str, DataObjectURI]:
    """Validate and de-duplicate object URIs (a single URI is a list of one), keyed by their
    canonical text: the request key each goes by (equal URIs have equal texts)."""
    return _keyed_object_uris(
        one_or_many(uris, (str, DataObjectURI), "uris", "a data object URI or a list of them")
    )


def _by_dataspace(by_key: Mapping[str, DataObjectURI]) -> dict[DataspaceURI, list[str]]:
    """The keys of URIs (keyed by their text) by the dataspace they are in."""
    groups: dict[DataspaceURI, list[str]] = {}
    for key, uri in by_key.items():
        groups.setdefault(uri.dataspace, []).append(key)
    return groups


class StoreCalls(SessionAPI):
    """Store calls of :class:`~etp_sync.ETPSession`."""

    def _store_budget(self, deadline: Deadline | None = None) -> int:
        """The request budget (:func:`message_budget`); with ``deadline`` (a call's), a
        connection it needs is made within it."""
        server = self.server if deadline is None else self._granted(deadline.at)
        return message_budget(server.max_message_size)

    # -- get -----------------------------------------------------------------------------------

    def get_data_objects(
        self,
        uris: ObjectURI | Iterable[ObjectURI],
        *,
        format: str = "xml",
        progress: ProgressArg = None,
    ) -> dict[DataObjectURI, DataObject]:
        """Fetch data objects with their XML, keyed by the URIs asked for (in that order).

        ``progress``: a callback ``progress(done, total)`` counting objects as their batches are
        answered, or True for a progress bar (tqdm).

        Objects sent in chunks are reassembled. A reply larger than the session's
        ``max_response_size`` is asked for again in halves, down to one object; an object
        too large for that bound by itself fails (EMAXSIZE_EXCEEDED), the others are
        returned. If some URIs fail (not found, invalid, too large), raises
        :class:`~etp_sync.errors.ETPPartialFailure` whose ``errors`` maps the failed URIs (text)
        to ``(code, message)`` and whose ``successes`` is the dict of objects that did arrive
        (:class:`~etp_sync.errors.ETPRemoteError` when none did).
        """
        report = resolve_progress(progress, desc="get objects", unit="obj")
        by_key = _keyed_uris(uris)
        if not by_key:
            return {}
        deadline = Deadline(self.timeout)  # the whole call's, connecting included
        get = ObjectGet(
            by_key, format, self._store_budget(deadline), self._reply_limit(deadline.at), report
        )
        if len(get.plan.batches) == 1:
            (batch,) = get.plan.batches
            try:
                response = self.request(get.request(batch), timeout=deadline.remaining())
            except ETPResponseTooLarge:
                get.plan.batches = get.split(batch)  # in halves, not whole again
                self._get_pipelined(get, deadline)
            else:
                get.collect(batch, response)
        else:
            self._get_pipelined(get, deadline)
        return get.result()

    def _get_pipelined(self, get: ObjectGet, deadline: Deadline) -> None:
        """GetDataObjects of ``get``'s batches, GET_IN_FLIGHT at a time, each answer collected
        in order, all within ``deadline`` (the call's). When the connection drops, the batches
        not answered yet are sent again on a new one within the deadline (run_pipeline's
        resumption; not when the session does not reconnect): objects, unlike arrays, have
        nothing to check on the new connection. A batch whose reply grows past
        ``max_response_size`` is asked for again in halves, and later batches are no larger
        than those halves (:class:`~._object_get.ReplyBudget`)."""
        run_pipeline(
            self,
            get.plan,
            get.request,
            get.collect,
            max_in_flight=GET_IN_FLIGHT,
            deadline=deadline,
            on_resume=_nothing_to_check,
            split=get.split,
        )

    def get_data_object(self, uri: ObjectURI, *, format: str = "xml") -> DataObject:
        """Fetch one data object (raises ETPRemoteError, e.g. ENOT_FOUND, if it fails)."""
        obj_uri = as_object_uri(uri)
        return self.get_data_objects([obj_uri], format=format)[obj_uri]

    # -- put -----------------------------------------------------------------------------------

    def put_data_objects(
        self,
        objects: ObjectMap | Iterable[Document] | Document,
        *,
        dataspace: str | DataspaceURI | None = None,
        prune_contained_objects: bool = False,
        timeout: float | None = None,
        progress: ProgressArg = None,
    ) -> dict[DataObjectURI, PutResult]:
        """Store data objects: ``{uri: xml}``, or XML documents whose URIs are derived.

        For documents without URIs, the URI is the document's qualified type and uuid in
        ``dataspace`` (default dataspace when None). XML may be bytes or str. The Resource sent
        with each object has name = citation title and lastChanged = citation LastUpdate (or
        Creation, or now). Objects too large for one message are chunked; the rest batched.
        When that takes several requests they run inside one transaction if the server offers
        the Transaction protocol (18), and are sent again as a whole after a drop, within
        ``timeout`` (the deadline of the whole call; default: the session's); without protocol
        18 they are not atomic (see :class:`~etp_sync.calls.transactions.TransactionManager`).
        Returns a :class:`PutResult` per URI. Failures raise ETPPartialFailure (errors keyed by
        URI text, successes = the PutResults of the objects stored). ``progress``: a callback
        ``progress(done, total)`` counting objects as their requests are answered (a write sent
        again after a drop counts again from 0), or True for a progress bar (tqdm).
        """
        report = resolve_progress(progress, desc="put objects", unit="obj")
        prune = bool(prune_contained_objects)
        deadline = self.transaction_manager.deadline(timeout)  # connecting included
        # Documents of a mapping are read batch by batch when pipelined (inside this thread's
        # own transaction all are read first: nothing may be sent before a refusal).
        lazy = isinstance(objects, Mapping) and self.transaction_manager.owned() is None
        pairs = _mapped_entries(objects, dataspace) if lazy else []  # type: ignore[arg-type]
        items = [] if lazy else _put_items(objects, dataspace)
        entries: Sequence[Entry | _PutItem] = pairs if lazy else items
        if not entries:
            return {}
        if self._pipelines(entries, deadline):
            plan = _PutPlan(entries, self._store_budget(deadline), prune)
            texts = [key.text for key, _ in pairs] if lazy else [i.key for i in items]
            return self._put_pipelined(plan, texts, deadline, report)
        if lazy:
            items = [_mapped_item(uri, doc) for uri, doc in pairs]
        budget = self._store_budget(deadline)
        groups: dict[DataspaceURI, list[_PutItem]] = {}
        for item in items:
            groups.setdefault(item.uri.dataspace, []).append(item)
        requests: list[tuple[Any, list[_PutItem]]] = []
        spaces: list[DataspaceURI] = []
        for space, group in groups.items():
            small = [i for i in group if MESSAGE_OVERHEAD + i.size <= budget]
            large = [i for i in group if MESSAGE_OVERHEAD + i.size > budget]
            for batch in batches(small, _ITEM_SIZE, budget):
                now = now_us()
                body = messages.Store.PutDataObjects(
                    data_objects={i.key: i.record(now) for i in batch},
                    prune_contained_objects=prune,
                )
                requests.append((body, batch))
                spaces.append(space)
            for item in large:
                requests.append((_chunked_put(item, budget, prune), [item]))
                spaces.append(space)
        results, failures = self._write_requests(
            requests,
            spaces,
            _collect_put,
            timeout=deadline.remaining(),
            replaces=True,
            progress=report,
        )
        put = ResultDict({i.uri: results[i.key] for i in items if i.key in results})
        failures.raise_if_any(put)
        return put

    def _pipelines(self, entries: Sequence[Entry | _PutItem], deadline: Deadline) -> bool:
        """Whether a put of ``entries`` goes pipelined: many objects, or many bytes of objects
        that fit a message each, and a server offering transactions (asked last: it
        connects, within ``deadline``)."""
        sizes = [e.size if isinstance(e, _PutItem) else _doc_size(e[1]) for e in entries]
        if len(sizes) <= PIPELINE_MIN_OBJECTS and sum(sizes) <= PIPELINE_MIN_BYTES:
            return False
        most = self._store_budget(deadline) - MESSAGE_OVERHEAD  # connected from here on
        if not self.transaction_manager.offers_transactions():
            return False
        if len(sizes) > PIPELINE_MIN_OBJECTS:
            return True
        return sum(size for size in sizes if size <= most) > PIPELINE_MIN_BYTES

    def _put_pipelined(
        self,
        plan: _PutPlan,
        texts: Sequence[str],
        deadline: Deadline,
        progress: Progress | None,
    ) -> dict[DataObjectURI, PutResult]:
        """Put the batches of ``plan`` (then its objects sent in chunks) inside one automatic
        transaction (or this thread's own), PUT_IN_FLIGHT batches at a time; sent again as a
        whole after a drop, within ``deadline`` (the call's). ``texts``: the objects' URIs, in
        the caller's order.

        A document found invalid in a later batch (its uuid not its URI's) raises
        ETPInvalidArgument once the batches in flight are answered, and the transaction is
        rolled back: nothing is stored, as when it is found before anything is sent. So is a
        batch the server refuses as a whole (in the automatic transaction; in the caller's own
        the refusal is reported per URI, the caller's ``with`` decides): raised as one request
        refused would be, every URI failed."""
        total = len(texts)
        manager = self.transaction_manager
        refusal = _WholeRefusal(manager.owned() is None)  # not inside the caller's own

        def operation(deadline: Deadline) -> tuple[dict[str, PutResult], _Failures]:
            results: dict[str, PutResult] = {}
            failures = _Failures()
            done = 0

            def on_response(batch: list[_PutItem], response: Response) -> None:
                nonlocal done
                refusal.check(response)  # rolled back by write_many
                _collect_put(response, batch, results, failures)
                done += len(batch)
                if progress is not None:
                    progress(done, total)

            run_pipeline(
                self,
                plan,
                plan.request,
                on_response,
                max_in_flight=PUT_IN_FLIGHT,
                deadline=deadline,
            )
            for item in plan.large:
                on_response(
                    [item],
                    self.request(
                        _chunked_put(item, plan.budget, plan.prune),
                        timeout=deadline.remaining(),
                        idempotent=False,
                    ),
                )
            return results, failures

        try:
            results, failures = manager.write_many(
                operation, dataspace=plan.dataspaces, deadline=deadline, retry=True
            )
        except ETPRemoteError as exc:
            refusal.reraise(exc, list(texts))
        # Keyed by the URIs the batches built (a result holds its item's URI).
        put = ResultDict({results[t].uri: results[t] for t in texts if t in results})
        failures.raise_if_any(put)
        return put

    def put_data_object(
        self,
        xml: Document,
        uri: ObjectURI | None = None,
        *,
        dataspace: str | DataspaceURI | None = None,
        timeout: float | None = None,
    ) -> DataObjectURI:
        """Store one document (URI given, or derived from the XML in ``dataspace``); return
        its URI."""
        if uri is not None:
            (done,) = self.put_data_objects(
                {as_object_uri(uri): xml}, dataspace=dataspace, timeout=timeout
            )
        else:
            if not isinstance(xml, str | bytes | bytearray | memoryview):
                raise ETPInvalidArgument("put_data_object takes one XML document")
            (done,) = self.put_data_objects([xml], dataspace=dataspace, timeout=timeout)
        return done

    def _write_requests(
        self,
        requests: Sequence[tuple[Any, T]],
        spaces: Sequence[DataspaceURI],
        collect: Callable[[Response, T, dict[str, R], _Failures], None],
        *,
        timeout: float | None,
        replaces: bool,
        progress: Progress | None = None,
    ) -> tuple[dict[str, R], _Failures]:
        """Send write requests (``spaces[i]``: the dataspace of ``requests[i]``) and
        ``collect`` each response into (results by request key, failures).

        One request goes as it is (a refusal as a whole fails all its items). Several run as
        one write (:meth:`TransactionManager.write_many`: one transaction when the server
        offers them, sent again as a whole after a drop when ``replaces``), each attempt
        starting from empty results; in an automatic transaction a request refused as a whole
        rolls all of them back and raises ETPRemoteError with every item (:class:`_WholeRefusal`,
        as a pipelined put). ``progress(done, total)`` counts the items of the requests
        answered."""
        manager = self.transaction_manager
        total = sum(len(_keys(body)) for body, _ in requests)
        if len(requests) == 1:
            results: dict[str, R] = {}
            failures = _Failures()
            (body, batch), space = requests[0], spaces[0]
            try:
                response = manager.write(body, dataspace=space, timeout=timeout, replaces=replaces)
            except ETPRemoteError as exc:
                failures.add_exception(exc, _keys(body))
            else:
                collect(response, batch, results, failures)
            if progress is not None:
                progress(total, total)
            return results, failures

        # In an automatic transaction a request refused as a whole rolls back the others.
        atomic = manager.owned() is None and manager.offers_transactions()
        refusal = _WholeRefusal(atomic)

        def operation(deadline: Deadline) -> tuple[dict[str, R], _Failures]:
            results: dict[str, R] = {}
            failures = _Failures()
            done = 0
            for body, batch in requests:
                response = self.request(body, timeout=deadline.remaining(), idempotent=False)
                refusal.check(response)
                collect(response, batch, results, failures)
                done += len(_keys(body))
                if progress is not None:
                    progress(done, total)
            return results, failures

        try:
            return manager.write_many(
                operation,
                dataspace=list(dict.fromkeys(spaces)),
                deadline=manager.deadline(timeout),
                retry=replaces,
            )
        except ETPRemoteError as exc:
            refusal.reraise(exc, [key for body, _ in requests for key in _keys(body)])

    # -- delete --------------------------------------------------------------------------------

    def delete_data_objects(
        self,
        uris: ObjectURI | Iterable[ObjectURI],
        *,
        prune_contained_objects: bool = False,
        timeout: float | None = None,
    ) -> dict[DataObjectURI, list[DataObjectURI]]:
        """Delete data objects; for each URI, the URIs the store actually deleted.

        Several requests run inside one transaction when the server offers them (not sent
        again after a drop: a lost commit confirmation would turn into ENOT_FOUND errors).
        Failures raise ETPPartialFailure (errors keyed by URI text, successes = this dict for
        the deletions that worked).
        """
        by_key = _keyed_uris(uris)
        if not by_key:
            return {}
        deadline = self.transaction_manager.deadline(timeout)  # connecting included
        budget = self._store_budget(deadline)
        requests: list[tuple[Any, dict[str, DataObjectURI]]] = []
        spaces: list[DataspaceURI] = []
        for space, group in _by_dataspace(by_key).items():
            for keys in key_batches(group, budget):
                body = messages.Store.DeleteDataObjects(
                    uris={k: k for k in keys}, prune_contained_objects=prune_contained_objects
                )
                requests.append((body, {k: by_key[k] for k in keys}))
                spaces.append(space)
        deleted, failures = self._write_requests(
            requests, spaces, _collect_deleted, timeout=deadline.remaining(), replaces=False
        )
        done = {uri: deleted[k] for k, uri in by_key.items() if k in deleted}
        failures.raise_if_any(done)
        return done


def _nothing_to_check() -> None:
    """The ``on_resume`` of object reads: a new connection needs no check."""
