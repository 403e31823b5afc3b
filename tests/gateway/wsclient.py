"""A small graphql-transport-ws client for tests, on `websockets`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin, Subprotocol

PROTOCOL = Subprotocol("graphql-transport-ws")


class Socket:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    def send(self, message: dict[str, Any]) -> None:
        self.connection.send(json.dumps(message))

    def receive(self, timeout: float = 5) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.connection.recv(timeout))
        return message

    def init(self, api_key: str | None) -> dict[str, Any]:
        payload = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.send({"type": "connection_init", "payload": payload})
        return self.receive()

    def subscribe(self, query: str, operation: str = "1", **variables: Any) -> None:
        self.send(
            {
                "id": operation,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables},
            }
        )


@contextmanager
def socket(
    gateway_url: str,
    *,
    protocol: str = PROTOCOL,
    origin: str | None = None,
) -> Iterator[Socket]:
    url = gateway_url.replace("http", "ws", 1) + "/graphql"
    with connect(
        url,
        subprotocols=[Subprotocol(protocol)],
        origin=Origin(origin) if origin else None,
        open_timeout=5,
    ) as connection:
        yield Socket(connection)
