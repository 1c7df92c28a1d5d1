"""A get of many data objects: its batches of URIs, the request of each, and what is made of
the answers (objects found, failures, progress), cut smaller when a reply outgrows the
session's reply bound. No I/O: :meth:`StoreCalls.get_data_objects` sends the requests.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from .._display import ResultDict
from .._progress import Progress
from ..errors import ErrorCode
from ..protocol.correlation import Response
from ..schema import messages
from ..uri import DataObjectURI
from ._batching import key_batches, ramp
from ._store_replies import _assemble_objects, _Failures
from .results import DataObject

log = logging.getLogger("etp_sync.store")

# Pipelined gets: batch n asks for up to min(GET_FIRST_BATCH << n, GET_BATCH) URIs (and fits
# the message budget); up to GET_IN_FLIGHT requests await their answers at once.
GET_FIRST_BATCH = 32
GET_BATCH = 128
GET_IN_FLIGHT = 4
# Bytes of a GetDataObjectsResponse entry around its data (URI key, Resource), generously.
_OBJECT_RECORD_BYTES = 1024


class ObjectGet:
    """One get_data_objects call's state: ``plan`` (a :class:`ReplyBudget`, the batches to
    send), each batch built by :meth:`request`, answered into :meth:`collect`, refused ones
    cut by :meth:`split`; :meth:`result` at the end. Every URI is counted once, found or
    failed, for ``progress``."""

    def __init__(
        self,
        by_key: Mapping[str, DataObjectURI],
        format: str,
        budget: int,
        reply_limit: int,
        progress: Progress | None,
    ) -> None:
        self.by_key = by_key
        self.format = format
        keys = list(by_key)
        counts = ramp(GET_FIRST_BATCH, GET_BATCH) if len(keys) > GET_BATCH else None
        self.found: dict[str, DataObject] = {}
        self.failures = _Failures()
        self.plan = ReplyBudget(list(key_batches(keys, budget, counts)), reply_limit, self.failures)
        self._progress = progress
        self._done = 0

    def _count(self, n: int) -> None:
        self._done += n
        if self._progress is not None:
            self._progress(self._done, len(self.by_key))

    def request(self, batch: list[str]) -> Any:
        """The GetDataObjects of a batch of URI texts."""
        return messages.Store.GetDataObjects(uris={k: k for k in batch}, format=self.format)

    def split(self, batch: list[str]) -> list[list[str]]:
        """The pieces to ask for instead of a batch whose reply was too large (none when it
        was one URI: that object fails, and counts as done)."""
        parts = self.plan.split(batch)
        if not parts:
            self._count(len(batch))
        return parts

    def collect(self, batch: list[str], response: Response) -> None:
        """The answer to a batch: its objects, and a failure for each URI not among them."""
        got = _assemble_objects(response, self.by_key)
        self.found.update(got)
        self.plan.fitted(got.values())
        self._count(len(batch))
        missing = [k for k in batch if k not in self.found]
        self.failures.add_response(response, missing)
        self.failures.add_unanswered(missing, ErrorCode.ENOT_FOUND)

    def result(self) -> ResultDict[DataObjectURI, DataObject]:
        """The objects found, keyed by the URIs asked for in their order; raises
        ETPPartialFailure / ETPRemoteError for the failures. Every URI asked for is found or
        failed: none may go missing silently."""
        failures = self.failures
        unanswered = [k for k in self.by_key if k not in self.found and k not in failures.errors]
        failures.add_unanswered(unanswered, ErrorCode.ENOT_FOUND)
        result = ResultDict(
            {uri: self.found[k] for k, uri in self.by_key.items() if k in self.found}
        )
        failures.raise_if_any(result)
        return result


class ReplyBudget:
    """The batches of URIs of a pipelined get, cut smaller once a reply has outgrown the
    session's reply bound (``limit`` bytes: objects larger than the message size allows
    for). A batch so refused is asked for again in halves, and later batches are at most as
    large; each reply that fits sets that most again, from the largest object it held, so
    that a few large objects do not slow the rest of the get."""

    def __init__(self, batches: Sequence[list[str]], limit: int, failures: _Failures) -> None:
        self.batches = batches
        self.limit = limit
        self.failures = failures
        self.ceiling = max(len(b) for b in batches)
        self.most = self.ceiling
        self.split_once = False

    def __iter__(self) -> Iterator[list[str]]:
        for batch in self.batches:
            while True:
                most = self.most  # once per piece: a split may change it while suspended
                if len(batch) <= most:
                    yield batch
                    break
                yield batch[:most]
                batch = batch[most:]

    def split(self, batch: list[str]) -> list[list[str]]:
        """The halves of a batch whose reply was too large; for a single URI, none: that
        object fails (EMAXSIZE_EXCEEDED) and the others of the get go on."""
        if len(batch) < 2:
            for key in batch:
                self.failures.errors[key] = (
                    ErrorCode.EMAXSIZE_EXCEEDED,
                    f"its reply is larger than max_response_size ({self.limit} bytes); a "
                    "session with a larger max_response_size accepts it",
                )
            return []
        half = len(batch) // 2
        self.most = min(self.most, len(batch) - half)
        self.split_once = True
        log.info(
            "a reply to GetDataObjects of %d URIs outgrew max_response_size: asking for %d at "
            "a time",
            len(batch),
            self.most,
        )
        return [batch[:half], batch[half:]]

    def fitted(self, objects: Iterable[DataObject]) -> None:
        """A reply that fitted: after a split, as many URIs as objects of its largest size
        (with room for the records around them) fit the bound."""
        if not self.split_once:
            return
        largest = max((len(o.xml) for o in objects), default=0) + _OBJECT_RECORD_BYTES
        self.most = max(1, min(self.ceiling, self.limit * 3 // (4 * largest)))
