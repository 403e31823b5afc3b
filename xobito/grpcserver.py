"""Running a gRPC service: health, reflection, errors and shutdown.

Every service of the project is started by serve(), which adds the
standard health and reflection services, turns ServiceError into status
codes, logs one line per call, and drains in-flight calls on SIGTERM or
SIGINT before returning.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc
import psycopg
import redis.exceptions
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from xobito.errors import ServiceError

log = structlog.get_logger(__name__)

MAX_MESSAGE_BYTES = 32 * 1024 * 1024
GRACE_SECONDS = 10.0

# Store failures a caller may retry: answered UNAVAILABLE, not INTERNAL.
_UNAVAILABLE = (psycopg.OperationalError, redis.exceptions.ConnectionError)


def _status_of(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, ServiceError):
        return exc.code, str(exc)
    if isinstance(exc, psycopg.DataError):
        # PostgreSQL refused a value of the request (a NUL in a text, a
        # number out of range); its message may quote the value.
        return grpc.StatusCode.INVALID_ARGUMENT, "a value of the request is invalid"
    if isinstance(exc, _UNAVAILABLE):
        return grpc.StatusCode.UNAVAILABLE, "a store is unavailable"
    return grpc.StatusCode.INTERNAL, "internal error"


class _CallInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Maps exceptions to status codes and logs one line per call."""

    async def intercept_service(
        self,
        continuation: Callable[[Any], Awaitable[Any]],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(details)
        method = details.method
        if handler is None or method.startswith("/grpc."):
            return handler

        if handler.unary_unary:
            inner = handler.unary_unary

            async def unary_unary(request: Any, context: Any) -> Any:
                started = time.perf_counter()
                try:
                    response = await inner(request, context)
                except Exception as exc:  # noqa: BLE001 - every error is mapped
                    await _abort(context, method, exc, started)
                _log_ok(method, started)
                return response

            return grpc.unary_unary_rpc_method_handler(
                unary_unary,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )

        if handler.unary_stream:
            stream = handler.unary_stream

            async def unary_stream(request: Any, context: Any) -> AsyncIterator[Any]:
                started = time.perf_counter()
                try:
                    async for item in stream(request, context):
                        yield item
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - every error is mapped
                    await _abort(context, method, exc, started)
                _log_ok(method, started)

            return grpc.unary_stream_rpc_method_handler(
                unary_stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


def _log_ok(method: str, started: float) -> None:
    log.info("rpc", method=method, code="OK", duration_ms=_ms(started))


async def _abort(
    context: grpc.aio.ServicerContext[Any, Any],
    method: str,
    exc: Exception,
    started: float,
) -> None:
    code, message = _status_of(exc)
    if code is grpc.StatusCode.INTERNAL:
        log.error("rpc failed", method=method, exc_info=exc)
    else:
        log.info("rpc", method=method, code=code.name, duration_ms=_ms(started))
    await context.abort(code, message)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


async def serve(
    *,
    name: str,
    host: str,
    port: int,
    register: Callable[[grpc.aio.Server], Sequence[str]],
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then drain and call on_shutdown.

    register adds the service's servicers to the server and returns their
    full names, for health and reflection.
    """
    server = grpc.aio.server(
        interceptors=[_CallInterceptor()],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
    )
    service_names = list(register(server))
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        [
            *service_names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    address = f"{host}:{port}"
    server.add_insecure_port(address)
    await server.start()
    for service in ["", *service_names]:
        await health.set(service, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving", name=name, address=address)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()

    log.info("draining", name=name)
    await health.enter_graceful_shutdown()
    await server.stop(GRACE_SECONDS)
    if on_shutdown is not None:
        await on_shutdown()
    log.info("stopped", name=name)
