"""The in-flight request pipeline of DataArray and Store calls: one request per block (a hyperslab
of an array, a batch of objects or URIs), several awaiting answers at once, responses handled in
sending order, blocks sent again on request, and (for reads) resumption after a dropped
connection with only the blocks not answered yet."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import TypeVar

from ..errors import ETPConnectionLost, ETPError, ETPResponseTooLarge, ETPSessionClosed
from ..protocol.correlation import ReplyTarget, Response
from ..schema import Record
from ._core import Deadline, ResponseHandle, SessionAPI

log = logging.getLogger("etp_sync.pipeline")  # the pipelines of array and object calls

B = TypeVar("B")  # a block: what one request carries


def run_pipeline(
    session: SessionAPI,
    blocks: Iterable[B],
    make_request: Callable[[B], Record],
    on_response: Callable[[B, Response], Iterable[B] | None],
    *,
    max_in_flight: int,
    deadline: Deadline,
    on_resume: Callable[[], None] | None = None,
    target_for: Callable[[B], ReplyTarget | None] | None = None,
    split: Callable[[B], list[B] | None] | None = None,
) -> None:
    """Send one request per block with up to ``max_in_flight`` in flight; hand each response
    to ``on_response`` as it completes (in sending order). ``on_response`` may return blocks
    to send again (e.g. halves of a block the server found too big). Blocks are taken from
    ``blocks`` only when there is room in flight, so a lazy iterable builds each just before
    its request is sent (an exception it raises ends the pipeline like a failed send).

    With ``on_resume`` (reads), a dropped connection is not an error while the deadline
    allows and the session reconnects (``auto_reconnect``): the blocks not answered yet are
    sent again, and only those, on a new connection; whenever the connection changed,
    ``on_resume()`` is called first (it may raise).
    ``target_for(block)`` names memory a block's reply values may be received into.
    ``split(block)``: the blocks to ask for instead of one whose reply grew past the
    session's ``max_response_size`` (ETPResponseTooLarge, raised when it returns None; an
    empty list when it settled the block otherwise, e.g. reported it failed)."""
    source = iter(blocks)
    retry: deque[B] = deque()
    inflight: deque[tuple[ResponseHandle, B]] = deque()
    connected = session.connect_count

    def next_block() -> B | None:
        if retry:
            return retry.popleft()
        return next(source, None)

    while True:
        try:
            while len(inflight) < max_in_flight:
                block = next_block()
                if block is None:
                    break
                target = None if target_for is None else target_for(block)
                try:
                    handle = session.send(
                        make_request(block), timeout=deadline.remaining(), target=target
                    )
                except ETPConnectionLost:
                    retry.appendleft(block)
                    raise
                inflight.append((handle, block))
                del handle
                if on_resume is not None and session.connect_count != connected:
                    log.warning("connection replaced during a pipelined read: resuming it")
                    on_resume()
                    connected = session.connect_count
            if not inflight:
                return
            try:
                response = inflight[0][0].response(deadline.remaining())
            except ETPConnectionLost:
                raise  # the block stays in flight: sent again if the read resumes
            except BaseException as exc:
                # Answered (by an error): not to be waited for again below.
                _handle, block = inflight.popleft()
                del _handle
                parts = None
                if isinstance(exc, ETPResponseTooLarge) and split is not None:
                    parts = split(block)
                if parts is None:
                    raise
                retry.extendleft(reversed(parts))  # next, in order
                continue
            _handle, block = inflight.popleft()
            del _handle
            again = on_response(block, response)
            del response
            if again:
                retry.extend(again)
        except ETPConnectionLost as exc:
            resumable = (
                on_resume is not None
                and session.auto_reconnect
                and not isinstance(exc, ETPSessionClosed)
            )
            if not resumable or deadline.expired:
                raise
            # The blocks not answered go first, in order; the next send reconnects.
            retry.extendleft(reversed([b for _h, b in inflight]))
            inflight.clear()
            log.warning(
                "connection lost during a pipelined read (%s): resending the blocks not "
                "answered yet",
                exc,
            )
        except BaseException:
            # Let the requests still in flight finish so that the server is quiet before
            # anything else (e.g. a rollback) is sent; their answers are discarded.
            for handle, _block in inflight:
                try:
                    handle.response(max(0.0, deadline.at - time.monotonic()))
                except ETPError as exc:  # the error being raised says what went wrong
                    log.debug("a request in flight of a failed pipeline: %s", exc)
            raise


__all__ = ["run_pipeline"]
