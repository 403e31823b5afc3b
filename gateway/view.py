"""The GraphQL endpoint: its context, and the WebSocket's own sign-in."""

from __future__ import annotations

from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UnsetType

from gateway.auth import authenticate, authorization_of
from gateway.context import Context

log = structlog.get_logger(__name__)


class GraphQLView(GraphQL[Context, None]):
    """Strawberry's ASGI view, with the caller's workspace in the context."""

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        state = request.state
        return Context(
            clients=state.clients,
            pool=state.pool,
            live=state.live,
            workspace_id=getattr(state, "workspace_id", None),
        )

    async def on_ws_connect(
        self, context: Context
    ) -> UnsetType | dict[str, Any] | None:
        """Accept connection_init only with a valid key in its payload.

        Rejecting closes the socket with 4403 Forbidden.
        """
        authorization = authorization_of(context.connection_params)
        workspace = await authenticate(context.pool, authorization)
        if workspace is None:
            log.info("websocket refused", reason="invalid or missing API key")
            raise ConnectionRejectionError()
        context.workspace_id = workspace
        return await super().on_ws_connect(context)
