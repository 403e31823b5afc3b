"""Who may open a subscription socket, in which protocol, and how many
subscriptions one socket may hold."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.gateway.conftest import ALLOWED_ORIGIN, SUBSCRIPTIONS_PER_CONNECTION
from tests.gateway.fakes import FakeServices
from tests.gateway.support import COUNTERS, Keys, make_key
from tests.gateway.wsclient import socket
from tests.stack import Servers, Stack

WORKSPACE = "gw-sockets"


@pytest.fixture(scope="module")
def socket_key(servers: Servers) -> str:
    return make_key(servers, WORKSPACE)


def test_a_page_of_another_origin_cannot_open_a_socket(gateway: Stack) -> None:
    with (
        pytest.raises(InvalidStatus) as refused,
        socket(gateway.gateway_url, origin="https://evil.example"),
    ):
        pass

    assert refused.value.response.status_code == 403


def test_a_page_of_an_allowed_origin_opens_a_socket(gateway: Stack, keys: Keys) -> None:
    with socket(gateway.gateway_url, origin=ALLOWED_ORIGIN) as ws:
        assert ws.init(keys.one) == {"type": "connection_ack"}


def test_the_gateway_own_pages_open_a_socket(gateway: Stack, keys: Keys) -> None:
    with socket(gateway.gateway_url, origin=gateway.gateway_url) as ws:
        assert ws.init(keys.one) == {"type": "connection_ack"}


def test_a_client_that_sends_no_origin_is_no_browser_and_opens_a_socket(
    gateway: Stack, keys: Keys
) -> None:
    with socket(gateway.gateway_url) as ws:
        assert ws.init(keys.one) == {"type": "connection_ack"}


def test_the_legacy_graphql_ws_protocol_is_refused(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_ws_legacy", workspace=WORKSPACE, recipient_total=1)

    with (
        socket(gateway.gateway_url, protocol="graphql-ws") as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        # The legacy protocol's `start` needs no connection_init first.
        ws.send(
            {
                "id": "1",
                "type": "start",
                "payload": {"query": COUNTERS, "variables": {"id": "cmp_ws_legacy"}},
            }
        )
        ws.receive()

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4406
    assert fakes.metrics.watching["cmp_ws_legacy"] == 0


def test_a_socket_holds_a_limited_number_of_subscriptions(
    gateway: Stack, socket_key: str, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_ws_cap", workspace=WORKSPACE, recipient_total=1)
    allowed = [str(n) for n in range(SUBSCRIPTIONS_PER_CONNECTION)]

    with socket(gateway.gateway_url) as ws:
        ws.init(socket_key)
        for operation in allowed:
            ws.subscribe(COUNTERS, operation, id="cmp_ws_cap")
            assert ws.receive()["type"] == "next"
        ws.subscribe(COUNTERS, "extra", id="cmp_ws_cap")
        refused = ws.receive()
        ws.send({"id": allowed[0], "type": "complete"})
        ws.subscribe(COUNTERS, "again", id="cmp_ws_cap")
        answered = ws.receive()

    assert refused["id"] == "extra"
    assert refused["type"] == "error"
    assert refused["payload"] == [{"message": "Subscription limit reached"}]
    assert (answered["id"], answered["type"]) == ("again", "next")


@pytest.mark.parametrize(
    "message",
    [
        "null",
        "[]",
        '"subscribe"',
        '{"id": 1, "type": "subscribe", "payload": {"query": "{ __typename }"}}',
        '{"id": "1", "type": "subscribe", "payload": 7}',
        '{"id": "1", "type": "subscribe", "payload": {"query": 5}}',
        '{"id": "1", "type": "subscribe", "payload": {"query": ["{ a }"]}}',
        '{"id": "1", "type": "subscribe",'
        ' "payload": {"query": "{ __typename }", "operationName": ["x"]}}',
        '{"id": "1", "type": "subscribe",'
        ' "payload": {"query": "{ __typename }", "variables": "{}"}}',
        '{"id": "1", "type": "subscribe",'
        ' "payload": {"query": "{ __typename }", "variables": [["n", 1]]}}',
        '{"id": "1", "type": "subscribe",'
        ' "payload": {"query": "{ __typename }", "extensions": 1}}',
        json.dumps({"type": "x" * 300}),
    ],
)
def test_a_message_of_the_wrong_shape_closes_the_socket_with_4400(
    gateway: Stack, keys: Keys, message: str
) -> None:
    with socket(gateway.gateway_url) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.init(keys.one)
        ws.connection.send(message)
        ws.receive()

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4400
    assert len(closed.value.rcvd.reason.encode()) <= 123
