"""API keys at the door: `Authorization: Bearer <key>` -> a workspace.

HTTP requests are checked by RequireApiKey before GraphQL sees them;
WebSockets carry the same value in their connection_init payload and are
checked by the GraphQL view (see gateway.view).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.apikeys import create_key, workspace_of

log = structlog.get_logger(__name__)

DEV_WORKSPACE = "dev"


def bearer_key(authorization: object) -> str | None:
    """The key of an `Authorization: Bearer <key>` value, if well formed."""
    if not isinstance(authorization, str):
        return None
    scheme, _, key = authorization.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        return None
    return key


def authorization_of(params: Mapping[str, object] | None) -> object:
    """The Authorization entry of a connection_init payload, any case."""
    for name, value in (params or {}).items():
        if name.lower() == "authorization":
            return value
    return None


async def authenticate(pool: AsyncConnectionPool, authorization: object) -> str | None:
    """The workspace the Authorization value opens, or None."""
    key = bearer_key(authorization)
    if key is None:
        return None
    return await workspace_of(pool, key)


def _unauthorized(message: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message}]},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


class RequireApiKey:
    """Answers 401 to an HTTP request without a valid key.

    The workspace of a valid key goes into the request's state. With
    allow_ide, a browser's plain GET (the GraphiQL page) passes without a
    key: the page holds no data, and its own requests carry one.
    """

    def __init__(self, app: ASGIApp, *, allow_ide: bool) -> None:
        self.app = app
        self.allow_ide = allow_ide

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if self.allow_ide and _wants_ide(request):
            await self.app(scope, receive, send)
            return

        header = request.headers.get("authorization")
        if header is None:
            refusal = _unauthorized("missing Authorization: Bearer <api key>")
            await refusal(scope, receive, send)
            return
        workspace = await authenticate(request.state.pool, header)
        if workspace is None:
            refusal = _unauthorized("invalid API key")
            await refusal(scope, receive, send)
            return

        request.state.workspace_id = workspace
        await self.app(scope, receive, send)


def _wants_ide(request: Request) -> bool:
    return (
        request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and "query" not in request.query_params
    )


async def ensure_dev_key(database_url: str, key: str) -> None:
    """Make `key` open the workspace `dev` (creating it if needed)."""

    def store() -> None:
        with psycopg.connect(database_url) as conn:
            create_key(conn, DEV_WORKSPACE, key=key)

    await asyncio.to_thread(store)
    log.info("development key ready", workspace=DEV_WORKSPACE)
