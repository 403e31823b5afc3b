from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from xobito.metrics.v1 import metrics_pb2 as pb
from xobito.timestamps import set_timestamp, to_datetime, to_timestamp

MOMENTS = [
    datetime(2026, 3, 2, 10, 0, 2, tzinfo=UTC),
    datetime(2026, 3, 2, 10, 0, 2, 123456, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


def protobufs(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


@pytest.mark.parametrize("at", MOMENTS, ids=str)
def test_a_moment_becomes_the_timestamp_protobuf_makes_of_it(at: datetime) -> None:
    assert to_timestamp(at) == protobufs(at)


@pytest.mark.parametrize("at", MOMENTS, ids=str)
def test_a_timestamp_becomes_the_moment_it_came_from(at: datetime) -> None:
    assert to_datetime(protobufs(at)) == at
    assert to_datetime(protobufs(at)).tzinfo is UTC


@pytest.mark.parametrize("at", MOMENTS, ids=str)
def test_a_field_set_in_place_holds_the_timestamp_protobuf_makes(
    at: datetime,
) -> None:
    row = pb.RecipientRow()

    set_timestamp(row.sent_at, at)

    assert row.HasField("sent_at")
    assert row.sent_at == protobufs(at)


def test_a_field_set_to_none_stays_unset() -> None:
    row = pb.RecipientRow()

    set_timestamp(row.sent_at, None)
    set_timestamp(row.read_at, datetime(2026, 3, 2, 10, 0, 2))

    assert not row.HasField("sent_at")
    assert row.read_at == protobufs(datetime(2026, 3, 2, 10, 0, 2, tzinfo=UTC))


def test_a_moment_in_another_zone_is_the_same_instant() -> None:
    paris = datetime(2026, 3, 2, 11, 0, 2, tzinfo=timezone(timedelta(hours=1)))

    assert to_timestamp(paris) == to_timestamp(
        datetime(2026, 3, 2, 10, 0, 2, tzinfo=UTC)
    )


def test_a_naive_moment_is_taken_as_utc() -> None:
    naive = datetime(2026, 3, 2, 10, 0, 2)

    assert to_timestamp(naive) == protobufs(naive.replace(tzinfo=UTC))


def test_none_stays_unset() -> None:
    assert to_timestamp(None) is None


def test_a_timestamp_beyond_datetimes_range_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        to_datetime(Timestamp(seconds=10**12))
