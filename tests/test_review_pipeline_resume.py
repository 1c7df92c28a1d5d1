"""Resumption of pipelined reads after a drop (run_pipeline's ``on_resume``, which array reads
and object gets share): only when the session reconnects. With ``auto_reconnect=False`` a drop
during a pipelined array read raises ETPConnectionLost, as one request and object gets do
(tests/test_store_pipelined.py); before, the array read reconnected anyway and resumed."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import Harness

from etp_sync import ETPSession
from etp_sync.errors import ETPConnectionLost
from etp_sync.uri import DataObjectURI

DS = "resume/test"
EPC = DataObjectURI.from_type(
    DS, "eml20.obj_EpcExternalPartReference", "0" * 8 + "-0000-0000-0000-" + "0" * 12
)
MIB = 1 << 20


@pytest.mark.parametrize("auto_reconnect", [False, True])
def test_a_pipelined_array_read_resumes_only_when_the_session_reconnects(
    harness: Harness, auto_reconnect: bool
) -> None:
    from _faults import FaultProxy

    srv = harness.server(dataspaces=[DS])
    values = np.random.default_rng(5).random(1_000_000)  # incompressible
    harness.session(srv, timeout=30).put_data_array(EPC, "/dropped", values)
    proxy = FaultProxy(srv).start()
    try:
        reader: ETPSession = harness.session(
            proxy, timeout=30, max_message_size=MIB, auto_reconnect=auto_reconnect
        )
        dropped = proxy.drop_after(values.nbytes // 2, "down")
        if auto_reconnect:
            got = reader.get_data_array(EPC, "/dropped")
            assert np.array_equal(got, values)
            assert proxy.accepted >= 2
        else:
            with pytest.raises(ETPConnectionLost):
                reader.get_data_array(EPC, "/dropped")
            assert proxy.accepted == 1  # not reconnected behind the caller's back
        assert dropped.is_set(), "the proxy never dropped the connection"
    finally:
        proxy.stop()
