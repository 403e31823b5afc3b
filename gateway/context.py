"""What every resolver of one request (or one WebSocket) gets."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import strawberry
from psycopg_pool import AsyncConnectionPool
from starlette.websockets import WebSocket

from gateway.clients import Clients, ContactsClient, MetricsClient
from gateway.errors import GatewayError
from gateway.live import Live
from gateway.loaders import ContactLoader, contact_loader


@dataclass
class Context:
    """The caller's workspace and the clients of the backing services.

    Over HTTP the workspace is known before any resolver runs; over a
    WebSocket it is set once connection_init has been accepted.
    """

    clients: Clients
    pool: AsyncConnectionPool
    live: Live
    workspace_id: str | None = None
    # Over a WebSocket, the key it signed in with: its operations count
    # against that key's rate.
    api_key_id: int | None = None
    connection_params: dict[str, object] | None = None
    websocket: WebSocket | None = None

    @property
    def workspace(self) -> str:
        if self.workspace_id is None:
            # Unreachable: auth runs before any operation is executed.
            raise GatewayError("not authenticated")
        return self.workspace_id

    @property
    def metrics(self) -> MetricsClient:
        return self.clients.metrics

    @property
    def contacts(self) -> ContactsClient:
        return self.clients.contacts

    @cached_property
    def contact_loader(self) -> ContactLoader:
        return contact_loader(self.contacts, self.workspace)


Info = strawberry.Info[Context, None]
