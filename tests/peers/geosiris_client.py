"""Drive Geosiris' py-etp-client 1.1.0 against a server; run by ``test_py_etp_client.py`` with
the Python of py-etp-client's own virtualenv (it pins pydantic<2 and numpy<2, so it cannot share
the test environment). Not a test module: it imports only py-etp-client and numpy.

    python geosiris_client.py JOB.json RESULT.json

The job names the server URL, a dataspace, XML files to put (in one transaction), arrays to put
(``.npy`` files with the EpcExternalPartReference URI and path), object URIs and arrays to read
back (written to ``.npy`` files). The result holds what each call answered.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np
from py_etp_client.etpclient import ETPClient

TIMEOUT = 20


def run(job: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    client = ETPClient(url=job["url"], spec=None)
    result["connected"] = client.start_and_wait_connected(timeout=TIMEOUT)
    try:
        ds = job["dataspace"]
        ds_uri = f"eml:///dataspace('{ds}')"
        result["transaction"] = str(client.start_transaction(ds_uri, timeout=TIMEOUT))
        xmls = [Path(p).read_text(encoding="utf-8") for p in job["put_objects"]]
        result["put_objects"] = sorted(client.put_data_object_str(xmls, ds_uri, timeout=TIMEOUT))
        result["put_arrays"] = []
        for item in job["put_arrays"]:
            values = np.load(item["file"])
            done = client.put_data_array(
                item["uri"], item["path"], values.flatten(), values.shape, timeout=TIMEOUT
            )
            result["put_arrays"].append(sorted(done))
        result["commit"] = client.commit_transaction(timeout=TIMEOUT)
        got = client.get_data_object(job["get_objects"], timeout=TIMEOUT)
        if not isinstance(got, list):
            raise RuntimeError(f"get_data_object answered {got!r}")
        result["get_objects"] = [x.decode() if isinstance(x, bytes) else x for x in got]
        for item in job["get_arrays"]:
            array = client.get_data_array(item["uri"], item["path"], timeout=TIMEOUT)
            if array is None:
                raise RuntimeError(f"no array {item['path']}")
            np.save(item["file"], array)
    finally:
        client.close()
    return result


def main() -> int:
    job = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    try:
        result = run(job)
    except Exception:
        result = {"error": traceback.format_exc()}
    Path(sys.argv[2]).write_text(json.dumps(result), encoding="utf-8")
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    raise SystemExit(main())
