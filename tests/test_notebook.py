"""examples/explore.ipynb runs cleanly in a real Jupyter kernel (nbclient + ipykernel), so it never
rots; the kernel's event loop is running while the client works, results display as HTML tables,
``progress=True`` draws notebook widgets and the surface plot renders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbclient
import nbformat

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "explore.ipynb"


def _outputs(nb: Any, snippet: str) -> list[Any]:
    """The outputs of the one code cell whose source contains ``snippet``."""
    cells = [c for c in nb.cells if c.cell_type == "code" and snippet in c.source]
    assert len(cells) == 1, snippet
    outputs: list[Any] = cells[0].outputs
    return outputs


def _data(outputs: list[Any], mime: str) -> list[Any]:
    return [o["data"][mime] for o in outputs if mime in o.get("data", {})]


def test_explore_notebook_executes(tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")  # stored clean
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError on any failing cell

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output.output_type != "error", output
    loop = _outputs(nb, "asyncio.get_event_loop().is_running()")
    assert [o.text for o in loop if o.output_type == "stream"] == ["event loop running: True\n"]

    for snippet in ("put_data_array(", "get_data_array(model.epc_uri"):
        widgets = _data(_outputs(nb, snippet), "application/vnd.jupyter.widget-view+json")
        assert widgets, f"no progress widget for {snippet!r}"  # tqdm's notebook mode

    spaces = _data(_outputs(nb, "session.get_dataspaces()"), "text/html")
    assert len(spaces) == 1 and '<table class="etp-sync">' in spaces[0]
    assert "demo/explore" in spaces[0]
    resources = _data(_outputs(nb, "include_edges=True"), "text/html")
    assert len(resources) == 1 and resources[0].count("<table") == 2  # resources, then edges
    assert "3 resources, dataspace demo/explore" in resources[0]
    text = _data(_outputs(nb, "include_edges=True"), "text/plain")[0]
    assert text.splitlines()[0].split()[:3] == ["name", "type", "uuid"]
    frame = _data(_outputs(nb, "to_pandas()"), "text/html")
    assert len(frame) == 1 and "Top reservoir" in frame[0] and "dataframe" in frame[0]
    objects = _data(_outputs(nb, "objects = session.get_data_objects"), "text/html")
    assert "3 objects, dataspace demo/explore" in objects[0]
    meta = _data(_outputs(nb, "get_data_array_metadata"), "text/plain")
    assert meta == ["ArrayMetadata(400 x 600 float64, 1.8 MiB)"]
    plots = _data(_outputs(nb, "plt.subplots"), "image/png")
    assert len(plots) == 1 and len(plots[0]) > 1000
