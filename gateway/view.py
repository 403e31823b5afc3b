"""The GraphQL endpoint: its context, the WebSocket's own sign-in, and
shared subscriptions (gateway.broadcast) sent as they were serialized."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any, cast

import orjson
import structlog
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema import BaseSchema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    Message,
    SubscribeMessage,
)
from strawberry.types.unset import UnsetType

from gateway.auth import authenticate, authorization_of
from gateway.broadcast import Broadcast, Rendering
from gateway.context import Context
from gateway.ratelimit import RateLimit

log = structlog.get_logger(__name__)


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """Strawberry's graphql-transport-ws handler, closing the socket with
    4400 on a message of the wrong shape (`null`, a list, a numeric id, a
    subscribe without an object payload) where it would crash, counting
    each operation against its key's rate as an HTTP request is, and
    sending a shared subscription's frames as the rendering serialized
    them."""

    websocket: WebSocketAdapter

    async def handle_message(self, message: Message) -> None:
        if _malformed(message):
            await self.handle_invalid_message("Failed to parse message")
            return
        await super().handle_message(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        """Past the key's rate, an `error` for the operation, which runs not."""
        key_id = self.context.api_key_id
        if key_id is None or message["id"] in self.operations:
            # Not signed in, or an id in use: strawberry closes the socket.
            await super().handle_subscribe(message)
            return
        verdict = await cast("GraphQLView", self.view).rate_limit.hit(key_id)
        if verdict.allowed:
            await super().handle_subscribe(message)
            return
        log.info(
            "rate limited",
            api_key=key_id,
            workspace=self.context.workspace_id,
            transport="websocket",
        )
        error = GraphQLError(
            verdict.message,
            extensions={"code": "RATE_LIMITED", "retryAfter": verdict.retry_after_s},
        )
        await self.send_message(
            {"id": message["id"], "type": "error", "payload": [error.formatted]}
        )

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        broadcast = cast("GraphQLView", self.view).broadcast
        rendering = broadcast.rendering_of(
            operation.query,
            operation.variables,
            operation.operation_name,
            self.context,
        )
        if rendering is None:
            await super().run_operation(operation)
            return
        try:
            await self._send_shared(operation, broadcast, rendering)
        except WebSocketDisconnected:
            return  # the socket's own loop ends every operation
        except Exception:
            log.exception("shared subscription failed", field=rendering.root)
        await operation.send_operation_message({"id": operation.id, "type": "complete"})

    async def _send_shared(
        self,
        operation: Operation[Context, None],
        broadcast: Broadcast,
        rendering: Rendering,
    ) -> None:
        """Each frame, under the operation's id, until the rendering ends."""
        head = f'{{"id":{orjson.dumps(operation.id).decode()},"type":'
        async with aclosing(broadcast.subscribe(rendering)) as frames:
            async for frame in frames:
                if frame.type == "error":
                    # As Operation.send_operation_message does: the id is
                    # free again once the client learns the operation ended.
                    operation.completed = True
                    self.forget_id(operation.id)
                text = f'{head}"{frame.type}","payload":{frame.payload}}}'
                await self.websocket.send_text(text)
                if operation.completed:
                    return


class WebSocketAdapter(ASGIWebSocketAdapter):
    """Strawberry's, cutting a close reason (which may quote the client's
    message) to the 123 bytes a close frame holds, instead of crashing."""

    async def close(self, code: int, reason: str) -> None:
        await super().close(code, reason.encode()[:123].decode(errors="ignore"))

    async def send_text(self, text: str) -> None:
        """A message serialized already; on a socket the gateway closed
        (its key was revoked), the same error as on one the client left."""
        if self.ws.application_state == WebSocketState.DISCONNECTED:
            raise WebSocketDisconnected
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


def _malformed(message: object) -> bool:
    if not isinstance(message, dict):
        return True
    if not isinstance(message.get("id", ""), str):
        return True
    if message.get("type") != "subscribe":
        return False
    payload = message.get("payload")
    # The protocol's SubscribePayload: a query string, and when given, an
    # operation name string and variables and extensions objects.
    return not (
        isinstance(payload, dict)
        and isinstance(payload.get("query"), str)
        and isinstance(payload.get("operationName"), str | None)
        and isinstance(payload.get("variables"), dict | None)
        and isinstance(payload.get("extensions"), dict | None)
    )


class GraphQLView(GraphQL[Context, None]):
    """Strawberry's ASGI view, with the caller's workspace in the context."""

    graphql_transport_ws_handler_class = TransportWSHandler
    websocket_adapter_class = WebSocketAdapter

    def __init__(
        self,
        schema: BaseSchema,
        *,
        pepper: str,
        rate_limit: RateLimit,
        max_tokens: int,
        **options: Any,
    ) -> None:
        super().__init__(schema, **options)
        self.pepper = pepper
        self.rate_limit = rate_limit
        self.broadcast = Broadcast(schema, max_tokens=max_tokens)

    def parse_json(self, data: str | bytes) -> Any:
        """Strawberry's, but a body that is not a JSON object or list (`0`,
        or bytes that are not UTF-8) is refused with 400, not a crash.

        HTTPException is what strawberry's ASGI view turns into a status.
        """
        try:
            parsed = self.decode_json(data)
        except ValueError:  # not JSON, or not UTF-8
            raise HTTPException(400, "Unable to parse request body as JSON") from None
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, "A GraphQL request is a JSON object")
        return parsed

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        state = request.state
        return Context(
            clients=state.clients,
            pool=state.pool,
            live=state.live,
            workspace_id=getattr(state, "workspace_id", None),
            websocket=request if isinstance(request, WebSocket) else None,
        )

    async def on_ws_connect(
        self, context: Context
    ) -> UnsetType | dict[str, Any] | None:
        """Accept connection_init only with a valid key in its payload.

        Rejecting closes the socket with 4403 Forbidden. An accepted socket
        is closed the same way once its key is revoked.
        """
        authorization = authorization_of(context.connection_params)
        key = await authenticate(context.pool, authorization, self.pepper)
        if key is None:
            log.info("websocket refused", reason="invalid or missing API key")
            raise ConnectionRejectionError()
        context.workspace_id = key.workspace_id
        context.api_key_id = key.id
        if context.websocket is not None:
            context.websocket.state.sockets.add(context.websocket, key.id)
        return await super().on_ws_connect(context)
