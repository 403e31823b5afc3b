"""Queuing failed recipients for a retry, and handing the retries out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import pytest

from tests.metrics.helpers import WORKSPACE, Metrics, status
from xobito.metrics.v1 import metrics_pb2 as pb

NOT_ON_WHATSAPP = 131026
RATE_LIMITED = 130429
FREQUENCY_CAP = 131049


def phone(n: int) -> str:
    return f"165055520{n:02d}"


@pytest.fixture
def campaign(metrics: Metrics) -> str:
    """Eight recipients: 0-1 not on WhatsApp, 2-4 rate limited, 5 capped,
    6 rate limited then delivered, 7 delivered."""
    campaign_id = metrics.create().id
    metrics.add(campaign_id, *[(phone(n), f"Ann {n}") for n in range(8)])
    metrics.send(campaign_id, *[(phone(n), f"wamid.r{n}", n) for n in range(8)])
    metrics.record(
        *[
            status(f"wamid.r{n}", "failed", 20 + n, code=NOT_ON_WHATSAPP)
            for n in (0, 1)
        ],
        *[
            status(f"wamid.r{n}", "failed", 20 + n, code=RATE_LIMITED)
            for n in (2, 3, 4, 6)
        ],
        status("wamid.r5", "failed", 25, code=FREQUENCY_CAP),
        *[status(f"wamid.r{n}", "delivered", 30 + n) for n in (6, 7)],
    )
    return campaign_id


def candidates(
    metrics: Metrics, campaign_id: str, *categories: str
) -> pb.ListRetryCandidatesResponse:
    return metrics.stub.ListRetryCandidates(
        pb.ListRetryCandidatesRequest(
            workspace_id=WORKSPACE, campaign_id=campaign_id, categories=categories
        )
    )


def queue(metrics: Metrics, campaign_id: str, *phones: str) -> pb.QueueRetriesResponse:
    return metrics.stub.QueueRetries(
        pb.QueueRetriesRequest(
            workspace_id=WORKSPACE, campaign_id=campaign_id, phones=phones
        )
    )


def test_candidates_are_the_failed_recipients_a_retry_may_help(
    metrics: Metrics, campaign: str
) -> None:
    found = candidates(metrics, campaign)

    assert sorted(found.phones) == [phone(n) for n in (2, 3, 4, 5)]
    assert found.not_retryable == 2
    assert found.already_queued == 0


def test_candidates_are_filtered_by_category(metrics: Metrics, campaign: str) -> None:
    found = candidates(metrics, campaign, "rate_limited")

    assert sorted(found.phones) == [phone(n) for n in (2, 3, 4)]
    assert found.not_retryable == 0


def test_an_unknown_category_is_an_invalid_argument(
    metrics: Metrics, campaign: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        candidates(metrics, campaign, "bad_luck")

    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_another_workspace_cannot_queue_retries(
    metrics: Metrics, campaign: str
) -> None:
    request = pb.QueueRetriesRequest(
        workspace_id="ws-other", campaign_id=campaign, phones=[phone(2)]
    )

    with pytest.raises(grpc.RpcError) as caught:
        metrics.stub.QueueRetries(request)

    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


def test_queuing_records_the_failure_each_retry_is_for(
    metrics: Metrics, campaign: str
) -> None:
    queued = queue(metrics, campaign, phone(2), phone(5))

    assert queued.queued == 2
    rows = metrics.sql("SELECT failure_code FROM metrics.retries ORDER BY failure_code")
    assert rows == [(RATE_LIMITED,), (FREQUENCY_CAP,)]


def test_a_recipient_is_queued_once_per_failure(
    metrics: Metrics, campaign: str
) -> None:
    queue(metrics, campaign, phone(2), phone(3))

    again = queue(metrics, campaign, phone(2), phone(3), phone(4))

    assert (again.queued, again.already_queued) == (1, 2)
    assert candidates(metrics, campaign).already_queued == 3


def test_a_recipient_no_longer_failed_is_not_queued(
    metrics: Metrics, campaign: str
) -> None:
    queued = queue(metrics, campaign, phone(0), phone(6), phone(7))

    assert queued.queued == 0
    assert queued.not_retryable == 3


@contextmanager
def watching(
    metrics: Metrics, campaign_id: str = ""
) -> Iterator[Iterator[pb.QueuedRetry]]:
    """The sender's stream of retries, cancelled when the block ends."""
    request = pb.WatchRetriesRequest(workspace_id=WORKSPACE, campaign_id=campaign_id)
    stream = metrics.stub.WatchRetries(request, timeout=20)
    try:
        yield iter(stream)
    finally:
        stream.cancel()  # type: ignore[no-untyped-call]


def test_the_sender_receives_retries_queued_before_it_watched(
    metrics: Metrics, campaign: str
) -> None:
    queue(metrics, campaign, phone(2), phone(5))

    with watching(metrics, campaign) as stream:
        first, second = next(stream), next(stream)

    assert (first.phone, first.name, first.failure_code) == (
        phone(2),
        "Ann 2",
        RATE_LIMITED,
    )
    assert (second.campaign_id, second.phone) == (campaign, phone(5))


def test_the_sender_receives_a_retry_as_it_is_queued(
    metrics: Metrics, campaign: str
) -> None:
    with watching(metrics) as stream:
        queue(metrics, campaign, phone(3))
        started = time.monotonic()
        retry = next(stream)
        waited = time.monotonic() - started

    assert retry.phone == phone(3)
    # Woken by the publish, not by the poll every few seconds.
    assert waited < 2


def test_a_retry_handed_out_is_not_streamed_again(
    metrics: Metrics, campaign: str
) -> None:
    queue(metrics, campaign, phone(2))
    with watching(metrics, campaign) as stream:
        next(stream)

    queue(metrics, campaign, phone(4))
    with watching(metrics, campaign) as stream:
        retry = next(stream)

    assert retry.phone == phone(4)
    handed_out = metrics.sql(
        "SELECT count(*) FROM metrics.retries WHERE handed_out_at IS NOT NULL"
    )
    assert handed_out == [(2,)]


def test_a_campaign_watch_skips_other_campaigns_retries(
    metrics: Metrics, campaign: str
) -> None:
    other = metrics.create().id
    metrics.add(other, (phone(9), "Bo"))
    metrics.send(other, (phone(9), "wamid.o9", 1))
    metrics.record(status("wamid.o9", "failed", 5, code=RATE_LIMITED))
    queue(metrics, other, phone(9))
    queue(metrics, campaign, phone(2))

    with watching(metrics, campaign) as stream:
        retry = next(stream)

    assert (retry.campaign_id, retry.phone) == (campaign, phone(2))
