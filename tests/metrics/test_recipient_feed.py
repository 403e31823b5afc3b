"""WatchRecipients: the rows each committed batch changed, as they are."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import pytest
import redis

from services.metrics.recipient_feed import channel
from tests.metrics.helpers import WORKSPACE, Metrics, status
from xobito.metrics.v1 import metrics_pb2 as pb

PHONES = ["16505550101", "16505550102", "16505550103"]


def _sent_campaign(metrics: Metrics) -> str:
    campaign_id = metrics.create().id
    metrics.send(campaign_id, *[(p, f"wamid.feed-{p}", 0) for p in PHONES])
    return campaign_id


def _wait_subscribed(metrics: Metrics, campaign_id: str) -> None:
    """Until the service listens on the campaign's channel."""
    client = redis.Redis.from_url(metrics.servers.valkey.url)
    deadline = time.monotonic() + 5
    while client.pubsub_numsub(channel(campaign_id))[0][1] == 0:
        if time.monotonic() > deadline:
            pytest.fail("WatchRecipients never subscribed")
        time.sleep(0.02)
    client.close()


@contextmanager
def watching(
    metrics: Metrics,
    campaign_id: str,
    status: pb.RecipientStatus.ValueType = pb.RECIPIENT_STATUS_UNSPECIFIED,
) -> Iterator[Iterator[pb.RecipientRow]]:
    request = pb.WatchRecipientsRequest(
        workspace_id=WORKSPACE, campaign_id=campaign_id, status=status
    )
    call = metrics.stub.WatchRecipients(request, timeout=20)
    try:
        _wait_subscribed(metrics, campaign_id)
        yield call
    finally:
        call.cancel()


def test_a_batch_brings_the_rows_it_changed(metrics: Metrics) -> None:
    campaign_id = _sent_campaign(metrics)

    with watching(metrics, campaign_id) as rows:
        metrics.record(
            status(f"wamid.feed-{PHONES[0]}", "delivered", 5),
            status(f"wamid.feed-{PHONES[1]}", "failed", 6, code=131026),
        )
        changed = [next(rows), next(rows)]

    assert [(row.phone, row.status) for row in changed] == [
        (PHONES[0], pb.RECIPIENT_STATUS_DELIVERED),
        (PHONES[1], pb.RECIPIENT_STATUS_FAILED),
    ]
    assert changed[1].failure.category == "not_on_whatsapp"
    assert [entry.status for entry in changed[0].timeline] == ["DELIVERED"]


def test_a_status_filter_leaves_out_rows_without_it(metrics: Metrics) -> None:
    campaign_id = _sent_campaign(metrics)
    delivered = pb.RECIPIENT_STATUS_DELIVERED

    with watching(metrics, campaign_id, delivered) as rows:
        metrics.record(status(f"wamid.feed-{PHONES[1]}", "failed", 6, code=131026))
        metrics.record(status(f"wamid.feed-{PHONES[2]}", "delivered", 7))
        first = next(rows)

    assert (first.phone, first.status) == (PHONES[2], delivered)


def test_another_workspaces_campaign_is_not_found(metrics: Metrics) -> None:
    campaign_id = _sent_campaign(metrics)
    request = pb.WatchRecipientsRequest(
        workspace_id="someone-else", campaign_id=campaign_id
    )

    with pytest.raises(grpc.RpcError) as raised:
        next(metrics.stub.WatchRecipients(request, timeout=5))

    assert raised.value.code() is grpc.StatusCode.NOT_FOUND
