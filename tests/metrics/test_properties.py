"""Order, duplication and batching never change the answer.

Hypothesis makes small campaigns (see tests.metrics.scenarios). The same
facts are fed to the real service twice, once plainly and once
shuffled, repeated and cut into batches at random (a status may even
come before its send); both campaigns must end with the same rows and
timelines, each as the contract says, and counters equal to a count
over the rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings

from tests.counting import counted
from tests.examples import examples
from tests.metrics.helpers import T0
from tests.metrics.scenarios import (
    NOT_SENT,
    REJECTED,
    REJECTION_CODE,
    Call,
    Campaign,
    Fate,
    Op,
    at,
    phone,
    plainly,
    scenarios,
    sends_before_messages,
)
from tests.stack import Stack
from xobito.metrics.v1 import metrics_pb2 as pb
from xobito.metrics.v1.metrics_pb2_grpc import MetricsServiceStub

RANK = {
    "sent": pb.RECIPIENT_STATUS_SENT,
    "failed": pb.RECIPIENT_STATUS_FAILED,
    "delivered": pb.RECIPIENT_STATUS_DELIVERED,
    "read": pb.RECIPIENT_STATUS_READ,
    "played": pb.RECIPIENT_STATUS_READ,
}
# A timeline's statuses of the same second, in rank order.
SAME_SECOND = ("sent", "failed", "delivered", "read", "played")
REPLY_WINDOW = timedelta(hours=24)


# -- what the rows must say ----------------------------------------------


def when(message: Message, name: str) -> datetime | None:
    if not message.HasField(name):
        return None
    value: Timestamp = getattr(message, name)
    return value.ToDatetime(tzinfo=UTC)


def readable(row: pb.RecipientRow, tag: str) -> dict[str, Any]:
    """A row in plain values, its campaign's tag taken out of the wamid."""
    return {
        "phone": row.phone,
        "status": pb.RecipientStatus.Name(row.status),
        "wamid": row.wamid.replace(tag, "*"),
        **{
            name: when(row, name)
            for name in (
                "sent_at",
                "delivered_at",
                "read_at",
                "failed_at",
                "replied_at",
                "opted_out_at",
            )
        },
        "failure": row.failure.code if row.HasField("failure") else None,
        "timeline": [(entry.status, when(entry, "at")) for entry in row.timeline],
    }


def _earliest(times: Iterator[datetime]) -> datetime | None:
    return min(times, default=None)


def expected(fate: Fate, i: int) -> dict[str, Any]:
    """The row the contract asks for, from the facts alone."""
    # Without a wamid, statuses wait for a send that never comes and
    # messages answer nothing.
    if fate.send == NOT_SENT:
        return {
            "phone": phone(i),
            "status": "RECIPIENT_STATUS_PENDING",
            "replied_at": None,
            "opted_out_at": None,
            "timeline": [],
        }
    if fate.send == REJECTED:
        return {
            "phone": phone(i),
            "status": "RECIPIENT_STATUS_FAILED",
            "sent_at": T0,
            "failed_at": T0,
            "failure": REJECTION_CODE,
            "replied_at": None,
            "opted_out_at": None,
            "timeline": [],
        }

    reported = sorted(fate.statuses)
    status = max([pb.RECIPIENT_STATUS_SENT, *(RANK[s] for s, _ in reported)])
    first_failure = min(
        ((at_s, code) for (s, at_s), code in fate.statuses.items() if s == "failed"),
        default=None,
    )

    def first(*values: str) -> datetime | None:
        return _earliest(at(at_s) for s, at_s in reported if s in values)

    replies = [
        at(r.after_s)
        for r in fate.replies
        if r.quoting or at(r.after_s) - T0 <= REPLY_WINDOW
    ]
    return {
        "phone": phone(i),
        "status": pb.RecipientStatus.Name(status),
        "sent_at": first("sent") or T0,
        "delivered_at": first("delivered"),
        "read_at": first("read", "played"),
        "failed_at": first("failed"),
        "replied_at": _earliest(iter(replies)),
        "opted_out_at": _earliest(at(r.after_s) for r in fate.replies if r.opt_out),
        "failure": (
            first_failure[1]
            if first_failure and status == pb.RECIPIENT_STATUS_FAILED
            else None
        ),
        "timeline": [
            (s.upper(), at(at_s))
            for at_s, _, s in sorted(
                (at_s, SAME_SECOND.index(s), s) for s, at_s in reported
            )
        ],
    }


@pytest.fixture(scope="module")
def stub(metrics_stack: Stack) -> Iterator[MetricsServiceStub]:
    with metrics_stack.channel("metrics") as channel:
        yield MetricsServiceStub(channel)


@settings(max_examples=examples(), deadline=None, database=None)
@given(scenario=scenarios())
def test_any_order_duplication_and_batching_gives_the_same_rows(
    stub: MetricsServiceStub, scenario: tuple[list[Fate], list[Call]]
) -> None:
    people, calls = scenario
    plain, shuffled = Campaign(stub, people), Campaign(stub, people)
    plain.create()
    shuffled.create()

    plain.play(plainly(people))
    shuffled.play(calls)

    plain_rows = [readable(row, plain.tag) for row in plain.rows()]
    shuffled_rows = [readable(row, shuffled.tag) for row in shuffled.rows()]
    assert shuffled_rows == plain_rows
    for row, (i, fate) in zip(plain_rows, enumerate(people), strict=True):
        wanted = expected(fate, i)
        assert {key: row[key] for key in wanted} == wanted


@settings(max_examples=examples(), deadline=None, database=None)
@given(scenario=scenarios())
def test_counters_equal_a_count_over_the_rows_whatever_the_order(
    stub: MetricsServiceStub, scenario: tuple[list[Fate], list[Call]]
) -> None:
    people, calls = scenario
    campaign = Campaign(stub, people)
    campaign.create()

    campaign.play(calls)

    assert campaign.shown() == counted(campaign.rows())


def test_the_scenarios_put_every_send_before_its_messages() -> None:
    order = [Op("message", 0), Op("status", 0), Op("send", 0), Op("send", 0)]

    moved = sends_before_messages(order)

    assert moved == [Op("send", 0), Op("message", 0), Op("status", 0), Op("send", 0)]


def test_the_scenarios_keep_a_send_that_comes_first() -> None:
    order = [Op("send", 1), Op("message", 1)]

    assert sends_before_messages(order) == order


def test_the_scenarios_make_up_no_send() -> None:
    order = [Op("message", 2), Op("status", 2)]

    assert sends_before_messages(order) == order
