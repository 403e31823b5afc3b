"""Live updates through the whole system: webhooks in, rows pushed out."""

from __future__ import annotations

import time
from contextlib import ExitStack

import pytest
import redis

from services.metrics.recipient_feed import channel
from tests.gateway.support import COUNTERS, make_key
from tests.gateway.test_end_to_end import (
    PHONES,
    SENT_AT,
    post,
    start_campaign,
    wamid,
    webhook,
)
from tests.gateway.wsclient import Socket, socket
from tests.stack import Stack
from xobito import webhooks

UPDATES = """
subscription ($id: ID!, $status: RecipientStatus) {
  recipientUpdates(campaignId: $id, status: $status) {
    phone status wamid deliveredAt failedAt failure { code category }
  }
}
"""


def watch_recipients(
    stack: Stack, ws: Socket, campaign_id: str, status: str | None = None
) -> None:
    """Subscribe, and wait until metrics listens for the campaign's rows."""
    ws.subscribe(UPDATES, id=campaign_id, status=status)
    client = redis.Redis.from_url(stack.servers.valkey.url)
    deadline = time.monotonic() + 5
    while client.pubsub_numsub(channel(campaign_id))[0][1] == 0:
        if time.monotonic() > deadline:
            pytest.fail("recipientUpdates never reached the metrics service")
        time.sleep(0.02)
    client.close()


def delivered(phone: str) -> webhooks.JSON:
    return webhooks.status(wamid(phone), "delivered", SENT_AT + 5, phone)


def failed(phone: str) -> webhooks.JSON:
    return webhooks.status(
        wamid(phone),
        "failed",
        SENT_AT + 2,
        phone,
        error_code=131026,
        error_title="Message undeliverable.",
    )


def test_a_webhook_pushes_the_rows_it_changed(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack)
    first, second, _ = PHONES

    with socket(stack.gateway_url) as ws:
        ws.init(api_key)
        watch_recipients(stack, ws, campaign_id)
        post(stack, webhook(delivered(first), failed(second)))
        rows = [ws.receive()["payload"]["data"]["recipientUpdates"] for _ in "12"]

    assert rows == [
        {
            "phone": first,
            "status": "DELIVERED",
            "wamid": wamid(first),
            "deliveredAt": "2026-03-02T10:00:05Z",
            "failedAt": None,
            "failure": None,
        },
        {
            "phone": second,
            "status": "FAILED",
            "wamid": wamid(second),
            "deliveredAt": None,
            "failedAt": "2026-03-02T10:00:02Z",
            "failure": {"code": 131026, "category": "not_on_whatsapp"},
        },
    ]


def test_a_status_filter_pushes_only_rows_with_that_status(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack)
    first, second, third = PHONES

    with socket(stack.gateway_url) as ws:
        ws.init(api_key)
        watch_recipients(stack, ws, campaign_id, "FAILED")
        post(stack, webhook(delivered(first)))
        post(stack, webhook(failed(second)))
        post(stack, webhook(delivered(third)))
        post(stack, webhook(failed(first)))  # delivery beats the failure
        only = ws.receive()["payload"]["data"]["recipientUpdates"]
        with pytest.raises(TimeoutError):
            ws.receive(timeout=0.5)

    assert (only["phone"], only["status"]) == (second, "FAILED")


def test_another_workspaces_campaign_has_no_updates(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack)
    stranger = make_key(stack.servers, "gateway-live-stranger")

    with socket(stack.gateway_url) as ws:
        ws.init(stranger)
        ws.subscribe(UPDATES, id=campaign_id)
        message = ws.receive()

    assert message["payload"]["errors"][0]["message"] == "campaign not found"


def test_subscribers_of_one_campaign_all_end_on_the_truth(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack)
    latest: list[dict[str, int]] = []

    with ExitStack() as sockets:
        opened = [sockets.enter_context(socket(stack.gateway_url)) for _ in "12345"]
        for ws in opened:
            ws.init(api_key)
            ws.subscribe(COUNTERS, id=campaign_id)
            ws.receive()
        post(stack, webhook(*[delivered(phone) for phone in PHONES]))
        for ws in opened:
            counters = ws.receive()["payload"]["data"]["campaignCounters"]
            while counters["delivered"] < len(PHONES):
                counters = ws.receive()["payload"]["data"]["campaignCounters"]
            latest.append(counters)

    assert {(c["sent"], c["delivered"]) for c in latest} == {(3, 3)}
