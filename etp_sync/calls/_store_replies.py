"""What the Store calls make of the server's replies: per-item failures gathered over several
requests (and the refusal of a whole request inside an automatic transaction), the results of
puts and deletes by request key, and the objects of GetDataObjectsResponses with their chunked
ones reassembled."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from .._display import ResultDict
from ..errors import ErrorCode, ETPError, ETPProtocolError, ETPRemoteError
from ..protocol.correlation import Response, protocol_exception_error
from ..schema import datatypes, messages
from ..uri import DataObjectURI, as_object_uri
from ._put_plan import _PutItem
from .results import DataObject, PutResult
from .transactions import response_error


class _Failures:
    """Per-item failures gathered over several requests, raised at the end with the successes."""

    def __init__(self) -> None:
        self.errors: dict[str, tuple[int, str]] = {}

    def add_response(self, response: Response, keys: Iterable[str]) -> None:
        """Record a response's ProtocolExceptions; a whole-request error fails all ``keys``."""
        for body in response.errors:
            for key, info in body.errors.items():
                self.errors[key] = (info.code, info.message)
            if body.error is not None:
                for key in keys:
                    self.errors.setdefault(key, (body.error.code, body.error.message))

    def add_exception(self, exc: ETPRemoteError, keys: Iterable[str]) -> None:
        """A request failed as a whole (e.g. its automatic transaction was rolled back)."""
        self.errors.update(exc.errors)
        for key in keys:
            self.errors.setdefault(
                key, (exc.code or ErrorCode.EINVALID_STATE, f"not written: {exc.message}")
            )

    def add_unanswered(self, keys: Iterable[str], code: int) -> None:
        """Items the server answered neither with a success nor with an error."""
        for key in keys:
            self.errors.setdefault(
                key, (code, "the server answered neither success nor error for this item")
            )

    def raise_if_any(self, successes: Any) -> None:
        if not self.errors:
            return
        body = messages.Core.ProtocolException(
            error=None,
            errors={
                k: datatypes.ErrorInfo(code=int(c), message=m) for k, (c, m) in self.errors.items()
            },
        )
        raise protocol_exception_error([body], successes)


class _WholeRefusal:
    """A request the server refuses as a whole inside an automatic transaction ends the whole
    write: it is raised (so :meth:`TransactionManager.write_many` rolls everything back) and
    reported as one request refused would be, every item failed (the refused request's with
    the server's code). Inside the caller's own transaction (``automatic`` False) refusals
    stay reported per item: the caller's ``with`` decides."""

    def __init__(self, automatic: bool) -> None:
        self.automatic = automatic
        self.error: ETPRemoteError | None = None

    def check(self, response: Response) -> None:
        """Raise (to roll back) when ``response`` refuses its request as a whole."""
        if self.automatic and any(body.error is not None for body in response.errors):
            self.error = response_error(response)
            raise self.error

    def reraise(self, exc: ETPRemoteError, keys: Iterable[str]) -> NoReturn:
        """Raise ``exc``; when it is this refusal, as the failure of every item of ``keys``."""
        if exc is self.error:
            failures = _Failures()
            failures.add_exception(exc, keys)
            failures.raise_if_any(ResultDict())
        raise exc


class _Blobs:
    """Reassembly of chunked objects: blob id → (request key, record, bytes so far)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.pending: dict[uuid.UUID, tuple[str, Any, bytearray]] = {}

    def start(self, blob_id: uuid.UUID, key: str, record: Any) -> None:
        self.pending[blob_id] = (key, record, bytearray())

    def add(self, chunk: Any) -> tuple[str, Any, bytes] | None:
        """Append a Chunk; return ``(key, record, data)`` when it was the blob's final one."""
        entry = self.pending.get(chunk.blob_id)
        if entry is None:
            raise ETPProtocolError(f"{self.what}: Chunk for unknown blob {chunk.blob_id}")
        entry[2].extend(chunk.data)
        if not chunk.final:
            return None
        del self.pending[chunk.blob_id]
        return entry[0], entry[1], bytes(entry[2])

    def check_done(self) -> None:
        if self.pending:
            raise ETPProtocolError(
                f"{self.what}: the response ended before the final chunk of "
                f"{len(self.pending)} object(s)"
            )


def _keys(body: Any) -> list[str]:
    """The request keys of a PutDataObjects (or the first part of a chunked one) or of a
    DeleteDataObjects."""
    head = body[0] if isinstance(body, list) else body
    return list(head.data_objects if hasattr(head, "data_objects") else head.uris)


def _collect_put(
    response: Response,
    batch: list[_PutItem],
    results: dict[str, PutResult],
    failures: _Failures,
) -> None:
    """Record the PutResults of a PutDataObjects response by key, and its failures."""
    by_key = {i.key: i.uri for i in batch}
    for m in response.messages:
        for key, put_response in getattr(m, "success", {}).items():
            uri = by_key.get(key)
            if uri is not None:
                results[key] = PutResult.from_record(uri, put_response)
    _missing(response, by_key, results, failures)


def _collect_deleted(
    response: Response,
    batch: dict[str, DataObjectURI],
    deleted: dict[str, list[DataObjectURI]],
    failures: _Failures,
) -> None:
    """Record what a DeleteDataObjects response says was deleted, by key, and its failures."""
    for m in response.messages:
        for key, array in getattr(m, "deleted_uris", {}).items():
            if key in batch:
                deleted[key] = [_deleted_uri(v) for v in array.values]
    _missing(response, batch, deleted, failures)


def _missing(
    response: Response,
    keys: Iterable[str],
    done: Mapping[str, Any],
    failures: _Failures,
) -> None:
    """Items of a write request that did not succeed: their errors, or "unanswered"."""
    missing = [k for k in keys if k not in done]
    failures.add_response(response, missing)
    failures.add_unanswered(missing, ErrorCode.EINVALID_STATE)


def _deleted_uri(text: str) -> DataObjectURI:
    try:
        return as_object_uri(text)
    except ETPError:
        raise ETPProtocolError(f"the server reported deleting an invalid URI {text!r}") from None


def _assemble_objects(
    response: Response, by_key: Mapping[str, DataObjectURI]
) -> dict[str, DataObject]:
    """GetDataObjectsResponse parts plus Chunks → data objects by request key."""
    found: dict[str, DataObject] = {}
    blobs = _Blobs("GetDataObjects")
    from_record = DataObject.from_record
    for m in response.messages:
        if m.etp_name == "GetDataObjectsResponse":
            for key, record in m.data_objects.items():
                if record.blob_id is not None and not record.data:
                    blobs.start(record.blob_id, key, record)
                else:
                    found[key] = from_record(record, record.data, by_key.get(key))
        elif m.etp_name == "Chunk":
            done = blobs.add(m)
            if done is not None:
                key, record, data = done
                found[key] = from_record(record, data, by_key.get(key))
    blobs.check_done()
    return found
