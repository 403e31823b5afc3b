"""Ingest's two servers in one event loop: HTTP for Meta, gRPC for us.

grpcserver.serve() owns the process's signals. On SIGTERM or SIGINT (or
once stop is set, when given) it drains the gRPC server, then stops the
HTTP server here, which finishes the webhooks in flight before
on_shutdown closes what they use.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator

import grpc
import uvicorn
from starlette.types import ASGIApp

from services.ingest.servicer import SERVICE_NAME, IngestServicer
from xobito import grpcserver
from xobito.ingest.v1 import ingest_pb2_grpc
from xobito.settings import Settings

GRACE_SECONDS = 10


class _HTTPServer(uvicorn.Server):
    """uvicorn, leaving the signals to grpcserver.serve()."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_http(http: uvicorn.Server) -> None:
    try:
        await http.serve()
    except SystemExit as exc:
        # uvicorn exits the process when it cannot start (port taken);
        # an exception lets run() stop the gRPC server first.
        raise RuntimeError("the HTTP server could not start") from exc


async def run(
    settings: Settings,
    app: ASGIApp,
    servicer: IngestServicer,
    on_shutdown: Callable[[], Awaitable[None]],
    stop: asyncio.Event | None = None,
) -> None:
    """Serve HTTP and gRPC until a signal or stop, then stop both in order."""
    http = _HTTPServer(
        uvicorn.Config(
            app,
            host=settings.bind_host,
            port=settings.ingest_http_port,
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=GRACE_SECONDS,
        )
    )
    http_task = asyncio.create_task(_serve_http(http))
    stopping = asyncio.Event()

    async def shutdown() -> None:
        stopping.set()
        http.should_exit = True
        await http_task
        await on_shutdown()

    def register(server: grpc.aio.Server) -> list[str]:
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    grpc_task = asyncio.create_task(
        grpcserver.serve(
            name="ingest",
            host=settings.bind_host,
            port=settings.ingest_grpc_port,
            register=register,
            settings=settings,
            on_shutdown=shutdown,
            stop=stop,
        )
    )
    first = asyncio.FIRST_COMPLETED
    await asyncio.wait({http_task, grpc_task}, return_when=first)
    if http_task.done() and not stopping.is_set():
        # The HTTP server ended by itself: it could not start, or broke.
        grpc_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await grpc_task
        http_task.result()
        raise RuntimeError("the HTTP server stopped unexpectedly")
    await grpc_task
