"""Every request needs `Authorization: Bearer <key>`; sockets too."""

from __future__ import annotations

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.gateway.support import Keys
from tests.gateway.wsclient import socket
from tests.stack import Stack

QUERY = {"query": "{ campaigns { totalCount } }"}


def post(stack: Stack, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{stack.gateway_url}/graphql", json=QUERY, headers=headers)


def test_a_request_without_a_key_is_refused_with_401(gateway: Stack) -> None:
    reply = post(gateway, {})

    assert reply.status_code == 401
    assert reply.json()["errors"][0]["message"]


def test_a_request_with_an_unknown_key_is_refused_with_401(gateway: Stack) -> None:
    reply = post(gateway, {"Authorization": "Bearer xo_not-a-real-key"})

    assert reply.status_code == 401
    assert reply.json() == {"errors": [{"message": "invalid API key"}]}


def test_a_malformed_authorization_header_is_refused(
    gateway: Stack, keys: Keys
) -> None:
    reply = post(gateway, {"Authorization": keys.one})

    assert reply.status_code == 401


def test_a_valid_key_is_answered(gateway: Stack, keys: Keys) -> None:
    reply = post(gateway, {"Authorization": f"Bearer {keys.one}"})

    assert reply.status_code == 200
    assert reply.json() == {"data": {"campaigns": {"totalCount": 0}}}


def test_a_socket_without_a_key_is_closed_as_forbidden(gateway: Stack) -> None:
    with socket(gateway.gateway_url) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.init(None)

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


def test_a_socket_with_an_unknown_key_is_closed_as_forbidden(
    gateway: Stack,
) -> None:
    with socket(gateway.gateway_url) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.init("xo_not-a-real-key")

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


def test_a_socket_with_a_valid_key_is_acknowledged(gateway: Stack, keys: Keys) -> None:
    with socket(gateway.gateway_url) as ws:
        assert ws.init(keys.one) == {"type": "connection_ack"}


def test_the_health_check_needs_no_key(gateway: Stack) -> None:
    reply = httpx.get(f"{gateway.gateway_url}/healthz")

    assert reply.status_code == 200
    assert reply.json() == {"status": "ok"}


def test_the_dashboard_page_needs_no_key(gateway: Stack) -> None:
    reply = httpx.get(gateway.gateway_url)

    assert reply.status_code == 200
    assert "graphql-transport-ws" in reply.text


def test_graphiql_opens_in_a_browser_without_a_key_in_development(
    dev_gateway: Stack,
) -> None:
    reply = httpx.get(
        f"{dev_gateway.gateway_url}/graphql", headers={"Accept": "text/html"}
    )

    assert reply.status_code == 200
    assert "graphiql" in reply.text.lower()


def test_graphiql_is_not_served_by_default(gateway: Stack, keys: Keys) -> None:
    url = f"{gateway.gateway_url}/graphql"

    anonymous = httpx.get(url, headers={"Accept": "text/html"})
    signed_in = httpx.get(
        url, headers={"Accept": "text/html", "Authorization": f"Bearer {keys.one}"}
    )

    assert anonymous.status_code == 401
    assert signed_in.status_code == 404
    assert "graphiql" not in signed_in.text.lower()
