"""DateTime: ISO-8601 in UTC with a `Z`, as clients and Meta write it.

"2026-03-02T10:00:02Z"; fractional seconds appear only when not zero.
"""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from xobito.timestamps import to_datetime


def serialize(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("a DateTime must carry its time zone")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # isoformat is a quarter of strftime's cost; its "+00:00" goes.
    text = value.isoformat()[:-6]
    if value.microsecond:
        text = text.rstrip("0")
    return text + "Z"


def parse(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("a DateTime is an ISO-8601 string")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("a DateTime needs a time zone, e.g. a final Z")
    return parsed.astimezone(UTC)


DATETIME = strawberry.scalar(
    name="DateTime",
    description="A moment in UTC, ISO-8601 with a Z: 2026-03-02T10:00:02Z.",
    serialize=serialize,
    parse_value=parse,
)


def from_timestamp(ts: Timestamp) -> datetime:
    return to_datetime(ts)


def time_of(message: Message, field: str) -> datetime | None:
    """A Timestamp field of a message, or None when it is not set."""
    if not message.HasField(field):
        return None
    return from_timestamp(getattr(message, field))
