"""The gateway's ASGI app: GraphQL, the dashboard, and a health check."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypedDict

import structlog
from opentelemetry import metrics
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute, request_response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from gateway.auth import RequireApiKey, prepare_keys
from gateway.bodylimit import BodyLimit
from gateway.clients import Clients
from gateway.dashboard import dashboard
from gateway.export import export_recipients
from gateway.live import Live
from gateway.ratelimit import RateLimit
from gateway.schema import build
from gateway.sockets import OpenSockets
from gateway.view import GraphQLView
from xobito import telemetry
from xobito.database import migrate, open_pool
from xobito.settings import Settings

log = structlog.get_logger(__name__)


class State(TypedDict):
    """What the lifespan opens; every request's scope carries it."""

    pool: AsyncConnectionPool
    clients: Clients
    live: Live
    sockets: OpenSockets


def create_app(settings: Settings) -> Starlette:
    settings.require("database_url", "redis_url", "api_key_pepper")
    rate_limit = RateLimit(settings.redis_url, settings.api_rate_limit)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        async with AsyncExitStack() as stack:
            if settings.migrate_on_start:
                await asyncio.to_thread(migrate, settings.database_url)
            # The pool only serves API key look-ups.
            pool = await open_pool(settings.database_url, min_size=1, max_size=4)
            stack.push_async_callback(pool.close)
            await prepare_keys(
                settings.database_url, settings.api_key_pepper, settings.dev_api_key
            )
            sockets = OpenSockets(pool, settings.api_key_recheck_s)
            sockets.start()
            stack.push_async_callback(sockets.close)
            clients = Clients.open(settings)
            stack.push_async_callback(clients.close)
            live = Live(clients.metrics)
            stack.push_async_callback(live.close)
            log.info(
                "gateway ready",
                metrics=settings.metrics_target,
                contacts=settings.contacts_target,
            )
            yield {"pool": pool, "clients": clients, "live": live, "sockets": sockets}

    graphql = GraphQLView(
        build(settings),
        pepper=settings.api_key_pepper,
        rate_limit=rate_limit,
        max_tokens=settings.graphql_max_tokens,
        graphql_ide="graphiql" if settings.graphiql else None,
        # The legacy graphql-ws protocol is never offered.
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        max_subscriptions_per_connection=settings.subscriptions_per_connection,
        allowed_origins=settings.websocket_allowed_origins,
    )

    def require_key(app: ASGIApp, *, allow_ide: bool) -> RequireApiKey:
        return RequireApiKey(
            app,
            pepper=settings.api_key_pepper,
            rate_limit=rate_limit,
            allow_ide=allow_ide,
        )

    return Starlette(
        routes=[
            Route("/", dashboard, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", telemetry.ScrapeApp(), methods=["GET"]),
            Route("/graphql", require_key(graphql, allow_ide=settings.graphiql)),
            WebSocketRoute("/graphql", graphql),
            Route(
                "/campaigns/{campaign_id}/recipients.csv",
                require_key(request_response(export_recipients), allow_ide=False),
                methods=["GET"],
            ),
        ],
        middleware=[
            telemetry.http_middleware(),
            Middleware(RequestLog),
            Middleware(BodyLimit),
        ],
        lifespan=lifespan,
    )


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


_UNLOGGED = frozenset({"/healthz", "/metrics"})
_graphql_latency = metrics.get_meter(__name__).create_histogram(
    "xobito.graphql.duration",
    unit="ms",
    description="Duration of GraphQL queries and mutations over HTTP.",
)


class RequestLog:
    """One line per HTTP request, with its status and duration.

    GraphQL requests are also timed in the `xobito.graphql.duration`
    histogram.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _UNLOGGED:
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        request_id = uuid.uuid4().hex[:16]
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_status)
            finally:
                duration_ms = round((time.perf_counter() - started) * 1000, 2)
                if scope["path"] == "/graphql":
                    _graphql_latency.record(
                        duration_ms, {"http.response.status_code": status}
                    )
                log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    workspace=scope.get("state", {}).get("workspace_id"),
                    duration_ms=duration_ms,
                )
