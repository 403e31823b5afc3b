"""Running a gRPC service: health, reflection, errors and shutdown.

Every service of the project is started by serve(), which adds the
standard health and reflection services, turns ServiceError into status
codes, traces each call (continuing the caller's trace from the call's
metadata), times it, logs one line per call, lets the calls it makes
inherit its deadline (xobito.channels), and drains in-flight calls on
SIGTERM or SIGINT before returning: health answers NOT_SERVING first,
so that clients balancing over the replicas stop choosing this one.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
import psycopg
import redis.exceptions
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from opentelemetry import metrics
from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters

from xobito import channels
from xobito.errors import ServiceError
from xobito.settings import Settings, SettingsError

log = structlog.get_logger(__name__)

GRACE_SECONDS = 10.0
# Between NOT_SERVING and refusing new calls: time for the clients that
# watch health to move their next calls to other replicas.
NOTICE_SECONDS = 0.5
# Clients re-resolve a target when their connection ends: a connection
# that ends after this long lets them find replicas started since. Calls
# in flight, streams included, finish on the old connection.
MAX_CONNECTION_AGE_MS = 5 * 60 * 1000

_latency = metrics.get_meter(__name__).create_histogram(
    "rpc.server.duration",
    unit="ms",
    description="Duration of served gRPC calls, streams until they end.",
)

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
                channels.serve_within(context.time_remaining())
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
                channels.serve_within(context.time_remaining())
                try:
                    async for item in stream(request, context):
                        yield item
                except asyncio.CancelledError:
                    _record(method, "CANCELLED", started)
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
    log.info(
        "rpc", method=method, code="OK", duration_ms=_record(method, "OK", started)
    )


def _record(method: str, code: str, started: float) -> float:
    """Record the call's duration in the histogram; return it in ms."""
    duration_ms = _ms(started)
    attributes = channels.method_attributes(method)
    _latency.record(duration_ms, {**attributes, "rpc.grpc.status_code": code})
    return duration_ms


async def _abort(
    context: grpc.aio.ServicerContext[Any, Any],
    method: str,
    exc: Exception,
    started: float,
) -> None:
    code, message = _status_of(exc)
    duration_ms = _record(method, code.name, started)
    if code is grpc.StatusCode.INTERNAL:
        log.error("rpc failed", method=method, exc_info=exc)
    else:
        log.info("rpc", method=method, code=code.name, duration_ms=duration_ms)
    await context.abort(code, message)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


async def serve(
    *,
    name: str,
    host: str,
    port: int,
    register: Callable[[grpc.aio.Server], Sequence[str]],
    settings: Settings,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until stop is set (by default: SIGTERM or SIGINT), then drain.

    register adds the service's servicers to the server and returns their
    full names, for health and reflection. After the drain, on_shutdown
    closes what the calls used.
    """
    limit = settings.grpc_max_message_bytes
    server = grpc.aio.server(
        interceptors=[
            # Continues the caller's trace from the call's metadata.
            aio_server_interceptor(filter_=_traced()),  # type: ignore[no-untyped-call]
            _CallInterceptor(),
        ],
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
            ("grpc.max_connection_age_ms", MAX_CONNECTION_AGE_MS),
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
    credentials = server_credentials(settings)
    if credentials is None:
        server.add_insecure_port(address)
    else:
        server.add_secure_port(address, credentials)
    await server.start()
    for service in ["", *service_names]:
        await health.set(service, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving", name=name, address=address, tls=credentials is not None)

    signals: tuple[signal.Signals, ...] = ()
    if stop is None:
        stop = asyncio.Event()
        signals = (signal.SIGTERM, signal.SIGINT)
    loop = asyncio.get_running_loop()
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)

    log.info("draining", name=name)
    await health.enter_graceful_shutdown()
    await asyncio.sleep(NOTICE_SECONDS)
    await server.stop(GRACE_SECONDS)
    if on_shutdown is not None:
        await on_shutdown()
    log.info("stopped", name=name)


def _traced() -> Any:
    """Health checks and reflection make no spans: probes would flood them."""
    return filters.negate(
        filters.any_of(
            filters.health_check(),
            filters.service_prefix("grpc.reflection"),
        )
    )


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS from GRPC_TLS_CERT and GRPC_TLS_KEY, mutual with GRPC_TLS_CA.

    None without a certificate: the server listens in plain text.
    """
    cert, key, ca = settings.grpc_tls_cert, settings.grpc_tls_key, settings.grpc_tls_ca
    if not cert and not key:
        return None
    if not (cert and key):
        raise SettingsError("GRPC_TLS_CERT and GRPC_TLS_KEY go together")
    return grpc.ssl_server_credentials(
        [(Path(key).read_bytes(), Path(cert).read_bytes())],
        root_certificates=Path(ca).read_bytes() if ca else None,
        require_client_auth=bool(ca),
    )
