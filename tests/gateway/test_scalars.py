from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.types.scalars import parse, serialize
from tests.examples import examples


def test_a_datetime_is_written_in_utc_with_a_z() -> None:
    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 3, 2, 11, 0, 2, tzinfo=paris)

    assert serialize(moment) == "2026-03-02T10:00:02Z"


def test_fractional_seconds_appear_only_when_not_zero() -> None:
    moment = datetime(2026, 3, 2, 10, 0, 2, 250000, tzinfo=UTC)

    assert serialize(moment) == "2026-03-02T10:00:02.25Z"


def test_a_datetime_without_a_time_zone_is_refused() -> None:
    with pytest.raises(ValueError):
        serialize(datetime(2026, 3, 2, 10, 0, 2))


def test_a_datetime_is_read_back_as_utc() -> None:
    assert parse("2026-03-02T11:00:02+01:00") == datetime(
        2026, 3, 2, 10, 0, 2, tzinfo=UTC
    )


def test_a_datetime_to_read_needs_a_time_zone() -> None:
    with pytest.raises(ValueError):
        parse("2026-03-02T10:00:02")


@settings(max_examples=examples(200), deadline=None, database=None)
@given(
    st.datetimes(
        min_value=datetime(1000, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [
                UTC,
                timezone(timedelta(hours=5, minutes=30)),
                timezone(-timedelta(hours=8)),
            ]
        ),
    )
)
def test_a_datetime_reads_as_its_utc_calendar_time(moment: datetime) -> None:
    utc = moment.astimezone(UTC)
    fraction = f".{utc.microsecond:06d}".rstrip("0") if utc.microsecond else ""

    text = serialize(moment)

    assert text == utc.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"
