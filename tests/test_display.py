"""Results as tables (etp_sync._display, the result types): text and HTML renderings, width and
row truncation, local times and human sizes, pandas frames, and data left unchanged."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import numpy as np
import pytest
from conftest import Harness

from etp_sync import (
    ArrayMetadata,
    DataObject,
    DataObjectURI,
    Dataspace,
    DataspaceURI,
    Edge,
    PutResult,
    Resource,
    Resources,
    SupportedType,
)
from etp_sync._display import (
    MAX_ROWS,
    ResultDict,
    ResultList,
    ResultTuple,
    human_size,
    local_time,
)
from etp_sync.calls.results import to_us
from etp_sync.errors import ETPMissingDependency
from etp_sync.samples import surface_model

WHEN = datetime(2024, 3, 5, 14, 30, 15, 123456, tzinfo=UTC)
US = to_us(WHEN)
assert US is not None
GRID = "resqml20.obj_Grid2dRepresentation"


def _uri(i: int, dataspace: str = "nb/demo") -> DataObjectURI:
    return DataObjectURI.from_type(dataspace, GRID, uuid.UUID(int=i + 1))


def _resource(i: int, dataspace: str = "nb/demo", name: str | None = None) -> Resource:
    return Resource(
        uri=_uri(i, dataspace),
        name=name if name is not None else f"Surface {i}",
        last_changed_us=US,
        store_last_write_us=US,
        store_created_us=US,
        source_count=i,
        target_count=2,
    )


def _resources(n: int) -> Resources:
    return Resources(tuple(_resource(i) for i in range(n)))


def test_local_time_and_human_size() -> None:
    assert local_time(WHEN) == WHEN.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert local_time(None) == ""
    assert human_size(None) == ""
    assert human_size(0) == "0 B"
    assert human_size(1023) == "1023 B"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(64 << 20) == "64.0 MiB"
    assert human_size(3 << 50) == "3.0 PiB"


def test_resources_print_as_an_aligned_table() -> None:
    table = _resources(3).to_text(width=200)
    lines = table.splitlines()
    assert lines[0].split() == ["name", "type", "uuid", "last", "changed", "sources", "targets"]
    assert lines[-1] == "3 resources, dataspace nb/demo"
    rows = lines[1:-1]
    assert [r.split()[0] for r in rows] == ["0", "1", "2"]
    # columns aligned: every value starts where its title starts
    for title in ("type", "uuid", "last changed"):
        at = lines[0].index(title)
        assert all(r[at - 1] == " " and r[at] != " " for r in rows)
    assert str(uuid.UUID(int=2)) in rows[1]
    assert local_time(WHEN) in rows[2]
    assert rows[2].split()[-2:] == ["2", "2"] and len(rows[2]) == len(lines[0])  # right-aligned
    # repr and str are the table at the terminal's width
    assert repr(_resources(3)) == str(_resources(3))
    assert "Surface 1" in repr(_resources(3))


def test_text_table_fits_the_width_by_trimming() -> None:
    res = Resources((_resource(0, name="A rather long surface name for a small terminal"),))
    for width in (80, 100, 120):
        lines = res.to_text(width=width).splitlines()
        assert all(len(line) <= width for line in lines), (width, lines)
        assert "…" in lines[1]
    wide = res.to_text(width=300)
    assert "A rather long surface name for a small terminal" in wide
    assert str(uuid.UUID(int=1)) in wide and "…" not in wide
    # the UUID is trimmed in the middle, keeping both of its ends
    narrow = res.to_text(width=100).splitlines()[1]
    text = str(uuid.UUID(int=1))
    assert any(w.startswith(text[:4]) and w.endswith(text[-4:]) for w in narrow.split())


def test_ten_thousand_resources_show_head_and_tail() -> None:
    res = _resources(10_000)
    lines = res.to_text(width=120).splitlines()
    assert len(lines) == MAX_ROWS + 3  # header, head, elision, tail, footer
    assert lines[-1].startswith("10,000 resources")
    numbers = [line.split()[0] for line in lines[1:-1]]
    assert numbers[0] == "0" and numbers[-1] == "9999" and "…" in numbers
    html = res._repr_html_()
    assert html is not None
    assert html.count("<tr>") == MAX_ROWS + 2  # header row, shown rows, elision row
    assert "10,000 resources" in html and "<th>9999</th>" in html


def test_html_table_escapes_and_aligns() -> None:
    res = Resources((_resource(0, name="<b>R&D</b>"),))
    html = res._repr_html_()
    assert html is not None
    assert html.startswith('<table class="etp-sync">')
    assert "&lt;b&gt;R&amp;D&lt;/b&gt;" in html and "<b>R&D" not in html
    assert '<td style="text-align: right">0</td>' in html
    assert str(res[0].uri.uuid) in html  # HTML cells are never trimmed


def test_common_column_moves_to_footer_only_when_shared() -> None:
    mixed = Resources((_resource(0, "a/one"), _resource(1, "b/two")))
    text = mixed.to_text(width=300)
    assert "dataspace" in text.splitlines()[0].split()
    assert "a/one" in text and "b/two" in text
    assert text.splitlines()[-1] == "2 resources"


def test_edges_table_follows_resources() -> None:
    res = Resources(
        tuple(_resource(i) for i in range(2)),
        (Edge(_uri(0), _uri(1)), Edge(_uri(1), _uri(0), "Secondary")),
    )
    text = res.to_text(width=200)
    resources_part, edges_part = text.split("\n\n")
    assert resources_part.endswith("2 resources, dataspace nb/demo")
    assert edges_part.splitlines()[0].split() == ["source", "target", "kind"]
    assert "Secondary" in edges_part and edges_part.endswith("2 edges, dataspace nb/demo")
    assert isinstance(res.edges, ResultTuple)
    assert res._repr_html_() is not None and res._repr_html_().count("<table") == 2  # type: ignore[union-attr]


def test_other_result_tables() -> None:
    spaces = ResultList(
        [
            Dataspace(DataspaceURI("nb/demo"), "nb/demo", US, US, {"owners": ["x"]}),
            Dataspace(DataspaceURI(), None, US, 0),
        ]
    )
    text = spaces.to_text(width=200)
    assert text.splitlines()[0].split() == ["path", "last", "write", "created", "custom", "data"]
    assert "eml:///" in text and "owners" in text and text.endswith("2 dataspaces")
    objects = ResultDict(
        {_uri(0): DataObject(_uri(0), b"x" * 2048, name="Crs", last_changed_us=US)}
    )
    text = objects.to_text(width=200)
    assert "2.0 KiB" in text and "Crs" in text and text.endswith("1 objects, dataspace nb/demo")
    types = ResultList([SupportedType(GRID, 3, "Primary")])
    assert types.to_text(width=200).splitlines()[1].split() == ["0", GRID, "3", "Primary"]
    puts = ResultList([PutResult(_uri(0), created_contained=("a", "b"))])
    assert "2" in puts.to_text(width=200).splitlines()[1].split()
    meta = ResultList(
        [ArrayMetadata((50, 80), np.dtype("float64"), "arrayOfDouble", "arrayOfDouble64LE", US)]
    )
    row = meta.to_text(width=200).splitlines()[1]
    assert "50 x 80" in row and "float64" in row and "31.2 KiB" in row
    assert local_time(WHEN) in row


def test_plain_containers_keep_their_repr() -> None:
    assert repr(ResultList([])) == "[]"
    assert repr(ResultList([1, 2])) == "[1, 2]"
    assert repr(ResultDict({})) == "{}"
    assert repr(ResultTuple(())) == "()"
    assert ResultList([1])._repr_html_() is None
    mixed = ResultList([_resource(0), SupportedType(GRID, 1, "Primary")])
    assert repr(mixed) == list.__repr__(mixed)


def test_single_records_have_short_reprs() -> None:
    r = _resource(0)
    assert repr(r) == f"Resource('Surface 0', {str(r.uri)!r})"
    ds = Dataspace(DataspaceURI("nb/demo"), "nb/demo", US, US, {"owners": ["x" * 500]})
    assert repr(ds) == f"Dataspace('nb/demo', last write {local_time(WHEN)})"
    meta = ArrayMetadata((2000, 4000), np.dtype("float64"), "arrayOfDouble", "arrayOfDouble64LE")
    assert repr(meta) == "ArrayMetadata(2000 x 4000 float64, 61.0 MiB)"
    put = PutResult(_uri(0), joined_contained=("a",))
    assert repr(put) == f"PutResult({str(_uri(0))!r}, 1 joined)"
    edge = Edge(_uri(0), _uri(1))
    assert repr(edge) == f"Edge({str(_uri(0))!r} -> {str(_uri(1))!r}, Primary)"
    obj = DataObject(_uri(0), b"<x/>" * 10_000, name="big")
    assert len(repr(obj)) < 150


def test_data_is_unchanged() -> None:
    items = [_resource(i) for i in range(3)]
    table = ResultList(items)
    assert table == items and list(table) == items and isinstance(table, list)
    assert ResultDict({1: items[0]}) == {1: items[0]}
    res = Resources(tuple(items), (Edge(_uri(0), _uri(1)),))
    assert res == Resources(tuple(items), (Edge(_uri(0), _uri(1)),))
    assert res.edges == (Edge(_uri(0), _uri(1)),) and res.resources == tuple(items)
    assert hash(items[0]) == hash(_resource(0))
    assert dataclasses.asdict(items[0])["name"] == "Surface 0"
    assert [f.name for f in dataclasses.fields(Resource)][:3] == ["uri", "name", "last_changed_us"]
    meta = ArrayMetadata((2, 3), np.dtype("int32"), "arrayOfInt", "arrayOfInt32LE", 5, 6)
    assert (meta.shape, meta.nbytes, meta.store_last_write) == ((2, 3), 24, 5)


def test_to_pandas_has_raw_values() -> None:
    frame = _resources(3).to_pandas()
    assert list(frame.columns)[:4] == ["name", "type", "uuid", "dataspace"]
    assert frame["name"].tolist() == ["Surface 0", "Surface 1", "Surface 2"]
    assert frame["uri"].tolist() == [str(_uri(i)) for i in range(3)]
    assert frame["sources"].tolist() == [0, 1, 2]
    assert frame["last_changed"][0] == WHEN.replace(microsecond=WHEN.microsecond)
    assert len(ResultList([]).to_pandas()) == 0


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_pandas_is_imported_only_by_to_pandas() -> None:
    out = _run(
        "import sys, etp_sync\n"
        "from etp_sync import DataObjectURI, Resource, Resources\n"
        "from etp_sync._display import ResultList\n"
        "u = DataObjectURI.from_type('a', 'resqml20.obj_Grid2dRepresentation',"
        " '00000000-0000-0000-0000-000000000001')\n"
        "r = Resources((Resource(u, 'n', 1, 1, 1),))\n"
        "repr(r); r._repr_html_(); repr(ResultList(list(r)))\n"
        "print('pandas' in sys.modules, 'tqdm' in sys.modules)\n"
        "r.to_pandas()\n"
        "print('pandas' in sys.modules)\n"
    )
    assert out.split() == ["False", "False", "True"]


def test_to_pandas_without_pandas_says_what_to_install() -> None:
    out = _run(
        "import sys\n"
        "sys.modules['pandas'] = None\n"
        "from etp_sync._display import ResultList\n"
        "from etp_sync import SupportedType\n"
        "from etp_sync.errors import ETPMissingDependency\n"
        "try:\n"
        "    ResultList([SupportedType('a', 1, 'Primary')]).to_pandas()\n"
        "except ETPMissingDependency as exc:\n"
        "    print(exc.package, isinstance(exc, ImportError), exc.message)\n"
    )
    assert out.startswith("pandas True to_pandas() needs pandas: pip install pandas")
    assert issubclass(ETPMissingDependency, ImportError)


def test_session_results_are_tables(harness: Harness) -> None:
    srv = harness.server()
    session = harness.session(srv, timeout=30)
    ds = session.put_dataspace("display/demo", owners=["me@example.com"])
    model = surface_model(ds, shape=(20, 30))
    session.put_data_objects(model.objects)
    session.put_data_array(model.epc_uri, model.array_path, model.z_values)

    spaces = session.get_dataspaces()
    assert isinstance(spaces, ResultList) and spaces.to_text(width=200).endswith("dataspaces")
    assert "display/demo" in repr(spaces) and "owners" in spaces.to_text(width=200)
    res = session.get_resources(ds, include_edges=True)
    text = res.to_text(width=200)
    assert "3 resources, dataspace display/demo" in text and "edges" in text
    assert "Top reservoir" in text
    objects = session.get_data_objects(list(model.objects))
    assert isinstance(objects, ResultDict)
    assert objects.to_text(width=200).endswith("3 objects, dataspace display/demo")
    assert set(objects) == set(model.objects)
    types = session.get_supported_types(ds)
    assert isinstance(types, ResultList) and GRID in types.to_text(width=200)
    meta = session.get_data_array_metadata(model.epc_uri, model.array_path)
    assert repr(meta) == "ArrayMetadata(20 x 30 float64, 4.7 KiB)"
    with pytest.raises(AttributeError):
        meta.dimensions = (1,)  # type: ignore[misc]
