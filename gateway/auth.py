"""API keys at the door: `Authorization: Bearer <key>` -> a workspace.

HTTP requests are checked by RequireApiKey before GraphQL sees them, and
counted against their key's rate limit; WebSockets carry the same value
in their connection_init payload and are checked by the GraphQL view
(see gateway.view), then rechecked while open (see gateway.sockets).
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

from gateway.apikeys import ApiKey, create_key, find_active, upgrade_digests
from gateway.ratelimit import RateLimit, Verdict
from xobito.devenv import DEV_WORKSPACE

log = structlog.get_logger(__name__)


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


async def authenticate(
    pool: AsyncConnectionPool, authorization: object, pepper: str
) -> ApiKey | None:
    """The key in force the Authorization value carries, or None."""
    key = bearer_key(authorization)
    if key is None:
        return None
    return await find_active(pool, key, pepper)


def _unauthorized(message: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message}]},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def _too_many(verdict: Verdict) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": verdict.message}]},
        status_code=429,
        headers={"Retry-After": str(verdict.retry_after_s)},
    )


class RequireApiKey:
    """Answers 401 to an HTTP request without a valid key, 429 past its rate.

    The workspace of a valid key goes into the request's state. With
    allow_ide, a browser's plain GET (the GraphiQL page) passes without a
    key: the page holds no data, and its own requests carry one.
    """

    def __init__(
        self, app: ASGIApp, *, pepper: str, rate_limit: RateLimit, allow_ide: bool
    ) -> None:
        self.app = app
        self.pepper = pepper
        self.rate_limit = rate_limit
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
        key = await authenticate(request.state.pool, header, self.pepper)
        if key is None:
            refusal = _unauthorized("invalid API key")
            await refusal(scope, receive, send)
            return
        verdict = await self.rate_limit.hit(key.id)
        if not verdict.allowed:
            log.info("rate limited", api_key=key.id, workspace=key.workspace_id)
            refusal = _too_many(verdict)
            await refusal(scope, receive, send)
            return

        request.state.workspace_id = key.workspace_id
        request.state.api_key_id = key.id
        await self.app(scope, receive, send)


def _wants_ide(request: Request) -> bool:
    return (
        request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and "query" not in request.query_params
    )


async def prepare_keys(database_url: str, pepper: str, dev_key: str) -> None:
    """Pepper the digests stored without it; make the development key."""

    def prepare() -> None:
        with psycopg.connect(database_url) as conn:
            if upgraded := upgrade_digests(conn, pepper):
                log.info("api key digests peppered", keys=upgraded)
            if dev_key:
                create_key(conn, DEV_WORKSPACE, pepper, key=dev_key)
                log.info("development key ready", workspace=DEV_WORKSPACE)

    await asyncio.to_thread(prepare)
