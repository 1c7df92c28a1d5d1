"""Pipelined Store calls: a put of many objects goes as several PutDataObjects in flight inside
one automatic transaction, a get of many URIs as several GetDataObjects in flight.

Every test talks to an :class:`~etp_sync.server.EmbeddedServer` over a real socket. Overlap is
proven with the server's store held inside its first call until the client has sent more
requests (events only: with requests sent one after the other the wait would fail); drops are
made with ``server.drop_connections()`` from the client's thread halfway through a call.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from conftest import Harness

from etp_sync import DataObjectURI, ETPSession, ETPTimeout, samples
from etp_sync.calls import _put_plan
from etp_sync.errors import ErrorCode, ETPConnectionLost, ETPInvalidArgument, ETPPartialFailure
from etp_sync.server import EmbeddedServer

DS = "pipe/main"
DS2 = "pipe/other"
DS_URI = f"eml:///dataspace('{DS}')"
COUNT = 300  # more than PIPELINE_MIN_OBJECTS: several batches
WAIT = 20.0  # a guard only: every wait below ends on an event long before


def crs_docs(count: int, space: str = DS, tag: str = "crs") -> dict[str, bytes]:
    """``count`` small CRS documents keyed by their URI text in ``space``."""
    return samples.crs_documents(space, count, tag)


def stored(srv: EmbeddedServer, uris: list[str]) -> set[str]:
    """The URIs among ``uris`` that other sessions can read now (outside any transaction)."""
    found, _errors = srv.store.get_objects(uris)
    return set(found)


class Requests:
    """Records the names of what a session sends, and can run a hook after each send."""

    def __init__(self, session: ETPSession) -> None:
        self.sent: list[str] = []
        self.after_send: Callable[[str], None] | None = None
        request, send = session.request, session.send

        def recording_request(message: Any, **kwargs: Any) -> Any:
            self.sent.append((message[0] if isinstance(message, list) else message).etp_name)
            return request(message, **kwargs)

        def recording_send(message: Any, **kwargs: Any) -> Any:
            handle = send(message, **kwargs)
            self.sent.append(message.etp_name)
            if self.after_send is not None:
                self.after_send(message.etp_name)
            return handle

        session.request = recording_request  # type: ignore[method-assign]
        session.send = recording_send  # type: ignore[method-assign]

    def count(self, name: str) -> int:
        return self.sent.count(name)


class HeldStore:
    """Wraps a server store's ``method`` so that its first call waits until the client has
    sent ``until`` requests of ``name`` (set by :meth:`sent`); later calls run ``on_call``."""

    def __init__(self, srv: EmbeddedServer, method: str, name: str, until: int) -> None:
        self.name = name
        self.until = until
        self.client_sent = 0
        self.enough = threading.Event()
        self.first_waited: bool | None = None
        self.calls = 0
        self.on_call: Callable[[int], None] | None = None
        original = getattr(srv.store, method)

        def held(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == 1:
                self.first_waited = self.enough.wait(WAIT)
            result = original(*args, **kwargs)
            if self.on_call is not None:
                self.on_call(self.calls)
            return result

        setattr(srv.store, method, held)

    def sent(self, name: str) -> None:
        """Client side: a request named ``name`` went out."""
        if name == self.name:
            self.client_sent += 1
            if self.client_sent >= self.until:
                self.enough.set()


@pytest.fixture()
def rig(harness: Harness) -> Callable[..., tuple[ETPSession, EmbeddedServer]]:
    """Factory: an embedded server holding DS and DS2 and a session to it (``session``
    keyword arguments go to the session, the rest to the server)."""

    def make(
        session: dict[str, Any] | None = None, **server_kwargs: Any
    ) -> tuple[ETPSession, EmbeddedServer]:
        srv = harness.server(dataspaces=(DS, DS2), **server_kwargs)
        return harness.session(srv, timeout=WAIT, **(session or {})), srv

    return make


# -- put ---------------------------------------------------------------------------------------


def test_a_put_of_many_objects_overlaps_its_batches_inside_one_transaction(rig: Any) -> None:
    session, srv = rig()
    docs = crs_docs(COUNT)
    uris = list(docs)
    requests = Requests(session)
    held = HeldStore(srv, "put_objects", "PutDataObjects", until=3)
    requests.after_send = held.sent
    visible_during: list[set[str]] = []
    held.on_call = lambda n: visible_during.append(stored(srv, uris))
    progress: list[tuple[int, int]] = []

    results = session.put_data_objects(
        docs, progress=lambda done, total: progress.append((done, total))
    )

    # The server's first store call waited for the client's third batch: they were in flight
    # together (sent one after the other, the second would only go after the first answer).
    assert held.first_waited is True
    assert requests.count("PutDataObjects") == held.calls >= 3
    assert requests.sent[0] == "StartTransaction" and requests.sent[-1] == "CommitTransaction"
    assert requests.count("StartTransaction") == 1
    # Other sessions saw nothing of it until the commit, then everything.
    assert visible_during == [set()] * held.calls
    assert stored(srv, uris) == set(uris)
    assert [str(u) for u in results] == uris
    assert all(str(r.uri) == key for key, r in zip(uris, results.values(), strict=True))
    dones = [done for done, _total in progress]
    assert dones == sorted(dones) and len(dones) == held.calls and dones[-1] == COUNT
    assert {total for _done, total in progress} == {COUNT}
    assert session.transaction_manager.current is None
    got = session.get_data_objects(uris)
    assert [g.xml for g in got.values()] == list(docs.values())


def test_the_first_batches_are_small_and_grow(rig: Any) -> None:
    session, srv = rig()
    sizes: list[int] = []
    original = srv.store.put_objects

    def put_objects(space: Any, objects: Any, **kwargs: Any) -> Any:
        sizes.append(len(objects))
        return original(space, objects, **kwargs)

    srv.store.put_objects = put_objects
    session.put_data_objects(crs_docs(COUNT))
    assert sum(sizes) == COUNT and len(sizes) >= 3
    assert sizes[0] < sizes[1] < sizes[2]
    assert sizes[0] * 1.2 * 1024 <= 2 * _put_plan.PUT_FIRST_BATCH_BYTES


def test_an_invalid_document_in_a_later_batch_leaves_nothing_written(rig: Any) -> None:
    session, srv = rig()
    docs = crs_docs(COUNT)
    uris = list(docs)
    docs[uris[-1]] = samples.local_depth_crs(uuid.uuid4(), "not its uri")  # read last
    requests = Requests(session)
    with pytest.raises(ETPInvalidArgument, match="has uuid"):
        session.put_data_objects(docs)
    # Batches went before the document was read; the transaction was rolled back.
    assert requests.count("PutDataObjects") >= 2
    assert requests.sent[-1] == "RollbackTransaction"
    assert stored(srv, uris) == set()
    assert session.transaction_manager.current is None
    session.put_data_objects({uris[0]: docs[uris[0]]})  # the session goes on
    assert stored(srv, uris) == {uris[0]}


def test_failed_objects_of_several_batches_are_keyed_by_their_uris(rig: Any) -> None:
    session, srv = rig()
    docs = crs_docs(COUNT)
    uris = list(docs)
    broken = {uris[5], uris[150], uris[-1]}  # in the first, a middle and the last batch
    for key in broken:
        docs[key] = b"<broken"
    requests = Requests(session)
    with pytest.raises(ETPPartialFailure) as info:
        session.put_data_objects(docs)
    error = info.value
    assert requests.count("PutDataObjects") >= 3
    assert set(error.errors) == broken
    assert {code for code, _message in error.errors.values()} == {ErrorCode.EINVALID_OBJECT}
    assert [str(u) for u in error.successes] == [u for u in uris if u not in broken]
    # The objects that were valid were committed, as with a put of one request.
    assert stored(srv, uris) == set(uris) - broken


def test_a_dropped_pipelined_put_is_sent_again_as_a_whole(rig: Any) -> None:
    session, srv = rig()
    docs = crs_docs(COUNT)
    uris = list(docs)
    requests = Requests(session)
    dropped = threading.Event()

    def drop_once(name: str) -> None:
        if name == "PutDataObjects" and requests.count(name) == 2 and not dropped.is_set():
            dropped.set()
            srv.drop_connections()

    requests.after_send = drop_once
    progress: list[int] = []
    results = session.put_data_objects(docs, progress=lambda done, _total: progress.append(done))
    assert dropped.is_set()
    assert requests.count("StartTransaction") == 2
    assert requests.sent[-1] == "CommitTransaction"
    assert [str(u) for u in results] == uris
    assert stored(srv, uris) == set(uris)
    # The second attempt counted again from its first batch, up to all objects.
    restart = max((i for i in range(1, len(progress)) if progress[i] < progress[i - 1]), default=0)
    assert progress[restart:] == sorted(progress[restart:]) and progress[-1] == COUNT


def test_a_pipelined_put_ends_at_its_timeout_and_stores_nothing(rig: Any) -> None:
    session, srv = rig()
    docs = crs_docs(COUNT)
    release = threading.Event()  # the server's store is held until the client rolls back
    original = srv.store.put_objects

    def held(*args: Any, **kwargs: Any) -> Any:
        release.wait(WAIT)
        return original(*args, **kwargs)

    srv.store.put_objects = held
    requests = Requests(session)
    recording = session.request

    def request(message: Any, **kwargs: Any) -> Any:
        if getattr(message, "etp_name", "") == "RollbackTransaction":
            release.set()
        return recording(message, **kwargs)

    session.request = request
    started = time.monotonic()
    with pytest.raises(ETPTimeout):
        session.put_data_objects(docs, timeout=0.5)
    assert time.monotonic() - started < WAIT / 2  # the held store did not hold the call
    assert release.is_set() and requests.sent[-1] == "RollbackTransaction"
    assert requests.count("PutDataObjects") >= 2
    assert session.transaction_manager.current is None
    assert stored(srv, list(docs)) == set()
    session.put_data_objects(docs)  # the session goes on
    assert stored(srv, list(docs)) == set(docs)


def test_without_transactions_a_put_of_many_objects_stays_one_request(rig: Any) -> None:
    session, srv = rig(session={"protocols": (3, 4, 24)})  # no Transaction protocol (18)
    docs = crs_docs(COUNT)
    requests = Requests(session)
    session.put_data_objects(docs)
    assert requests.sent == ["PutDataObjects"]
    assert stored(srv, list(docs)) == set(docs)


def test_a_put_of_few_objects_stays_one_request(rig: Any) -> None:
    session, srv = rig()
    docs = crs_docs(20)
    requests = Requests(session)
    session.put_data_objects(docs)
    assert requests.sent == ["PutDataObjects"]
    assert stored(srv, list(docs)) == set(docs)


def test_a_pipelined_put_over_dataspaces_with_a_chunked_object(rig: Any) -> None:
    session, srv = rig(max_message_size=64 * 1024)
    docs: dict[str, Any] = {**crs_docs(150), **crs_docs(150, DS2)}
    ref = uuid.uuid4()
    big_uri = str(DataObjectURI.from_type(DS, "resqml20.obj_LocalDepth3dCrs", ref))
    big = samples.padded(samples.local_depth_crs(ref, "big"), 200_000)
    docs[big_uri] = big.decode()  # str documents go too
    requests = Requests(session)
    batch_spaces: list[set[str]] = []
    original = srv.store.put_objects

    def put_objects(space: Any, objects: Any, **kwargs: Any) -> Any:
        batch_spaces.append({put.uri.split("')")[0] for put in objects.values()})
        return original(space, objects, **kwargs)

    srv.store.put_objects = put_objects
    results = session.put_data_objects(docs)
    assert requests.sent[0] == "StartTransaction" and requests.count("StartTransaction") == 1
    assert requests.sent[-1] == "CommitTransaction"
    assert requests.count("PutDataObjects") >= 5
    assert [str(u) for u in results] == list(docs)
    assert stored(srv, list(docs)) == set(docs)
    assert session.get_data_object(big_uri).xml == big
    assert all(len(spaces) == 1 for spaces in batch_spaces)  # one dataspace per batch
    assert len(batch_spaces) == requests.count("PutDataObjects")


def test_inside_an_open_transaction_a_pipelined_put_belongs_to_it(rig: Any) -> None:
    session, srv = rig()
    docs = crs_docs(COUNT)
    uris = list(docs)
    requests = Requests(session)
    with session.transaction([DS]):
        session.put_data_objects(docs)
        assert stored(srv, uris) == set()
        # Every document is read before anything is sent inside the caller's transaction.
        bad = {**crs_docs(COUNT), uris[0]: samples.local_depth_crs(uuid.uuid4())}
        before = len(requests.sent)
        with pytest.raises(ETPInvalidArgument):
            session.put_data_objects(bad)
        assert len(requests.sent) == before
    assert requests.count("StartTransaction") == 1
    assert requests.count("PutDataObjects") > 1
    assert stored(srv, uris) == set(uris)


# -- get ---------------------------------------------------------------------------------------


def test_a_get_of_many_uris_overlaps_its_requests(rig: Any) -> None:
    session, srv = rig()
    docs = crs_docs(COUNT)
    srv.store.put_objects(DS_URI, docs)
    uris = list(docs)
    missing = [str(u) for u in crs_docs(3)]
    asked = uris[:100] + missing[:1] + uris[100:] + missing[1:]
    requests = Requests(session)
    held = HeldStore(srv, "get_objects", "GetDataObjects", until=2)
    requests.after_send = held.sent
    progress: list[tuple[int, int]] = []
    with pytest.raises(ETPPartialFailure) as info:
        session.get_data_objects(asked, progress=lambda d, t: progress.append((d, t)))
    assert held.first_waited is True
    assert requests.count("GetDataObjects") == held.calls >= 3
    error = info.value
    assert [str(u) for u in error.successes] == uris
    assert [g.xml for g in error.successes.values()] == list(docs.values())
    assert set(error.errors) == set(missing)
    assert {code for code, _message in error.errors.values()} == {ErrorCode.ENOT_FOUND}
    dones = [d for d, _t in progress]
    assert dones == sorted(dones) and len(dones) == held.calls and dones[-1] == len(asked)


def test_a_get_of_many_uris_goes_on_after_a_drop(rig: Any) -> None:
    session, srv = rig()
    docs = crs_docs(COUNT)
    srv.store.put_objects(DS_URI, docs)
    requests = Requests(session)
    dropped = threading.Event()

    def drop_once(name: str) -> None:
        if name == "GetDataObjects" and not dropped.is_set():
            dropped.set()
            srv.drop_connections()

    requests.after_send = drop_once
    got = session.get_data_objects(list(docs))
    assert dropped.is_set()
    assert session.connect_count == 2
    assert [g.xml for g in got.values()] == list(docs.values())


def test_a_get_without_reconnection_fails_on_a_drop(rig: Any) -> None:
    session, srv = rig(session={"auto_reconnect": False})
    docs = crs_docs(COUNT)
    srv.store.put_objects(DS_URI, docs)
    requests = Requests(session)

    def drop_first(name: str) -> None:
        if requests.count(name) == 1:
            srv.drop_connections()

    requests.after_send = drop_first
    with pytest.raises(ETPConnectionLost):
        session.get_data_objects(list(docs))
    assert session.connect_count == 1


def test_a_pipelined_put_keyed_every_way_has_one_result_per_uri(rig: Any) -> None:
    """Canonical URI texts (whose URIs are built batch by batch), a text with its uuid in
    upper case (parsed at once) naming one of them again, and DataObjectURI keys: one object
    per URI (the last document given, in the place of the first), results keyed by the URIs
    in the caller's order, and a key outside ``dataspace=`` refused before anything is sent."""
    session, srv = rig()
    docs: dict[Any, Any] = dict(crs_docs(200))
    texts = list(docs)
    again = texts[10].replace(texts[10][-37:-1], texts[10][-37:-1].upper())
    docs[again] = docs[texts[10]].replace(b"crs 10", b"crs 10 again")
    objects = crs_docs(3, tag="object")
    docs.update({DataObjectURI.parse(text): xml for text, xml in objects.items()})
    requests = Requests(session)
    results = session.put_data_objects(docs)
    assert [str(uri) for uri in results] == texts + list(objects)
    assert all(isinstance(uri, DataObjectURI) for uri in results)
    assert [r.uri for r in results.values()] == list(results)
    assert requests.count("PutDataObjects") > 1
    assert session.get_data_object(texts[10]).xml == docs[again]
    assert stored(srv, texts + list(objects)) == set(texts) | set(objects)
    other = crs_docs(200, DS2)
    sent = len(requests.sent)
    with pytest.raises(ETPInvalidArgument, match="given as dataspace="):
        session.put_data_objects({**crs_docs(200), **other}, dataspace=DS)
    assert len(requests.sent) == sent
