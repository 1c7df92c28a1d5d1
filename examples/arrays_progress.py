"""Arrays with a progress bar: put and get a 64 MB float64 array in blocks, showing progress.

``progress(done, total)`` is called in bytes as blocks complete; here it drives a tqdm bar
(``pip install tqdm``), or prints percentages when tqdm is not installed.
Run: ``python examples/arrays_progress.py [URL]``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np
from _embedded import server_url

from etp_sync import ETPSession
from etp_sync.samples import surface_model


def progress_printer(label: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A ``progress(done, total)`` callback and a function closing the display."""
    try:
        from tqdm import tqdm
    except ImportError:
        shown = [-1]

        def show(done: int, total: int) -> None:
            percent = 100 * done // max(total, 1)
            if percent >= shown[0] + 25:  # every quarter
                shown[0] = percent
                print(f"{label}: {percent}%")

        return show, lambda: None
    bar = tqdm(desc=label, total=0, unit="B", unit_scale=True, unit_divisor=1024)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    return update, bar.close


def main() -> int:
    with server_url(max_message_size=4 << 20) as url, ETPSession(url) as session:
        session.put_dataspace("examples/arrays")
        model = surface_model("examples/arrays", shape=(2000, 4000))  # 64 MB of z values
        session.put_data_objects(model.objects)

        progress, close = progress_printer("put")
        session.put_data_array(model.epc_uri, model.array_path, model.z_values, progress=progress)
        close()
        progress, close = progress_printer("get")
        z = session.get_data_array(model.epc_uri, model.array_path, progress=progress)
        close()
        same = np.array_equal(z, model.z_values)
        print(f"array back: {z.dtype} {z.shape}, equal: {same}")
        session.delete_dataspace("examples/arrays")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
