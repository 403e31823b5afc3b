"""Open WebSockets and the API keys they signed in with.

An HTTP request looks its key up each time, so a revoked key is refused
at once. A WebSocket signs in once, at connection_init; so every
API_KEY_RECHECK_SECONDS the gateway asks the database which keys behind
its open sockets are no longer in force, and closes their sockets with
4403. A revoked key's subscriptions end within that time on every
replica, and so do those of a rotated key when its grace period ends.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from psycopg import Error as DatabaseError
from psycopg_pool import AsyncConnectionPool
from starlette.websockets import WebSocket, WebSocketState

from gateway.apikeys import revoked_among

log = structlog.get_logger(__name__)

REVOKED = 4403


class OpenSockets:
    def __init__(self, pool: AsyncConnectionPool, recheck_s: float) -> None:
        self._pool = pool
        self._recheck_s = recheck_s
        # By id(): a WebSocket is a Mapping, and so cannot be hashed.
        self._sockets: dict[int, tuple[WebSocket, int]] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, websocket: WebSocket, key_id: int) -> None:
        self._sockets[id(websocket)] = (websocket, key_id)

    def __len__(self) -> int:
        return len(self._sockets)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._recheck_s)
            try:
                await self.recheck()
            except DatabaseError:
                log.warning("api keys of open sockets not rechecked", exc_info=True)

    async def recheck(self) -> int:
        """Close the sockets of keys no longer in force; how many were."""
        self._forget_closed()
        keys = sorted({key_id for _, key_id in self._sockets.values()})
        revoked = await revoked_among(self._pool, keys)
        closing = [
            (ident, websocket, key_id)
            for ident, (websocket, key_id) in self._sockets.items()
            if key_id in revoked
        ]
        for ident, websocket, key_id in closing:
            del self._sockets[ident]
            with contextlib.suppress(RuntimeError):  # it closed meanwhile
                await websocket.close(code=REVOKED, reason="API key revoked")
            log.info("websocket closed", reason="API key revoked", api_key=key_id)
        return len(closing)

    def _forget_closed(self) -> None:
        for ident, (websocket, _) in list(self._sockets.items()):
            if WebSocketState.DISCONNECTED in (
                websocket.client_state,
                websocket.application_state,
            ):
                del self._sockets[ident]
