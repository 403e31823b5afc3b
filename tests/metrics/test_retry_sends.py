"""A retry's send: the recipient's next attempt at its message.

Each test starts from three recipients whose sends Meta failed as rate
limited, and one delivered; the sender retries as it does, queuing
then taking the retry from WatchRetries before it sends again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import pytest

from tests.counting import counted, shown
from tests.metrics.helpers import WORKSPACE, Metrics, at, message, stamp, status
from xobito.metrics.v1 import metrics_pb2 as pb

RATE_LIMITED = 130429
INVALID_NUMBER = 131009
FAILED = pb.RECIPIENT_STATUS_FAILED


def phone(n: int) -> str:
    return f"165055530{n:02d}"


@pytest.fixture
def campaign(metrics: Metrics) -> str:
    """Recipients 0-2 sent at 0 and failed at 10; 3 sent and delivered."""
    campaign_id = metrics.create().id
    metrics.add(campaign_id, *[(phone(n), f"Ann {n}") for n in range(4)])
    metrics.send(campaign_id, *[(phone(n), f"wamid.a{n}", 0) for n in range(4)])
    metrics.record(
        *[status(f"wamid.a{n}", "failed", 10, code=RATE_LIMITED) for n in range(3)],
        status("wamid.a3", "delivered", 10),
    )
    return campaign_id


def queue(metrics: Metrics, campaign_id: str, *phones: str) -> pb.QueueRetriesResponse:
    return metrics.stub.QueueRetries(
        pb.QueueRetriesRequest(
            workspace_id=WORKSPACE, campaign_id=campaign_id, phones=phones
        )
    )


@contextmanager
def watching(metrics: Metrics, campaign_id: str) -> Iterator[Iterator[pb.QueuedRetry]]:
    request = pb.WatchRetriesRequest(workspace_id=WORKSPACE, campaign_id=campaign_id)
    stream = metrics.stub.WatchRetries(request, timeout=20)
    try:
        yield iter(stream)
    finally:
        stream.cancel()  # type: ignore[no-untyped-call]


def handed_out(metrics: Metrics, campaign_id: str, *phones: str) -> None:
    """Queue the phones and take their retries, as the sender does."""
    queue(metrics, campaign_id, *phones)
    with watching(metrics, campaign_id) as stream:
        taken = [next(stream).phone for _ in phones]
    assert sorted(taken) == sorted(phones)


def retried(
    metrics: Metrics, campaign_id: str, n: int, seconds: float = 100
) -> pb.RecordSendsResponse:
    """Queue, hand out and send recipient n's retry as wamid.b<n>."""
    handed_out(metrics, campaign_id, phone(n))
    return metrics.send(campaign_id, (phone(n), f"wamid.b{n}", seconds))


def counters(metrics: Metrics, campaign_id: str) -> dict[str, int]:
    return shown(metrics.campaign(campaign_id))


def test_a_retry_takes_its_new_wamid_and_starts_again_from_sent(
    metrics: Metrics, campaign: str
) -> None:
    sent = retried(metrics, campaign, 0, seconds=100)

    row = metrics.row(campaign, phone(0))
    assert sent.recorded == 1
    assert (row.status, row.wamid) == (pb.RECIPIENT_STATUS_SENT, "wamid.b0")
    assert row.sent_at == stamp(at(100))
    assert not row.HasField("failed_at")
    assert not row.HasField("failure")
    assert counters(metrics, campaign)["failed"] == 2
    assert counters(metrics, campaign)["sent"] == 4


def test_a_retry_delivered_counts_as_delivered_and_not_failed(
    metrics: Metrics, campaign: str
) -> None:
    retried(metrics, campaign, 0)

    metrics.record(
        status("wamid.b0", "delivered", 110), status("wamid.b0", "read", 120)
    )

    row = metrics.row(campaign, phone(0))
    assert row.status == pb.RECIPIENT_STATUS_READ
    assert (row.delivered_at, row.read_at) == (stamp(at(110)), stamp(at(120)))
    shows = counters(metrics, campaign)
    assert (shows["delivered"], shows["read"], shows["failed"]) == (2, 1, 2)
    assert shows == counted(metrics.rows(campaign))


def test_a_late_status_of_the_earlier_send_stays_out_of_row_and_counters(
    metrics: Metrics, campaign: str
) -> None:
    retried(metrics, campaign, 0)
    metrics.record(status("wamid.b0", "delivered", 110))
    row_before = metrics.row(campaign, phone(0))
    counters_before = counters(metrics, campaign)

    late = metrics.record(
        status("wamid.a0", "delivered", 30),
        status("wamid.a0", "failed", 40, code=INVALID_NUMBER),
    )

    assert list(late.status_outcomes) == [pb.STATUS_OUTCOME_APPLIED] * 2
    row = metrics.row(campaign, phone(0))
    assert (row.status, row.delivered_at) == (row_before.status, stamp(at(110)))
    assert not row.HasField("failure")
    assert counters(metrics, campaign) == counters_before


def test_the_timeline_keeps_both_attempts(metrics: Metrics, campaign: str) -> None:
    metrics.record(status("wamid.a0", "sent", 1))
    retried(metrics, campaign, 0)
    metrics.record(
        status("wamid.b0", "sent", 101),
        status("wamid.b0", "delivered", 110),
        status("wamid.a0", "delivered", 30),  # late, from the first send
    )

    timeline = [
        (entry.status, entry.at) for entry in metrics.row(campaign, phone(0)).timeline
    ]

    assert timeline == [
        ("SENT", stamp(at(1))),
        ("FAILED", stamp(at(10))),
        ("DELIVERED", stamp(at(30))),
        ("SENT", stamp(at(101))),
        ("DELIVERED", stamp(at(110))),
    ]


def test_another_wamid_without_a_retry_queued_is_a_conflict(
    metrics: Metrics, campaign: str
) -> None:
    with pytest.raises(grpc.RpcError) as failure:
        metrics.send(campaign, (phone(0), "wamid.b0", 100))

    assert failure.value.code() is grpc.StatusCode.FAILED_PRECONDITION


def test_a_retry_told_twice_is_recorded_once(metrics: Metrics, campaign: str) -> None:
    retried(metrics, campaign, 0)
    before = metrics.row(campaign, phone(0))

    again = metrics.send(campaign, (phone(0), "wamid.b0", 100))

    assert again.recorded == 0
    assert metrics.row(campaign, phone(0)) == before


def test_the_earlier_send_told_again_changes_nothing(
    metrics: Metrics, campaign: str
) -> None:
    retried(metrics, campaign, 0)
    before = metrics.row(campaign, phone(0))

    again = metrics.send(campaign, (phone(0), "wamid.a0", 0))

    assert again.recorded == 0
    assert metrics.row(campaign, phone(0)) == before


def test_a_retry_that_fails_again_with_the_same_code_is_queued_again(
    metrics: Metrics, campaign: str
) -> None:
    retried(metrics, campaign, 0)
    metrics.record(status("wamid.b0", "failed", 110, code=RATE_LIMITED))

    again = queue(metrics, campaign, phone(0))

    assert (again.queued, again.already_queued) == (1, 0)
    with watching(metrics, campaign) as stream:
        retry = next(stream)
    assert (retry.phone, retry.failure_code) == (phone(0), RATE_LIMITED)
    assert retry.failed_at == stamp(at(110))


def test_a_failed_send_is_queued_once_however_often_asked(
    metrics: Metrics, campaign: str
) -> None:
    retried(metrics, campaign, 0)
    metrics.record(status("wamid.b0", "failed", 110, code=RATE_LIMITED))
    queue(metrics, campaign, phone(0))

    again = queue(metrics, campaign, phone(0))

    assert (again.queued, again.already_queued) == (0, 1)


def test_a_retry_sent_before_it_was_handed_out_is_not_handed_out(
    metrics: Metrics, campaign: str
) -> None:
    queue(metrics, campaign, phone(0), phone(1))

    metrics.send(campaign, (phone(0), "wamid.b0", 100))

    with watching(metrics, campaign) as stream:
        retry = next(stream)
    assert retry.phone == phone(1)
    assert metrics.row(campaign, phone(0)).wamid == "wamid.b0"


def test_a_retry_meta_rejects_fails_the_new_attempt(
    metrics: Metrics, campaign: str
) -> None:
    handed_out(metrics, campaign, phone(0))

    metrics.reject(campaign, phone(0), INVALID_NUMBER, seconds=100)

    row = metrics.row(campaign, phone(0))
    assert (row.status, row.wamid, row.failure.code) == (FAILED, "", INVALID_NUMBER)
    assert row.failed_at == stamp(at(100))
    shows = counters(metrics, campaign)
    assert (shows["sent"], shows["failed"]) == (3, 3)
    assert shows == counted(metrics.rows(campaign))


def test_a_retry_of_a_send_meta_rejected_counts_as_sent(
    metrics: Metrics, campaign: str
) -> None:
    metrics.add(campaign, (phone(4), "Ann 4"))
    metrics.reject(campaign, phone(4), RATE_LIMITED)
    handed_out(metrics, campaign, phone(4))

    metrics.send(campaign, (phone(4), "wamid.b4", 100))

    row = metrics.row(campaign, phone(4))
    assert (row.status, row.wamid) == (pb.RECIPIENT_STATUS_SENT, "wamid.b4")
    shows = counters(metrics, campaign)
    assert (shows["sent"], shows["failed"]) == (5, 3)


def test_a_reply_quoting_the_earlier_send_is_the_recipients_reply(
    metrics: Metrics, campaign: str
) -> None:
    retried(metrics, campaign, 0)

    metrics.record(messages=[message("wamid.in0", phone(0), 200, context="wamid.a0")])

    assert metrics.row(campaign, phone(0)).replied_at == stamp(at(200))
    assert counters(metrics, campaign)["replied"] == 1


def test_counters_after_retries_equal_a_count_over_the_rows(
    metrics: Metrics, campaign: str
) -> None:
    retried(metrics, campaign, 0)
    retried(metrics, campaign, 1)
    metrics.record(
        status("wamid.b0", "read", 120),
        status("wamid.b1", "failed", 120, code=RATE_LIMITED),
        status("wamid.a1", "delivered", 20),
    )
    handed_out(metrics, campaign, phone(1))
    metrics.send(campaign, (phone(1), "wamid.c1", 200))

    drift = metrics.with_counters(lambda c, _: c.reconcile(campaign))

    assert drift == {}
    assert counters(metrics, campaign) == counted(metrics.rows(campaign))
    assert counters(metrics, campaign)["failed"] == 1


def test_erasing_the_number_clears_the_earlier_sends_statuses_too(
    metrics: Metrics, campaign: str
) -> None:
    retried(metrics, campaign, 0)
    late = status("wamid.a0", "delivered", 30)
    late.biz_opaque_callback_data = "order 77"
    metrics.record(late)

    metrics.stub.EraseContact(
        pb.EraseContactRequest(workspace_id=WORKSPACE, phone=phone(0))
    )

    details = metrics.sql(
        "SELECT detail FROM metrics.status_events WHERE wamid = 'wamid.a0'"
        " AND status = 'delivered'"
    )
    assert details == [({},)]
