"""etp_sync.calls.results: DataValue unwrapping and the active status of returned records."""

from __future__ import annotations

import numpy as np
import pytest

from etp_sync.calls.results import _is_active, from_data_value, to_data_value
from etp_sync.schema import Float32, Int32, datatypes


@pytest.mark.parametrize(
    "value",
    [None, "text", "", 7, -(2**62), 2.5, True, False, b"\x00\x01", ["a", "b"], [1, 2], [0.5]],
)
def test_data_values_come_back_as_they_were_sent(value: object) -> None:
    back = from_data_value(to_data_value(value))
    assert back == value and type(back) is type(value)


def test_narrow_numbers_and_arrays_become_plain() -> None:
    assert type(from_data_value(datatypes.DataValue(item=Int32(3)))) is int
    assert from_data_value(datatypes.DataValue(item=Float32(0.5))) == 0.5
    assert type(from_data_value(Float32(0.5))) is float  # an item alone is unwrapped too
    values = datatypes.ArrayOfDouble(values=np.array([1.0, 2.0]))
    assert from_data_value(datatypes.DataValue(item=values)) == [1.0, 2.0]


def test_active_status_from_enum_or_name() -> None:
    kind = datatypes.Object.ActiveStatusKind
    assert _is_active(kind.Active) and _is_active("Active")
    assert not _is_active(kind.Inactive) and not _is_active("Inactive")


def test_a_naive_datetime_filter_is_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """``store_last_write_filter=datetime.now() - timedelta(minutes=5)`` means five minutes
    ago, as ``datetime.timestamp()`` reads a naive datetime: it was read as UTC (in Oslo,
    an hour or two off). Aware datetimes and ints are taken as they are."""
    import time
    from datetime import UTC, datetime

    from etp_sync.calls.results import to_us

    monkeypatch.setenv("TZ", "Europe/Oslo")
    time.tzset()
    try:
        naive = datetime(2024, 7, 1, 12, 0, 0)  # 10:00 UTC (summer time, UTC+2)
        assert to_us(naive) == int(naive.timestamp()) * 1_000_000
        assert to_us(naive) == to_us(datetime(2024, 7, 1, 10, 0, 0, tzinfo=UTC))
        assert to_us(datetime(2024, 7, 1, 12, 0, 0, tzinfo=UTC)) == 1_719_835_200_000_000
        assert to_us(1_719_835_200_000_000) == 1_719_835_200_000_000
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
