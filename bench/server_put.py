"""The embedded server's own CPU for a put of many small objects, in process, with no socket and
no client running beside it: what bounds etp_sync's side of compare.py's 1,000-objects row.

etp_sync pipelines a put, so its wall time is about the server's time to store the objects
(``bench/objects_cost.py`` measures both over real sockets, where the client's work on the
other core and the machine's noise come on top). This script times the server's part alone,
per round of ``--objects`` fresh ``samples.local_depth_crs`` documents (after one untimed
round), in the messages etp_sync's put sends (PutDataObjects of ``--batch`` objects):

- ``put``: what the server does with those messages: decode each, store its objects (the
  store's parse included; no transaction: each message is applied as it comes) and encode its
  PutDataObjectsResponse;
- ``decode``: decoding the messages alone;
- ``parse``: the store's parse of every document alone (identity, citation, well-formedness);
- ``expat``: a bare expat parse of every document (namespaces on, no handlers): the floor of
  ``parse``, which must check the whole document.

``rest`` = put - decode - parse (of the medians): the store's bookkeeping and the replies.
Medians over ``--rounds`` rounds, in ms per round and µs per object.

    python bench/server_put.py [--objects 1000] [--rounds 25] [--batch 64] [--no-write]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any
from xml.parsers import expat

from _results import command_line, load_average, machine_note, publish

from etp_sync.codec import MessageHeader, decode_message, encode_message
from etp_sync.samples import local_depth_crs
from etp_sync.schema import datatypes, messages
from etp_sync.server._xml import parse_data_object
from etp_sync.server.store import Store, object_put
from etp_sync.uri import DataObjectURI

DATASPACE = "eml:///dataspace('bench/server-put')"
PHASES = ("put", "decode", "parse", "expat", "rest")


def documents(count: int, tag: int) -> list[tuple[str, str, bytes]]:
    """(uri, title, xml) of ``count`` fresh CRS objects."""
    out = []
    for k in range(count):
        ref = uuid.uuid4()
        title = f"CRS {tag}-{k}"
        uri = DataObjectURI.from_type(DATASPACE, "resqml20.obj_LocalDepth3dCrs", ref)
        out.append((str(uri), title, local_depth_crs(ref, title)))
    return out


def put_frames(docs: Sequence[tuple[str, str, bytes]], batch: int) -> list[bytes]:
    """The PutDataObjects messages of ``docs``, ``batch`` objects each, as etp_sync sends them
    (Resource: the URI, the citation's title, store times of now, active, no custom data)."""
    now = time.time_ns() // 1000
    frames: list[bytes] = []
    for start in range(0, len(docs), batch):
        objects = {
            uri: datatypes.Object.DataObject(
                resource=datatypes.Object.Resource(
                    uri=uri,
                    name=title,
                    last_changed=now,
                    store_last_write=now,
                    store_created=now,
                    active_status="Active",
                ),
                format="xml",
                data=xml,
            )
            for uri, title, xml in docs[start : start + batch]
        }
        header = MessageHeader(
            protocol=4, message_type=2, correlation_id=0, message_id=2 + 2 * len(frames),
            message_flags=0x2,
        )  # fmt: skip
        frames.append(encode_message(header, messages.Store.PutDataObjects(data_objects=objects)))
    return frames


def serve_put(store: Store, frames: Sequence[bytes]) -> None:
    """What the server's PutDataObjects handler does with ``frames`` (one request each)."""
    for frame in frames:
        header, body = decode_message(frame)
        data_objects: dict[str, Any] = body.data_objects  # type: ignore[attr-defined]
        puts = {
            key: object_put(bytes(obj.data), obj.resource.uri or None, obj.format)
            for key, obj in data_objects.items()
        }
        results, errors = store.put_objects(None, puts)
        if errors:
            raise RuntimeError(f"the store refused objects: {next(iter(errors.values()))}")
        reply = MessageHeader(
            protocol=4, message_type=9, correlation_id=header.message_id, message_id=1,
            message_flags=0x2,
        )  # fmt: skip
        success = dict.fromkeys(results, datatypes.Object.PutResponse())
        encode_message(reply, messages.Store.PutDataObjectsResponse(success=success))


def _timed(action: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1e3


def measure(objects: int, rounds: int, batch: int) -> dict[str, list[float]]:
    """ms per round of each phase, ``rounds`` rounds after an untimed one."""
    store = Store(max_store_bytes=None, max_array_bytes=None)
    store.put_dataspace(DATASPACE)
    times: dict[str, list[float]] = {phase: [] for phase in PHASES if phase != "rest"}
    for r in range(rounds + 1):
        docs = documents(objects, r)
        frames = put_frames(docs, batch)
        xmls = [xml for _, _, xml in docs]

        def bare(xmls: list[bytes] = xmls) -> None:
            for xml in xmls:
                expat.ParserCreate(namespace_separator=" ").Parse(xml, True)

        timed = {
            "decode": _timed(lambda: [decode_message(f) for f in frames]),  # noqa: B023
            "parse": _timed(lambda: [parse_data_object(x) for x in xmls]),  # noqa: B023
            "expat": _timed(bare),
            "put": _timed(lambda: serve_put(store, frames)),  # noqa: B023
        }
        if r == 0:
            continue  # warm-up
        for phase, ms in timed.items():
            times[phase].append(ms)
        print(f"round {r}/{rounds}: " + ", ".join(f"{k} {v:.1f}" for k, v in timed.items()))
    return times


def section(argv: Sequence[str] | None, times: dict[str, list[float]], objects: int) -> str:
    rows = [
        "| phase | ms per round (min / median) | µs per object (median) |",
        "|---|--:|--:|",
    ]
    medians = {phase: statistics.median(values) for phase, values in times.items()}
    medians["rest"] = medians["put"] - medians["decode"] - medians["parse"]
    for phase in PHASES:
        low = f"{min(times[phase]):.1f}" if phase in times else "-"
        median = medians[phase]
        rows.append(f"| {phase} | {low} / {median:.1f} | {median * 1e3 / objects:.1f} |")
    return "\n".join(
        [
            "## The server's CPU for a put of small objects, alone (bench/server_put.py)",
            "",
            f"Command: `{command_line('bench/server_put.py', argv)}` (from the repository root)",
            "",
            f"Machine: {machine_note([])}. Load average (1 / 5 / 15 min) at the end "
            f"{load_average()}.",
            "",
            f"{objects:,} fresh `samples.local_depth_crs` documents per round, in etp_sync's "
            "PutDataObjects messages; one process, no socket, nothing else running in it. "
            "put = decode + store (its parse included) + replies; rest = put - decode - parse, "
            "of the medians. "
            "See the script's docstring.",
            "",
            *rows,
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=1000, help="objects per round (1000)")
    parser.add_argument("--rounds", type=int, default=25, help="timed rounds (25)")
    parser.add_argument("--batch", type=int, default=64, help="objects per message (64)")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)
    if args.objects < 1 or args.rounds < 1 or args.batch < 1:
        parser.error("--objects, --rounds and --batch must be positive")
    times = measure(args.objects, args.rounds, args.batch)
    publish("server-put", section(argv, times, args.objects), not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
