"""google.protobuf.Timestamp to and from aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp


def to_datetime(stamp: Timestamp) -> datetime:
    """The moment in UTC; ValueError when it is out of datetime's range."""
    return stamp.ToDatetime(tzinfo=UTC)


def to_timestamp(at: datetime | None) -> Timestamp | None:
    """The Timestamp of a moment; None stays None (an unset field)."""
    if at is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp
