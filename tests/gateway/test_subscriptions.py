"""campaignCounters: the counters now, then every change, until the end."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack

import pytest

from tests.gateway.fakes import FakeServices, counters_of
from tests.gateway.support import COUNTERS, Keys
from tests.gateway.wsclient import socket
from tests.stack import Stack
from xobito.metrics.v1 import metrics_pb2 as mpb


def wait_until(check: Callable[[], bool], timeout: float = 3) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        time.sleep(0.02)


def test_the_first_message_is_the_current_counters(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign(
        "cmp_live_now",
        recipient_total=4,
        counters=mpb.Counters(sent=4, delivered=3, read=1, failed=0),
    )

    with socket(gateway.gateway_url) as ws:
        ws.init(keys.one)
        ws.subscribe(COUNTERS, id="cmp_live_now")
        message = ws.receive()

    assert message["type"] == "next"
    assert message["payload"]["data"]["campaignCounters"] == {
        "campaignId": "cmp_live_now",
        "recipientTotal": 4,
        "status": "SENDING",
        "sent": 4,
        "delivered": 3,
        "read": 1,
        "failed": 0,
        "replied": 0,
        "optedOut": 0,
        "sentPct": 100.0,
        "deliveredPct": 75.0,
        "readPct": 25.0,
        "failedPct": 0.0,
    }


def test_every_change_is_pushed_to_the_subscriber(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    campaign = fakes.metrics.add_campaign("cmp_live_change", recipient_total=2)
    changed = counters_of(campaign)
    changed.counters.sent = 2
    changed.counters.delivered = 1

    with socket(gateway.gateway_url) as ws:
        ws.init(keys.one)
        ws.subscribe(COUNTERS, id="cmp_live_change")
        ws.receive()
        fakes.metrics.push("cmp_live_change", changed)
        message = ws.receive(timeout=1)

    counters = message["payload"]["data"]["campaignCounters"]
    assert (counters["sent"], counters["delivered"]) == (2, 1)
    assert counters["deliveredPct"] == 50.0


def test_an_unknown_campaign_ends_with_campaign_not_found(
    gateway: Stack, keys: Keys
) -> None:
    with socket(gateway.gateway_url) as ws:
        ws.init(keys.one)
        ws.subscribe(COUNTERS, id="cmp_live_nowhere")
        message, end = ws.receive(), ws.receive()

    assert message["payload"]["errors"][0]["message"] == "campaign not found"
    assert end == {"id": "1", "type": "complete"}


def test_another_workspaces_campaign_looks_unknown(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_live_theirs", workspace="gw-two")

    with socket(gateway.gateway_url) as ws:
        ws.init(keys.one)
        ws.subscribe(COUNTERS, id="cmp_live_theirs")
        message = ws.receive()

    assert message["payload"]["errors"][0]["message"] == "campaign not found"


def test_a_subscriber_leaving_cancels_the_grpc_call(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_live_leave", recipient_total=1)

    with socket(gateway.gateway_url) as ws:
        ws.init(keys.one)
        ws.subscribe(COUNTERS, id="cmp_live_leave")
        ws.receive()
        assert fakes.metrics.watching["cmp_live_leave"] == 1

    wait_until(lambda: fakes.metrics.watching["cmp_live_leave"] == 0)


def test_completing_the_subscription_cancels_the_grpc_call(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_live_done", recipient_total=1)

    with socket(gateway.gateway_url) as ws:
        ws.init(keys.one)
        ws.subscribe(COUNTERS, id="cmp_live_done")
        ws.receive()
        ws.send({"id": "1", "type": "complete"})

        wait_until(lambda: fakes.metrics.watching["cmp_live_done"] == 0)


def test_twenty_subscribers_share_one_grpc_call(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_live_shared", recipient_total=1)

    with ExitStack() as stack:
        for _ in range(20):
            ws = stack.enter_context(socket(gateway.gateway_url))
            ws.init(keys.one)
            ws.subscribe(COUNTERS, id="cmp_live_shared")
            ws.receive()

        assert fakes.metrics.watching["cmp_live_shared"] == 1

    wait_until(lambda: fakes.metrics.watching["cmp_live_shared"] == 0)


def test_a_burst_arrives_paced_and_ends_on_the_truth(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    campaign = fakes.metrics.add_campaign("cmp_live_burst", recipient_total=200)
    received: list[dict[str, int]] = []

    with socket(gateway.gateway_url) as ws:
        ws.init(keys.one)
        ws.subscribe(COUNTERS, id="cmp_live_burst")
        ws.receive()
        started = time.monotonic()
        for sent in range(1, 201):
            change = counters_of(campaign)
            change.counters.sent = sent
            fakes.metrics.push("cmp_live_burst", change)
            time.sleep(0.004)
        took = time.monotonic() - started
        while not received or received[-1]["sent"] < 200:
            message = ws.receive(timeout=2)
            received.append(message["payload"]["data"]["campaignCounters"])

    # At most one per 100 ms of the burst (~0.9 s), and the last.
    assert len(received) <= 3 + took * 10
    assert received[-1]["sent"] == 200
    assert received[-1]["sentPct"] == 100.0
