"""Shared campaignCounters subscriptions as clients see them on sockets."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from typing import Any, cast

import pytest
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketState
from strawberry.http.exceptions import WebSocketDisconnected

from gateway.view import WebSocketAdapter
from tests.gateway.fakes import FakeServices, counters_of
from tests.gateway.support import COUNTERS, Keys
from tests.gateway.wsclient import socket
from tests.stack import Stack


def test_sockets_of_one_workspace_get_the_same_update_under_their_own_ids(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    campaign = fakes.metrics.add_campaign("cmp_shared_ids", recipient_total=4)
    change = counters_of(campaign)
    change.counters.sent = 3

    with ExitStack() as stack:
        first, second = (stack.enter_context(socket(gateway.gateway_url)) for _ in "ab")
        for ws in (first, second):
            ws.init(keys.one)
        for ws, operation in ((first, "a"), (first, "b"), (second, "c")):
            ws.subscribe(COUNTERS, operation, id="cmp_shared_ids")
        initial = [first.receive(), first.receive(), second.receive()]
        fakes.metrics.push("cmp_shared_ids", change)
        updates = [first.receive(), first.receive(), second.receive()]
        watching = fakes.metrics.watching["cmp_shared_ids"]

    assert sorted(message["id"] for message in updates) == ["a", "b", "c"]
    assert {message["type"] for message in initial + updates} == {"next"}
    payloads = [message["payload"] for message in updates]
    assert payloads[0] == payloads[1] == payloads[2]
    assert payloads[0]["data"]["campaignCounters"]["sentPct"] == 75.0
    assert watching == 1


def test_a_shared_subscription_over_a_guard_is_refused_and_its_id_freed(
    strict_gateways: tuple[Stack, Stack], keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_shared_guard", recipient_total=1)
    aliased = """subscription ($id: ID!) {
      campaignCounters(campaignId: $id) { a: sent b: sent c: sent d: sent }
    }"""
    plain = "subscription ($id: ID!) { campaignCounters(campaignId: $id) { sent } }"

    with socket(strict_gateways[0].gateway_url) as ws:
        ws.init(keys.one)
        ws.subscribe(aliased, "1", id="cmp_shared_guard")
        refused = ws.receive()
        ws.subscribe(plain, "1", id="cmp_shared_guard")
        answered = ws.receive()

    assert (refused["id"], refused["type"]) == ("1", "error")
    assert "aliases" in refused["payload"][0]["message"]
    assert answered == {
        "id": "1",
        "type": "next",
        "payload": {"data": {"campaignCounters": {"sent": 0}}},
    }


def test_an_update_on_a_socket_the_gateway_closed_is_a_disconnection() -> None:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "websocket.disconnect"}

    async def main() -> None:
        scope = {"type": "websocket", "path": "/graphql", "headers": []}
        websocket = WebSocket(scope, receive, send)
        websocket.application_state = WebSocketState.DISCONNECTED  # key revoked
        adapter = WebSocketAdapter(cast("Any", None), websocket, websocket)

        with pytest.raises(WebSocketDisconnected):
            await adapter.send_text('{"type":"next"}')

    asyncio.run(main())

    assert sent == []
